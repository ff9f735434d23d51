package http

import (
	"net/http"
	"strings"

	"github.com/livebill/livebill"
)

// quarantineRoutes registers the operator's remedies for an account that
// cannot be rated: cancelling a purchase made in error, and the list of
// accounts the settlement leaves out. Both are operator (admin) routes.
func (s *Server) quarantineRoutes() []route {
	return []route{
		{method: "POST", path: "/v1/accounts/{id}/purchases/{purchase}/cancel", access: Admin, handle: s.cancelPurchase},
		{method: "GET", path: "/v1/quarantine", access: Admin, handle: s.listQuarantines},
	}
}

func (s *Server) cancelPurchase(w http.ResponseWriter, r *http.Request) {
	p, err := s.Billing.CancelPurchase(r.Context(), r.PathValue("id"), r.PathValue("purchase"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// listQuarantines answers a page of the quarantined accounts by id.
func (s *Server) listQuarantines(w http.ResponseWriter, r *http.Request) {
	servePage(w, r, "accounts", s.Store.PageQuarantines, func(q *livebill.Quarantine) *livebill.Quarantine { return q })
}

// checkPath refuses a path with a segment no id can be (a NUL byte, a
// control character, invalid UTF-8, longer than an id): such a value
// never reaches the store, where PostgreSQL would refuse it with an
// internal error and SQLite look it up.
func checkPath(path string) error {
	for _, seg := range strings.Split(path, "/") {
		if p := livebill.TextProblem(seg); p != "" {
			return livebill.Errorf(livebill.EINVALID, "path: segment %s %s", livebill.Shown(seg), p)
		}
	}
	return nil
}

// checkQuery refuses query parameters that no id, date or cursor can be:
// with a NUL byte or another control character, or not UTF-8. They would
// reach the store (PostgreSQL refuses a NUL in text: a 500). Their length
// is bounded by the request line's; a cursor may be longer than an id.
func checkQuery(r *http.Request) error {
	for name, vs := range r.URL.Query() {
		for _, v := range append(vs, name) {
			if p := livebill.CharsProblem(v); p != "" {
				return livebill.Errorf(livebill.EINVALID, "query: parameter %s %s", livebill.Shown(name), p)
			}
		}
	}
	return nil
}
