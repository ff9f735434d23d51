package http_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	"io"
	"log/slog"
)

// BenchmarkAuthorizeHandler measures the server's side of one decision
// (POST /v1/authorize, a join allowed from memory) without the network:
// the handler with its key check, body decoding, admission and answer,
// with the operator key and a stored account key, and with the access log
// (text, to io.Discard) and the metrics as serve has them.
//
//	go test ./http -run '^$' -bench AuthorizeHandler
func BenchmarkAuthorizeHandler(b *testing.B) {
	ctx := context.Background()
	store := benchStore(b)
	clock := livebill.SystemClock{}
	svc := billing.New(store, clock)
	if _, err := store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "acct", ID: "app"}); err != nil {
		b.Fatal(err)
	}
	k, key, err := livebill.NewKey(&livebill.CreateKeyInput{AccountID: "acct"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"app":"app","action":"room.join","product":"live","room":"r1","user":"u1"}`)
	for _, observed := range []bool{false, true} {
		s := lbhttp.NewServer(store, svc)
		s.AdminKey = testAdminKey
		s.Admission = &admission.Service{Store: store, Leases: store, Accounts: svc, Clock: clock, Status: svc}
		name := "plain"
		if observed {
			s.Logger, s.Monitor = slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.New(nil, prometheus.Build{})
			name = "logged-and-measured"
		}
		h := s.Handler()
		for _, c := range []struct{ name, key string }{{"operator-key", testAdminKey}, {"account-key", key}} {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("POST", "/v1/authorize", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+c.key)
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
