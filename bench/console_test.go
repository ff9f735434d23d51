package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
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

// BenchmarkConsoleAccountPage: the server time of an account's pages in
// the console for an account with a month of events: 1M events of
// `livebill gen` (10 apps, ~1,000 rooms at once, 30% of rooms with
// recording/transcoding/relay/input tasks) from Oct 1 to Oct 30, viewed
// on Oct 31 at 12:00. LIVEBILL_BENCH_CONSOLE_EVENTS changes the event
// count.
//
// After loading the month, the service settles it as `serve`'s ticker
// would have: day by day, each day at 02:00 the next day (settle delay
// 1 hour), so the database holds what a running server's holds on Oct 31
// — the rollups of Oct 1–30, a checkpoint at each of the last days'
// midnights, the daily bills — rather than only the result of one
// catch-up settlement. The settlement is not part of the page times; it
// is logged (settled in …).
//
// Each page (the account's overview: month to date and forecast,
// balance, packs, notices; usage of the month by day; usage of Oct 15 by
// 5 minutes; bills) is timed cold, each view on a service started afresh
// on the database (nothing in memory, as after a restart: the database
// reopened, a new billing service, console and session), and warm, the
// later views of one service. Besides the wall time it reports the
// process's CPU time per view (cpu-ms/op), steadier on a shared machine.
func BenchmarkConsoleAccountPage(b *testing.B) {
	n := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv("LIVEBILL_BENCH_CONSOLE_EVENTS"), 10, 64); err == nil && v > 0 {
		n = v
	}
	viewed := time.Date(2024, 10, 31, 12, 0, 0, 0, cst)
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			open := be.place(b)
			store := open(b, storetest.NewClock(viewed))
			loadMonth(b, store, n)
			settled, cpu := settleMonth(b, store)
			var windows int
			if err := store.SQL().QueryRow(`SELECT COUNT(*) FROM usage_rollups`).Scan(&windows); err != nil {
				b.Fatal(err)
			}
			store.Close()
			b.Logf("%d events; settled Oct 1–30 day by day in %.1f s (CPU %.1f s): %d usage windows", n, settled.Seconds(), cpu.Seconds(), windows)
			sameMonthToDate(b, open(b, storetest.NewClock(viewed)), storetest.NewClock(viewed))

			// start is a service started afresh on the database, signed in.
			start := func() (http.Handler, string, *sqlstore.DB) {
				clock := storetest.NewClock(viewed)
				store := open(b, clock)
				svc := billing.New(store, clock)
				svc.SettleDelay = time.Hour
				con, err := console.New(store, svc, storetest.AdminKey)
				if err != nil {
					b.Fatal(err)
				}
				con.Status = svc
				api := lbhttp.NewServer(store, svc)
				api.Console = con.Handler()
				h := api.Handler()
				return h, signIn(b, h), store
			}
			var warm http.Handler
			var warmCookie string
			for _, page := range []struct{ name, path string }{
				{"overview", "/accounts/100001"},
				{"usage-month", "/accounts/100001/usage"},
				{"usage-day", "/accounts/100001/usage?day=2024-10-15"},
				{"bills", "/accounts/100001/bills"},
			} {
				get := func(b *testing.B, h http.Handler, cookie string) {
					req := httptest.NewRequest("GET", page.path, nil)
					req.Header.Set("Cookie", cookie)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %.500s", page.path, rec.Code, rec.Body.String())
					}
				}
				b.Run(page.name+"/cold", func(b *testing.B) {
					b.ReportAllocs()
					var cpu time.Duration
					for i := 0; i < b.N; i++ {
						b.StopTimer()
						h, cookie, store := start()
						runtime.GC()
						b.StartTimer()
						c0 := cpuTime()
						get(b, h, cookie)
						cpu += cpuTime() - c0
						b.StopTimer()
						store.Close()
					}
					b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
				})
				b.Run(page.name+"/warm", func(b *testing.B) {
					if warm == nil {
						warm, warmCookie, _ = start()
					}
					get(b, warm, warmCookie) // the first view, untimed
					runtime.GC()
					b.ReportAllocs()
					b.ResetTimer()
					c0 := cpuTime()
					for i := 0; i < b.N; i++ {
						get(b, warm, warmCookie)
					}
					b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
				})
			}
		})
	}
}

// sameMonthToDate checks, on a service started afresh, that the account
// page's month to date (QuoteBills: the settled days' bills as issued)
// is the quote of Oct 1–30 rated in full without its usage lines, and
// that it read the issued bills (the path the page times).
func sameMonthToDate(b *testing.B, store *sqlstore.DB, clock livebill.Clock) {
	defer store.Close()
	ctx := context.Background()
	svc := billing.New(store, clock)
	t0 := time.Now()
	full, err := svc.Quote(ctx, "100001", "2024-10-01", "2024-10-31")
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	full.Usage = nil
	q, err := svc.QuoteBills(ctx, "100001", "2024-10-01", "2024-10-31")
	if err != nil {
		b.Fatal(err)
	}
	if !reflect.DeepEqual(q, full) || svc.IssuedQuotes != 1 {
		b.Fatalf("month to date (%d from issued bills) differs from the full quote:\n%+v\n%+v", svc.IssuedQuotes, q, full)
	}
	b.Logf("month to date equals the full quote (total %s, %d bills, %d notices); the full quote took %.1f s", q.Total, len(q.Bills), len(q.Notices), took.Seconds())
}

// settleMonth settles account 100001 as `serve`'s ticker does, each day
// of Oct 1–30 at 02:00 the next day, and returns the time it took and
// the process's CPU time.
func settleMonth(b *testing.B, store *sqlstore.DB) (time.Duration, time.Duration) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2024, 10, 2, 2, 0, 0, 0, cst))
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	t0, c0 := time.Now(), cpuTime()
	for d := 2; d <= 31; d++ {
		clock.Set(time.Date(2024, 10, d, 2, 0, 0, 0, cst))
		if err := svc.SettleAll(ctx); err != nil {
			b.Fatalf("settling Oct %d: %v", d-1, err)
		}
	}
	took, cpu := time.Since(t0), cpuTime()-c0
	var through string // the first day not settled
	if err := store.SQL().QueryRow(`SELECT through FROM settlements WHERE account_id = '100001'`).Scan(&through); err != nil || through != "2024-10-31" {
		b.Fatalf("settled until %q, want 2024-10-31 (%v)", through, err)
	}
	return took, cpu
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
