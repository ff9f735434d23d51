package http

import (
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/internal/export"
)

// The account lifecycle and notifications out: an account's state and
// balance on GET /v1/accounts/{id}, its apps' states, its ledger (a page,
// or the whole as CSV) and its history; an operator disables and enables
// apps, registers the endpoints notifications go to, reads their
// deliveries and sends one again.

func (s *Server) lifecycleRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/accounts/{id}/ledger", access: Account, audit: true, handle: s.ledger},
		{method: "GET", path: "/v1/accounts/{id}/history", access: Account, audit: true, handle: s.history},
		{method: "GET", path: "/v1/accounts/{id}/apps/{app}/status", access: Account, handle: s.appStatus},
		{method: "POST", path: "/v1/accounts/{id}/apps/{app}/disable", access: Admin, handle: s.setAppEnabled(false)},
		{method: "POST", path: "/v1/accounts/{id}/apps/{app}/enable", access: Admin, handle: s.setAppEnabled(true)},

		{method: "POST", path: "/v1/webhook-endpoints", access: Admin, creates: true, handle: s.createEndpoint},
		{method: "GET", path: "/v1/webhook-endpoints", access: Admin, handle: s.listEndpoints},
		{method: "DELETE", path: "/v1/webhook-endpoints/{endpoint}", access: Admin, handle: s.deleteEndpoint},
		{method: "GET", path: "/v1/deliveries", access: Admin, handle: s.listDeliveries},
		{method: "GET", path: "/v1/deliveries/{delivery}", access: Admin, handle: s.getDelivery},
		{method: "POST", path: "/v1/deliveries/{delivery}/redeliver", access: Admin, handle: s.redeliver},
	}
}

// reclaimed answers 410 Gone for an account that was reclaimed, except to
// an operator reading what is kept of it for audit (its bills, ledger and
// history); false when the request may go on.
func (s *Server) reclaimed(w http.ResponseWriter, r *http.Request, rt route, p principal) bool {
	if s.Store == nil || !strings.HasPrefix(rt.path, "/v1/accounts/{id}") {
		return false
	}
	st, err := s.Store.FindAccountState(r.Context(), r.PathValue("id"))
	if err != nil || st.State != livebill.AccountReclaimed || (rt.audit && p.Admin() && rt.method == "GET") {
		return false
	}
	writeError(w, livebill.Errorf(livebill.EGONE, "account %q was reclaimed on %s: its data is purged for good (its bills, ledger and history are kept for the operator)",
		st.AccountID, st.Since.UTC().Format(time.RFC3339)))
	return true
}

// StatusJSON is an account's state in responses.
type StatusJSON struct {
	State string `json:"state"` // active, arrears, suspended, reclaimed
	Since string `json:"since"`
	// GraceUntil: in arrears, when the account is suspended unless its
	// balance is back to zero or more.
	GraceUntil string `json:"grace_until,omitempty"`
	// ReclaimAt: suspended, when the account is reclaimed.
	ReclaimAt string `json:"reclaim_at,omitempty"`
	// Balance is the current balance (the ledger's last); OpeningBalance
	// the balance the account was made with (its first ledger entry).
	Balance        string `json:"balance"`
	OpeningBalance string `json:"opening_balance"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func statusJSON(st *livebill.AccountState) StatusJSON {
	return StatusJSON{State: st.State, Since: rfc3339(st.Since), GraceUntil: rfc3339(st.GraceUntil), ReclaimAt: rfc3339(st.ReclaimAt),
		Balance: st.Balance, OpeningBalance: st.Opening}
}

// withStatus shows accounts with their states.
func (s *Server) withStatus(ctx context.Context, as []*livebill.AccountRecord) ([]AccountJSON, error) {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	sts, err := s.Store.FindAccountStates(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]AccountJSON, len(as))
	for i, a := range as {
		out[i] = accountJSON(a)
		if st := sts[a.ID]; st != nil {
			out[i].StatusJSON = statusJSON(st)
		}
	}
	return out, nil
}

// AppJSON is an app in responses, with its status.
type AppJSON struct {
	livebill.App
	State  string `json:"state"` // active, stopped, disabled
	Reason string `json:"reason,omitempty"`
	Since  string `json:"since,omitempty"`
}

func appJSON(a *livebill.App, st *livebill.ServiceStatus) AppJSON {
	j := AppJSON{App: *a, State: st.AppState, Reason: st.Reason}
	if st.Reason != "" && st.Reason != livebill.ReasonAccountArrears {
		j.Since = rfc3339(st.Since)
	}
	return j
}

func (s *Server) appStatus(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Store.FindAccount(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	app, err := s.Store.FindApp(r.Context(), r.PathValue("app"))
	if err != nil || app.AccountID != r.PathValue("id") {
		writeError(w, livebill.Errorf(livebill.ENOTFOUND, "app %q of account %q not found", r.PathValue("app"), r.PathValue("id")))
		return
	}
	st, err := s.Billing.AppStatus(r.Context(), app.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) setAppEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Billing.SetAppEnabled(r.Context(), r.PathValue("id"), r.PathValue("app"), enabled)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// ledger answers a page of the account's ledger, or, with ?format=csv,
// the whole ledger as CSV (an export: seq, at, kind, ref, date, amount,
// balance, recorded_at).
func (s *Server) ledger(w http.ResponseWriter, r *http.Request) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "csv":
		s.ledgerCSV(w, r)
		return
	default:
		writeError(w, livebill.Errorf(livebill.EINVALID, "format: must be json or csv, not %q", f))
		return
	}
	if es, next, ok := accountPage(s, w, r, s.Store.PageLedger); ok {
		writePage(w, "ledger", es, next)
	}
}

// LedgerCSVHeader is the first line of a ledger export.
var LedgerCSVHeader = []string{"seq", "at", "kind", "ref", "date", "amount", "balance", "recorded_at"}

func (s *Server) ledgerCSV(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Store.FindAccount(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	es, err := s.Store.ListLedger(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ledger-`+strings.Map(safeName, id)+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(LedgerCSVHeader)
	for _, e := range es {
		cw.Write([]string{strconv.FormatInt(e.Seq, 10), rfc3339(e.At), e.Kind, export.CSVText(e.Ref), e.Date, e.Amount, e.Balance, rfc3339(e.RecordedAt)})
	}
	cw.Flush()
}

// safeName keeps a file name to letters, digits, '-' and '_'.
func safeName(r rune) rune {
	if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
		return r
	}
	return '_'
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	if ts, next, ok := accountPage(s, w, r, s.Store.PageTransitions); ok {
		writePage(w, "history", ts, next)
	}
}

// ---- endpoints and deliveries

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateEndpointInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	e, err := s.Store.CreateEndpoint(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	if rp, ok := w.(replayer); ok {
		// the secret is shown once: a replay tells the endpoint, not it
		shown := *e
		shown.Secret = ""
		rp.replayWith(jsonBytes(shown))
	}
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	servePage(w, r, "endpoints", s.Store.PageEndpoints, func(e *livebill.Endpoint) *livebill.Endpoint { return e })
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DeleteEndpoint(r.Context(), r.PathValue("endpoint")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDeliveries answers a page of deliveries, oldest first, filtered by
// ?endpoint=, ?account= and ?status= (pending, delivered, failed).
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := livebill.DeliveryFilter{EndpointID: q.Get("endpoint"), AccountID: q.Get("account"), Status: q.Get("status")}
	switch f.Status {
	case "", livebill.DeliveryPending, livebill.DeliveryDelivered, livebill.DeliveryFailed:
	default:
		writeError(w, livebill.Errorf(livebill.EINVALID, "status: must be pending, delivered or failed, not %q", f.Status))
		return
	}
	servePage(w, r, "deliveries", func(ctx context.Context, p livebill.Page) ([]*livebill.Delivery, string, error) {
		return s.Store.PageDeliveries(ctx, f, p)
	}, func(d *livebill.Delivery) *livebill.Delivery { return d })
}

// deliverySeq reads the {delivery} of a path.
func deliverySeq(r *http.Request) (int64, error) {
	v := r.PathValue("delivery")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, livebill.Errorf(livebill.ENOTFOUND, "delivery %q not found", v)
	}
	return n, nil
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	seq, err := deliverySeq(r)
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.Store.FindDelivery(r.Context(), seq)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// redeliver sends a delivery again (delivered, failed or pending): it is
// due at once, keeps its notification id (receivers deduplicate by it)
// and its place in its account's order.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	seq, err := deliverySeq(r)
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.Store.Redeliver(r.Context(), seq, s.now())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

var _ livebill.StatusReader = (*billing.Service)(nil)
