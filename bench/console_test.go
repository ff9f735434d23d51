package bench

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/console"
	"github.com/livebill/livebill/gen"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// BenchmarkConsoleAccountPage: the server time of an account's page in
// the console (GET /accounts/{id}: month to date and forecast, balance,
// packs, notices) for an account with a month of events: 1M events of
// `livebill gen` (10 apps, ~1,000 rooms at once, 30% of rooms with
// recording/transcoding/relay/input tasks) from Oct 1 to Oct 30, viewed
// on Oct 31. The account's live meter is built by the first view (a
// replay of its history, reported as cold-ms) and kept by the service,
// as the settlement ticker keeps it in `serve`; the timed views are the
// ones after. LIVEBILL_BENCH_CONSOLE_EVENTS changes the event count.
func BenchmarkConsoleAccountPage(b *testing.B) {
	n := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv("LIVEBILL_BENCH_CONSOLE_EVENTS"), 10, 64); err == nil && v > 0 {
		n = v
	}
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			clock := storetest.NewClock(time.Date(2024, 10, 31, 12, 0, 0, 0, cst))
			store := be.open(b, clock)
			loadMonth(b, store, n)
			svc := billing.New(store, clock)
			con, err := console.New(store, svc, storetest.AdminKey)
			if err != nil {
				b.Fatal(err)
			}
			con.Status = svc
			api := lbhttp.NewServer(store, svc)
			api.Console = con.Handler()
			h := api.Handler()
			cookie := signIn(b, h)
			for _, page := range []struct{ name, path string }{
				{"overview", "/accounts/100001"},
				{"usage-month", "/accounts/100001/usage"},
				{"usage-day", "/accounts/100001/usage?day=2024-10-15"},
				{"bills", "/accounts/100001/bills"},
			} {
				b.Run(page.name, func(b *testing.B) {
					get := func() time.Duration {
						req := httptest.NewRequest("GET", page.path, nil)
						req.Header.Set("Cookie", cookie)
						rec := httptest.NewRecorder()
						t0 := time.Now()
						h.ServeHTTP(rec, req)
						d := time.Since(t0)
						if rec.Code != http.StatusOK {
							b.Fatalf("%s: %d %.500s", page.path, rec.Code, rec.Body.String())
						}
						return d
					}
					cold := get() // the first view of the account builds its live meter
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						get()
					}
					b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
				})
			}
		})
	}
}

// signIn signs in with the operator key and returns the session cookie.
func signIn(b *testing.B, h http.Handler) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/sign-in", nil))
	var tok string
	for _, c := range rec.Result().Cookies() {
		if c.Name == "livebill_signin" {
			tok = c.Value
		}
	}
	body := "key=" + storetest.AdminKey + "&csrf=" + tok
	req := httptest.NewRequest("POST", "/sign-in", bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", "livebill_signin="+tok)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "livebill_session" && c.Value != "" {
			return "livebill_session=" + c.Value
		}
	}
	b.Fatalf("sign-in: %d %s", rec.Code, rec.Body.String())
	return ""
}

// loadMonth writes account 100001 (trtc, created 2024-01-10), gen's 10
// apps and n events of `livebill gen` spread over Oct 1–30 straight into
// the tables, as ingestion would have stored them.
func loadMonth(b *testing.B, store *sqlstore.DB, n int64) {
	var buf bytes.Buffer
	start := time.Date(2024, 10, 1, 0, 0, 0, 0, cst)
	if _, err := gen.Write(&buf, gen.Config{Events: n, Apps: 10, Seed: 1, Tasks: 0.3, Start: start, Span: 30 * 24 * time.Hour}); err != nil {
		b.Fatal(err)
	}
	db, q := store.SQL(), store.Rebind
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ev, err := tx.Prepare(q(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		b.Fatal(err)
	}
	var first, last, count int64
	var w bytes.Buffer
	for i, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e struct{ Time, App string }
		if err := json.Unmarshal(line, &e); err != nil {
			b.Fatal(err)
		}
		t, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			b.Fatal(err)
		}
		id := "e" + strconv.Itoa(i)
		w.Reset()
		withID(&w, line, id)
		ms := t.UnixMilli()
		if _, err := ev.Exec("100001", id, ms, e.App, bytes.TrimSpace(w.Bytes())); err != nil {
			b.Fatal(err)
		}
		if count == 0 || ms < first {
			first = ms
		}
		last = max(last, ms)
		count++
	}
	if _, err := tx.Exec(q(`INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision, event_count, first_ms, last_ms) VALUES ('100001', 'trtc', '', '2024-01-10', '', '1000000', '', '2024-01-10T00:00:00Z', 1, ?, ?, ?)`), count, first, last); err != nil {
		b.Fatal(err)
	}
	// the account's state, as making it writes (migration 0013): a balance
	// that its bills leave above zero
	made := time.Date(2024, 1, 10, 0, 0, 0, 0, cst).UnixMilli()
	if _, err := tx.Exec(q(`INSERT INTO account_states (account_id, state, since_ms, balance, opening, last_ms, terms_grace_ms, terms_reclaim_ms) VALUES ('100001', 'active', ?, '1000000', '1000000', ?, ?, ?)`),
		made, made, livebill.DefaultGrace.Milliseconds(), livebill.DefaultReclaimAfter.Milliseconds()); err != nil {
		b.Fatal(err)
	}
	for _, a := range appIDs(10) {
		if _, err := tx.Exec(q(`INSERT INTO apps (id, account_id, name, created_at) VALUES (?, '100001', '', '2024-01-10T00:00:00Z')`), a); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if q("?") != "?" {
		for _, t := range []string{"accounts", "apps", "events"} {
			if _, err := db.Exec(`VACUUM ANALYZE ` + t); err != nil {
				b.Fatal(err)
			}
		}
	}
}
