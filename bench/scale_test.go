package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// The service at scale: many accounts over many days, each day's events
// stored (straight into the tables, as ingestion stores them) and the day
// settled by the service as `livebill serve` does at 02:00. Per day it
// reports the settlement's time, the process's resident memory and heap
// after a GC, the live meters held and the usage rollup rows stored.
//
// Each account has a few sessions a day (two users, one publishing 720p,
// 10–40 minutes; every tenth account one across midnight, so some meters
// stay open); an account sleeps on some days (its meter is let go and
// resumed from its checkpoint when it wakes).

// scaleConfig sizes a simulation.
type scaleConfig struct {
	accounts, days, sessions int
	// big, if set, is an account fed livebill gen's workload spread over
	// the days: big events in all, one app
	big int64
	// bigDaily: only account big is settled each day, every account once
	// after the last day (a cold start's data, stored faster)
	bigDaily bool
}

func scaleFromEnv(def scaleConfig) scaleConfig {
	for _, v := range []struct {
		name string
		p    *int
	}{{"LIVEBILL_BENCH_ACCOUNTS", &def.accounts}, {"LIVEBILL_BENCH_DAYS", &def.days}, {"LIVEBILL_BENCH_SESSIONS", &def.sessions}} {
		if n, err := strconv.Atoi(os.Getenv(v.name)); err == nil && n > 0 {
			*v.p = n
		}
	}
	if n, err := strconv.ParseInt(os.Getenv("LIVEBILL_BENCH_BIG"), 10, 64); err == nil && n >= 0 {
		def.big = n
	}
	return def
}

// dayStat is one simulated day.
type dayStat struct {
	day       int
	events    int
	settle    time.Duration
	cpu       time.Duration // the process's CPU time during the settlement
	rss, heap int64
	meters    int
	rollups   int64
}

var scaleStart = time.Date(2024, 10, 1, 0, 0, 0, 0, cst)

// simulate runs cfg's days on store, calling each after the day's
// settlement.
func simulate(tb testing.TB, store *sqlstore.DB, cfg scaleConfig, each func(dayStat)) *billing.Service {
	svc := billing.New(store, storetest.NewClock(scaleStart))
	return simulateOn(tb, context.Background(), store, svc, cfg, each)
}

func simulateOn(tb testing.TB, ctx context.Context, store *sqlstore.DB, svc *billing.Service, cfg scaleConfig, each func(dayStat)) *billing.Service {
	clock := svc.Clock.(*storetest.Clock)
	svc.SettleDelay = time.Hour
	loadAccounts(tb, store, cfg)
	var big [][]byte
	if cfg.big > 0 {
		var buf bytes.Buffer
		if _, err := gen.Write(&buf, gen.Config{Events: cfg.big, Apps: 1, Seed: 1, Start: scaleStart, Span: time.Duration(cfg.days)*24*time.Hour - time.Hour}); err != nil {
			tb.Fatal(err)
		}
		big = bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	}
	next := 0
	for d := 0; d < cfg.days; d++ {
		n := loadScaleDay(tb, store, cfg, d)
		if big != nil {
			end := scaleStart.AddDate(0, 0, d+1).UnixMilli()
			k := next
			for k < len(big) && timeOfLine(tb, big[k]) < end {
				k++
			}
			n += loadBig(tb, store, big[next:k], next)
			next = k
		}
		clock.Set(scaleStart.AddDate(0, 0, d+1).Add(2 * time.Hour))
		runtime.GC()
		t0, c0 := time.Now(), cpuTime()
		if cfg.bigDaily && d+1 < cfg.days {
			if _, err := svc.Settle(ctx, "big"); err != nil {
				tb.Fatalf("day %d: %v", d+1, err)
			}
		} else if err := svc.SettleAll(ctx); err != nil {
			tb.Fatalf("day %d: %v", d+1, err)
		}
		st := dayStat{day: d + 1, events: n, settle: time.Since(t0), cpu: cpuTime() - c0, meters: svc.Live().Accounts}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.heap, st.rss = int64(ms.HeapInuse), currentRSS()
		if err := store.SQL().QueryRow(`SELECT COUNT(*) FROM usage_rollups`).Scan(&st.rollups); err != nil {
			tb.Fatal(err)
		}
		each(st)
	}
	return svc
}

// loadAccounts makes the accounts (100000 + i, app 1400000001 + i, trtc,
// account mode, created 2024-09-01) and, with cfg.big, account "big"
// (app 1400000001 is gen's: the others start at 1500000001).
func loadAccounts(tb testing.TB, store *sqlstore.DB, cfg scaleConfig) {
	db := store.SQL()
	q := store.Rebind
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	made := time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ids := map[string]string{}
	for i := 0; i < cfg.accounts; i++ {
		ids[strconv.Itoa(100000+i)] = strconv.Itoa(1500000001 + i)
	}
	if cfg.big > 0 {
		ids["big"] = "1400000001"
	}
	for a, app := range ids {
		balance := "1000000" // big's month costs more than that: it stays active
		if a == "big" {
			balance = "1000000000000"
		}
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision) VALUES (?, 'trtc', '', '2024-09-01', '', ?, '', '2024-09-01T00:00:00Z', 1)`, []any{a, balance}},
			{`INSERT INTO apps (id, account_id, name, created_at) VALUES (?, ?, '', '2024-09-01T00:00:00Z')`, []any{app, a}},
			{`INSERT INTO account_states (account_id, state, since_ms, balance, opening, last_ms, terms_grace_ms, terms_reclaim_ms) VALUES (?, 'active', ?, ?, ?, ?, ?, ?)`,
				[]any{a, made, balance, balance, made, livebill.DefaultGrace.Milliseconds(), livebill.DefaultReclaimAfter.Milliseconds()}},
		} {
			if _, err := tx.Exec(q(st.q), st.args...); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if cfg.big > 0 { // on a paid plan: its usage past the packs is billed, not stopped
		if _, err := tx.Exec(q(`INSERT INTO purchases (account_id, id, app, plan, count, region, device, start, auto_renew, seq) VALUES ('big', 'p1', '1400000001', 'rtc-engine.lite', 0, '', '', '2024-09-01', 1, 1)`)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// loadScaleDay stores day d's events of the small accounts and returns
// how many.
func loadScaleDay(tb testing.TB, store *sqlstore.DB, cfg scaleConfig, d int) int {
	day := scaleStart.AddDate(0, 0, d)
	var rows []eventRow
	for i := 0; i < cfg.accounts; i++ {
		if (i+d)%7 == 3 { // a day off now and then
			continue
		}
		a, p := strconv.Itoa(100000+i), strconv.Itoa(1500000001+i)
		for s := 0; s < cfg.sessions; s++ {
			start := day.Add(time.Duration(8*3600+s*3*3600+(i*37+d*11)%7200) * time.Second)
			end := start.Add(time.Duration(10+(i+s+d)%31) * time.Minute)
			if s == 0 && i%10 == 0 { // across midnight
				start = day.Add(23*time.Hour + 30*time.Minute)
				end = start.Add(time.Hour)
			}
			id := fmt.Sprintf("d%ds%d", d, s)
			rows = append(rows, sessionRows(a, p, id, "r"+strconv.Itoa(s), start, end)...)
		}
	}
	insertRows(tb, store, rows)
	return len(rows)
}

type eventRow struct {
	acct, id, app, body string
	t                   int64
}

// sessionRows are a session's six events: A and B join (receive all), A
// publishes 720p, stops, both leave.
func sessionRows(a, p, id, room string, start, end time.Time) []eventRow {
	ts := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z07:00") }
	ev := func(n int, t time.Time, rest string) eventRow {
		eid := id + "e" + strconv.Itoa(n)
		return eventRow{a, eid, p, `{"app":"` + p + `","id":"` + eid + `","room":"` + room + `","time":"` + ts(t) + `",` + rest + `}`, t.UnixMilli()}
	}
	return []eventRow{
		ev(1, start, `"subscribe":"all","type":"room.join","user":"A"`),
		ev(2, start, `"subscribe":"all","type":"room.join","user":"B"`),
		ev(3, start, `"height":720,"media":"video","stream":"main","type":"stream.start","user":"A","width":1280`),
		ev(4, end, `"stream":"main","type":"stream.stop","user":"A"`),
		ev(5, end, `"type":"room.leave","user":"A"`),
		ev(6, end, `"type":"room.leave","user":"B"`),
	}
}

// loadBig stores lines of gen's workload as account big's events (ids
// g<n> from first on).
func loadBig(tb testing.TB, store *sqlstore.DB, lines [][]byte, first int) int {
	rows := make([]eventRow, len(lines))
	for i, l := range lines {
		id := "g" + strconv.Itoa(first+i)
		rows[i] = eventRow{"big", id, "1400000001", `{"id":"` + id + `",` + string(l[1:]), timeOfLine(tb, l)}
	}
	insertRows(tb, store, rows)
	return len(rows)
}

// insertRows stores events as ingestion does: the rows, and each
// account's revision and event span.
func insertRows(tb testing.TB, store *sqlstore.DB, rows []eventRow) {
	if len(rows) == 0 {
		return
	}
	db := store.SQL()
	q := store.Rebind
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	ev, err := tx.Prepare(q(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		tb.Fatal(err)
	}
	type span struct{ n, lo, hi int64 }
	spans := map[string]*span{}
	for _, r := range rows {
		if _, err := ev.Exec(r.acct, r.id, r.t, r.app, r.body); err != nil {
			tb.Fatal(err)
		}
		s := spans[r.acct]
		if s == nil {
			s = &span{lo: r.t, hi: r.t}
			spans[r.acct] = s
		}
		s.n++
		s.lo, s.hi = min(s.lo, r.t), max(s.hi, r.t)
	}
	up, err := tx.Prepare(q(`UPDATE accounts SET revision = revision + 1, event_count = event_count + ?,
		first_ms = CASE WHEN event_count = 0 THEN ? ELSE MIN(first_ms, ?) END, last_ms = CASE WHEN event_count = 0 THEN ? ELSE MAX(last_ms, ?) END WHERE id = ?`))
	if q("?") != "?" {
		up, err = tx.Prepare(q(`UPDATE accounts SET revision = revision + 1, event_count = event_count + ?,
		first_ms = CASE WHEN event_count = 0 THEN ? ELSE LEAST(first_ms, ?) END, last_ms = CASE WHEN event_count = 0 THEN ? ELSE GREATEST(last_ms, ?) END WHERE id = ?`))
	}
	if err != nil {
		tb.Fatal(err)
	}
	for a, s := range spans {
		if _, err := up.Exec(s.n, s.lo, s.lo, s.hi, s.hi, a); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func timeOfLine(tb testing.TB, l []byte) int64 {
	i := bytes.Index(l, []byte(`"time":"`))
	if i < 0 {
		tb.Fatalf("no time in %s", l)
	}
	s := l[i+8:]
	t, err := time.Parse(time.RFC3339Nano, string(s[:bytes.IndexByte(s, '"')]))
	if err != nil {
		tb.Fatal(err)
	}
	return t.UnixMilli()
}

// currentRSS is the process's resident set now (VmRSS), in bytes.
func currentRSS() int64 { return procStatus("VmRSS:") }

// BenchmarkScaleDays simulates LIVEBILL_BENCH_DAYS days (default 90) of
// LIVEBILL_BENCH_ACCOUNTS accounts (default 10,000) with
// LIVEBILL_BENCH_SESSIONS sessions a day each (default 2: about 10
// events per account and day, 100,000 a day), on SQLite and (with
// LIVEBILL_TEST_POSTGRES) PostgreSQL, and logs each day's settlement
// time (wall and the process's CPU time: steadier on a shared machine),
// RSS, heap, live meters and rollup rows. It reports the ratio of the
// last ten days' mean to days 10–19's for settlement time, its CPU time
// and RSS: flat means close to 1.
//
//	go test ./bench -run '^$' -bench ScaleDays -benchtime 1x -timeout 3h -v
func BenchmarkScaleDays(b *testing.B) {
	cfg := scaleFromEnv(scaleConfig{accounts: 10_000, days: 90, sessions: 2})
	for _, be := range backends() {
		b.Run(fmt.Sprintf("%s/accounts=%d/days=%d", be.name, cfg.accounts, cfg.days), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				store := be.open(b, storetest.NewClock(scaleStart))
				var stats []dayStat
				simulate(b, store, cfg, func(st dayStat) {
					stats = append(stats, st)
					b.Logf("day %2d: %7d events, settled in %6.2f s (%6.2f CPU-s), RSS %5d MiB, heap %5d MiB, %5d live meters, %9d rollup rows",
						st.day, st.events, st.settle.Seconds(), st.cpu.Seconds(), st.rss>>20, st.heap>>20, st.meters, st.rollups)
				})
				if len(stats) >= 20 {
					early, late := stats[9:19], stats[len(stats)-10:]
					mean := func(ss []dayStat, f func(dayStat) float64) float64 {
						var s float64
						for _, x := range ss {
							s += f(x)
						}
						return s / float64(len(ss))
					}
					settle := func(d dayStat) float64 { return d.settle.Seconds() }
					rss := func(d dayStat) float64 { return float64(d.rss) }
					b.ReportMetric(mean(late, settle), "s/day-last10")
					cpu := func(d dayStat) float64 { return d.cpu.Seconds() }
					b.ReportMetric(mean(late, settle)/mean(early, settle), "settle-last10/day10-19")
					b.ReportMetric(mean(late, cpu)/mean(early, cpu), "cpu-last10/day10-19")
					b.ReportMetric(mean(late, rss)/mean(early, rss), "rss-last10/day10-19")
					b.ReportMetric(float64(stats[len(stats)-1].rss)/(1<<20), "rss-MiB-last")
				}
				store.Close()
			}
		})
	}
}

// TestScaleSmall is BenchmarkScaleDays small (200 accounts, 15 days),
// run by go test: every day settles, the meters held stay below the
// accounts that have a session open or an event that day (the others'
// are let go), and the rollups grow with the days.
func TestScaleSmall(t *testing.T) {
	cfg := scaleConfig{accounts: 200, days: 15, sessions: 2}
	s, err := sqlite.Open(context.Background(), t.TempDir(), storetest.NewClock(scaleStart))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var prev int64
	simulate(t, s, cfg, func(st dayStat) {
		// accounts active on day d: 6 of every 7; a meter is let go once
		// idle for 15 minutes at a settlement, so at 02:00 only the
		// accounts with a session across midnight (a tenth) keep theirs
		if st.day > 1 && st.meters > cfg.accounts/10+1 {
			t.Errorf("day %d: %d live meters held, want at most the %d accounts with a session open", st.day, st.meters, cfg.accounts/10+1)
		}
		if st.rollups <= prev {
			t.Errorf("day %d: %d rollup rows, not more than the day before (%d)", st.day, st.rollups, prev)
		}
		prev = st.rollups
	})
}
