package http

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Every request is observed once it is answered: one access log line and
// the request metrics (Monitor), both by the route table's pattern, never
// by the raw path, so the metrics' labels stay few.

// Monitor is told what the server answers, for monitoring (package
// prometheus exports it as metrics). Its methods are called on every
// request and must be quick and never block.
type Monitor interface {
	// Served reports an answered request.
	Served(req *Served)
	// WebhookRefused reports a vendor callback refused (vendor: trtc,
	// livekit or agora) because its signature did not verify or was
	// stale (why: BadSignature or StaleWebhook).
	WebhookRefused(vendor, why string)
}

// Served describes an answered request.
type Served struct {
	// Route is the route table's path pattern ("/v1/accounts/{id}"), or
	// Unmatched for a request no route takes.
	Route string
	// Method is the request's method, or "OTHER" for one HTTP does not
	// define.
	Method string
	Status int
	Took   time.Duration
	Bytes  int64 // of the response body
}

// Unmatched is the Route of requests no route takes (404, 405).
const Unmatched = "unmatched"

// methods are the methods a Served names; others are "OTHER", so a client
// cannot make up labels.
var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true}

// accessWriter records what a request was answered; the handlers reach it
// through Unwrap (noteKey, noteError).
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	keyID  string // the principal's key, once authenticated
	err    error  // an internal error answered
}

func (a *accessWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush, read
// deadlines, full duplex).
func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// accessOf finds the request's accessWriter under w's wrappers.
func accessOf(w http.ResponseWriter) *accessWriter {
	for {
		switch x := w.(type) {
		case *accessWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// noteKey records the id of the key a request was authenticated with.
func noteKey(w http.ResponseWriter, keyID string) {
	if a := accessOf(w); a != nil {
		a.keyID = keyID
	}
}

// noteError records an internal error answered (its problem document says
// only "internal error").
func noteError(w http.ResponseWriter, err error) {
	if a := accessOf(w); a != nil {
		a.err = err
	}
}

// observe serves r with h and then logs and measures it by its route
// pattern ("" when no route takes it); a quiet route's answers under 400
// are logged at debug.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, pattern string, quiet bool, h func(http.ResponseWriter, *http.Request)) {
	a := &accessWriter{ResponseWriter: w}
	start := s.now()
	defer func() {
		if p := recover(); p != nil {
			// net/http logs the panic and drops the connection; the
			// request still gets its line and its count, as a 500
			a.status = http.StatusInternalServerError
			s.served(a, r, pattern, quiet, start)
			panic(p)
		}
		s.served(a, r, pattern, quiet, start)
	}()
	h(a, r)
}

// served logs and counts an answered request. The line holds no header,
// query or body: nothing of a key, a signature or a secret.
func (s *Server) served(a *accessWriter, r *http.Request, pattern string, quiet bool, start time.Time) {
	took := s.now().Sub(start)
	status := a.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing: net/http answers 200
	}
	route := Unmatched
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path
	}
	method := r.Method
	if !methods[method] {
		method = "OTHER"
	}
	if s.Monitor != nil {
		s.Monitor.Served(&Served{Route: route, Method: method, Status: status, Took: took, Bytes: a.bytes})
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case quiet && status < 400:
		level = slog.LevelDebug
	}
	log := s.logger()
	ctx := r.Context()
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("route", route),
		slog.String("path", shortPath(r.URL.Path)),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int64("bytes", a.bytes),
		slog.String("remote", r.RemoteAddr),
	}
	if a.keyID != "" {
		attrs = append(attrs, slog.String("key", a.keyID))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("error", a.err.Error()))
	}
	log.LogAttrs(ctx, level, "request", attrs...)
}

// maxLoggedPath bounds the path an access line shows: a request line may
// be up to a megabyte long, its log line need not.
const maxLoggedPath = 512

func shortPath(p string) string {
	if len(p) <= maxLoggedPath {
		return p
	}
	return strings.ToValidUTF8(p[:maxLoggedPath], "") + "…"
}

// logger is the server's logger; without one, nothing is logged.
func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return discard
}

var discard = slog.New(slog.DiscardHandler)
