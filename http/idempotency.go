package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/livebill/livebill"
)

// Idempotency-Key (on every POST that creates something): the first
// answer under a key is stored for livebill.IdempotencyTTL and replayed,
// status and body, to the same principal sending the same request again
// (header Idempotent-Replayed: true); the key with another request (path
// or body) is a conflict, as is a request sent again while the first is
// still running. Answers under 500 are kept, errors included: a replay
// answers what the first request did. A 5xx answer is not kept, so the
// request can be retried under the same key.

// MaxIdempotencyKeyLen bounds the Idempotency-Key header.
const MaxIdempotencyKeyLen = 255

// idempotencyStale is how long a request may run before another with the
// same key takes its place (the first one died); longer than any create.
const idempotencyStale = 10 * time.Minute

func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, p principal, h http.HandlerFunc) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		h(w, r)
		return
	}
	if len(key) > MaxIdempotencyKeyLen || !printableASCII(key) {
		writeError(w, livebill.Errorf(livebill.EINVALID, "Idempotency-Key: must be 1 to %d printable ASCII characters", MaxIdempotencyKeyLen))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, bodyError(err))
		return
	}
	sum := sha256.New()
	io.WriteString(sum, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	sum.Write(body)
	now := s.now()
	rec := &livebill.IdempotencyRecord{Principal: p.KeyID, Key: key, Fingerprint: hex.EncodeToString(sum.Sum(nil)), CreatedAt: now}
	s.purgeIdempotency(now)
	had, err := s.Store.ReserveIdempotencyKey(r.Context(), rec, now.Add(-livebill.IdempotencyTTL), now.Add(-idempotencyStale))
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case had == nil:
	case had.Fingerprint != rec.Fingerprint:
		writeError(w, livebill.Errorf(livebill.ECONFLICT, "Idempotency-Key %q was used for another request (another path or body); send a new key for a new request", key))
		return
	case had.Status == 0:
		writeError(w, livebill.Errorf(livebill.ECONFLICT, "a request with Idempotency-Key %q is still in progress; try again later", key))
		return
	default:
		w.Header().Set("Content-Type", had.ContentType)
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(had.Status)
		w.Write(had.Body)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	tee := &teeWriter{ResponseWriter: w}
	kept := false
	defer func() {
		if !kept { // a 5xx, or the handler panicked: let the key be used again
			s.Store.ReleaseIdempotencyKey(context.WithoutCancel(r.Context()), rec.Principal, rec.Key)
		}
	}()
	h(tee, r)
	if tee.status == 0 {
		tee.status = http.StatusOK
	}
	if tee.status >= 500 {
		return
	}
	rec.Status, rec.ContentType, rec.Body = tee.status, w.Header().Get("Content-Type"), tee.body.Bytes()
	if tee.replay != nil {
		rec.Body = tee.replay
	}
	if err := s.Store.CompleteIdempotencyKey(context.WithoutCancel(r.Context()), rec); err != nil {
		s.logger().ErrorContext(r.Context(), "idempotency: cannot keep the answer of a key", "idempotency_key", key, "error", err.Error())
		return
	}
	kept = true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// purgeIdempotency deletes expired records, at most once an hour.
func (s *Server) purgeIdempotency(now time.Time) {
	last := s.lastPurge.Load()
	if now.UnixMilli()-last < time.Hour.Milliseconds() || !s.lastPurge.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	if _, err := s.Store.PurgeIdempotencyKeys(context.Background(), now.Add(-livebill.IdempotencyTTL)); err != nil {
		s.logger().Error("idempotency: cannot purge expired records", "error", err.Error())
	}
}

// teeWriter writes an answer through and keeps a copy.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	replay []byte // what a replay answers instead of body, if set
}

// replayWith sets what a replay of the answer being written answers
// instead: the answer without what must be stored nowhere (a new API
// key's secret).
func (t *teeWriter) replayWith(body []byte) { t.replay = body }

// replayer is a writer that keeps answers for replays.
type replayer interface{ replayWith(body []byte) }

func (t *teeWriter) WriteHeader(code int) {
	if t.status == 0 {
		t.status = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}

func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
