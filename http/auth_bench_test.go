package http_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

// benchStore is a SQLite store, closed after the benchmark, holding account
// "acct".
func benchStore(b *testing.B) *sqlstore.DB {
	store, err := sqlite.Open(context.Background(), b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if _, err := store.CreateAccount(context.Background(), &livebill.CreateAccountInput{ID: "acct", Catalog: "trtc", Created: "2024-10-01"}); err != nil {
		b.Fatal(err)
	}
	return store
}

// BenchmarkAuthenticate measures what a key costs a request: the same
// small read (GET /v1/accounts/{id}) with the operator key given at start
// (hashed, no store read), with a stored account key (found by id in the
// store, then hashed), and the public health check for scale.
//
//	go test ./http -run '^$' -bench Authenticate
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	store := benchStore(b)
	k, key, err := livebill.NewKey(&livebill.CreateKeyInput{AccountID: "acct"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	s := lbhttp.NewServer(store, billing.New(store, nil))
	s.AdminKey = testAdminKey
	h := s.Handler()
	for _, c := range []struct{ name, path, key string }{
		{"public", "/v1/health", ""},
		{"operator-key", "/v1/accounts/acct", testAdminKey},
		{"account-key", "/v1/accounts/acct", key},
	} {
		b.Run(c.name, func(b *testing.B) {
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
