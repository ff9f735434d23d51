package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// testContinuous (issue #6, continuous metering): events arrive in near
// real time while the billing clock ticks every 5 minutes and the service
// settles at each tick. The account's meter is advanced, never rebuilt,
// and the day's issued bill equals a full replay's. An event arriving
// later than the allowed lateness costs one rebuild and an adjustment, and
// the bill plus its adjustment again equals the replay.
func testContinuous(t *testing.T, open Opener) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	day := time.Date(2024, 10, 1, 0, 0, 0, 0, sh)
	e := newEnv(t, open, day)
	e.svc.Lateness = time.Minute
	// the meter stays in memory throughout (an idle one is let go and
	// resumed from its checkpoint: testRestarts), so its counts tell
	e.svc.MeterIdle = 72 * time.Hour
	// list prices (calculator mode), so the late minutes change the bill;
	// deduction over time is testSettleMonth's
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-10", "timezone": "Asia/Shanghai"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)

	// Every 30 minutes a publisher (720p) and two receive-all viewers meet
	// for 47 minutes; everything ends before 23:30.
	var evs []timedLine
	add := func(at time.Time, id, typ, extra string) {
		evs = append(evs, timedLine{at, evt(id, at.Format(time.RFC3339), typ, extra)})
	}
	for k := 0; k < 47; k++ {
		from := day.Add(time.Duration(k)*30*time.Minute + 90*time.Second)
		to := from.Add(47 * time.Minute)
		pub := fmt.Sprintf("P%d", k)
		add(from, pub+"j", "room.join", fmt.Sprintf(`,"user":%q`, pub))
		add(from, pub+"v", "stream.start", fmt.Sprintf(`,"user":%q,"stream":"main","media":"video","width":1280,"height":720`, pub))
		for v := 0; v < 2; v++ {
			u := fmt.Sprintf("V%d-%d", k, v)
			add(from.Add(time.Duration(v)*time.Minute), u+"j", "room.join", fmt.Sprintf(`,"user":%q,"subscribe":"all"`, u))
			add(to.Add(-time.Duration(v)*time.Minute), u+"l", "room.leave", fmt.Sprintf(`,"user":%q`, u))
		}
		add(to, pub+"l", "room.leave", fmt.Sprintf(`,"user":%q`, pub))
	}
	// N stays across midnight: the settlement at 01:00 must credit N up
	// to midnight without N having left
	add(day.Add(23*time.Hour+50*time.Minute), "Nj", "room.join", `,"user":"N"`)
	add(day.Add(24*time.Hour+20*time.Minute), "Nl", "room.leave", `,"user":"N"`)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })

	// at each tick, what happened since the last tick arrives
	next := 0
	for now := day.Add(5 * time.Minute); !now.After(day.Add(26 * time.Hour)); now = now.Add(5 * time.Minute) {
		arrive(t, e, evs, &next, now)
		e.clock.Set(now)
		if err := e.svc.SettleAll(ctx); err != nil {
			t.Fatalf("settle at %s: %v", now, err)
		}
	}
	st := e.svc.Live()
	if st.Rebuilds != 0 || st.Applied != int64(len(evs)) || st.Pending != 0 {
		t.Fatalf("live meters: %+v, want no rebuild and all %d events applied", st, len(evs))
	}

	// the replay: a quote whose period ends after the watermark is
	// computed from the stored events
	replayDay := func() livebill.Bill {
		t.Helper()
		var q livebill.Quote
		e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-10-01&to=2024-10-03", nil, &q)
		for _, b := range q.Bills {
			if b.Kind == livebill.BillDaily && b.Date == "2024-10-01" {
				return b
			}
		}
		t.Fatalf("replay has no daily bill for 2024-10-01: %+v", q.Bills)
		return livebill.Bill{}
	}
	issuedDay := func() (livebill.Bill, int64, int) {
		t.Helper()
		bills, err := e.store.ListBills(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		var daily livebill.Bill
		var total int64
		adj := 0
		for _, b := range bills {
			switch {
			case b.Key == "daily|2024-10-01":
				daily = b.Bill
				total += dec(b.Total)
			case b.Adjusts == "daily|2024-10-01":
				total += dec(b.Total)
				adj++
			}
		}
		return daily, total, adj
	}
	want := replayDay()
	got, _, adj := issuedDay()
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) || adj != 0 {
		t.Fatalf("issued daily bill (continuous meter)\n%s\nreplay\n%s\n(%d adjustments)", gj, wj, adj)
	}
	// All in room r1. Session k (k = 0…46) starts at s = 30k + 1.5 min:
	// publisher P and viewer V0 in [s, s+47], viewer V1 in [s+1, s+46].
	// P(k-1) still publishes until s+17 and P(k+1) from s+30, so a viewer
	// receives two 720p streams (1,843,200 px: Full HD) then, one (HD)
	// between. V0: FHD 17+17, HD 13 (k=0: HD 30, FHD 17; k=46: FHD 17, HD
	// 30); V1: FHD 16+16, HD 13 (k=0 and k=46: HD 29, FHD 16).
	// FHD 45·34+34 + 45·32+32 = 3,036 min × 8.99/1000 = 27.29364
	// HD  45·13+60 + 45·13+58 = 1,288 min × 3.99/1000 =  5.13912
	// audio (publishers and N, manual): 47 × 47 + 10 = 2,219 × 0.99/1000
	// = 2.19681; total 34.62957 → 34.63.
	if want.Total != "34.63" {
		t.Fatalf("the replayed day: %s, want total 34.63", wj)
	}

	// a late session on the 1st arrives at 02:05 on the 2nd
	e.clock.Set(day.Add(26*time.Hour + 5*time.Minute))
	late := day.Add(23*time.Hour + 40*time.Minute)
	lines := []string{
		evt("Lj", late.Format(time.RFC3339), "room.join", `,"user":"L"`),
		evt("Ll", late.Add(10*time.Minute).Format(time.RFC3339), "room.leave", `,"user":"L"`),
	}
	if r := e.push(t, lines...); r.Accepted != 2 {
		t.Fatalf("late push: %+v", r)
	}
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.svc.Live(); st.Rebuilds != 1 {
		t.Fatalf("after a late event: %+v, want one rebuild", st)
	}
	// the 1st's ingest is not quiet: its adjustment waits
	if _, _, adj := issuedDay(); adj != 0 {
		t.Fatalf("an adjustment issued at once, before the day's ingest was quiet (%d)", adj)
	}
	e.clock.Set(day.Add(26*time.Hour + 5*time.Minute + billing.DefaultSettleQuiet + time.Second))
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.svc.Live(); st.Rebuilds != 1 {
		t.Fatalf("after the quiet delay: %+v, still one rebuild", st)
	}
	want = replayDay()
	_, total, adj := issuedDay()
	if adj != 1 || total != dec(want.Total) {
		t.Fatalf("after the late event: issued + %d adjustments = %d µ, replay %s", adj, total, want.Total)
	}
}

// testBackfill: an account with nothing to bill closes no day, so history
// imported after the service has been settling gets its own daily bills,
// not adjustments dated today.
func testBackfill(t *testing.T, open Opener) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newEnv(t, open, time.Date(2024, 10, 5, 12, 0, 0, 0, sh))
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-09-20", "timezone": "Asia/Shanghai"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	// a device changes the account (its revision) without giving it
	// anything to bill
	e.mustDo(t, "POST", "/v1/accounts/acct/devices", map[string]any{"id": "d1", "cameras": []map[string]int{{"width": 1280, "height": 720}}}, nil)
	for i := 0; i < 3; i++ { // the settle ticks of an idle account
		if err := e.svc.SettleAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// the 2nd's history: A alone for 30 minutes, audio
	if r := e.push(t, evt("j", "2024-10-02T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("l", "2024-10-02T10:30:00+08:00", "room.leave", `,"user":"A"`)); r.Accepted != 2 {
		t.Fatalf("push: %+v", r)
	}
	// once the 2nd's ingest has been quiet for the delay
	e.clock.Set(e.clock.Now().Add(billing.DefaultSettleQuiet + time.Second))
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	bills, err := e.store.ListBills(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	// 30 audio minutes × 0.99/1000 = 0.0297 → 0.03, on the 2nd's own bill
	if len(bills) != 1 || bills[0].Kind != livebill.BillDaily || bills[0].Date != "2024-10-02" || bills[0].Total != "0.03" {
		t.Fatalf("backfilled history: %+v, want one daily bill of 2024-10-02 for 0.03", bills)
	}
}

// testRejections: an event the ingestion accepts but the meter refuses (a
// leave of a user who never joined) is stored, billed nowhere, and listed
// with its id and field by GET /v1/accounts/{id}/rejections.
func testRejections(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, sh))
	setupTRTC(t, e)
	if r := e.push(t,
		evt("j", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("ghost", "2024-10-01T10:10:00+08:00", "room.leave", `,"user":"B"`),
		evt("l", "2024-10-01T10:30:00+08:00", "room.leave", `,"user":"A"`),
	); r.Accepted != 3 {
		t.Fatalf("push: %+v", r)
	}
	var rj livebill.Rejections
	e.mustDo(t, "GET", "/v1/accounts/acct/rejections", nil, &rj)
	if len(rj.Events) != 1 || rj.Events[0].ID != "ghost" || rj.Events[0].Field != "user" || rj.Events[0].Reason == "" {
		t.Fatalf("rejections: %+v, want the leave %q on field user", rj, "ghost")
	}
	// A alone for 30 minutes: 30 audio minutes × 0.99/1000 = 0.0297 → 0.03;
	// B's leave changes nothing (settled once the 1st's ingest is quiet)
	e.clock.Set(e.clock.Now().Add(billing.DefaultSettleQuiet + time.Second))
	if _, err := e.svc.Settle(context.Background(), "acct"); err != nil {
		t.Fatal(err)
	}
	bills, err := e.store.ListBills(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	if len(bills) != 1 || bills[0].Total != "0.03" {
		t.Fatalf("bills: %+v, want one of 0.03", bills)
	}
	e.mustDo(t, "GET", "/v1/accounts/acct/rejections", nil, &rj)
	if len(rj.Events) != 1 {
		t.Fatalf("after settling: %+v, still one rejection", rj)
	}
	var q struct{}
	if err := e.client.Do(context.Background(), "GET", "/v1/accounts/nobody/rejections", nil, &q); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("unknown account: %v, want ENOTFOUND", err)
	}
}
