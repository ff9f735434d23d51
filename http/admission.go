package http

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/livebill/livebill"
)

// Admission (POST /v1/authorize) and its leases. A denial is an answer
// (200, allow false, a reason), not an error; an unknown app, or another
// account's app for an account key, is 404 alike.

// authorizeBody bounds an authorize request (its ids are bounded too).
const authorizeBody = 64 << 10

func (s *Server) admission() (livebill.Authorizer, error) {
	if s.Admission == nil {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "admission is not enabled on this server")
	}
	return s.Admission, nil
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	adm, err := s.admission()
	if err != nil {
		writeError(w, err)
		return
	}
	var in livebill.AuthorizeInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	p, _ := principalOf(r)
	d, err := adm.Authorize(r.Context(), p.Account, &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// RenewJSON is the body of a lease renewal.
type RenewJSON struct {
	TTLMS int64 `json:"ttl_ms,omitempty"`
}

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) {
	adm, err := s.admission()
	if err != nil {
		writeError(w, err)
		return
	}
	var in RenewJSON
	if r.ContentLength != 0 {
		if err := readJSON(r, &in); err != nil {
			writeError(w, err)
			return
		}
	}
	if in.TTLMS < 0 {
		writeError(w, livebill.Errorf(livebill.EINVALID, "ttl_ms: negative"))
		return
	}
	p, _ := principalOf(r)
	l, err := adm.RenewLease(r.Context(), p.Account, r.PathValue("app"), r.PathValue("lease"), time.Duration(in.TTLMS)*time.Millisecond)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) releaseLease(w http.ResponseWriter, r *http.Request) {
	adm, err := s.admission()
	if err != nil {
		writeError(w, err)
		return
	}
	p, _ := principalOf(r)
	l, err := adm.ReleaseLease(r.Context(), p.Account, r.PathValue("app"), r.PathValue("lease"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// listLeases answers a page of the account's leases held now.
func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) {
	adm, err := s.admission()
	if err != nil {
		writeError(w, err)
		return
	}
	if ls, next, ok := accountPage(s, w, r, adm.PageLeases); ok {
		writePage(w, "leases", ls, next)
	}
}

// Authorize asks whether an action may start; a denial is a Decision
// with Allow false, not an error.
func (c *Client) Authorize(ctx context.Context, in *livebill.AuthorizeInput) (*livebill.Decision, error) {
	var d livebill.Decision
	if err := c.Do(ctx, "POST", "/v1/authorize", in, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// RenewLease renews a lease of an app for ttl (0: the server's default).
func (c *Client) RenewLease(ctx context.Context, app, lease string, ttl time.Duration) (*livebill.Lease, error) {
	var l livebill.Lease
	err := c.Do(ctx, "POST", "/v1/apps/"+url.PathEscape(app)+"/leases/"+url.PathEscape(lease)+"/renew", RenewJSON{TTLMS: ttl.Milliseconds()}, &l)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// ReleaseLease releases a lease of an app.
func (c *Client) ReleaseLease(ctx context.Context, app, lease string) (*livebill.Lease, error) {
	var l livebill.Lease
	if err := c.Do(ctx, "DELETE", "/v1/apps/"+url.PathEscape(app)+"/leases/"+url.PathEscape(lease), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}
