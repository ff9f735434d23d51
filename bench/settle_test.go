package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

var cst = time.FixedZone("CST", 8*3600)

// BenchmarkSettleDay measures the daily settlement of N apps (default
// 100,000; LIVEBILL_BENCH_APPS overrides): one account per app (the
// worst case: settlement works per account), created 2024-10-01 on the
// trtc catalog in account mode, each app with a little usage that day —
// one room, two users for 10–40 minutes, one publishing 720p video, the
// other receiving — 6 events per app. The clock is 2024-10-02 02:00
// +08:00, so SettleAll issues each account's bill for 2024-10-01. One op
// is settling the whole day (the store is reloaded for each op; loading
// is not timed). Besides the wall time it reports the process's CPU time
// (cpu-s/day), steadier on a shared machine, and on PostgreSQL its
// server's (pg-cpu-s/day).
//
//	go test ./bench -run '^$' -bench SettleDay -benchtime 1x -timeout 30m
func BenchmarkSettleDay(b *testing.B) { benchSettle(b, 1) }

// BenchmarkSettleNextDay measures settlement in the steady state of
// `livebill serve`: the service settled 2024-10-01 (untimed, as in
// BenchmarkSettleDay) and kept its live meters; every app then has a
// second day like the first (6 events), and one op settles 2024-10-02 at
// 2024-10-03 02:00 +08:00. Each meter reads and applies only the new
// day's events; each account is rated for the month so far (two days)
// and its issued bills are read to diff against.
//
//	go test ./bench -run '^$' -bench SettleNextDay -benchtime 1x -timeout 30m
func BenchmarkSettleNextDay(b *testing.B) { benchSettle(b, 2) }

// benchSettle times the settlement of day number days (1 = 2024-10-01)
// of the apps, the days before it settled untimed by the same service.
func benchSettle(b *testing.B, days int) {
	apps := 100_000
	if v, err := strconv.Atoi(os.Getenv("LIVEBILL_BENCH_APPS")); err == nil && v > 0 {
		apps = v
	}
	for _, be := range backends() {
		b.Run(fmt.Sprintf("%s/apps=%d", be.name, apps), func(b *testing.B) {
			var total, cpu, pgcpu time.Duration
			var bills int
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				clock := storetest.NewClock(time.Date(2024, 10, 2, 2, 0, 0, 0, cst))
				store := be.open(b, clock)
				loadDay(b, store, apps)
				svc := billing.New(store, clock)
				svc.SettleDelay = time.Hour
				for d := 1; d < days; d++ {
					if err := svc.SettleAll(context.Background()); err != nil {
						b.Fatal(err)
					}
					loadEvents(b, store, apps, d)
					clock.Set(clock.Now().Add(24 * time.Hour))
				}
				runtime.GC()
				b.StartTimer()
				pg := pgOf(be, store)
				var pg0 map[int]time.Duration
				if pg != nil {
					pg0 = pgCPU(pg)
				}
				t0, c0 := time.Now(), cpuTime()
				if err := svc.SettleAll(context.Background()); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				cpu += cpuTime() - c0
				if pg != nil {
					pgcpu += pgCPUSince(pg, pg0)
				}
				b.StopTimer()
				if err := store.SQL().QueryRow(`SELECT COUNT(*) FROM bills`).Scan(&bills); err != nil {
					b.Fatal(err)
				}
				if bills < days*apps {
					b.Fatalf("%d bills issued for %d apps over %d days", bills, apps, days)
				}
				store.Close()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/day")
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(apps), "ns/app")
			b.ReportMetric(float64(apps)*6*float64(b.N)/total.Seconds(), "events/s")
			b.ReportMetric(float64(bills)/float64(apps), "bills/app")
			b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/day")
			if be.name == "postgres" {
				b.ReportMetric(pgcpu.Seconds()/float64(b.N), "pg-cpu-s/day")
			}
		})
	}
}

// loadDay writes the accounts, apps and events straight into the tables
// (bulk, one transaction), as ingestion would have stored them (which
// bumps an account's revision).
func loadDay(tb testing.TB, store *sqlstore.DB, apps int) { loadEvents(tb, store, apps, 0) }

// loadEvents writes day n's events (n days after 2024-10-01) of the apps'
// accounts, and on day 0 the accounts and apps; as ingestion would, it
// bumps each account's revision and adds to its event span.
func loadEvents(tb testing.TB, store *sqlstore.DB, apps, n int) {
	db := store.SQL()
	q := store.Rebind
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	// with the event span ingestion keeps on the row (migration 0009)
	acctSQL := `INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision, event_count, first_ms, last_ms) VALUES (?, 'trtc', '', '2024-10-01', '', '0', '', '2024-10-01T00:00:00Z', 1, 6, ?, ?)`
	if n > 0 {
		acctSQL = `UPDATE accounts SET revision = revision + 1, event_count = event_count + 6, last_ms = ? WHERE id = ?`
	}
	acct, err := tx.Prepare(q(acctSQL))
	if err != nil {
		tb.Fatal(err)
	}
	app, err := tx.Prepare(q(`INSERT INTO apps (id, account_id, name, created_at) VALUES (?, ?, '', '2024-10-01T00:00:00Z')`))
	if err != nil {
		tb.Fatal(err)
	}
	// the account's state, as making it writes (migration 0013)
	state, err := tx.Prepare(q(`INSERT INTO account_states (account_id, state, since_ms, balance, opening, last_ms, terms_grace_ms, terms_reclaim_ms) VALUES (?, 'active', ?, '0', '0', ?, ?, ?)`))
	if err != nil {
		tb.Fatal(err)
	}
	ev, err := tx.Prepare(q(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		tb.Fatal(err)
	}
	day := time.Date(2024, 10, 1+n, 0, 0, 0, 0, cst)
	idp := "e"
	if n > 0 {
		idp = "d" + strconv.Itoa(n) + "e"
	}
	for i := 0; i < apps; i++ {
		a := strconv.Itoa(100000 + i)
		p := strconv.Itoa(1400000001 + i)
		start := day.Add(time.Duration(8*3600+i%(12*3600)) * time.Second)
		end := start.Add(time.Duration(10+i%31) * time.Minute)
		if n == 0 {
			if _, err := acct.Exec(a, start.UnixMilli(), end.UnixMilli()); err != nil {
				tb.Fatal(err)
			}
			if _, err := app.Exec(p, a); err != nil {
				tb.Fatal(err)
			}
			made := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
			if _, err := state.Exec(a, made, made, livebill.DefaultGrace.Milliseconds(), livebill.DefaultReclaimAfter.Milliseconds()); err != nil {
				tb.Fatal(err)
			}
		} else if _, err := acct.Exec(end.UnixMilli(), a); err != nil {
			tb.Fatal(err)
		}
		ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z07:00") }
		events := []struct {
			t    time.Time
			body string
		}{
			{start, `{"app":"` + p + `","id":"` + idp + `1","room":"r1","subscribe":"all","time":"` + ts(start) + `","type":"room.join","user":"A"}`},
			{start, `{"app":"` + p + `","id":"` + idp + `2","room":"r1","subscribe":"all","time":"` + ts(start) + `","type":"room.join","user":"B"}`},
			{start, `{"app":"` + p + `","height":720,"id":"` + idp + `3","media":"video","room":"r1","stream":"main","time":"` + ts(start) + `","type":"stream.start","user":"A","width":1280}`},
			{end, `{"app":"` + p + `","id":"` + idp + `4","room":"r1","stream":"main","time":"` + ts(end) + `","type":"stream.stop","user":"A"}`},
			{end, `{"app":"` + p + `","id":"` + idp + `5","room":"r1","time":"` + ts(end) + `","type":"room.leave","user":"A"}`},
			{end, `{"app":"` + p + `","id":"` + idp + `6","room":"r1","time":"` + ts(end) + `","type":"room.leave","user":"B"}`},
		}
		for j, e := range events {
			if _, err := ev.Exec(a, idp+strconv.Itoa(j+1), e.t.UnixMilli(), p, e.body); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if q("?") != "?" && os.Getenv("LIVEBILL_BENCH_NO_ANALYZE") == "" {
		// PostgreSQL: the statistics and visibility map autovacuum keeps
		// on a server that ingested the day; a bulk load just before the
		// timed part would otherwise leave the planner without
		// statistics and autovacuum running during the settlement
		// (LIVEBILL_BENCH_NO_ANALYZE=1 measures that case)
		for _, t := range []string{"accounts", "apps", "events", "bills", "settlements", "account_states"} {
			if _, err := db.Exec(`VACUUM ANALYZE ` + t); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
