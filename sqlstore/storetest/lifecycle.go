package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/scenario"
)

// The account lifecycle through the API (SPEC §4 "Arrears", "Service
// stop"; seed 003 欠费说明, 停服说明, 非欠费停服说明), on the service's
// fake clock. The expected numbers are worked out in the comments.

// runScenarioClock runs a lifecycle scenario on the service's clock from
// the period's start: each day settled at 01:30 after it closes (the
// settle delay is an hour), each top-up and app action done at its time,
// as a live service would.
func runScenarioClock(t *testing.T, e *env, f *scenario.File, loc *time.Location, from, to time.Time) {
	t.Helper()
	type step struct {
		at time.Time
		do func()
	}
	var steps []step
	for d := from.AddDate(0, 0, 1); !d.After(to); d = d.AddDate(0, 0, 1) {
		steps = append(steps, step{d.Add(90 * time.Minute), nil})
	}
	for i, tu := range f.TopUps {
		at, err := livebill.ParseInstant(tu.Time, loc)
		if err != nil {
			t.Fatal(err)
		}
		id := tu.ID
		if id == "" {
			id = fmt.Sprintf("topup-%d", i+1)
		}
		steps = append(steps, step{at, func() {
			e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": id, "amount": tu.Amount}, nil)
		}})
	}
	for _, a := range f.AppActions {
		at, err := livebill.ParseInstant(a.Time, loc)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, step{at, func() {
			e.mustDo(t, "POST", "/v1/accounts/acct/apps/"+a.App+"/"+a.Action, nil, nil)
		}})
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	for _, s := range steps {
		e.clock.Set(s.at)
		if s.do != nil {
			s.do()
		}
		if err := e.svc.SettleAll(context.Background()); err != nil {
			t.Fatalf("settle at %s: %v", s.at, err)
		}
	}
}

// openingFor is the service account's opening balance for a lifecycle
// scenario: the scenario's balance is the one at the period's start, and
// the service also charges the bills before the period (a plan bought
// earlier), when it first settles; they are added back.
func openingFor(t *testing.T, f *scenario.File, want *livebill.QuoteAccount) string {
	if want == nil {
		return ""
	}
	earliest := f.Period.From
	for _, p := range f.Plans {
		if d := p.Start[:min(len(p.Start), 10)]; d < earliest {
			earliest = d
		}
	}
	opening := money.MustParse(want.OpeningBalance)
	if earliest < f.Period.From {
		pre := *f
		pre.Period = scenario.Period{From: earliest[:8] + "01", To: f.Period.From}
		acct := *f.Account
		acct.Balance = ""
		pre.Account, pre.TopUps, pre.AppActions, pre.Expect = &acct, nil, nil, nil
		res, err := pre.Run()
		if err != nil {
			t.Fatal(err)
		}
		opening = opening.Add(money.MustParse(res.Quote.Total))
	}
	return opening.String()
}

// checkScenarioAccount compares the service account's state, balance and
// history with the quote's lifecycle.
func checkScenarioAccount(t *testing.T, e *env, want *livebill.QuoteAccount) {
	t.Helper()
	var a lbhttp.AccountJSON
	e.mustDo(t, "GET", "/v1/accounts/acct", nil, &a)
	if want == nil {
		return
	}
	if a.State != want.State || dec(a.Balance) != dec(want.ClosingBalance) {
		t.Errorf("service account: %s, balance %s; the quote: %s, balance %s", a.State, a.Balance, want.State, want.ClosingBalance)
	}
	got := history(t, e, "acct")
	line := func(tr livebill.Transition) string {
		return fmt.Sprintf("%s %s→%s %s at %s", tr.App, tr.From, tr.To, tr.Reason, tr.At.UTC().Format(time.RFC3339))
	}
	var g, w []string
	for _, tr := range got {
		g = append(g, line(tr))
	}
	for _, tr := range want.Transitions {
		w = append(w, line(tr))
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("service history\n%s\nthe quote's\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

func history(t *testing.T, e *env, acct string) []livebill.Transition {
	t.Helper()
	var page struct {
		History []livebill.Transition `json:"history"`
	}
	e.mustDo(t, "GET", "/v1/accounts/"+acct+"/history?limit=1000", nil, &page)
	return page.History
}

func ledgerOf(t *testing.T, e *env, acct string) []livebill.LedgerEntry {
	t.Helper()
	var page struct {
		Ledger []livebill.LedgerEntry `json:"ledger"`
	}
	e.mustDo(t, "GET", "/v1/accounts/"+acct+"/ledger?limit=1000", nil, &page)
	return page.Ledger
}

func accountOf(t *testing.T, e *env, acct string) lbhttp.AccountJSON {
	t.Helper()
	var a lbhttp.AccountJSON
	e.mustDo(t, "GET", "/v1/accounts/"+acct, nil, &a)
	return a
}

func appStatus(t *testing.T, e *env, acct, app string) livebill.ServiceStatus {
	t.Helper()
	var st livebill.ServiceStatus
	e.mustDo(t, "GET", "/v1/accounts/"+acct+"/apps/"+app+"/status", nil, &st)
	return st
}

// tick moves the clock and runs the settlement ticker (lifecycle first).
func (e *env) tick(t *testing.T, now time.Time) {
	t.Helper()
	e.clock.Set(now)
	if err := e.svc.SettleAll(context.Background()); err != nil {
		t.Fatalf("settle at %s: %v", now, err)
	}
}

// sh is a time of March 2024 in Asia/Shanghai (the TRTC billing zone).
func sh(day int, clock string) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	t, err := time.ParseInLocation("2006-01-02 15:04", fmt.Sprintf("2024-03-%02d %s", day, clock), loc)
	if err != nil {
		panic(err)
	}
	return t
}

// recordedHour is an hour of A publishing 1280×720 in a room of app, with
// a recording of it (mp4), from 10:00 of the day (March 2024). Its bill:
// A/V audio 60 (A) and HD 60 (the recording robot), covered by
// rtc-engine.lite's gift minutes; recording HD 60 min × 5.99 / 1000 =
// 0.3594 → 0.36.
func recordedHour(day int, app string) []string {
	at := func(c string) string { return sh(day, c).Format(time.RFC3339) }
	id := fmt.Sprintf("d%d-%s-", day, app)
	ev := func(n, tm, typ, extra string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":%q,"room":"r%d"%s}`, id+n, tm, typ, app, day, extra)
	}
	return []string{
		ev("j", at("10:00"), "room.join", `,"user":"A"`),
		ev("p", at("10:00"), "stream.start", `,"user":"A","stream":"main","media":"video","width":1280,"height":720`),
		ev("r", at("10:00"), "recording.start", `,"task":"rec","formats":["mp4"],"streams":[{"user":"A","stream":"main"}]`),
		ev("s", at("11:00"), "recording.stop", `,"task":"rec"`),
		ev("l", at("11:00"), "room.leave", `,"user":"A"`),
	}
}

// newLifeEnv makes account acct on 2024-03-01 00:00 (Shanghai): created in
// 2022 (its free packs are over), opening balance 49.60, app 1400000001
// with rtc-engine.lite bought on March 1 (49.50; gift minutes cover A/V,
// not recording), and recorded hours on the given days.
//
// On March 2 at 00:00 the purchase bill (49.50) and March 1's bill (0.36)
// are charged: 49.60 − 49.50 = 0.10, 0.10 − 0.36 = −0.26 → arrears, grace
// until March 3 00:00.
func newLifeEnv(t *testing.T, open Opener, days ...int) *env {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime() // events for the days ahead are pushed at the start
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2022-01-10", "balance": "49.60"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "p1", "app": app, "plan": "rtc-engine.lite", "start": "2024-03-01"}, nil)
	var lines []string
	for _, d := range days {
		lines = append(lines, recordedHour(d, app)...)
	}
	if len(lines) > 0 {
		if r := e.push(t, lines...); r.Accepted != len(lines) {
			t.Fatalf("push: %+v", r)
		}
	}
	return e
}

// kinds lists transitions as "from→to@time" in UTC.
func kinds(trs []livebill.Transition) string {
	var out []string
	for _, t := range trs {
		s := t.From + "→" + t.To + "@" + t.At.UTC().Format(time.RFC3339)
		if t.App != "" {
			s = t.App + ":" + s
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// testArrearsTopUpInGrace: a charge below zero → arrears with 24 h grace;
// a top-up within the grace → active again at that instant, never
// suspended (seed: "若24小时内冲正账户，则实时音视频不会停服").
func testArrearsTopUpInGrace(t *testing.T, open Opener) {
	e := newLifeEnv(t, open, 1)
	e.tick(t, sh(2, "01:30"))
	a := accountOf(t, e, "acct")
	if a.State != livebill.AccountArrears || a.Balance != "-0.26" || a.OpeningBalance != "49.60" ||
		a.Since != utc(sh(2, "00:00")) || a.GraceUntil != utc(sh(3, "00:00")) {
		t.Fatalf("after March 1's bills: %+v, want arrears since March 2 00:00, grace until March 3 00:00, balance -0.26", a.StatusJSON)
	}
	// the ledger: opening, the purchase, the day's bill, each with the balance after it
	l := ledgerOf(t, e, "acct")
	got := []string{}
	for _, x := range l {
		got = append(got, x.Kind+" "+x.Amount+" "+x.Balance+" "+utc(x.At))
	}
	want := []string{
		"opening 49.60 49.60 " + utc(sh(1, "00:00")),
		"purchase -49.50 0.10 " + utc(sh(2, "00:00")),
		"daily -0.36 -0.26 " + utc(sh(2, "00:00")),
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("ledger %v, want %v", got, want)
	}
	// in arrears the app still serves (seed: "不会立即终止…会持续运行并正常计费")
	if st := appStatus(t, e, "acct", app); !st.Serving() || st.Reason != livebill.ReasonAccountArrears || !st.GraceUntil.Equal(sh(3, "00:00")) {
		t.Fatalf("app status in arrears: %+v", st)
	}
	// a top-up of 1.00 at 12:00: −0.26 + 1.00 = 0.74 → active at 12:00
	e.clock.Set(sh(2, "12:00"))
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "1.00"}, nil)
	a = accountOf(t, e, "acct")
	if a.State != livebill.AccountActive || a.Balance != "0.74" || a.Since != utc(sh(2, "12:00")) || a.GraceUntil != "" {
		t.Fatalf("after the top-up in the grace: %+v", a.StatusJSON)
	}
	// past the grace's end: never suspended
	e.tick(t, sh(3, "00:10"))
	e.tick(t, sh(4, "01:30"))
	h := history(t, e, "acct")
	wantH := fmt.Sprintf("active→arrears@%s arrears→active@%s", utc(sh(2, "00:00")), utc(sh(2, "12:00")))
	if kinds(h) != wantH {
		t.Fatalf("history %s, want %s", kinds(h), wantH)
	}
	if h[0].Cause != "daily|2024-03-01" || h[1].Cause != "topup t1" || h[0].Reason != livebill.ReasonAccountArrears {
		t.Fatalf("causes: %+v", h)
	}
}

// testSuspendAndRestore: not topped up within the grace → suspended at
// the grace's end (whenever the ticker runs after it); every app stops,
// usage while suspended is blocked; a top-up back to zero or more →
// active again at that instant, and usage after it is billed.
func testSuspendAndRestore(t *testing.T, open Opener) {
	e := newLifeEnv(t, open, 1, 3, 5)
	e.tick(t, sh(2, "01:30"))
	e.tick(t, sh(3, "00:07")) // the ticker runs 7 minutes after the grace ended
	a := accountOf(t, e, "acct")
	if a.State != livebill.AccountSuspended || a.Since != utc(sh(3, "00:00")) || a.ReclaimAt != "2024-05-01T16:00:00Z" {
		t.Fatalf("after the grace: %+v, want suspended since March 3 00:00, reclaimed at May 2 00:00 (+08:00)", a.StatusJSON)
	}
	st := appStatus(t, e, "acct", app)
	if st.Serving() || st.AppState != livebill.AppStopped || st.Reason != livebill.ReasonAccountSuspended {
		t.Fatalf("app status while suspended: %+v", st)
	}
	var apps struct {
		Apps []lbhttp.AppJSON `json:"apps"`
	}
	e.mustDo(t, "GET", "/v1/accounts/acct/apps", nil, &apps)
	if len(apps.Apps) != 1 || apps.Apps[0].State != livebill.AppStopped || apps.Apps[0].Reason != livebill.ReasonAccountSuspended {
		t.Fatalf("apps while suspended: %+v", apps.Apps)
	}
	// March 3's hour came while suspended: blocked, no bill, no charge
	e.tick(t, sh(4, "01:30"))
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-03-03&to=2024-03-04", nil, &q)
	if q.Total != "0.00" || len(q.Bills) != 0 {
		t.Fatalf("March 3 while suspended: total %s, bills %+v", q.Total, q.Bills)
	}
	blocked := map[string]string{}
	for _, u := range q.Usage {
		blocked[u.Item] = u.Blocked
	}
	if blocked["trtc.recording.hd"] != "60" || blocked["trtc.av.hd"] != "60" || blocked["trtc.av.audio"] != "60" {
		t.Fatalf("March 3's usage: %+v, want 60 min of each item blocked", q.Usage)
	}
	if !hasNotice(q.Notices, livebill.NoticeBlockedUsage, livebill.ReasonAccountSuspended) {
		t.Fatalf("no usage_blocked notice naming the suspension: %+v", q.Notices)
	}
	// a top-up at 09:00 on March 4: −0.26 + 1.00 = 0.74 → active at 09:00
	e.clock.Set(sh(4, "09:00"))
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "1.00"}, nil)
	a = accountOf(t, e, "acct")
	if a.State != livebill.AccountActive || a.Since != utc(sh(4, "09:00")) || a.Balance != "0.74" {
		t.Fatalf("after the top-up: %+v", a.StatusJSON)
	}
	if st := appStatus(t, e, "acct", app); !st.Serving() || st.Reason != "" {
		t.Fatalf("app status after the restore: %+v", st)
	}
	// March 5's hour is billed again: 0.74 − 0.36 = 0.38
	e.tick(t, sh(6, "01:30"))
	a = accountOf(t, e, "acct")
	if a.State != livebill.AccountActive || a.Balance != "0.38" {
		t.Fatalf("after March 5's bill: %+v", a.StatusJSON)
	}
	wantH := fmt.Sprintf("active→arrears@%s arrears→suspended@%s suspended→active@%s", utc(sh(2, "00:00")), utc(sh(3, "00:00")), utc(sh(4, "09:00")))
	if h := history(t, e, "acct"); kinds(h) != wantH {
		t.Fatalf("history %s, want %s", kinds(h), wantH)
	}
	bills, err := e.store.ListBills(context.Background(), "acct")
	if err != nil {
		t.Fatal(err)
	}
	var dated []string
	for _, b := range bills {
		dated = append(dated, b.Kind+" "+b.Date+" "+b.Total)
	}
	wantB := "purchase 2024-03-01 49.50, daily 2024-03-01 0.36, daily 2024-03-05 0.36"
	if strings.Join(dated, ", ") != wantB {
		t.Fatalf("bills %s, want %s", strings.Join(dated, ", "), wantB)
	}
}

func hasNotice(ns []livebill.Notice, code, reason string) bool {
	for _, n := range ns {
		if n.Code == code && n.Reason == reason {
			return true
		}
	}
	return false
}

// testReclaim: suspended 60 days → reclaimed at exactly the suspension's
// start + 60 days: its data is purged, every call on it answers 410 Gone,
// the operator still reads its bills, ledger and history, and settling
// it again changes no bill.
func testReclaim(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newLifeEnv(t, open, 1)
	var k lbhttp.KeyJSON
	e.mustDo(t, "POST", "/v1/keys", map[string]any{"account": "acct"}, &k)
	e.tick(t, sh(2, "01:30"))
	e.tick(t, sh(3, "00:07"))
	bills, _ := e.store.ListBills(ctx, "acct")
	// 60 days after March 3 00:00 is May 2 00:00 (+08:00); the ticker runs
	// at 00:05 and the day before nothing happens
	e.tick(t, time.Date(2024, 5, 1, 23, 59, 0, 0, sh(1, "00:00").Location()))
	if a := accountOf(t, e, "acct"); a.State != livebill.AccountSuspended {
		t.Fatalf("a minute before the reclaim: %+v", a.StatusJSON)
	}
	e.tick(t, time.Date(2024, 5, 2, 0, 5, 0, 0, sh(1, "00:00").Location()))
	h := history(t, e, "acct")
	last := h[len(h)-1]
	if last.To != livebill.AccountReclaimed || last.At.UTC().Format(time.RFC3339) != "2024-05-01T16:00:00Z" || last.Reason != livebill.ReasonAccountReclaimed {
		t.Fatalf("history ends %+v, want reclaimed at 2024-05-02T00:00+08:00", last)
	}
	base := e.client.BaseURL + "/v1/accounts/acct"
	for _, r := range []struct{ method, path, body string }{
		{"GET", "", ""},
		{"GET", "/apps", ""},
		{"GET", "/usage?from=2024-03-01&to=2024-03-02", ""},
		{"GET", "/quote?from=2024-03-01&to=2024-03-02", ""},
		{"POST", "/topups", `{"id":"late","amount":"100"}`},
		{"POST", "/apps", `{"id":"new-app"}`},
		{"POST", "/settle", ""},
		{"POST", "/apps/" + app + "/enable", ""},
	} {
		if a := call(t, r.method, base+r.path, AdminKey, []byte(r.body)); a.status != http.StatusGone || a.problem.Code != livebill.EGONE {
			t.Errorf("%s %s on a reclaimed account: %d %s, want 410 gone", r.method, r.path, a.status, a.body)
		}
	}
	// the account's own key went with it
	if a := call(t, "GET", base+"/bills", k.Key, nil); a.status != http.StatusUnauthorized {
		t.Errorf("the reclaimed account's key: %d, want 401", a.status)
	}
	// kept for the operator: bills, ledger, history
	for _, p := range []string{"/bills", "/ledger", "/history"} {
		if a := call(t, "GET", base+p, AdminKey, nil); a.status != http.StatusOK {
			t.Errorf("GET %s of a reclaimed account by the operator: %d %s", p, a.status, a.body)
		}
	}
	if got, _ := e.store.ListBills(ctx, "acct"); len(got) != len(bills) {
		t.Fatalf("bills after the reclaim: %d, before %d", len(got), len(bills))
	}
	// purged: events, apps, purchases
	if sp, _ := e.store.EventSpan(ctx, "acct"); sp.Count != 0 {
		t.Errorf("%d events kept", sp.Count)
	}
	if as, _ := e.store.ListApps(ctx, "acct"); len(as) != 0 {
		t.Errorf("apps kept: %+v", as)
	}
	if ps, _ := e.store.ListPurchases(ctx, "acct"); len(ps) != 0 {
		t.Errorf("purchases kept: %+v", ps)
	}
	res := e.push(t, recordedHour(20, app)...)
	if res.Accepted != 0 || res.Rejected != len(recordedHour(20, app)) {
		t.Errorf("events of a reclaimed account's app: %+v, want all rejected", res)
	}
	// another server that found the app before the reclaim (its cache
	// still has it) refuses its events too
	stale := billing.New(staleApps{e.store, app, "acct"}, e.clock)
	raw := recordedHour(21, app)[:1]
	ires, err := stale.Ingest(ctx, []livebill.RawEvent{{Line: 1, Body: []byte(raw[0])}})
	if err != nil || ires.Rejected != 1 || ires.Errors[0].Code != livebill.EGONE {
		t.Errorf("an event ingested through a stale app cache: %+v %v, want rejected (gone)", ires, err)
	}
	// settling again issues nothing (no adjustment undoes the kept bills)
	e.tick(t, time.Date(2024, 5, 3, 2, 0, 0, 0, sh(1, "00:00").Location()))
	if got, _ := e.store.ListBills(ctx, "acct"); len(got) != len(bills) {
		t.Fatalf("a settlement after the reclaim issued %d bills", len(got)-len(bills))
	}
}

// testTrialStop: a trial app whose free pack runs out stops at the end
// of the 5-minute window that happened in (a non-arrears stop: the account
// stays active and is never reclaimed); it runs again from the instant a
// paid plan is bought (docs/decisions.md, "Resuming").
//
// As testdata/scenarios/plans-service-stop.yaml, on March 2: A publishes
// 3840×2160 (4K) and B receives it from 10:00; per window audio +5 (5 pack
// minutes) and 4K +5 (180): the 10,000-minute free pack is short in the
// window 14:30–14:35 → stopped at 14:35.
//
// The free pack crosses 80 % used (8,000 of 10,000 pack minutes) at the
// 44th window, 13:35–13:40; it never reaches 100 % (the stop leaves 5):
// one pack.threshold notification, before the app.stopped one.
func testTrialStop(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime() // events for the days ahead are pushed at the start
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-03-01", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	r := newReceiver(t, e.clock)
	r.endpoint(t, e, "acct", livebill.EventAppStopped, livebill.EventPackThreshold)
	at := func(c string) string { return sh(2, c).Format(time.RFC3339) }
	if r := e.push(t,
		evt("j1", at("10:00"), "room.join", `,"user":"A"`),
		evt("p1", at("10:00"), "stream.start", `,"user":"A","stream":"main","media":"video","width":3840,"height":2160`),
		evt("j2", at("10:00"), "room.join", `,"user":"B","subscribe":"all"`),
		evt("l2", at("16:00"), "room.leave", `,"user":"B"`),
		evt("l1", at("16:00"), "room.leave", `,"user":"A"`)); r.Accepted != 5 {
		t.Fatalf("push: %+v", r)
	}
	e.tick(t, sh(2, "14:30")) // not yet
	if st := appStatus(t, e, "acct", app); !st.Serving() {
		t.Fatalf("at 14:30: %+v", st)
	}
	e.tick(t, sh(2, "15:00"))
	st := appStatus(t, e, "acct", app)
	if st.Serving() || st.AppState != livebill.AppStopped || st.Reason != livebill.ReasonTrialExhausted || !st.Since.Equal(sh(2, "14:35")) ||
		st.AccountState != livebill.AccountActive {
		t.Fatalf("at 15:00: %+v, want the app stopped since 14:35 (trial exhausted), the account active", st)
	}
	// a non-arrears stop is never reclaimed: 70 days on, the account is
	// active and answers
	e.tick(t, sh(2, "15:00").AddDate(0, 0, 70))
	if a := accountOf(t, e, "acct"); a.State != livebill.AccountActive {
		t.Fatalf("70 days after the stop: %+v", a.StatusJSON)
	}
	h := history(t, e, "acct")
	if len(h) < 1 || h[0].App != app || h[0].To != livebill.AppStopped || !h[0].At.Equal(sh(2, "14:35")) {
		t.Fatalf("history %s, want the app stopped at 14:35 first", kinds(h))
	}
	drain(t, e, worker(e), r, 2, time.Minute, 5)
	got, _ := r.snapshot()
	var alert livebill.PackAlert
	json.Unmarshal(got[0].n.Data, &alert)
	if len(got) != 2 || got[0].n.Type != livebill.EventPackThreshold || got[1].n.Type != livebill.EventAppStopped ||
		alert.Threshold != 80 || alert.Pack != "free-2024-03-01" || alert.Granted != "10000" || dec(alert.Used) < dec("8000") {
		t.Fatalf("notified %+v (alert %+v), want pack.threshold 80 of free-2024-03-01, then app.stopped", got, alert)
	}
	for _, tr := range h {
		if tr.App == "" {
			t.Fatalf("the account changed state: %s", kinds(h))
		}
	}
}

// testQuoteBillsStops: the console's month to date (QuoteBills: settled
// days' daily bills read as issued, the rest rated from the last
// checkpoint's deduction state) equals the month's quote rated in full,
// for a trial app stopped twice in the month. The account is created
// 2024-02-15, so its free packs run Feb 15–Mar 15 and Mar 15–Apr 15: a
// 4K session on Mar 2 uses up the first (the app stops that afternoon,
// as in testTrialStop), the new pack resumes it on Mar 15 00:00, the same
// session on Mar 16 stops it again, and an hour on Mar 20 is blocked.
// Both stops' notices (service_stopped, usage_blocked) must be in the
// month to date, though the checkpoint of Mar 31 is after them both: the
// deduction state keeps every stop, not only the last.
func testQuoteBillsStops(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-02-15", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	var lines []string
	for _, s := range []struct {
		day        int
		start, end string
	}{{2, "10:00", "16:00"}, {16, "10:00", "16:00"}, {20, "10:00", "11:00"}} {
		at := func(c string) string { return sh(s.day, c).Format(time.RFC3339) }
		id := fmt.Sprintf("d%d-", s.day)
		lines = append(lines,
			evt(id+"j1", at(s.start), "room.join", `,"user":"A"`),
			evt(id+"p1", at(s.start), "stream.start", `,"user":"A","stream":"main","media":"video","width":3840,"height":2160`),
			evt(id+"j2", at(s.start), "room.join", `,"user":"B","subscribe":"all"`),
			evt(id+"l2", at(s.end), "room.leave", `,"user":"B"`),
			evt(id+"l1", at(s.end), "room.leave", `,"user":"A"`))
	}
	if r := e.push(t, lines...); r.Accepted != len(lines) {
		t.Fatalf("push: %+v", r)
	}
	for d := 2; d <= 31; d++ { // serve's ticker: each day settled at 02:00 the next
		e.tick(t, sh(d, "02:00"))
	}
	e.clock.Set(sh(31, "12:00"))
	ctx := context.Background()
	for _, svc := range []*billing.Service{e.svc, billing.New(e.store, e.clock)} { // and after a restart
		full, err := svc.Quote(ctx, "acct", "2024-03-01", "2024-03-31")
		if err != nil {
			t.Fatal(err)
		}
		stops := 0
		for _, n := range full.Notices {
			if n.Code == livebill.NoticeServiceStop {
				stops++
			}
		}
		if stops != 2 {
			t.Fatalf("quote of March: notices %+v, want two service stops", full.Notices)
		}
		full.Usage = nil
		before := atomic.LoadInt64(&svc.IssuedQuotes)
		q, err := svc.QuoteBills(ctx, "acct", "2024-03-01", "2024-03-31")
		if err != nil {
			t.Fatal(err)
		}
		if atomic.LoadInt64(&svc.IssuedQuotes) != before+1 {
			t.Fatalf("QuoteBills rated the month again: the issued bills were not read")
		}
		gj, _ := json.MarshalIndent(q, "", " ")
		wj, _ := json.MarshalIndent(full, "", " ")
		if !bytes.Equal(gj, wj) {
			t.Fatalf("QuoteBills differs from Quote\nwant %s\ngot  %s", wj, gj)
		}
	}
}

// testTrialResumesOnPlan: the stopped trial app runs again from the
// instant a paid plan is bought (before the next month's free pack).
func testTrialResumesOnPlan(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime() // events for the days ahead are pushed at the start
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-03-01", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	at := func(c string) string { return sh(2, c).Format(time.RFC3339) }
	e.push(t,
		evt("j1", at("10:00"), "room.join", `,"user":"A"`),
		evt("p1", at("10:00"), "stream.start", `,"user":"A","stream":"main","media":"video","width":3840,"height":2160`),
		evt("j2", at("10:00"), "room.join", `,"user":"B","subscribe":"all"`),
		evt("l2", at("16:00"), "room.leave", `,"user":"B"`),
		evt("l1", at("16:00"), "room.leave", `,"user":"A"`))
	e.tick(t, sh(2, "15:00"))
	e.clock.Set(sh(3, "09:30"))
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "p1", "app": app, "plan": "rtc-engine.lite", "start": sh(3, "09:30").Format(time.RFC3339)}, nil)
	e.tick(t, sh(3, "09:31"))
	if st := appStatus(t, e, "acct", app); !st.Serving() || st.AppState != livebill.AppActive {
		t.Fatalf("after buying a paid plan: %+v", st)
	}
	want := fmt.Sprintf("%s:active→stopped@%s %s:stopped→active@%s", app, utc(sh(2, "14:35")), app, utc(sh(3, "09:30")))
	if h := history(t, e, "acct"); kinds(h) != want {
		t.Fatalf("history %s, want %s", kinds(h), want)
	}
}

// testDisableEnable: an operator disables an app (at once: its rooms are
// dissolved, its usage not billed) and enables it again; the other app of
// the account goes on.
func testDisableEnable(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime() // events for the days ahead are pushed at the start
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-03-01", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "other"}, nil)
	// A in app's room 10:00–12:00, C in other's 10:00–12:00 (audio both);
	// app disabled 10:30–11:00; A rejoins 11:20–11:40.
	at := func(c string) string { return sh(1, c).Format(time.RFC3339) }
	e.push(t,
		evt("j1", at("10:00"), "room.join", `,"user":"A"`),
		evt("l1", at("12:00"), "room.leave", `,"user":"A"`),
		evt("j2", at("11:20"), "room.join", `,"user":"A2"`),
		evt("l2", at("11:40"), "room.leave", `,"user":"A2"`),
		`{"id":"c1","time":"`+at("10:00")+`","type":"room.join","app":"other","room":"x","user":"C"}`,
		`{"id":"c2","time":"`+at("12:00")+`","type":"room.leave","app":"other","room":"x","user":"C"}`)
	e.clock.Set(sh(1, "10:30"))
	var st livebill.ServiceStatus
	e.mustDo(t, "POST", "/v1/accounts/acct/apps/"+app+"/disable", nil, &st)
	if st.Serving() || st.AppState != livebill.AppDisabled || st.Reason != livebill.ReasonAppDisabled || !st.Since.Equal(sh(1, "10:30")) {
		t.Fatalf("disabled: %+v", st)
	}
	if o := appStatus(t, e, "acct", "other"); !o.Serving() {
		t.Fatalf("the other app: %+v", o)
	}
	e.clock.Set(sh(1, "11:00"))
	e.mustDo(t, "POST", "/v1/accounts/acct/apps/"+app+"/enable", nil, &st)
	if !st.Serving() || st.AppState != livebill.AppActive {
		t.Fatalf("enabled: %+v", st)
	}
	e.tick(t, sh(2, "01:30"))
	// A: 10:00–10:30 (the disable dissolved the room; A's own leave at
	// 12:00 is dropped) = 30; A2: 11:20–11:40 = 20
	// → app audio 50 min; other: 120 min. Calculator mode: 0.99/1000 per
	// minute: 170 × 0.00099 = 0.1683 → 0.17.
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-03-01&to=2024-03-02", nil, &q)
	if len(q.Lines) != 1 || q.Lines[0].Quantity != "170" || q.Total != "0.17" {
		t.Fatalf("quote of March 1: %+v total %s, want 170 audio minutes, 0.17", q.Lines, q.Total)
	}
	want := fmt.Sprintf("%s:active→disabled@%s %s:disabled→active@%s", app, utc(sh(1, "10:30")), app, utc(sh(1, "11:00")))
	if h := history(t, e, "acct"); kinds(h) != want {
		t.Fatalf("history %s, want %s", kinds(h), want)
	}
	// an app of another account, or none, is not found
	if a := call(t, "POST", e.client.BaseURL+"/v1/accounts/acct/apps/nope/disable", AdminKey, nil); a.status != http.StatusNotFound {
		t.Fatalf("disable a missing app: %d", a.status)
	}
	for _, n := range q.Notices {
		if n.Code == "events_rejected" {
			t.Fatalf("the dissolved session's own leave was rejected: %+v", n)
		}
	}
}

// testRefundCredited: a refunded plan's bill gives the money back: the
// ledger has the purchase's charge and the refund's credit, the refund is
// notified (purchase.refunded), and the CSV export lists the same
// entries.
func testRefundCredited(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "00:00"))
	e.anyTime() // events for the days ahead are pushed at the start
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-03-01", "balance": "100"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	r := newReceiver(t, e.clock)
	r.endpoint(t, e, "", livebill.EventPurchaseRefunded)
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "p1", "app": app, "plan": "rtc-engine.lite", "start": "2024-03-01"}, nil)
	e.clock.Set(sh(2, "10:00"))
	e.mustDo(t, "POST", "/v1/accounts/acct/refunds", map[string]any{"purchase": "p1", "time": sh(2, "10:00").Format(time.RFC3339)}, nil)
	e.tick(t, sh(3, "01:30"))
	// 100 − 49.50 (charged March 2 00:00) + 49.50 (March 3 00:00) = 100
	var got []string
	for _, x := range ledgerOf(t, e, "acct") {
		got = append(got, x.Kind+" "+x.Amount+" "+x.Balance)
	}
	if want := "opening 100 100; purchase -49.50 50.50; refund 49.50 100.00"; strings.Join(got, "; ") != want {
		t.Fatalf("ledger %s, want %s", strings.Join(got, "; "), want)
	}
	a := call(t, "GET", e.client.BaseURL+"/v1/accounts/acct/ledger?format=csv", AdminKey, nil)
	lines := strings.Split(strings.TrimSpace(string(a.body)), "\n")
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") || len(lines) != 4 ||
		lines[0] != strings.Join(lbhttp.LedgerCSVHeader, ",") || !strings.Contains(lines[3], ",refund,purchase|2024-03-02|rtc-engine.lite.refund@#1,2024-03-02,49.50,100.00,") {
		t.Fatalf("CSV export: %d %s\n%s", a.status, a.header.Get("Content-Type"), string(a.body))
	}
	// a top-up whose id a spreadsheet would run as a formula is text
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "=HYPERLINK(1)", "amount": "1"}, nil)
	if a := call(t, "GET", e.client.BaseURL+"/v1/accounts/acct/ledger?format=csv", AdminKey, nil); !strings.Contains(string(a.body), ",topup,'=HYPERLINK(1),") {
		t.Fatalf("CSV export of a top-up =HYPERLINK(1):\n%s", a.body)
	}
	drain(t, e, worker(e), r, 1, time.Minute, 5)
	got2, _ := r.snapshot()
	if len(got2) != 1 || got2[0].n.Type != livebill.EventPurchaseRefunded || got2[0].n.AccountID != "acct" {
		t.Fatalf("notified %+v, want purchase.refunded", got2)
	}
}

// staleApps is a store whose app cache still has an app purged since.
type staleApps struct {
	livebill.Store
	app, account string
}

func (s staleApps) FindApp(ctx context.Context, id string) (*livebill.App, error) {
	if id == s.app {
		return &livebill.App{ID: id, AccountID: s.account}, nil
	}
	return s.Store.FindApp(ctx, id)
}

// testOpeningArrearsTerms: an account opened below zero is in arrears at
// once, under its own catalog's grace (catalog data: arrears.grace_hours),
// not the default 24 hours: 3 hours here, so suspended 3 hours after it
// was made.
func testOpeningArrearsTerms(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "09:00"))
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "owing", "catalog": "short-grace", "created": "2024-03-01", "balance": "-1",
		"catalog_yaml": "extends: trtc\narrears: {grace_hours: 3}\n"}, nil)
	a := accountOf(t, e, "owing")
	if a.State != livebill.AccountArrears || a.GraceUntil != utc(sh(1, "12:00")) {
		t.Fatalf("opened at -1: %+v, want arrears with grace until 12:00 (3 h)", a.StatusJSON)
	}
	e.tick(t, sh(1, "12:10"))
	if a := accountOf(t, e, "owing"); a.State != livebill.AccountSuspended || a.Since != utc(sh(1, "12:00")) {
		t.Fatalf("after the grace: %+v, want suspended since 12:00", a.StatusJSON)
	}
}
