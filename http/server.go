// Package http is livebill's JSON API (/v1) and its client. Every route
// is declared once, with who may call it, in the route table (routes.go;
// API keys and access levels in auth.go). Coded domain errors are
// answered as RFC 9457 problem documents (problem.go); the logic lives in
// the root package's services.
package http

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// Limits on one request.
const (
	MaxBody        = 64 << 20 // bytes
	MaxBatchEvents = 10000
	MaxQuoteBody   = 1 << 20
)

//go:embed openapi.json
var openapi []byte

// Server serves the API.
type Server struct {
	Store   livebill.Store
	Billing *billing.Service
	// Admission decides POST /v1/authorize and keeps leases; nil: those
	// routes answer that admission is not enabled.
	Admission livebill.Authorizer
	// Logger gets one line per request answered (observe.go) and the
	// server's notices; nil logs nothing.
	Logger *slog.Logger
	// Monitor, when set, is told of every request answered and every
	// webhook refused (observe.go).
	Monitor Monitor
	// Metrics serves GET /v1/metrics (operator key); nil: 404.
	Metrics http.Handler
	// ReadyTimeout bounds the database ping of /v1/ready (0:
	// DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// AdminKey is an operator key given at start ($LIVEBILL_ADMIN_KEY),
	// valid besides the stored keys; "" for none.
	AdminKey string
	// WebhookLateness is how late a vendor callback may arrive after its
	// event time before it is logged as late (default 60 s); see ingest.go.
	WebhookLateness time.Duration
	// WebhookWindow is how far a callback's own timestamp may be from the
	// clock before it is refused (default webhook.DefaultWindow).
	WebhookWindow time.Duration
	// Console, when set, serves every path outside /v1: the web console
	// (package console), whose pages authorize themselves by its session.
	Console http.Handler
	// Serves is the part of the route table the server serves (parts.go;
	// 0: all of it); the routes of the other parts answer 404.
	Serves Parts
	// Queue, when set, is the event queue /v1/ready checks besides the
	// database.
	Queue livebill.Pinger
	// Timeouts of a connection (0: the defaults below). Handlers that
	// may answer slowly (usage) extend their own write deadline.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	server    *http.Server
	listener  net.Listener
	keys      keyCache     // stored keys recently used (keycache.go)
	lastPurge atomic.Int64 // Unix ms of the last purge of idempotency records
}

// Default timeouts. Bodies may be large NDJSON pushes (64 MiB), so reading
// one gets minutes, not forever; the write timeout counts from the end of
// the request's header, so it covers reading the body too.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 5 * time.Minute
	DefaultWriteTimeout      = 6 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
)

// NewServer returns a server on store and the billing service.
func NewServer(store livebill.Store, b *billing.Service) *Server {
	return &Server{Store: store, Billing: b}
}

// Listen binds addr; Serve then serves on it. Split so callers learn the
// bound address (":0") before serving.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.listener = ln
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	// A stalled or slow client cannot hold a connection open for good.
	s.server = &http.Server{Handler: s.Handler(), ErrorLog: slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
		ReadHeaderTimeout: or(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(s.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(s.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(s.IdleTimeout, DefaultIdleTimeout)}
	return ln.Addr(), nil
}

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.server.Serve(s.listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.server.Shutdown(ctx) }

// Close closes the listener and every connection at once: the requests in
// flight see their contexts cancelled (their transactions roll back).
func (s *Server) Close() error { return s.server.Close() }

// ---- accounts and apps

// AccountJSON is an account in responses, with its state and balance
// (StatusJSON: balance is the current one, opening_balance the one it was
// made with).
type AccountJSON struct {
	ID          string `json:"id"`
	Catalog     string `json:"catalog"`
	CatalogYAML string `json:"catalog_yaml,omitempty"`
	Mode        string `json:"mode,omitempty"`
	Created     string `json:"created"`
	Activated   string `json:"activated,omitempty"`
	Timezone    string `json:"timezone,omitempty"`
	Revision    int64  `json:"revision"`
	StatusJSON         // state, since, grace_until, reclaim_at, balance, opening_balance
	// Quarantine is set when the settlement leaves the account out: its
	// stored data cannot be rated (GET /v1/accounts/{id} only).
	Quarantine *livebill.Quarantine `json:"quarantine,omitempty"`
}

func accountJSON(a *livebill.AccountRecord) AccountJSON {
	j := AccountJSON{ID: a.ID, Catalog: a.Catalog, CatalogYAML: a.CatalogYAML, Mode: a.Mode, Timezone: a.Timezone,
		Created: a.Created.Format(time.DateOnly), Revision: a.Revision}
	if !a.Activated.IsZero() {
		j.Activated = a.Activated.Format(time.DateOnly)
	}
	return j
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateAccountInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	a, err := s.Billing.CreateAccount(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeAccount(w, r, http.StatusCreated, a)
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	p, err := pageOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	as, next, err := s.Store.PageAccounts(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.withStatus(r.Context(), as)
	if err != nil {
		writeError(w, err)
		return
	}
	writePage(w, "accounts", out, next)
}

// getAccount answers the account with its current state and balance.
func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.Store.FindAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := s.withStatus(r.Context(), []*livebill.AccountRecord{a})
	if err != nil {
		writeError(w, err)
		return
	}
	j := out[0]
	if j.Quarantine, err = s.Store.FindQuarantine(r.Context(), a.ID); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) writeAccount(w http.ResponseWriter, r *http.Request, status int, a *livebill.AccountRecord) {
	out, err := s.withStatus(r.Context(), []*livebill.AccountRecord{a})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, out[0])
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateAppInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	in.AccountID = r.PathValue("id")
	a, err := s.Store.CreateApp(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

// listApps answers a page of the account's apps, each with its state.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	as, next, ok := accountPage(s, w, r, s.Store.PageApps)
	if !ok {
		return
	}
	st, sts, err := s.Billing.AccountStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]AppJSON, len(as))
	for i, a := range as {
		out[i] = appJSON(a, billing.AppStatusOf(st, sts, a.ID))
	}
	writePage(w, "apps", out, next)
}

// ---- devices

// DeviceJSON is an industrial field device in requests and responses.
type DeviceJSON struct {
	ID      string `json:"id"`
	Cameras []struct {
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"cameras"`
}

func deviceJSON(d *livebill.Device) DeviceJSON {
	j := DeviceJSON{ID: d.ID}
	for _, c := range d.Cameras {
		j.Cameras = append(j.Cameras, struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		}{c.Width, c.Height})
	}
	return j
}

func (s *Server) createDevice(w http.ResponseWriter, r *http.Request) {
	var in DeviceJSON
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	ci := livebill.CreateDeviceInput{AccountID: r.PathValue("id"), ID: in.ID}
	for _, c := range in.Cameras {
		ci.Cameras = append(ci.Cameras, livebill.Size{Width: c.Width, Height: c.Height})
	}
	d, err := s.Store.CreateDevice(r.Context(), &ci)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, deviceJSON(d))
}

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, next, ok := accountPage(s, w, r, s.Store.PageDevices)
	if !ok {
		return
	}
	out := []DeviceJSON{}
	for _, d := range ds {
		out = append(out, deviceJSON(d))
	}
	writePage(w, "devices", out, next)
}

// ---- purchases and refunds

func (s *Server) createPurchase(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreatePurchaseInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	in.AccountID = r.PathValue("id")
	p, err := s.Billing.CreatePurchase(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) listPurchases(w http.ResponseWriter, r *http.Request) {
	if ps, next, ok := accountPage(s, w, r, s.Store.PagePurchases); ok {
		writePage(w, "purchases", ps, next)
	}
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateRefundInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	in.AccountID = r.PathValue("id")
	rf, err := s.Billing.CreateRefund(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rf)
}

func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request) {
	if rs, next, ok := accountPage(s, w, r, s.Store.PageRefunds); ok {
		writePage(w, "refunds", rs, next)
	}
}

// ---- top-ups and statements

func (s *Server) createTopUp(w http.ResponseWriter, r *http.Request) {
	var in livebill.CreateTopUpInput
	if err := readJSON(r, &in); err != nil {
		writeError(w, err)
		return
	}
	in.AccountID = r.PathValue("id")
	t, created, err := s.Store.CreateTopUp(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, t)
}

func (s *Server) listTopUps(w http.ResponseWriter, r *http.Request) {
	if ts, next, ok := accountPage(s, w, r, s.Store.PageTopUps); ok {
		writePage(w, "topups", ts, next)
	}
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	st, err := s.Billing.Statement(r.Context(), r.PathValue("id"), r.PathValue("month"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// RejectionsJSON is a page of the rejections response. The rejections
// are computed by the account's meter, not stored rows: a cursor is a
// position in that list.
type RejectionsJSON struct {
	*livebill.Rejections
	Next string `json:"next,omitempty"`
}

func (s *Server) rejections(w http.ResponseWriter, r *http.Request) {
	p, err := pageOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	from := 0
	if pos, err := livebill.ParseCursor(p.After, "rejections", 1); err != nil {
		writeError(w, err)
		return
	} else if pos != nil {
		if from, err = strconv.Atoi(pos[0]); err != nil || from < 0 {
			writeError(w, livebill.Errorf(livebill.EINVALID, "after: not a cursor of this list (use the next value a page of rejections gave)"))
			return
		}
	}
	rj, err := s.Billing.Rejections(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := RejectionsJSON{Rejections: rj}
	total := len(rj.Events)
	from = min(from, total)
	to := min(from+p.Size(), total)
	rj.Events = rj.Events[from:to]
	if to < total {
		out.Next = livebill.Cursor("rejections", strconv.Itoa(to))
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- pages

// pageOf reads the page a request asks for: ?limit= (default
// livebill.DefaultPageLimit, at most livebill.MaxPageLimit) and ?after=
// (the next of the page before).
func pageOf(r *http.Request) (livebill.Page, error) {
	q := r.URL.Query()
	return livebill.ParsePage(q.Get("limit"), q.Get("after"))
}

// accountPage reads a page of one of the account's lists, or answers the
// error (the account does not exist, a bad cursor).
func accountPage[T any](s *Server, w http.ResponseWriter, r *http.Request, fetch func(context.Context, string, livebill.Page) ([]T, string, error)) ([]T, string, bool) {
	p, err := pageOf(r)
	if err != nil {
		writeError(w, err)
		return nil, "", false
	}
	id := r.PathValue("id")
	if _, err := s.Store.FindAccount(r.Context(), id); err != nil {
		writeError(w, err)
		return nil, "", false
	}
	items, next, err := fetch(r.Context(), id, p)
	if err != nil {
		writeError(w, err)
		return nil, "", false
	}
	return items, next, true
}

// servePage answers a page of a list of no account, each item shown as
// show makes it.
func servePage[T, J any](w http.ResponseWriter, r *http.Request, name string, fetch func(context.Context, livebill.Page) ([]T, string, error), show func(T) J) {
	p, err := pageOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	items, next, err := fetch(r.Context(), p)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]J, len(items))
	for i, it := range items {
		out[i] = show(it)
	}
	writePage(w, name, out, next)
}

// writePage answers a page: {"<name>": [...], "next": "<cursor>"}, next
// left out on the last page.
func writePage[T any](w http.ResponseWriter, name string, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	out := map[string]any{name: items}
	if next != "" {
		out["next"] = next
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- events

// SplitEvents splits a request body into raw events: a JSON array of
// objects, or NDJSON (one object per line; blank lines skipped). A body of
// more than max events is refused (too_large) as soon as the event past
// max is found, so a body of millions of tiny lines costs no more than
// max events.
func SplitEvents(body []byte, max int) ([]livebill.RawEvent, error) {
	tooMany := func() error {
		return livebill.Errorf(livebill.ETOOLARGE, "more than %d events in one request: send smaller batches", max)
	}
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) > 0 && t[0] == '[' {
		notArray := func(err error) error {
			return livebill.Errorf(livebill.EINVALID, "body: not a JSON array of events: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		if _, err := dec.Token(); err != nil { // [
			return nil, notArray(err)
		}
		var out []livebill.RawEvent
		for dec.More() {
			if len(out) == max {
				return nil, tooMany()
			}
			var m json.RawMessage
			if err := dec.Decode(&m); err != nil {
				return nil, notArray(err)
			}
			out = append(out, livebill.RawEvent{Line: len(out) + 1, Body: m})
		}
		if _, err := dec.Token(); err != nil { // ]
			return nil, notArray(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, notArray(errors.New("data after the array"))
		}
		return out, nil
	}
	var out []livebill.RawEvent
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(out) == max {
			return nil, tooMany()
		}
		out = append(out, livebill.RawEvent{Line: line, Body: append([]byte(nil), b...)})
	}
	if err := sc.Err(); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "body: line %d: %v", line+1, err)
	}
	return out, nil
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, MaxBody)
	if err != nil {
		writeError(w, readError(err))
		return
	}
	batch, err := SplitEvents(body, MaxBatchEvents)
	if err != nil {
		writeError(w, err)
		return
	}
	// An account key pushes events of its own apps only: the others are
	// rejected one by one (forbidden), the rest of the batch is kept.
	p, _ := principalOf(r)
	res, err := s.Billing.IngestFor(r.Context(), p.Account, batch)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ---- usage, bills, quotes

// usageWriteTime is the time a usage answer has to be computed and
// written, instead of the server's write timeout.
const usageWriteTime = 15 * time.Minute

func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := livebill.UsageInput{AccountID: r.PathValue("id"), From: q.Get("from"), To: q.Get("to"), Granularity: q.Get("granularity")}
	if in.Granularity == "" {
		in.Granularity = "day"
	}
	// a long range at 5-minute granularity takes a while to write
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(usageWriteTime))
	pts, err := s.Billing.Usage(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeUsage(w, in.Granularity, pts)
}

// writeUsage writes a usage answer as writeJSON would, but each point on
// one line: a month at 5-minute granularity is tens of thousands of
// points, and indenting each point's fields took half the answer's time.
func writeUsage(w http.ResponseWriter, granularity string, pts []livebill.UsagePoint) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	g, _ := json.Marshal(granularity)
	bw.WriteString("{\n  \"granularity\": ")
	bw.Write(g)
	bw.WriteString(",\n  \"usage\": [")
	for i := range pts {
		b, err := json.Marshal(&pts[i]) // strings and an integer: cannot fail
		if err != nil {
			break
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(pts) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	bw.Flush()
}

// BillsJSON is the bills response.
type BillsJSON struct {
	Account string                `json:"account"`
	Through string                `json:"settled_through"`
	Bills   []livebill.IssuedBill `json:"bills"`
	Next    string                `json:"next,omitempty"` // cursor of the next page
}

func (s *Server) listBills(w http.ResponseWriter, r *http.Request) {
	bs, next, ok := accountPage(s, w, r, s.Store.PageBills)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st, err := s.Store.FindSettlement(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if bs == nil {
		bs = []livebill.IssuedBill{}
	}
	writeJSON(w, http.StatusOK, BillsJSON{Account: id, Through: st.Through, Bills: bs, Next: next})
}

// settle settles the account now, as the ticker does: days whose ingest
// is not quiet yet, or held by an open import, wait (the answer says
// which and until when), unless ?force=true.
func (s *Server) settle(w http.ResponseWriter, r *http.Request) {
	force, err := boolParam(r, "force")
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.Billing.SettleWith(r.Context(), r.PathValue("id"), billing.SettleOptions{Force: force})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) accountQuote(w http.ResponseWriter, r *http.Request) {
	q, err := s.Billing.Quote(r.Context(), r.PathValue("id"), r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// quote prices a scenario document (YAML or JSON, SPEC §7.2) like
// `livebill quote --format json`. Only built-in catalogs and inline events
// are accepted: the server reads no files named by a request. Invalid
// events make it a 400 listing them, unless ?skip_invalid=true.
func (s *Server) quote(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, MaxQuoteBody)
	if err != nil {
		writeError(w, readError(err))
		return
	}
	q, err := billing.QuoteScenario(r.Context(), body, "request", r.URL.Query().Get("skip_invalid") == "true")
	var rj *billing.RejectedEvents
	if errors.As(err, &rj) {
		writeError(w, livebill.Errorf(livebill.EINVALID, "%v (use ?skip_invalid=true to quote the rest)", rj), rj.Events...)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}
