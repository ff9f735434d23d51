package http

import (
	"net/http"
	"strings"

	"github.com/livebill/livebill"
)

// Parts are parts of the route table. A scaled-out deployment runs them
// in separate processes (livebill serve --roles): ingestion servers take
// events, API servers answer the rest; each serves the operations routes.
type Parts uint8

// The parts of the route table.
const (
	// OpsRoutes: /v1/health, /v1/ready, /v1/metrics, /v1/openapi.json,
	// which every server serves.
	OpsRoutes Parts = 1 << iota
	// EventRoutes take events: POST /v1/events, bulk imports, vendor
	// webhooks.
	EventRoutes
	// ReadRoutes are every other route (accounts, bills, quotes, keys,
	// admission) and the console.
	ReadRoutes
	AllRoutes = OpsRoutes | EventRoutes | ReadRoutes
)

// partOf is the part a route belongs to.
func partOf(rt route) Parts {
	switch {
	case rt.path == "/v1/health" || rt.path == "/v1/ready" || rt.path == "/v1/metrics" || rt.path == "/v1/openapi.json":
		return OpsRoutes
	case rt.path == "/v1/events" || strings.HasPrefix(rt.path, "/v1/imports") || strings.HasPrefix(rt.path, "/v1/ingest/"):
		return EventRoutes
	}
	return ReadRoutes
}

// parts is what the server serves (Serves, all when 0).
func (s *Server) parts() Parts {
	if s.Serves == 0 {
		return AllRoutes
	}
	return s.Serves | OpsRoutes
}

// notServed answers a route of a part this server does not serve.
func (s *Server) notServed(rt route) http.HandlerFunc {
	what := "events (POST /v1/events, imports, vendor webhooks)"
	if partOf(rt) == ReadRoutes {
		what = "accounts, bills, quotes and the other API routes"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, livebill.Errorf(livebill.ENOTFOUND, "%s %s is not served here: this server does not take %s; send it to a server that does (livebill serve --roles)", rt.method, rt.path, what))
	}
}
