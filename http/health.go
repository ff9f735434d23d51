package http

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/livebill/livebill"
)

// Health, readiness and metrics: what an orchestrator and a monitoring
// system ask of the server.

// DefaultReadyTimeout bounds the database ping of /v1/ready: a database
// slower than this to answer a ping is as good as down for the API.
const DefaultReadyTimeout = 2 * time.Second

// health answers that the process serves (liveness); it touches nothing.
func health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers whether the server can serve requests now (readiness): its
// database (and event queue, if any) answers a ping within ReadyTimeout. The answer names what
// failed but not the database's own message (the route is public: it
// names hosts and users); that goes to the log.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	p, ok := s.Store.(livebill.Pinger)
	if !ok {
		writeError(w, livebill.Errorf(livebill.EUNAVAILABLE, "not ready: the server has no database to check"))
		return
	}
	timeout := s.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		s.logger().WarnContext(r.Context(), "not ready: the database ping failed", "error", err.Error())
		why := "the database cannot be reached (the server log has its error)"
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			why = "the database did not answer within " + timeout.String()
		}
		writeError(w, livebill.Errorf(livebill.EUNAVAILABLE, "not ready: %s", why))
		return
	}
	if s.Queue != nil {
		if err := s.Queue.Ping(ctx); err != nil {
			s.logger().WarnContext(r.Context(), "not ready: the event queue does not answer", "error", err.Error())
			writeError(w, livebill.Errorf(livebill.EUNAVAILABLE, "not ready: the event queue cannot be reached (the server log has its error)"))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// metrics serves the Prometheus metrics, when the server has them.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.Metrics == nil {
		writeError(w, livebill.Errorf(livebill.ENOTFOUND, "metrics are not enabled on this server"))
		return
	}
	s.Metrics.ServeHTTP(w, r)
}
