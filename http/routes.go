package http

import (
	"cmp"
	"fmt"
	"net/http"
	"strings"

	"github.com/livebill/livebill"
)

// route is one entry of the route table: the pattern, who may call it,
// the largest body it takes and whether it honours Idempotency-Key.
type route struct {
	method, path string
	access       Access
	body         int64 // bytes; 0 means maxJSONBody
	creates      bool  // creates something: Idempotency-Key honoured
	// audit: an operator may still read it of a reclaimed account (what
	// is kept of it: bills, ledger, history); every other route of a
	// reclaimed account answers 410 Gone.
	audit bool
	// quiet: called for every session a media server admits (thousands
	// a second), so its answers under 400 are logged at debug, not info
	// (observe.go); the metrics count them all.
	quiet  bool
	handle http.HandlerFunc
}

// routes is the route table: every route the server serves, with its
// access level. Handler registers nothing else.
func (s *Server) routes() []route {
	rs := []route{
		{method: "GET", path: "/v1/openapi.json", access: Public, handle: serveOpenAPI},
		{method: "GET", path: "/v1/health", access: Public, handle: health},
		{method: "GET", path: "/v1/ready", access: Public, handle: s.ready},
		{method: "GET", path: "/v1/metrics", access: Admin, handle: s.metrics},

		{method: "POST", path: "/v1/accounts", access: Admin, creates: true, handle: s.createAccount},
		{method: "GET", path: "/v1/accounts", access: Admin, handle: s.listAccounts},
		{method: "GET", path: "/v1/accounts/{id}", access: Account, handle: s.getAccount},
		{method: "POST", path: "/v1/accounts/{id}/apps", access: Admin, creates: true, handle: s.createApp},
		{method: "GET", path: "/v1/accounts/{id}/apps", access: Account, handle: s.listApps},
		{method: "POST", path: "/v1/accounts/{id}/devices", access: Admin, creates: true, handle: s.createDevice},
		{method: "GET", path: "/v1/accounts/{id}/devices", access: Account, handle: s.listDevices},
		{method: "POST", path: "/v1/accounts/{id}/purchases", access: Admin, creates: true, handle: s.createPurchase},
		{method: "GET", path: "/v1/accounts/{id}/purchases", access: Account, handle: s.listPurchases},
		{method: "POST", path: "/v1/accounts/{id}/refunds", access: Admin, creates: true, handle: s.createRefund},
		{method: "GET", path: "/v1/accounts/{id}/refunds", access: Account, handle: s.listRefunds},
		{method: "POST", path: "/v1/accounts/{id}/topups", access: Admin, creates: true, handle: s.createTopUp},
		{method: "GET", path: "/v1/accounts/{id}/topups", access: Account, handle: s.listTopUps},
		{method: "GET", path: "/v1/accounts/{id}/statements/{month}", access: Account, handle: s.statement},
		{method: "GET", path: "/v1/accounts/{id}/rejections", access: Account, handle: s.rejections},
		{method: "GET", path: "/v1/accounts/{id}/usage", access: Account, handle: s.usage},
		{method: "GET", path: "/v1/accounts/{id}/bills", access: Account, audit: true, handle: s.listBills},
		{method: "POST", path: "/v1/accounts/{id}/settle", access: Admin, handle: s.settle},
		{method: "GET", path: "/v1/accounts/{id}/quote", access: Account, handle: s.accountQuote},

		{method: "GET", path: "/v1/accounts/{id}/leases", access: Account, handle: s.listLeases},

		{method: "POST", path: "/v1/authorize", access: AnyKey, body: authorizeBody, quiet: true, handle: s.authorize},
		{method: "POST", path: "/v1/apps/{app}/leases/{lease}/renew", access: AnyKey, body: authorizeBody, quiet: true, handle: s.renewLease},
		{method: "DELETE", path: "/v1/apps/{app}/leases/{lease}", access: AnyKey, body: authorizeBody, quiet: true, handle: s.releaseLease},

		{method: "POST", path: "/v1/events", access: AnyKey, body: MaxBody, handle: s.postEvents},
		{method: "POST", path: "/v1/quote", access: AnyKey, body: MaxQuoteBody, handle: s.quote},

		{method: "POST", path: "/v1/keys", access: Admin, creates: true, handle: s.createKey},
		{method: "GET", path: "/v1/keys", access: Admin, handle: s.listKeys},
		{method: "DELETE", path: "/v1/keys/{id}", access: Admin, handle: s.revokeKey},
	}
	rs = append(rs, s.ingestRoutes()...)      // webhook configuration and vendor webhooks (ingest.go)
	rs = append(rs, s.quarantineRoutes()...)  // purchase cancellation, quarantine (quarantine.go)
	rs = append(rs, s.importRoutes()...)      // bulk imports (imports.go)
	return append(rs, s.lifecycleRoutes()...) // states, ledger, history, endpoints, deliveries (lifecycle.go)
}

// Route describes a route of the table, for documentation and tests.
type Route struct {
	Method, Path string
	Access       Access
	Creates      bool // honours Idempotency-Key
}

// Routes lists the route table.
func (s *Server) Routes() []Route {
	var out []Route
	for _, rt := range s.routes() {
		out = append(out, Route{Method: rt.method, Path: rt.path, Access: rt.access, Creates: rt.creates})
	}
	return out
}

// mux registers the route table, each route behind its guard, and
// returns the routes by pattern.
func (s *Server) mux() (*http.ServeMux, map[string]route) {
	mux := http.NewServeMux()
	routes := map[string]route{}
	for _, rt := range s.routes() {
		if rt.body == 0 {
			rt.body = maxJSONBody
		}
		if s.parts()&partOf(rt) == 0 {
			rt.handle = s.notServed(rt) // another process's (parts.go); still behind its guard
		}
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, s.guard(rt))
		routes[pattern] = rt
	}
	return mux, routes
}

// Handler returns the API's routes under /v1, and the console (when the
// server has one) on every other path. Every request is logged and
// measured by its route (observe.go); the console's pages all count as
// the route ConsoleRoute, so the labels stay few.
func (s *Server) Handler() http.Handler {
	mux, routes := s.mux()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Console != nil && r.URL.Path != "/v1" && !strings.HasPrefix(r.URL.Path, "/v1/") {
			s.observe(w, r, r.Method+" "+ConsoleRoute, false, func(w http.ResponseWriter, r *http.Request) {
				if err := cmp.Or(checkPath(r.URL.Path), checkQuery(r)); err != nil {
					writeError(w, err)
					return
				}
				s.Console.ServeHTTP(w, r) // the web console, which authorizes its own pages
			})
			return
		}
		_, pattern := mux.Handler(r)
		s.observe(w, r, pattern, routes[pattern].quiet, func(w http.ResponseWriter, r *http.Request) {
			if err := cmp.Or(checkPath(r.URL.Path), checkQuery(r)); err != nil {
				writeError(w, err)
				return
			}
			serveRoute(mux, routes, pattern, w, r)
		})
	})
}

// serveRoute serves r by the route the mux matched (pattern), or answers why
// none does.
func serveRoute(mux *http.ServeMux, routes map[string]route, pattern string, w http.ResponseWriter, r *http.Request) {
	if pattern != "" {
		if routes[pattern].access == "" { // fail closed: never serve a route the table does not know
			writeError(w, fmt.Errorf("route %s has no access policy", pattern))
			return
		}
		mux.ServeHTTP(w, r)
		return
	}
	// No route: let the mux decide between 404 and 405 (it sets Allow),
	// and answer with a problem like every other error.
	rec := &statusRecorder{header: w.Header()}
	mux.ServeHTTP(rec, r)
	if rec.code == http.StatusMethodNotAllowed {
		writeProblem(w, problemOf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
			fmt.Errorf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, w.Header().Get("Allow"))))
		return
	}
	writeError(w, livebill.Errorf(livebill.ENOTFOUND, "no route %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
}

// ConsoleRoute is the route the access log and the metrics give the
// console's pages.
const ConsoleRoute = "console"

// statusRecorder captures the status the mux would answer with.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.code = code }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi)
}
