package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// The cold side of the service: a month settled day by day (simulate,
// with account big fed livebill gen's workload), then services started
// afresh on the stored data, as after a restart. coldRun measures, each
// on a service of its own (nothing in memory):
//
//   - start: opening the database (schema check) and answering account
//     big's quote of the month: its live meter resumed from its last
//     checkpoint, the month rated from the rollups;
//   - usage: GET /v1/accounts/big/usage of the month at 5-minute
//     granularity, over loopback HTTP, until the last byte of the answer
//     is read (not decoded);
//   - late: a late session of big on the month's last day (the usual
//     late event: hours late), then one three days before the month's
//     end, each ingested and its day re-rated into an adjustment (the
//     meter resumed from that day's checkpoint, the days after it metered
//     again).
type coldTimes struct {
	start, usage, late time.Duration
	lateLastDay        time.Duration // a late session of the month's last day
	quote              *livebill.Quote
	usage5m            []livebill.UsagePoint
	adjustments        []livebill.IssuedBill
}

var coldNow = time.Date(2024, 11, 1, 2, 0, 0, 0, cst)

func coldOpen(tb testing.TB, dir string) (*sqlstore.DB, *billing.Service) {
	clock := storetest.NewClock(coldNow)
	s, err := sqlite.Open(context.Background(), dir, clock)
	if err != nil {
		tb.Fatal(err)
	}
	svc := billing.New(s, clock)
	svc.SettleDelay = time.Hour
	return s, svc
}

func coldRun(tb testing.TB, dir string) coldTimes {
	ctx := context.Background()
	var out coldTimes
	t0 := time.Now()
	s, svc := coldOpen(tb, dir)
	q, err := svc.Quote(ctx, "big", "2024-10-01", "2024-11-01")
	if err != nil {
		tb.Fatal(err)
	}
	out.start, out.quote = time.Since(t0), q
	s.Close()

	s, svc = coldOpen(tb, dir)
	api := lbhttp.NewServer(s, svc)
	api.AdminKey = storetest.AdminKey
	srv := httptest.NewServer(api.Handler())
	req, err := http.NewRequest("GET", srv.URL+"/v1/accounts/big/usage?from=2024-10-01&to=2024-11-01&granularity=5m", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+storetest.AdminKey)
	t0 = time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body) // the whole answer, as a client gets it
	resp.Body.Close()
	out.usage = time.Since(t0)
	var u struct {
		Usage []livebill.UsagePoint `json:"usage"`
	}
	if err != nil || resp.StatusCode != 200 || json.Unmarshal(body, &u) != nil {
		tb.Fatalf("usage: %d %v %.200s", resp.StatusCode, err, body)
	}
	out.usage5m = u.Usage
	srv.Close()
	s.Close()

	out.lateLastDay, _ = lateSession(tb, dir, time.Date(2024, 10, 31, 12, 0, 0, 0, cst))
	out.late, out.adjustments = lateSession(tb, dir, time.Date(2024, 10, 29, 12, 0, 0, 0, cst))
	return out
}

// lateSession times, on a service of its own, storing a 50-minute session
// of big at instant at and settling it (forced: no quiet delay).
func lateSession(tb testing.TB, dir string, at time.Time) (time.Duration, []livebill.IssuedBill) {
	ctx := context.Background()
	s, svc := coldOpen(tb, dir)
	defer s.Close()
	run := time.Now().UnixNano() // a new session each run: a kept database (LIVEBILL_BENCH_DIR) is timed again
	late := []livebill.RawEvent{
		{Line: 1, Body: []byte(fmt.Sprintf(`{"id":"late%d-1","time":%q,"type":"room.join","app":"1400000001","room":"late%d","user":"L"}`, run, at.Format(time.RFC3339), run))},
		{Line: 2, Body: []byte(fmt.Sprintf(`{"id":"late%d-2","time":%q,"type":"room.leave","app":"1400000001","room":"late%d","user":"L"}`, run, at.Add(50*time.Minute).Format(time.RFC3339), run))},
	}
	t0 := time.Now()
	if r, err := svc.Ingest(ctx, late); err != nil || r.Accepted != 2 {
		tb.Fatalf("late events: %+v %v", r, err)
	}
	res, err := svc.SettleWith(ctx, "big", billing.SettleOptions{Force: true})
	if err != nil {
		tb.Fatal(err)
	}
	return time.Since(t0), res.Issued
}

// coldSetup simulates cfg's days into a SQLite database in dir and
// returns the events stored and the database's size. A dir that holds a
// finished setup (LIVEBILL_BENCH_DIR) is used as it is.
func coldSetup(tb testing.TB, dir string, cfg scaleConfig) (events int, bytes int64) {
	done := filepath.Join(dir, "setup-done")
	if b, err := os.ReadFile(done); err == nil {
		fmt.Sscan(string(b), &events)
	} else {
		s, err := sqlite.Open(context.Background(), dir, storetest.NewClock(scaleStart))
		if err != nil {
			tb.Fatal(err)
		}
		simulate(tb, s, cfg, func(st dayStat) { events += st.events })
		s.Close()
		if err := os.WriteFile(done, []byte(fmt.Sprint(events)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			bytes += fi.Size()
		}
		return nil
	})
	return events, bytes
}

// BenchmarkColdRestart stores a month of LIVEBILL_BENCH_ACCOUNTS accounts
// (default 3,000) with LIVEBILL_BENCH_SESSIONS sessions a day (default
// 19: about 9M events) and account big's LIVEBILL_BENCH_BIG events
// (default 1M, livebill gen, one app) on SQLite — big settled day by day,
// the others once after the month — then measures a cold start's first
// quote, a month's 5-minute usage from cold and the re-rating of a late
// event (coldRun). Setting it up takes tens of minutes on a small
// machine; with LIVEBILL_BENCH_DIR it is kept there and reused.
//
//	go test ./bench -run '^$' -bench ColdRestart -benchtime 1x -timeout 3h -v
func BenchmarkColdRestart(b *testing.B) {
	cfg := scaleFromEnv(scaleConfig{accounts: 3000, days: 31, sessions: 19, big: 1_000_000, bigDaily: true})
	dir := os.Getenv("LIVEBILL_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	events, size := coldSetup(b, dir, cfg)
	b.Logf("%d events stored (%d accounts, big %d), database %d MiB", events, cfg.accounts, cfg.big, size>>20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ct := coldRun(b, dir)
		b.Logf("cold start to big's month quote %.2f s; month's 5-minute usage from cold %d ms (%d points); late event of the last day re-rated in %d ms, of three days before in %d ms (%d adjustments)",
			ct.start.Seconds(), ct.usage.Milliseconds(), len(ct.usage5m), ct.lateLastDay.Milliseconds(), ct.late.Milliseconds(), len(ct.adjustments))
		b.ReportMetric(ct.start.Seconds(), "start-to-quote-s")
		b.ReportMetric(float64(ct.usage.Milliseconds()), "usage5m-cold-ms")
		b.ReportMetric(float64(ct.lateLastDay.Milliseconds()), "late-lastday-rerate-ms")
		b.ReportMetric(float64(ct.late.Milliseconds()), "late-3days-rerate-ms")
	}
	b.ReportMetric(float64(events), "events")
}

// TestColdRestartSmall is BenchmarkColdRestart small (50 accounts, a
// week, big with 20,000 events), run by go test: the cold quote and
// usage equal those of the warm service that settled the week, and the
// late session is one adjustment of its day holding its 50 minutes.
func TestColdRestartSmall(t *testing.T) {
	cfg := scaleConfig{accounts: 50, days: 31, sessions: 2, big: 20_000, bigDaily: true}
	dir := t.TempDir()
	s, err := sqlite.Open(context.Background(), dir, storetest.NewClock(scaleStart))
	if err != nil {
		t.Fatal(err)
	}
	svc := simulate(t, s, cfg, func(dayStat) {})
	ctx := context.Background()
	warm, err := svc.Quote(ctx, "big", "2024-10-01", "2024-11-01")
	if err != nil {
		t.Fatal(err)
	}
	warmUsage, err := svc.Usage(ctx, &livebill.UsageInput{AccountID: "big", From: "2024-10-01", To: "2024-11-01", Granularity: "5m"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ct := coldRun(t, dir)
	if !reflect.DeepEqual(ct.quote, warm) {
		t.Fatalf("cold quote differs from the warm one:\n%+v\n%+v", ct.quote, warm)
	}
	if len(warmUsage) == 0 || !reflect.DeepEqual(ct.usage5m, warmUsage) {
		t.Fatalf("cold usage (%d points) differs from the warm one (%d points)", len(ct.usage5m), len(warmUsage))
	}
	// L alone in a room for 50 minutes on 2024-10-29: 50 audio minutes on
	// the day's bill, through an adjustment of it
	var adj *livebill.IssuedBill
	for i := range ct.adjustments {
		if ct.adjustments[i].Adjusts == "daily|2024-10-29" {
			adj = &ct.adjustments[i]
		}
	}
	if adj == nil {
		t.Fatalf("no adjustment of 2024-10-29: %+v", ct.adjustments)
	}
	var audio string
	for _, l := range adj.Lines {
		if l.Item == "trtc.av.audio" {
			audio = l.Quantity
		}
	}
	if audio != "50" {
		t.Fatalf("adjustment of 2024-10-29: %+v, want 50 more audio minutes", adj.Lines)
	}
}
