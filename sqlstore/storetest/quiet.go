package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// Settlement waits for quiet (billing/hold.go): a day is settled only once
// it is closed and the account's ingest for that day has been quiet for
// the quiet delay (billing.DefaultSettleQuiet, 5 minutes, in these tests);
// an open import holds its accounts whole. Ticks are a minute apart, like
// `livebill serve`'s default --settle-every.

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// at is a time on the billing clock, in Shanghai.
func at(day, hour, minute int) time.Time {
	return time.Date(2024, 10, day, hour, minute, 0, 0, shanghai)
}

// timedLine is an event line and its time.
type timedLine struct {
	at   time.Time
	line string
}

// arrive pushes the events of evs (in time order) from *next on that are
// before now, and moves *next past them; it reports whether it pushed.
func arrive(t *testing.T, e *env, evs []timedLine, next *int, now time.Time) bool {
	t.Helper()
	var lines []string
	for ; *next < len(evs) && evs[*next].at.Before(now); *next++ {
		lines = append(lines, evs[*next].line)
	}
	if len(lines) == 0 {
		return false
	}
	if r := e.push(t, lines...); r.Accepted != len(lines) {
		t.Fatalf("push at %s: %+v", now, r)
	}
	return true
}

// session is a user's room.join and room.leave, alone in their own room
// (audio minutes only).
func session(id, user string, from, to time.Time) []timedLine {
	room := fmt.Sprintf(`,"user":%q`, user)
	return []timedLine{
		{from, fmt.Sprintf(`{"id":%q,"time":%q,"type":"room.join","app":%q,"room":%q%s}`, id+"j", from.Format(time.RFC3339), app, "room-"+user, room)},
		{to, fmt.Sprintf(`{"id":%q,"time":%q,"type":"room.leave","app":%q,"room":%q%s}`, id+"l", to.Format(time.RFC3339), app, "room-"+user, room)},
	}
}

// quietAccount makes the account acct (list prices, Shanghai) and its app.
func quietAccount(t *testing.T, e *env) {
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-09-20", "timezone": "Asia/Shanghai"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
}

// issued returns the account's issued bills as "kind date total" (an
// adjustment as "adjustment of KEY total"), in issue order.
func issued(t *testing.T, e *env) []string {
	t.Helper()
	bills, err := e.store.ListBills(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bills {
		if b.Kind == livebill.BillAdjustment {
			out = append(out, "adjustment of "+b.Adjusts+" "+b.Total)
			continue
		}
		out = append(out, b.Kind+" "+b.Date+" "+b.Total)
	}
	return out
}

// noBills fails unless nothing was issued yet; why says what held it.
func noBills(t *testing.T, e *env, why string) {
	t.Helper()
	if got := issued(t, e); len(got) != 0 {
		t.Fatalf("at %s: issued %q %s", e.clock.Now().Format("15:04"), got, why)
	}
}

// settleVia settles the account at the clock's time: by the ticker
// (SettleAll, grouped) or by POST /v1/accounts/acct/settle (Settle).
type settleVia func(t *testing.T, e *env)

func byTicker(t *testing.T, e *env) {
	t.Helper()
	if err := e.svc.SettleAll(context.Background()); err != nil {
		t.Fatalf("settle at %s: %v", e.clock.Now(), err)
	}
}

func byAPI(t *testing.T, e *env) {
	t.Helper()
	var res billing.SettleResult
	e.mustDo(t, "POST", "/v1/accounts/acct/settle", nil, &res)
}

// testQuietTrickle: a device uploads its buffer of a past day in seven
// batches two minutes apart, each closing the previous session and
// opening the next, while the account is settled every minute. The day's
// bill is issued once, five minutes after the last batch, and never
// adjusted. (Settled as soon as the day was closed, the first tick would
// have billed the first session open until midnight and then reversed it.)
func testQuietTrickle(t *testing.T, open Opener) {
	for name, settle := range map[string]settleVia{"ticker": byTicker, "api": byAPI} {
		t.Run(name, func(t *testing.T) {
			start := at(3, 10, 0)
			e := newEnv(t, open, start)
			quietAccount(t, e)
			// user Uk alone in a room 20 minutes from 10:00 + 30k on the 1st
			var evs []timedLine
			for k := 0; k < 6; k++ {
				from := at(1, 10, 30*k)
				evs = append(evs, session(fmt.Sprintf("s%d", k), fmt.Sprintf("U%d", k), from, from.Add(20*time.Minute))...)
			}
			// batch 0: the first join; batch k: session k−1's leave and
			// session k's join; batch 6: the last leave
			batches := [][]string{{evs[0].line}}
			for k := 1; k < 6; k++ {
				batches = append(batches, []string{evs[2*k-1].line, evs[2*k].line})
			}
			batches = append(batches, []string{evs[11].line})
			last := start.Add(time.Duration(len(batches)-1) * 2 * time.Minute) // 10:12
			for m := 0; m <= 30; m++ {
				now := start.Add(time.Duration(m) * time.Minute)
				e.clock.Set(now)
				if m%2 == 0 && m/2 < len(batches) {
					if r := e.push(t, batches[m/2]...); r.Accepted != len(batches[m/2]) {
						t.Fatalf("batch %d: %+v", m/2, r)
					}
				}
				settle(t, e)
				if now.Before(last.Add(billing.DefaultSettleQuiet)) {
					noBills(t, e, "before the day's ingest was quiet")
					continue
				}
				got := issued(t, e)
				// 6 × 20 audio minutes × 0.99/1000 = 0.1188 → 0.12
				if want := []string{"daily 2024-10-01 0.12"}; strings.Join(got, "|") != strings.Join(want, "|") {
					t.Fatalf("at %s: issued %q, want %q", now.Format("15:04"), got, want)
				}
			}
		})
	}
}

// testQuietLive: an account with traffic every few minutes around the
// clock. Its ingest is never quiet for five minutes, but the quiet check
// is per billing day: yesterday's events stopped arriving at midnight, so
// yesterday is settled at 01:00 (the settle delay), while today's events
// keep arriving.
func testQuietLive(t *testing.T, open Opener) {
	start := at(1, 23, 0)
	e := newEnv(t, open, start)
	quietAccount(t, e)
	// Lk alone for 8 minutes from 23:00 + 10k, k = 0…12: six sessions on
	// the 1st (23:00–23:58), the rest on the 2nd
	var evs []timedLine
	for k := 0; k <= 12; k++ {
		from := start.Add(time.Duration(10*k) * time.Minute)
		evs = append(evs, session(fmt.Sprintf("L%d", k), fmt.Sprintf("L%d", k), from, from.Add(8*time.Minute))...)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	next := 0
	var lastPush time.Time
	for now := start.Add(time.Minute); !now.After(at(2, 1, 10)); now = now.Add(time.Minute) {
		e.clock.Set(now)
		if arrive(t, e, evs, &next, now) {
			lastPush = now
		}
		byTicker(t, e)
		if now.Before(at(2, 1, 0)) {
			noBills(t, e, "before the 1st closed (+1 h)")
			continue
		}
		got := issued(t, e)
		if now.Equal(at(2, 1, 0)) && now.Sub(lastPush) >= billing.DefaultSettleQuiet {
			t.Fatalf("the account's last push was at %s: not live at 01:00", lastPush.Format("15:04"))
		}
		// the 1st: 6 × 8 audio minutes × 0.99/1000 = 0.04752 → 0.05
		if want := []string{"daily 2024-10-01 0.05"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("at %s: issued %q, want %q", now.Format("15:04"), got, want)
		}
	}
	st, err := e.store.FindSettlement(context.Background(), "acct")
	if err != nil || st.Through != "2024-10-02" || st.Held != "" {
		t.Fatalf("settlement %+v %v, want through 2024-10-02, nothing held", st, err)
	}
}

// testSettleForce: ?force=true settles a closed day whose ingest is not
// quiet yet; without it the answer says what waits and until when.
func testSettleForce(t *testing.T, open Opener) {
	pushed := at(3, 10, 0)
	e := newEnv(t, open, pushed)
	quietAccount(t, e)
	e.push(t, evLines(session("d1", "D1", at(1, 10, 0), at(1, 10, 30)))...)
	e.clock.Set(pushed.Add(time.Minute))
	var res billing.SettleResult
	e.mustDo(t, "POST", "/v1/accounts/acct/settle", nil, &res)
	if len(res.Issued) != 0 || res.HeldBy != "quiet" || res.HeldFrom != "2024-10-01" || !res.HeldUntil.Equal(pushed.Add(billing.DefaultSettleQuiet)) {
		t.Fatalf("settle a minute after the push: %+v, want the 1st held until %s", res, pushed.Add(billing.DefaultSettleQuiet))
	}
	if err := e.client.Do(context.Background(), "POST", "/v1/accounts/acct/settle?force=maybe", nil, nil); livebill.ErrorCode(err) != livebill.EINVALID {
		t.Fatalf("force=maybe: %v", err)
	}
	res = billing.SettleResult{}
	e.mustDo(t, "POST", "/v1/accounts/acct/settle?force=true", nil, &res)
	// 30 audio minutes × 0.99/1000 = 0.0297 → 0.03
	if len(res.Issued) != 1 || res.Issued[0].Date != "2024-10-01" || res.Issued[0].Total != "0.03" || res.HeldBy != "" {
		t.Fatalf("forced: %+v", res)
	}
}

func evLines(ls []timedLine) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.line
	}
	return out
}

// testWalkthrough: the README's walk-through — create an account, an app,
// a purchase from 2024-10-01, push five events of 2024-10-01 twice, read
// usage, `bills show --settle` — with the server's ticker settling between
// every two steps, and on for ten minutes. No adjustment is issued: the
// purchase and the events hold their day until quiet, so the day is
// settled once with both. The bills issued for October are the quote's.
func testWalkthrough(t *testing.T, open Opener) {
	now := time.Date(2024, 12, 10, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, open, now)
	step := func(f func()) {
		f()
		now = now.Add(20 * time.Second)
		e.clock.Set(now)
		byTicker(t, e)
	}
	events := []string{
		`{"id":"e1","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"1400000001","room":"r1","user":"A","subscribe":"all"}`,
		`{"id":"e2","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"1400000001","room":"r1","user":"B","subscribe":"all"}`,
		`{"id":"e3","time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"1400000001","room":"r1","user":"A","stream":"main","media":"video","width":1280,"height":720}`,
		`{"id":"e4","time":"2024-10-01T11:00:00+08:00","type":"room.leave","app":"1400000001","room":"r1","user":"A"}`,
		`{"id":"e5","time":"2024-10-01T11:00:00+08:00","type":"room.leave","app":"1400000001","room":"r1","user":"B"}`,
	}
	step(func() {
		e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "100001", "catalog": "trtc", "created": "2024-01-10"}, nil)
	})
	step(func() { e.mustDo(t, "POST", "/v1/accounts/100001/apps", map[string]any{"id": "1400000001"}, nil) })
	step(func() {
		e.mustDo(t, "POST", "/v1/accounts/100001/purchases", map[string]any{"id": "p1", "app": "1400000001", "plan": "rtc-engine.lite", "start": "2024-10-01"}, nil)
	})
	step(func() {
		if r := e.push(t, events...); r.Accepted != 5 {
			t.Fatalf("first push: %+v", r)
		}
	})
	step(func() {
		if r := e.push(t, events...); r.Duplicate != 5 {
			t.Fatalf("second push: %+v", r)
		}
	})
	step(func() {
		// A receives nothing (audio), B receives A's 720p (HD): an hour each
		u, err := e.client.Usage(context.Background(), "100001", "2024-10-01", "2024-10-02", "day")
		if err != nil || len(u) != 2 || u[0].Value != 3600000 || u[1].Value != 3600000 {
			t.Fatalf("usage: %+v %v", u, err)
		}
	})
	step(func() {
		var res billing.SettleResult
		e.mustDo(t, "POST", "/v1/accounts/100001/settle", nil, &res) // bills show --settle
	})
	for end := now.Add(10 * time.Minute); now.Before(end); {
		now = now.Add(time.Minute)
		e.clock.Set(now)
		byTicker(t, e)
	}
	bills, err := e.store.ListBills(context.Background(), "100001")
	if err != nil {
		t.Fatal(err)
	}
	var october []livebill.Bill
	for _, b := range bills {
		if b.Kind == livebill.BillAdjustment {
			t.Errorf("adjustment issued: %+v", b)
		}
		if strings.HasPrefix(b.Date, "2024-10") {
			october = append(october, b.Bill)
		}
	}
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/100001/quote?from=2024-10-01&to=2024-11-01", nil, &q)
	sortBills(october)
	sortBills(q.Bills)
	gj, _ := json.Marshal(october)
	wj, _ := json.Marshal(q.Bills)
	if len(q.Bills) == 0 || string(gj) != string(wj) {
		t.Fatalf("October's issued bills\n%s\nthe quote's\n%s", gj, wj)
	}
}
