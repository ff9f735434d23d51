// Package notify sends livebill's notifications to the operator's
// endpoints and tells receivers how to check them.
//
// Deliveries follow Standard Webhooks (standardwebhooks.com): a POST of
// the notification as JSON with the headers
//
//	webhook-id:        the notification's id (the same at every attempt)
//	webhook-timestamp: the attempt's time, Unix seconds
//	webhook-signature: v1,<base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// where key is the endpoint's secret without its "whsec_" prefix,
// base64-decoded. A receiver checks the signature over the raw body with
// Verify (or any Standard Webhooks library), refuses an old timestamp,
// answers 2xx once it has the notification, and keeps the ids it handled:
// delivery is at least once, so the same id may come again (after a
// timeout, or a crash between the send and its record) and is then
// acknowledged and not handled twice.
//
// The Worker takes the due deliveries from the store's outbox: for each
// endpoint and account only the oldest pending one, so an account's
// notifications arrive in the order they were made and one that fails
// holds back only its own account's. A failed attempt is tried again
// after an exponential backoff with jitter, up to a few days.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/livebill/livebill"
)

// Header names (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock: older ones are refused as replays.
const DefaultTolerance = 5 * time.Minute

// key returns an endpoint secret's HMAC key.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, livebill.SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("the secret is not whsec_ and base64")
	}
	return k, nil
}

// Sign returns the webhook-signature value of a delivery: "v1," and the
// base64 of HMAC-SHA256 over id.timestamp.body.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Errors of Verify.
var (
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp or webhook-signature is missing")
	ErrTimestamp      = errors.New("webhook-timestamp is not within the tolerance of now")
	ErrSignature      = errors.New("no webhook-signature matches")
)

// Verify checks a delivery as received: its headers, its raw body, the
// endpoint's secret, the receiver's clock and the tolerance on the
// timestamp (0: DefaultTolerance). It returns nil when one of the
// signatures (the header may hold several, space-separated) is the
// body's.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want, err := Sign(secret, id, sec, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}

// Worker sends the outbox's deliveries.
type Worker struct {
	Store  livebill.NotificationService
	Clock  livebill.Clock
	Client *http.Client // default: 10 s timeout
	// Backoff: the n-th retry waits min(Cap, Base·2^(n-1)), of which a
	// random half (jitter, so receivers coming back are not hit at once).
	Base, Cap time.Duration // default 5 s, 10 min
	// GiveUp: a delivery still failing this long after it was made is
	// marked failed (a redelivery sends it again); default 72 h.
	GiveUp      time.Duration
	Batch       int           // deliveries claimed at a time; default 100
	Concurrency int           // sends at once; default 8
	Lease       time.Duration // a claimed delivery's lease; default 30 s (the timeout is 10 s)
	// Jitter returns a number in [0, 1); default math/rand/v2.
	Jitter func() float64
	Logf   func(format string, args ...any)
}

// NewClient is the client deliveries are sent with: 10 s an attempt; no
// redirect followed (a 3xx is an attempt that failed: the endpoint did not
// take the notification, and a redirect would send it elsewhere); no
// connection to an address livebill.UnreachableIP refuses, whatever name
// resolved to it.
func NewClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, _ := net.SplitHostPort(address)
		if livebill.UnreachableIP(net.ParseIP(host)) {
			return fmt.Errorf("%s is a link-local, multicast or unspecified address: notifications are not sent there", host)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (w *Worker) defaults() {
	if w.Client == nil {
		w.Client = NewClient()
	}
	if w.Base <= 0 {
		w.Base = 5 * time.Second
	}
	if w.Cap <= 0 {
		w.Cap = 10 * time.Minute
	}
	if w.GiveUp <= 0 {
		w.GiveUp = 72 * time.Hour
	}
	if w.Batch <= 0 {
		w.Batch = 100
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	if w.Lease <= 0 {
		w.Lease = 30 * time.Second
	}
	if w.Jitter == nil {
		w.Jitter = rand.Float64
	}
}

// Backoff is the wait before retry n (n ≥ 1) with jitter j in [0, 1):
// half of min(cap, base·2^(n-1)), plus j of the other half.
func Backoff(n int, base, cap time.Duration, j float64) time.Duration {
	d := cap
	if n < 40 && base<<(n-1) < cap && base<<(n-1) > 0 {
		d = base << (n - 1)
	}
	return d/2 + time.Duration(j*float64(d/2))
}

// RunOnce sends the deliveries due now, round after round (an account's
// next one is due once its head is acknowledged), until none is due or
// maxRounds rounds ran. It returns how many were acknowledged.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	const maxRounds = 100
	sent := 0
	for round := 0; round < maxRounds; round++ {
		now := w.Clock.Now()
		ds, err := w.Store.ClaimDeliveries(ctx, now, now.Add(w.Lease), w.Batch)
		if err != nil {
			return sent, err
		}
		if len(ds) == 0 {
			return sent, nil
		}
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		sem := make(chan struct{}, w.Concurrency)
		for _, d := range ds {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ok, err := w.deliver(ctx, d)
				mu.Lock()
				defer mu.Unlock()
				if ok {
					sent++
				}
				if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// deliver makes one attempt and records it.
func (w *Worker) deliver(ctx context.Context, d *livebill.Delivery) (bool, error) {
	start := w.Clock.Now()
	a := livebill.Attempt{At: start}
	status, err := w.post(ctx, d, start)
	a.Status = status
	a.Duration = w.Clock.Now().Sub(start).Milliseconds()
	ok := err == nil && status >= 200 && status < 300
	var next time.Time
	if !ok {
		if err != nil {
			a.Error = err.Error()
		} else {
			a.Error = fmt.Sprintf("answered %d", status)
		}
		if start.Sub(d.CreatedAt) < w.GiveUp {
			next = start.Add(Backoff(d.Attempts+1, w.Base, w.Cap, w.Jitter()))
		}
		if w.Logf != nil {
			w.Logf("notify: delivery %d (%s %s) to %s: %s", d.Seq, d.Notification.Type, d.Notification.ID, d.EndpointID, a.Error)
		}
	}
	if err := w.Store.RecordAttempt(context.WithoutCancel(ctx), d.Seq, a, ok, next); err != nil {
		return false, err
	}
	return ok, nil
}

// post sends a delivery, signed at ts; it returns the answer's status.
func (w *Worker) post(ctx context.Context, d *livebill.Delivery, ts time.Time) (int, error) {
	sig, err := Sign(d.Secret, d.Notification.ID, ts.Unix(), d.Payload)
	if err != nil {
		return 0, fmt.Errorf("endpoint %s: %w", d.EndpointID, err)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "livebill-notify/1")
	req.Header.Set(HeaderID, d.Notification.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := w.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// Run sends due deliveries every interval until ctx ends.
func (w *Worker) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil && w.Logf != nil {
			w.Logf("notify: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
