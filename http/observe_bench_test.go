package http_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
)

// BenchmarkObserve measures what the access log and the metrics cost a
// request: a small read (GET /v1/accounts/{id}, operator key) and the
// health check, on a server that neither logs nor measures, and on one
// that writes a JSON access line (to io.Discard) and counts and times
// the request in the Prometheus metrics.
//
//	go test ./http -run '^$' -bench Observe
func BenchmarkObserve(b *testing.B) {
	store := benchStore(b)
	for _, observed := range []bool{false, true} {
		s := lbhttp.NewServer(store, billing.New(store, nil))
		s.AdminKey = testAdminKey
		name := "plain"
		if observed {
			m := prometheus.New(nil, prometheus.Build{})
			s.Logger, s.Monitor = slog.New(slog.NewJSONHandler(io.Discard, nil)), m
			name = "logged-and-measured"
		}
		h := s.Handler()
		for _, c := range []struct{ name, path, key string }{
			{"health", "/v1/health", ""},
			{"account", "/v1/accounts/acct", testAdminKey},
		} {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("GET", c.path, nil)
					if c.key != "" {
						req.Header.Set("Authorization", "Bearer "+c.key)
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
