package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/gen"
)

// testUsageDays (daily rollups, migration 0017): settlement stores each
// settled day's usage per app and item next to its 5-minute windows, and
// usage by day of settled time reads those. An account in New York
// (Nov 3 2024 is a 25-hour day there) gets four days of generated traffic
// in two apps and hand-made sessions in a third; its days are settled, a
// late event re-settles Nov 1, and the service is restarted. Every time,
// usage by day equals the 5-minute usage summed per day (the service's
// and the store's own windows), the third app's days are what its
// sessions make by hand (SPEC §2: a user alone in a room is billed audio,
// per ms), and the daily rollups were read (DailyUsageReads). Then days
// are made to look settled before the migration (no daily rows): they
// are read from the 5-minute windows, with the same result.
func testUsageDays(t *testing.T, open Opener) {
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no zone database:", err)
	}
	day := func(d int) time.Time { return time.Date(2024, 10, 30+d, 0, 0, 0, 0, ny) } // day(0) = Oct 30
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 1500, Apps: 2, Seed: 3, Tasks: 0.3, Rooms: 4,
		Start: day(0).Add(6 * time.Hour), Span: 4 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		lines = append(lines, `{"id":"g`+strconv.Itoa(i)+`",`+string(l[1:]))
	}
	const solo = "1400000003" // an app with only the sessions below
	session := func(id string, join, leave time.Time) []string {
		ev := func(suffix, typ string, at time.Time) string {
			return fmt.Sprintf(`{"id":"%s%s","time":%q,"type":%q,"app":%q,"room":"s-%s","user":"Z"}`, id, suffix, at.Format(time.RFC3339), typ, solo, id)
		}
		return []string{ev("j", "room.join", join), ev("l", "room.leave", leave)}
	}
	// Oct 31 23:50 to Nov 1 00:20: 10 minutes on Oct 31, 20 on Nov 1
	lines = append(lines, session("a", day(2).Add(-10*time.Minute), day(2).Add(20*time.Minute))...)
	// Nov 3 00:30 to 03:30 local: 4 hours (the clocks go back at 02:00)
	lines = append(lines, session("b", day(4).Add(30*time.Minute), time.Date(2024, 11, 3, 3, 30, 0, 0, ny))...)

	e := newEnv(t, open, day(0))
	e.anyTime()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-25", "timezone": "America/New_York", "balance": EnoughMoney}, nil)
	for _, a := range []string{"1400000001", "1400000002", solo} {
		e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": a}, nil)
	}
	if r := e.push(t, lines...); r.Accepted != len(lines) {
		t.Fatalf("push: %+v", r)
	}
	restart := func() {
		svc := billing.New(e.store, e.clock)
		svc.SettleDelay, svc.EventMaxAge, svc.EventMaxFuture = e.svc.SettleDelay, e.svc.EventMaxAge, e.svc.EventMaxFuture
		e.svc = svc
		_, _, e.client = NewAPI(t, e.store, svc)
	}
	const minute = 60000
	// check compares usage by day of [day(0), day(to)) with the 5-minute
	// usage summed per day, and the third app's days with want (minutes;
	// days not listed: none); it returns how many reads took daily rollups.
	check := func(step string, to int, want map[int]int64) int64 {
		t.Helper()
		n0 := atomic.LoadInt64(&e.svc.DailyUsageReads)
		from, until := day(0).Format(time.DateOnly), day(to).Format(time.DateOnly)
		byDay, err := e.svc.Usage(ctx, &livebill.UsageInput{AccountID: "acct", From: from, To: until, Granularity: "day"})
		if err != nil {
			t.Fatal(err)
		}
		reads := atomic.LoadInt64(&e.svc.DailyUsageReads) - n0
		fine, err := e.svc.Usage(ctx, &livebill.UsageInput{AccountID: "acct", From: from, To: until, Granularity: "5m"})
		if err != nil {
			t.Fatal(err)
		}
		summed := map[string]int64{}
		for _, p := range fine {
			at, err := time.Parse(time.RFC3339, p.Start)
			if err != nil {
				t.Fatal(err)
			}
			y, m, d := at.In(ny).Date()
			summed[p.App+" "+p.Item+" "+time.Date(y, m, d, 0, 0, 0, 0, ny).Format(time.RFC3339)] += p.Value
		}
		got := map[string]int64{}
		for _, p := range byDay {
			k := p.App + " " + p.Item + " " + p.Start
			if _, dup := got[k]; dup {
				t.Fatalf("%s: %s twice in usage by day", step, k)
			}
			got[k] = p.Value
		}
		if len(got) != len(summed) {
			t.Errorf("%s: %d points by day, %d days in the 5-minute usage", step, len(got), len(summed))
		}
		for k, v := range summed {
			if got[k] != v {
				t.Errorf("%s: %s: by day %d, 5-minute windows summed %d", step, k, got[k], v)
			}
		}
		for d := 0; d < to; d++ {
			k := solo + " trtc.av.audio " + day(d).Format(time.RFC3339)
			if got[k] != want[d]*minute {
				t.Errorf("%s: %s = %d, want %d min", step, k, got[k], want[d])
			}
		}
		if len(fine) == 0 {
			t.Fatalf("%s: no usage", step)
		}
		return reads
	}
	// the store's own 5-minute windows summed per day, for the days
	// settled: what the daily rollups must hold
	storeDays := func(to int) map[string]int64 {
		ws, err := e.store.ListUsageRollups(ctx, "acct", day(0).UnixMilli(), day(to).UnixMilli(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, w := range ws {
			y, m, d := time.UnixMilli(w.Window).In(ny).Date()
			out[w.App+" "+w.Item+" "+time.Date(y, m, d, 0, 0, 0, 0, ny).Format(time.RFC3339)] += w.Value
		}
		return out
	}
	sameAsStore := func(step string, to int) {
		t.Helper()
		want := storeDays(to)
		ds, _, err := e.store.ListUsageDays(ctx, "acct", day(0).UnixMilli(), day(to).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, d := range ds {
			got[d.App+" "+d.Item+" "+time.UnixMilli(d.Day).In(ny).Format(time.RFC3339)] += d.Value
		}
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("%s: %d daily rollups, %d days of 5-minute rollups", step, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: daily rollup %s = %d, its 5-minute rollups sum to %d", step, k, got[k], v)
			}
		}
	}

	// Nov 2 03:00: Oct 30 to Nov 1 are settled (the settle delay is an hour)
	e.clock.Set(day(3).Add(3 * time.Hour))
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	sameAsStore("settled through Nov 1", 3)
	if n := check("settled through Nov 1, warm", 3, map[int]int64{1: 10, 2: 20}); n == 0 {
		t.Errorf("settled through Nov 1, warm: the daily rollups were not read")
	}
	restart()
	if n := check("settled through Nov 1, cold", 3, map[int]int64{1: 10, 2: 20}); n == 0 {
		t.Errorf("settled through Nov 1, cold: the daily rollups were not read")
	}

	// a late session of Nov 1 (12:00 to 12:40), a restart, and Nov 1 is
	// settled again with Nov 2 to Nov 4
	if r := e.push(t, session("c", day(2).Add(12*time.Hour), day(2).Add(12*time.Hour+40*time.Minute))...); r.Accepted != 2 {
		t.Fatalf("late push: %+v", r)
	}
	restart()
	e.clock.Set(day(6).Add(3 * time.Hour))
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	sameAsStore("Nov 1 settled again", 6)
	want := map[int]int64{1: 10, 2: 60, 4: 240}
	if n := check("Nov 1 settled again, warm", 6, want); n == 0 {
		t.Errorf("Nov 1 settled again, warm: the daily rollups were not read")
	}
	restart()
	if n := check("Nov 1 settled again, cold", 6, want); n == 0 {
		t.Errorf("Nov 1 settled again, cold: the daily rollups were not read")
	}
	// Nov 5 is not settled yet: it comes from the live meter
	check("with a day not settled", 7, want)

	// a database upgraded when Nov 2 was settled: the days before Nov 3
	// have no daily rows, and usage_days_from is after their last window
	db, ok := e.store.(interface {
		SQL() *sql.DB
		Rebind(string) string
	})
	if !ok {
		t.Fatalf("%T: no SQL access", e.store)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL().ExecContext(ctx, db.Rebind(q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`DELETE FROM usage_days WHERE account_id = 'acct' AND day_ms < ?`, day(4).UnixMilli())
	exec(`UPDATE accounts SET usage_days_from = (SELECT MAX(window_ms) + 1 FROM usage_rollups WHERE account_id = 'acct' AND window_ms < ?) WHERE id = 'acct'`, day(4).UnixMilli())
	restart()
	if n := check("upgraded, cold", 6, want); n == 0 {
		t.Errorf("upgraded, cold: the daily rollups of Nov 3 and 4 were not read")
	}
	// and the days after it are read from their daily rows: without
	// Nov 4's, its usage is gone
	exec(`DELETE FROM usage_days WHERE account_id = 'acct' AND day_ms = ?`, day(5).UnixMilli())
	pts, err := e.svc.Usage(ctx, &livebill.UsageInput{AccountID: "acct", From: day(5).Format(time.DateOnly), To: day(6).Format(time.DateOnly), Granularity: "day"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 0 {
		t.Errorf("Nov 4 without its daily rows: %d points, want none (the 5-minute windows were read)", len(pts))
	}
}
