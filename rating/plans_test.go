package rating

import (
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
)

var sh, _ = time.LoadLocation("Asia/Shanghai")

func d(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, sh)
	if err != nil {
		panic(err)
	}
	return t
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// rec is minutes of an item in the 5-minute window starting at an RFC 3339
// instant.
func rec(app, item, at string, minutes float64) meter.Record {
	return meter.Record{App: app, Item: item, Window: ts(at).UnixMilli(), Value: int64(minutes * 60000)}
}

func trtc(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func input(t *testing.T, created, from, to string) Input {
	return Input{Catalog: trtc(t), Location: sh, Mode: ModeAccount, From: d(from), To: d(to),
		Account: livebill.Account{ID: "1", Created: d(created), Activated: d(created)}}
}

func rate(t *testing.T, in Input) *livebill.Quote {
	t.Helper()
	q, err := Rate(in)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func usage(q *livebill.Quote, item string) (quantity, covered string) {
	for _, u := range q.Usage {
		if u.Item == item {
			return u.Quantity, u.Covered
		}
	}
	return "", ""
}

func wantUsage(t *testing.T, q *livebill.Quote, item, quantity, covered string) {
	t.Helper()
	gq, gc := usage(q, item)
	if gq != quantity || gc != covered {
		t.Errorf("usage %s = %s covered %s, want %s covered %s", item, gq, gc, quantity, covered)
	}
}

func pack(q *livebill.Quote, id string) *livebill.PackState {
	for i := range q.Packs {
		if q.Packs[i].ID == id {
			return &q.Packs[i]
		}
	}
	return nil
}

func wantPack(t *testing.T, q *livebill.Quote, id, used, remaining string) {
	t.Helper()
	p := pack(q, id)
	if p == nil {
		t.Fatalf("no pack %s in %+v", id, q.Packs)
	}
	if p.Used != used || p.Remaining != remaining {
		t.Errorf("pack %s used %s remaining %s, want %s / %s", id, p.Used, p.Remaining, used, remaining)
	}
}

func hasNotice(q *livebill.Quote, code, contains string) bool {
	for _, n := range q.Notices {
		if n.Code == code && strings.Contains(n.Message, contains) {
			return true
		}
	}
	return false
}

// ratioUsage: 10 minutes each of HD recording, H.264 HD transcoding and HD
// delivery to Tencent, on 2024-10-02 (free pack of the month is 10,000).
func ratioUsage() []meter.Record {
	return []meter.Record{
		rec("A", "trtc.recording.hd", "2024-10-02T10:00:00+08:00", 10),
		rec("A", "trtc.delivery.tencent.hd", "2024-10-02T10:00:00+08:00", 10),
		rec("A", "trtc.transcode.h264.hd", "2024-10-02T10:00:00+08:00", 10),
	}
}

// Account created 2023-02-20 (first table): recording HD 1:4 → 10 min
// covered, 40 pack minutes; transcoding and delivery are not covered. The
// free pack lasts 12 months from activation, so activation is set to
// 2024-01-01 to have a pack in October 2024.
func TestRatioTableBefore20230221(t *testing.T) {
	in := input(t, "2023-02-20", "2024-10-01", "2024-11-01")
	in.Account.Activated = d("2024-01-01")
	in.Records = ratioUsage()
	q := rate(t, in)
	wantUsage(t, q, "trtc.recording.hd", "10", "10")
	wantUsage(t, q, "trtc.transcode.h264.hd", "10", "0")
	wantUsage(t, q, "trtc.delivery.tencent.hd", "10", "0")
	wantPack(t, q, "free-2024-10-01", "40", "9960")
	// transcoding 10 × 5.99/1000 = 0.0599; delivery 10 × 0.13/1000 = 0.0013
	if q.Total != "0.06" {
		t.Errorf("total %s, want 0.06", q.Total)
	}
}

// Created 2023-02-21: recording HD 6.1, transcoding H.264 HD 6.1 → 61 +
// 61 = 122 pack minutes; delivery still not covered.
func TestRatioTableFrom20230221(t *testing.T) {
	in := input(t, "2023-02-21", "2024-10-01", "2024-11-01")
	in.Account.Activated = d("2024-01-01")
	in.Records = ratioUsage()
	q := rate(t, in)
	wantUsage(t, q, "trtc.recording.hd", "10", "10")
	wantUsage(t, q, "trtc.transcode.h264.hd", "10", "10")
	wantUsage(t, q, "trtc.delivery.tencent.hd", "10", "0")
	wantPack(t, q, "free-2024-10-01", "122", "9878")
}

// Created 2024-07-25: delivery to Tencent HD is covered too at 0.13:
// 61 + 61 + 1.3 = 123.3 pack minutes. The pack is anchored on the 25th.
func TestRatioTableFrom20240725(t *testing.T) {
	in := input(t, "2024-07-25", "2024-10-01", "2024-11-01")
	in.Records = ratioUsage()
	q := rate(t, in)
	wantUsage(t, q, "trtc.recording.hd", "10", "10")
	wantUsage(t, q, "trtc.transcode.h264.hd", "10", "10")
	wantUsage(t, q, "trtc.delivery.tencent.hd", "10", "10")
	wantPack(t, q, "free-2024-09-25", "123.3", "9876.7")
	if q.Total != "0.00" {
		t.Errorf("total %s, want 0.00", q.Total)
	}
}

// The free pack runs 12 months from activation: activated 2023-10-01, the
// last pack is 2024-09-01..10-01, so October 2024 has none.
func TestFreePackMonths(t *testing.T) {
	in := input(t, "2023-10-01", "2024-10-01", "2024-11-01")
	in.Purchases = []livebill.Purchase{{ID: "p", App: "A", Plan: "rtc-engine.lite", Start: d("2024-10-01")}}
	in.Records = []meter.Record{rec("A", "trtc.av.audio", "2024-10-02T10:00:00+08:00", 5)}
	q := rate(t, in)
	if len(q.Packs) != 1 || q.Packs[0].ID != "p" {
		t.Errorf("packs %+v, want only the gift pack", q.Packs)
	}
	wantUsage(t, q, "trtc.av.audio", "5", "5")
}

// Promotion scope: a plan bought on 2024-12-31 for app A covers app B's
// usage; one bought on 2025-01-01 covers A only, so B (no plan, no free
// pack: account activated 2023-01-01, packs ended 2024-01-01) is billed
// 60 audio minutes and stops.
func TestGiftPromoScopeBoundary(t *testing.T) {
	for _, c := range []struct {
		buy     string
		covered string
		stop    bool
	}{{"2024-12-31", "60", false}, {"2025-01-01", "0", true}} {
		in := input(t, "2023-01-01", "2024-12-01", "2025-02-01")
		in.Purchases = []livebill.Purchase{{ID: "p", App: "A", Plan: "rtc-engine.basic", Start: d(c.buy)}}
		in.Records = []meter.Record{rec("B", "trtc.av.audio", "2025-01-02T10:00:00+08:00", 60)}
		q := rate(t, in)
		wantUsage(t, q, "trtc.av.audio", "60", c.covered)
		if got := hasNotice(q, livebill.NoticeServiceStop, ""); got != c.stop {
			t.Errorf("bought %s: service_stopped %v, want %v", c.buy, got, c.stop)
		}
		wantScope := "A"
		if c.buy == "2024-12-31" {
			wantScope = ""
		}
		if p := pack(q, "p"); p == nil || p.App != wantScope {
			t.Errorf("bought %s: pack %+v, want scope %q", c.buy, p, wantScope)
		}
	}
}

// A plan bought at 15:00 covers the day's earlier usage: 10:00–10:30, 30
// HD minutes = 120 gift minutes; no free pack (activated 2023-01-01).
func TestSameDayPurchaseCoversMorning(t *testing.T) {
	in := input(t, "2023-01-01", "2025-03-01", "2025-04-01")
	in.Purchases = []livebill.Purchase{{ID: "p", App: "A", Plan: "rtc-engine.lite", Start: ts("2025-03-05T15:00:00+08:00")}}
	for m := 0; m < 30; m += 5 {
		in.Records = append(in.Records, rec("A", "trtc.av.hd", time.Date(2025, 3, 5, 10, m, 0, 0, sh).Format(time.RFC3339), 5))
	}
	q := rate(t, in)
	wantUsage(t, q, "trtc.av.hd", "30", "30")
	wantPack(t, q, "p", "120", "49880")
	if hasNotice(q, livebill.NoticeServiceStop, "") {
		t.Error("no stop expected: the plan is valid from 00:00")
	}
}

// Service stop of a trial app (no paid plan): free pack of 10,000 min, a
// 4K session uses 36 per minute: 277 minutes take 9,972, the 278th needs
// 36 > 28 left. Usage: 300 4K minutes from 10:00 in 5-minute windows of 5
// minutes; after window k (k = 1…) 5k minutes counted; window 56 (14:35)
// brings 280 > 277 covered → stop at 14:40; that window bills 3 minutes;
// the last 4 windows (20 min) are blocked.
func TestServiceStopInQuote(t *testing.T) {
	in := input(t, "2024-10-01", "2024-10-01", "2024-11-01")
	start := time.Date(2024, 10, 2, 10, 0, 0, 0, sh)
	for k := 0; k < 60; k++ {
		in.Records = append(in.Records, rec("A", "trtc.av.4k", start.Add(time.Duration(k)*5*time.Minute).Format(time.RFC3339), 5))
	}
	q := rate(t, in)
	wantUsage(t, q, "trtc.av.4k", "280", "277")
	if !hasNotice(q, livebill.NoticeBlockedUsage, "trtc.av.4k 20 min") {
		t.Errorf("notices %+v: want usage_blocked with 20 min", q.Notices)
	}
	var stop *livebill.Notice
	for i := range q.Notices {
		if q.Notices[i].Code == livebill.NoticeServiceStop {
			stop = &q.Notices[i]
		}
	}
	if stop == nil || stop.App != "A" || stop.Time != "2024-10-02T14:40:00+08:00" {
		t.Errorf("stop notice %+v", stop)
	}
	// 3 × 35.99 / 1000 = 0.10797 → 0.11
	if q.Total != "0.11" {
		t.Errorf("total %s, want 0.11", q.Total)
	}
}

// Calculator mode keeps list prices: no packs, no cover.
func TestCalculatorModeIgnoresPacks(t *testing.T) {
	in := input(t, "2024-10-01", "2024-10-01", "2024-11-01")
	in.Mode = ModeCalculator
	in.Records = []meter.Record{rec("A", "trtc.av.audio", "2024-10-02T10:00:00+08:00", 10)}
	q := rate(t, in)
	wantUsage(t, q, "trtc.av.audio", "10", "0")
	if len(q.Packs) != 0 {
		t.Errorf("packs %+v in calculator mode", q.Packs)
	}
}

func wantRefusal(t *testing.T, err error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a refusal containing %q", contains)
	}
	if livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Errorf("code %s, want conflict: %v", livebill.ErrorCode(err), err)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

// One edition per product per app: conference.lite (Oct 1 – Nov 1) then
// conference.pro on Oct 10 for the same app is refused, naming app,
// product and both plans. Another app, another product, or the day the
// first ends are fine; a trial gives way.
func TestOneEditionPerProduct(t *testing.T) {
	base := []livebill.Purchase{
		{ID: "c1", App: "A", Plan: "conference.lite", Start: d("2024-10-01")},
		{ID: "t1", App: "A", Plan: "rtc-engine.trial", Start: d("2024-10-01")},
	}
	in := input(t, "2024-10-01", "2024-10-01", "2024-12-01")
	in.Purchases = append(base, livebill.Purchase{ID: "c2", App: "A", Plan: "conference.pro", Start: d("2024-10-10")})
	_, err := Rate(in)
	wantRefusal(t, err, "app A", "conference.pro", "conference.lite", "c1", "c2", "conference edition")

	for _, ok := range []livebill.Purchase{
		{ID: "c2", App: "B", Plan: "conference.pro", Start: d("2024-10-10")},
		{ID: "c2", App: "A", Plan: "live.pro", Start: d("2024-10-10")},
		{ID: "c2", App: "A", Plan: "conference.pro", Start: d("2024-11-01")},
		{ID: "c2", App: "A", Plan: "rtc-engine.pro", Start: d("2024-10-10")},
	} {
		in.Purchases = append(append([]livebill.Purchase{}, base...), ok)
		if _, err := Rate(in); err != nil {
			t.Errorf("%s for %s on %s: %v", ok.Plan, ok.App, ok.Start.Format(time.DateOnly), err)
		}
	}
}

// The starter promo: refused after conference.lite was bought (any app),
// and a 4th starter period is refused (3 purchases max; auto-renewals
// count).
func TestStarterPromo(t *testing.T) {
	in := input(t, "2024-10-01", "2024-10-01", "2025-03-01")
	in.Purchases = []livebill.Purchase{
		{ID: "l1", App: "B", Plan: "conference.lite", Start: d("2024-10-01")},
		{ID: "s1", App: "A", Plan: "conference.starter", Start: d("2024-10-05")},
	}
	_, err := Rate(in)
	wantRefusal(t, err, "conference.starter", "never bought", "l1")

	in.Purchases = []livebill.Purchase{{ID: "s1", App: "A", Plan: "conference.starter", Start: d("2024-10-05"), AutoRenew: true}}
	_, err = Rate(in)
	wantRefusal(t, err, "at most 3", "4th", "auto-renewal of purchase s1", "2025-01-05")

	in.To = d("2025-01-01") // three periods: Oct 5, Nov 5, Dec 5
	q, err := Rate(in)
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != "119.70" { // 3 × 39.9
		t.Errorf("total %s, want 119.70", q.Total)
	}
}

// Refunds: bought Oct 1, refundable through Oct 6 (5 days) when the gift
// minutes are untouched, once per account.
func TestRefund(t *testing.T) {
	base := func() Input {
		in := input(t, "2023-01-01", "2024-10-01", "2024-11-01") // no free pack in 2024
		in.Purchases = []livebill.Purchase{
			{ID: "p1", App: "A", Plan: "rtc-engine.lite", Start: d("2024-10-01"), AutoRenew: true},
			{ID: "p2", App: "B", Plan: "call.1v1", Start: d("2024-10-02")},
		}
		return in
	}
	// accepted: 49.5 − 49.5 + 199 = 199; no renewal on Nov 1 either
	in := base()
	in.To = d("2024-12-01")
	in.Refunds = []livebill.RefundRequest{{Plan: "p1", Time: ts("2024-10-06T23:00:00+08:00")}}
	q := rate(t, in)
	if q.Total != "199.00" {
		t.Errorf("refund accepted: total %s, want 199.00 (lines %+v)", q.Total, q.Lines)
	}

	cases := []struct {
		name    string
		refunds []livebill.RefundRequest
		records []meter.Record
		reason  string
	}{
		{"too late", []livebill.RefundRequest{{Plan: "p1", Time: ts("2024-10-07T00:00:00+08:00")}}, nil, "6 days before"},
		{"gift used", []livebill.RefundRequest{{Plan: "p1", Time: ts("2024-10-03T12:00:00+08:00")}},
			[]meter.Record{rec("A", "trtc.av.audio", "2024-10-03T10:00:00+08:00", 1)}, "gift minutes were used"},
		{"once per account", []livebill.RefundRequest{
			{Plan: "p1", Time: ts("2024-10-03T12:00:00+08:00")},
			{Plan: "p2", Time: ts("2024-10-04T12:00:00+08:00")},
		}, nil, "already had its one 5-day refund"},
	}
	for _, c := range cases {
		in := base()
		in.Refunds, in.Records = c.refunds, c.records
		q := rate(t, in)
		if !hasNotice(q, livebill.NoticeRefundRefused, c.reason) {
			t.Errorf("%s: notices %+v, want refund_refused %q", c.name, q.Notices, c.reason)
		}
	}
	// the refusal itself is a coded conflict
	err := CheckRefund(&Instance{Purchase: base().Purchases[0], Plan: mustPlan(t, "rtc-engine.lite"), Start: d("2024-10-01"), End: d("2024-11-01")},
		ts("2024-10-07T00:00:00+08:00"), sh, false, nil)
	wantRefusal(t, err, "refunds within 5 days")
	// usage the same day but after the refund does not matter
	in = base()
	in.Refunds = []livebill.RefundRequest{{Plan: "p1", Time: ts("2024-10-03T09:00:00+08:00")}}
	in.Records = []meter.Record{rec("B", "trtc.av.audio", "2024-10-03T10:00:00+08:00", 1)}
	q = rate(t, in)
	if hasNotice(q, livebill.NoticeRefundRefused, "") {
		t.Errorf("refund refused: %+v", q.Notices)
	}
}

func mustPlan(t *testing.T, id string) *catalog.Plan {
	p, ok := trtc(t).Plan(id)
	if !ok {
		t.Fatalf("no plan %s", id)
	}
	return p
}

// MAU: Live standard (10,000) + Call 1v1 (5,000) on one app = 15,000
// (the seed's FAQ). 15,200 users → 200 over: trtc.mau is unpublished, so
// rating fails naming the item; with a price of 0.01 the line is 2.
func TestMAU(t *testing.T) {
	in := input(t, "2024-10-01", "2024-10-01", "2024-11-01")
	in.Purchases = []livebill.Purchase{
		{ID: "l", App: "A", Plan: "live.standard", Start: d("2024-10-01")},
		{ID: "c", App: "A", Plan: "call.1v1", Start: d("2024-10-01")},
	}
	in.MAU = map[string]map[string]int{"A": {"2024-10": 15200}, "B": {"2024-10": 50000}}
	_, err := Rate(in)
	if err == nil || livebill.ErrorCode(err) != livebill.EUNPUBLISHED || !strings.Contains(err.Error(), "trtc.mau") {
		t.Fatalf("want an unpublished error naming trtc.mau, got %v", err)
	}
	cat, err := catalog.Parse([]byte("extends: trtc\nitems: [{id: trtc.mau, price: \"0.01\"}]\n"), "override")
	if err != nil {
		t.Fatal(err)
	}
	in.Catalog = cat
	q := rate(t, in)
	wantUsage(t, q, "trtc.mau", "15200", "15000")
	// 199 + 599 + 200 × 0.01 = 800
	if q.Total != "800.00" {
		t.Errorf("total %s, want 800.00", q.Total)
	}

	// trial only: 150 > 100 → the trial stops, nothing billed
	in.Purchases = []livebill.Purchase{{ID: "t", App: "A", Plan: "call.trial", Start: d("2024-10-01"), AutoRenew: true}}
	in.MAU = map[string]map[string]int{"A": {"2024-10": 150}}
	q = rate(t, in)
	if !hasNotice(q, livebill.NoticeServiceStop, "trial allowance of 100") || q.Total != "0.00" {
		t.Errorf("trial MAU: total %s notices %+v", q.Total, q.Notices)
	}
}

// rtc-engine downgrades to the trial when a paid edition expires without
// renewal; from then on the app stops when packs fall short.
func TestDowngradeToTrial(t *testing.T) {
	in := input(t, "2023-01-01", "2024-10-01", "2024-12-01") // no free pack
	in.Purchases = []livebill.Purchase{{ID: "p", App: "A", Plan: "rtc-engine.lite", Start: d("2024-10-01")}}
	in.Records = []meter.Record{
		rec("A", "trtc.av.audio", "2024-10-20T10:00:00+08:00", 1), // gift
		rec("A", "trtc.av.audio", "2024-11-02T10:00:00+08:00", 1), // no pack, trial: stop
		rec("A", "trtc.av.audio", "2024-11-02T10:05:00+08:00", 1), // blocked
	}
	q := rate(t, in)
	if !hasNotice(q, NoticePlanDowngraded, "rtc-engine.trial") {
		t.Errorf("notices %+v: want plan_downgraded", q.Notices)
	}
	wantUsage(t, q, "trtc.av.audio", "2", "1")
	if !hasNotice(q, livebill.NoticeBlockedUsage, "") {
		t.Errorf("notices %+v: want usage_blocked", q.Notices)
	}
}

// A refund in a renewal period (bought Oct 31 with auto-renewal; renewed
// Nov 30 — anchor 31 clamped —, refunded Dec 2) stops the renewals: bills
// Oct 31 and Nov 30 (2 × 49.5), refund −49.5 on Dec 2, no Dec 31 renewal.
// Total 49.50.
func TestRefundOfRenewal(t *testing.T) {
	in := input(t, "2023-01-01", "2024-10-01", "2025-02-01")
	in.Purchases = []livebill.Purchase{{ID: "p", App: "A", Plan: "rtc-engine.lite", Start: d("2024-10-31"), AutoRenew: true}}
	in.Refunds = []livebill.RefundRequest{{Plan: "p", Time: ts("2024-12-02T10:00:00+08:00")}}
	q := rate(t, in)
	if q.Total != "49.50" {
		t.Errorf("total %s, want 49.50; bills %+v", q.Total, q.Bills)
	}
}
