package http

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Access is who may call a route. Every route declares one in the route
// table (routes.go); the server refuses a route without one.
type Access string

// Access levels.
const (
	// Public: anyone (health, the OpenAPI document).
	Public Access = "public"
	// Signed: a vendor webhook, authenticated by its own signature.
	Signed Access = "signed-webhook"
	// Admin: an operator key.
	Admin Access = "admin"
	// Account: an operator key, or a key of the account the path's {id}
	// names. Another account's key gets 404, as for an account that does
	// not exist: a key learns nothing of other accounts.
	Account Access = "account"
	// AnyKey: any valid key; the handler scopes what an account key
	// does (POST /v1/events keeps only events of the key's own apps).
	AnyKey Access = "any-key"
)

// principal is who a request's key says is asking.
type principal = livebill.Principal

type principalKey struct{}

func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalOf returns the request's principal, set by guard on the
// routes that need a key; false on public and signed routes.
func principalOf(r *http.Request) (principal, bool) {
	p, ok := r.Context().Value(principalKey{}).(principal)
	return p, ok
}

// authenticate reads the request's bearer key: the operator key the
// server was started with, or a stored key that matches and is not
// revoked.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if auth == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, livebill.Errorf(livebill.EUNAUTHORIZED, "an API key is needed: send the header Authorization: Bearer <key>")
	}
	var keys livebill.KeyService
	if s.Store != nil {
		keys = s.Store
	}
	return livebill.Authenticate(r.Context(), keys, s.AdminKey, token)
}

// guard wraps a route's handler with its checks, in order: the declared
// body bound (from Content-Length, before reading anything), the key, the
// access level, then Idempotency-Key for routes that create.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.body > 0 {
			if r.ContentLength > rt.body {
				s.refuse(w, r, livebill.Errorf(livebill.ETOOLARGE, "request body: %d bytes, more than the %d this route takes", r.ContentLength, rt.body))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, rt.body)
		}
		switch rt.access {
		case Public, Signed:
			rt.handle(w, r)
			return
		case Admin, Account, AnyKey:
		default:
			writeError(w, fmt.Errorf("route %s %s has no access policy", rt.method, rt.path))
			return
		}
		p, err := s.authenticate(r)
		if err != nil {
			if livebill.ErrorCode(err) == livebill.EUNAUTHORIZED {
				challenge := `Bearer realm="livebill"`
				if r.Header.Get("Authorization") != "" {
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
			}
			s.refuse(w, r, err)
			return
		}
		switch {
		case rt.access == Admin && !p.Admin():
			s.refuse(w, r, livebill.Errorf(livebill.EFORBIDDEN, "%s %s needs an operator (admin) key; this key is of account %q", rt.method, rt.path, p.Account))
			return
		case rt.access == Account && !p.Admin() && r.PathValue("id") != p.Account:
			s.refuse(w, r, livebill.Errorf(livebill.ENOTFOUND, "account %q not found", r.PathValue("id")))
			return
		}
		noteKey(w, p.KeyID)
		if s.reclaimed(w, r, rt, p) {
			return
		}
		r = r.WithContext(withPrincipal(r.Context(), p))
		if rt.creates {
			s.idempotent(w, r, p, rt.handle)
			return
		}
		rt.handle(w, r)
	})
}

// Bounds of the body read and dropped after an early answer: clients
// that send the whole body before reading the answer (most scripting
// languages' HTTP clients) get it if the body ends within them.
const (
	drainBytes = 256 << 20
	drainTime  = 10 * time.Second
	smallBody  = 256 << 10 // what net/http itself reads after an answer to keep the connection
)

// refuse answers a request before its body is read (too large, no key, not
// allowed), so that the client receives the answer even while it is still
// sending: the answer is flushed first with Connection: close, then a
// bounded part of the body is read and dropped before the connection
// closes (closing on unread data resets the connection, and a reset can
// destroy an answer the client has not read yet).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength >= 0 && r.ContentLength <= smallBody {
		writeError(w, err) // the server reads a small rest itself and keeps the connection
		return
	}
	w.Header().Set("Connection", "close")
	rc := http.NewResponseController(w)
	rc.EnableFullDuplex()
	writeError(w, err)
	rc.Flush()
	rc.SetReadDeadline(time.Now().Add(drainTime))
	io.CopyN(io.Discard, r.Body, drainBytes)
}
