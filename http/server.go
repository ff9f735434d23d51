// Package http is livebill's JSON API (/v1) and its client. It maps coded
// domain errors to HTTP statuses; the logic lives in the root package's
// services.
package http

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/scenario"
)

// Limits on one request.
const (
	MaxBody        = 64 << 20 // bytes
	MaxBatchEvents = 10000
	MaxQuoteBody   = 16 << 20
)

//go:embed openapi.json
var openapi []byte

// Server serves the API.
type Server struct {
	Store   livebill.Store
	Billing *billing.Service
	Logger  *log.Logger
	// WebhookLateness is how late a vendor callback may arrive after its
	// event time before it is logged as late (default 60 s); see ingest.go.
	WebhookLateness time.Duration
	server          *http.Server
	listener        net.Listener
}

// NewServer returns a server on store and the billing service.
func NewServer(store livebill.Store, b *billing.Service) *Server {
	return &Server{Store: store, Billing: b}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi)
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /v1/accounts", s.createAccount)
	mux.HandleFunc("GET /v1/accounts", s.listAccounts)
	mux.HandleFunc("GET /v1/accounts/{id}", s.getAccount)
	mux.HandleFunc("POST /v1/accounts/{id}/apps", s.createApp)
	mux.HandleFunc("GET /v1/accounts/{id}/apps", s.listApps)
	mux.HandleFunc("POST /v1/accounts/{id}/devices", s.createDevice)
	mux.HandleFunc("GET /v1/accounts/{id}/devices", s.listDevices)
	mux.HandleFunc("POST /v1/accounts/{id}/purchases", s.createPurchase)
	mux.HandleFunc("GET /v1/accounts/{id}/purchases", s.listPurchases)
	mux.HandleFunc("POST /v1/accounts/{id}/refunds", s.createRefund)
	mux.HandleFunc("GET /v1/accounts/{id}/refunds", s.listRefunds)
	mux.HandleFunc("POST /v1/accounts/{id}/topups", s.createTopUp)
	mux.HandleFunc("GET /v1/accounts/{id}/topups", s.listTopUps)
	mux.HandleFunc("GET /v1/accounts/{id}/statements/{month}", s.statement)
	mux.HandleFunc("GET /v1/accounts/{id}/rejections", s.rejections)
	mux.HandleFunc("GET /v1/accounts/{id}/usage", s.usage)
	mux.HandleFunc("GET /v1/accounts/{id}/bills", s.listBills)
	mux.HandleFunc("POST /v1/accounts/{id}/settle", s.settle)
	mux.HandleFunc("GET /v1/accounts/{id}/quote", s.accountQuote)
	mux.HandleFunc("POST /v1/events", s.postEvents)
	mux.HandleFunc("POST /v1/quote", s.quote)
	s.ingestRoutes(mux)     // vendor webhooks (ingest.go)
	s.quarantineRoutes(mux) // purchase cancellation, quarantine (quarantine.go)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkPath(r.URL.Path); err != nil {
			writeError(w, err)
			return
		}
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: let the mux decide between 404 and 405 (it sets Allow),
		// and answer in JSON like every other error.
		rec := &statusRecorder{header: w.Header()}
		mux.ServeHTTP(rec, r)
		var b ErrorBody
		b.Error.Code, b.Error.Message = livebill.ENOTFOUND, fmt.Sprintf("no route %s %s (see /v1/openapi.json)", r.Method, r.URL.Path)
		if rec.code == http.StatusMethodNotAllowed {
			b.Error.Code, b.Error.Message = "method_not_allowed", fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, w.Header().Get("Allow"))
		}
		writeJSON(w, max(rec.code, http.StatusNotFound), b)
	})
}

// statusRecorder captures the status the mux would answer with.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.code = code }

// Listen binds addr; Serve then serves on it. Split so callers learn the
// bound address (":0") before serving.
func (s *Server) Listen(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.listener = ln
	// Bodies may be large NDJSON pushes, so reading gets minutes, not
	// forever: a stalled client cannot hold a connection open.
	s.server = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
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

// ---- errors and JSON

// StatusOf maps a coded error to an HTTP status.
func StatusOf(err error) int {
	switch livebill.ErrorCode(err) {
	case livebill.EINVALID:
		return http.StatusBadRequest
	case livebill.ENOTFOUND:
		return http.StatusNotFound
	case livebill.ECONFLICT:
		return http.StatusConflict
	case livebill.EUNPUBLISHED:
		return http.StatusUnprocessableEntity
	case livebill.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON of an error response.
type ErrorBody struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Details []string `json:"details,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error, details ...string) {
	var b ErrorBody
	b.Error.Code = livebill.ErrorCode(err)
	b.Error.Message = err.Error()
	if b.Error.Code == livebill.EINTERNAL {
		log.Printf("internal error: %v", err)
		b.Error.Message = "internal error"
	}
	b.Error.Details = details
	writeJSON(w, StatusOf(err), b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxJSONBody bounds a JSON request body (event pushes have their own).
const maxJSONBody = 4 << 20

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return livebill.Errorf(livebill.EINVALID, "request body: data after the JSON value")
		}
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return livebill.Errorf(livebill.ETOOLARGE, "request body: larger than %d bytes", maxJSONBody)
	}
	return livebill.Errorf(livebill.EINVALID, "request body: %v", err)
}

// ---- accounts and apps

// AccountJSON is an account in responses.
type AccountJSON struct {
	ID          string `json:"id"`
	Catalog     string `json:"catalog"`
	CatalogYAML string `json:"catalog_yaml,omitempty"`
	Mode        string `json:"mode,omitempty"`
	Created     string `json:"created"`
	Activated   string `json:"activated,omitempty"`
	Balance     string `json:"balance"`
	Timezone    string `json:"timezone,omitempty"`
	Revision    int64  `json:"revision"`
	// Quarantine is set when the settlement leaves the account out: its
	// stored data cannot be rated (GET /v1/accounts/{id} only).
	Quarantine *livebill.Quarantine `json:"quarantine,omitempty"`
}

func accountJSON(a *livebill.AccountRecord) AccountJSON {
	j := AccountJSON{ID: a.ID, Catalog: a.Catalog, CatalogYAML: a.CatalogYAML, Mode: a.Mode, Balance: a.Balance, Timezone: a.Timezone,
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
	writeJSON(w, http.StatusCreated, accountJSON(a))
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.ListAccounts(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	out := []AccountJSON{}
	for _, a := range as {
		out = append(out, accountJSON(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.Store.FindAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	j := accountJSON(a)
	if j.Quarantine, err = s.Store.FindQuarantine(r.Context(), a.ID); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
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

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Store.FindAccount(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	as, err := s.Store.ListApps(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if as == nil {
		as = []*livebill.App{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": as})
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
	ds, err := s.Store.ListDevices(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	out := []DeviceJSON{}
	for _, d := range ds {
		out = append(out, deviceJSON(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
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
	ps, err := s.Store.ListPurchases(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if ps == nil {
		ps = []*livebill.StoredPurchase{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"purchases": ps})
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
	rs, err := s.Store.ListRefunds(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if rs == nil {
		rs = []*livebill.StoredRefund{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"refunds": rs})
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
	ts, err := s.Store.ListTopUps(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if ts == nil {
		ts = []*livebill.TopUp{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topups": ts})
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	st, err := s.Billing.Statement(r.Context(), r.PathValue("id"), r.PathValue("month"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) rejections(w http.ResponseWriter, r *http.Request) {
	rj, err := s.Billing.Rejections(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rj)
}

// ---- events

// SplitEvents splits a request body into raw events: a JSON array of
// objects, or NDJSON (one object per line; blank lines skipped).
func SplitEvents(body []byte) ([]livebill.RawEvent, error) {
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) > 0 && t[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(t, &arr); err != nil {
			return nil, livebill.Errorf(livebill.EINVALID, "body: not a JSON array of events: %v", err)
		}
		out := make([]livebill.RawEvent, len(arr))
		for i, m := range arr {
			out[i] = livebill.RawEvent{Line: i + 1, Body: m}
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
		out = append(out, livebill.RawEvent{Line: line, Body: append([]byte(nil), b...)})
	}
	if err := sc.Err(); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "body: line %d: %v", line+1, err)
	}
	return out, nil
}

func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]string{"code": livebill.EINVALID,
				"message": fmt.Sprintf("body larger than %d bytes: send smaller batches", MaxBody)}})
			return
		}
		writeError(w, livebill.Errorf(livebill.EINVALID, "body: %v", err))
		return
	}
	batch, err := SplitEvents(body)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(batch) > MaxBatchEvents {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]string{"code": livebill.EINVALID,
			"message": fmt.Sprintf("%d events in one request; at most %d", len(batch), MaxBatchEvents)}})
		return
	}
	res, err := s.Billing.Ingest(r.Context(), batch)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ---- usage, bills, quotes

func (s *Server) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := livebill.UsageInput{AccountID: r.PathValue("id"), From: q.Get("from"), To: q.Get("to"), Granularity: q.Get("granularity")}
	if in.Granularity == "" {
		in.Granularity = "day"
	}
	pts, err := s.Billing.Usage(r.Context(), &in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"granularity": in.Granularity, "usage": pts})
}

// BillsJSON is the bills response.
type BillsJSON struct {
	Account string                `json:"account"`
	Through string                `json:"settled_through"`
	Bills   []livebill.IssuedBill `json:"bills"`
}

func (s *Server) listBills(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Store.FindAccount(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	bs, err := s.Store.ListBills(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	st, err := s.Store.FindSettlement(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	if bs == nil {
		bs = []livebill.IssuedBill{}
	}
	writeJSON(w, http.StatusOK, BillsJSON{Account: id, Through: st.Through, Bills: bs})
}

func (s *Server) settle(w http.ResponseWriter, r *http.Request) {
	bs, err := s.Billing.Settle(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if bs == nil {
		bs = []livebill.IssuedBill{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"issued": bs})
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxQuoteBody))
	if err != nil {
		writeError(w, livebill.Errorf(livebill.EINVALID, "body: %v", err))
		return
	}
	f, err := scenario.Parse(body, "request")
	if err != nil {
		writeError(w, err)
		return
	}
	if f.EventsFile != "" {
		writeError(w, livebill.Errorf(livebill.EINVALID, "events_file: not accepted by the API; give events inline"))
		return
	}
	if err := billing.CheckCatalog(f.Catalog); err != nil {
		writeError(w, err)
		return
	}
	res, err := f.Run()
	if err != nil {
		writeError(w, err)
		return
	}
	if len(res.Rejected) > 0 {
		var details []string
		for _, e := range res.Rejected {
			details = append(details, e.Error())
		}
		if r.URL.Query().Get("skip_invalid") != "true" {
			writeError(w, livebill.Errorf(livebill.EINVALID, "%d of %d events rejected; nothing quoted (use ?skip_invalid=true to quote the rest)", len(res.Rejected), res.Events), details...)
			return
		}
		res.Quote.Notices = append(res.Quote.Notices, livebill.Notice{Code: "events_rejected",
			Message: fmt.Sprintf("%d of %d events were invalid and left out", len(res.Rejected), res.Events)})
	}
	writeJSON(w, http.StatusOK, res.Quote)
}
