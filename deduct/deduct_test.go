package deduct

import (
	"testing"
	"time"

	"github.com/livebill/livebill/money"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// at returns an instant on 2024-10-<day> in Shanghai.
func at(day, h, m int) time.Time { return time.Date(2024, 10, day, h, m, 0, 0, shanghai) }

func win(app, item string, day, h, m int, ms int64) Window {
	return Window{App: app, Item: item, Start: at(day, h, m).UnixMilli(), MS: ms}
}

var av = map[string]money.Decimal{
	"trtc.av.audio": money.MustParse("1"), "trtc.av.hd": money.MustParse("4"), "trtc.av.fhd": money.MustParse("9"),
	"trtc.av.2k": money.MustParse("16"), "trtc.av.4k": money.MustParse("36"),
}

var itemOrder = map[string]int{"trtc.av.audio": 0, "trtc.av.hd": 1, "trtc.av.fhd": 2, "trtc.av.2k": 3, "trtc.av.4k": 4}

func opts() Options {
	return Options{Location: shanghai, ItemOrder: func(id string) int { return itemOrder[id] }}
}

func free(minutes int64) Grant {
	return Grant{ID: "free", Kind: KindFree, Start: at(1, 0, 0), End: time.Date(2024, 11, 1, 0, 0, 0, 0, shanghai), Minutes: minutes, Ratios: av}
}

func run(t *testing.T, grants []Grant, usage []Window, o Options) *Result {
	t.Helper()
	res, err := Run(grants, usage, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantDec(t *testing.T, what string, got money.Decimal, want string) {
	t.Helper()
	if !got.Equal(money.MustParse(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func wantDed(t *testing.T, res *Result, app, day, item string, metered, covered, overage int64) {
	t.Helper()
	d, ok := res.Deduction(app, day, item)
	if !ok {
		t.Fatalf("no deduction for %s %s %s", app, day, item)
	}
	if d.Metered != metered || d.Covered != covered || d.Overage != overage {
		t.Errorf("%s %s %s: metered %d covered %d overage %d, want %d %d %d",
			app, day, item, d.Metered, d.Covered, d.Overage, metered, covered, overage)
	}
}

// The seed's FAQ table (套餐包扣除分钟数操作示例):
//
//	00:00–00:04:59  30 s  cumulative 30 s → 1 min billed  → deduct 1 (total 1)
//	00:05–00:09:59  20 s  cumulative 50 s → 1 min billed  → deduct 0 (total 1)
//	00:10–00:14:59  40 s  cumulative 90 s → 2 min billed  → deduct 1 (total 2)
func TestFAQTable(t *testing.T) {
	usage := []Window{
		win("A", "trtc.av.audio", 1, 0, 0, 30_000),
		win("A", "trtc.av.audio", 1, 0, 5, 20_000),
		win("A", "trtc.av.audio", 1, 0, 10, 40_000),
	}
	for n, want := range []string{"1", "1", "2"} {
		res := run(t, []Grant{free(10000)}, usage[:n+1], opts())
		wantDec(t, "used after window "+want, res.Pack("free").Used, want)
	}
	res := run(t, []Grant{free(10000)}, usage, opts())
	wantDed(t, res, "A", "2024-10-01", "trtc.av.audio", 2, 2, 0)
	wantDec(t, "remaining", res.Pack("free").Remaining(), "9998")
}

// One increment split over two packs: the free pack has 10 pack minutes
// left, HD costs 4 per minute: floor(10/4) = 2 minutes from the free pack
// (8 pack minutes, 2 stay), the other 3 of the 5-minute increment from the
// gift pack (3 × 4 = 12 pack minutes), no overage.
func TestIncrementSplitOverTwoPacks(t *testing.T) {
	gift := Grant{ID: "p1", Kind: KindGift, App: "A", Start: at(1, 0, 0), End: at(31, 0, 0), Minutes: 100, Ratios: av}
	res := run(t, []Grant{gift, free(10)}, []Window{win("A", "trtc.av.hd", 1, 10, 0, 5*60_000)}, opts())
	wantDed(t, res, "A", "2024-10-01", "trtc.av.hd", 5, 5, 0)
	wantDec(t, "free used", res.Pack("free").Used, "8")
	wantDec(t, "free remaining", res.Pack("free").Remaining(), "2")
	wantDec(t, "gift used", res.Pack("p1").Used, "12")
	wantDec(t, "gift remaining", res.Pack("p1").Remaining(), "88")
}

// A gift pack granted for a purchase at 15:00 is valid from 00:00 of that
// day: the 10:00 usage (3 min HD = 12 pack minutes) is covered once the
// free pack is empty (0 minutes), no overage.
func TestSameDayRetroactiveCover(t *testing.T) {
	gift := Grant{ID: "p1", Kind: KindGift, App: "A", Start: at(5, 0, 0), End: time.Date(2024, 11, 5, 0, 0, 0, 0, shanghai), Minutes: 50000, Ratios: av}
	res := run(t, []Grant{free(0), gift}, []Window{
		win("A", "trtc.av.hd", 4, 23, 55, 60_000), // the day before: not covered
		win("A", "trtc.av.hd", 5, 10, 0, 3*60_000),
	}, opts())
	wantDed(t, res, "A", "2024-10-04", "trtc.av.hd", 1, 0, 1)
	wantDed(t, res, "A", "2024-10-05", "trtc.av.hd", 3, 3, 0)
	wantDec(t, "gift used", res.Pack("p1").Used, "12")
	if !res.Pack("p1").UsedBefore(at(5, 15, 0)) {
		t.Error("gift should count as used before 15:00")
	}
}

// The free pack of October (1st to Nov 1st) has 10,000 minutes: 100 audio
// minutes on Oct 31 leave 9,900, which expire; usage on Nov 1 (no pack)
// is all overage.
func TestRemainderExpires(t *testing.T) {
	res := run(t, []Grant{free(10000)}, []Window{
		win("A", "trtc.av.audio", 31, 12, 0, 100*60_000),
		{App: "A", Item: "trtc.av.audio", Start: time.Date(2024, 11, 1, 0, 0, 0, 0, shanghai).UnixMilli(), MS: 60_000},
	}, opts())
	wantDed(t, res, "A", "2024-10-31", "trtc.av.audio", 100, 100, 0)
	wantDed(t, res, "A", "2024-11-01", "trtc.av.audio", 1, 0, 1)
	wantDec(t, "remaining", res.Pack("free").Remaining(), "9900")
}

// Pack order: free pack first, then app scope before account scope, then
// the earliest expiry, then the earliest grant. Five audio minutes, each
// pack holding 1 pack minute, are taken in that order.
func TestPackOrder(t *testing.T) {
	end := func(d int) time.Time { return time.Date(2024, 11, d, 0, 0, 0, 0, shanghai) }
	grants := []Grant{
		{ID: "acct-late", Kind: KindGift, Start: at(1, 0, 0), End: end(20), Minutes: 1, Ratios: av, Seq: 1},
		{ID: "acct-early", Kind: KindGift, Start: at(2, 0, 0), End: end(10), Minutes: 1, Ratios: av, Seq: 2},
		{ID: "app", Kind: KindGift, App: "A", Start: at(3, 0, 0), End: end(30), Minutes: 1, Ratios: av, Seq: 3},
		{ID: "other-app", Kind: KindGift, App: "B", Start: at(1, 0, 0), End: end(1), Minutes: 1, Ratios: av, Seq: 4},
		{ID: "free", Kind: KindFree, Start: at(1, 0, 0), End: end(1), Minutes: 1, Ratios: av, Seq: 0},
	}
	// one minute per window so the order shows in which pack is used
	var usage []Window
	for i := range 5 {
		usage = append(usage, win("A", "trtc.av.audio", 10, 10, 5*i, 60_000))
	}
	for n, id := range []string{"free", "app", "acct-early", "acct-late"} {
		res := run(t, grants, usage[:n+1], opts())
		if !res.Pack(id).Used.Equal(money.One) {
			t.Errorf("after %d minutes pack %s should be used", n+1, id)
		}
	}
	res := run(t, grants, usage, opts())
	wantDed(t, res, "A", "2024-10-10", "trtc.av.audio", 5, 4, 1)
	wantDec(t, "other app's pack", res.Pack("other-app").Used, "0")
}

// Within one window increments are taken in order app id, then item
// order: app A's HD minute (4 pack minutes) before app B's audio minute;
// a 4-minute pack covers A only.
func TestWindowOrder(t *testing.T) {
	res := run(t, []Grant{free(4)}, []Window{
		win("B", "trtc.av.audio", 1, 9, 0, 60_000),
		win("A", "trtc.av.fhd", 1, 9, 0, 60_000),
		win("A", "trtc.av.hd", 1, 9, 0, 60_000),
	}, opts())
	wantDed(t, res, "A", "2024-10-01", "trtc.av.hd", 1, 1, 0)
	wantDed(t, res, "A", "2024-10-01", "trtc.av.fhd", 1, 0, 1) // 9 > 0 left
	wantDed(t, res, "B", "2024-10-01", "trtc.av.audio", 1, 0, 1)
}

// Fractional ratios: 10 pack minutes at 6.1 per minute cover floor(10 /
// 6.1) = 1 minute and leave 3.9.
func TestFractionalRatio(t *testing.T) {
	g := free(10)
	g.Ratios = map[string]money.Decimal{"trtc.recording.hd": money.MustParse("6.1")}
	res := run(t, []Grant{g}, []Window{win("A", "trtc.recording.hd", 1, 9, 0, 2*60_000)}, opts())
	wantDed(t, res, "A", "2024-10-01", "trtc.recording.hd", 2, 1, 1)
	wantDec(t, "remaining", res.Pack("free").Remaining(), "3.9")
}

// Service stop: app A has no paid plan. 10 pack minutes; window 09:00 uses
// 6 audio minutes (covered), window 09:05 uses 6 more (4 covered, 2 short)
// → stop at 09:10, the 09:05 window billed (2 overage); the 09:10 and
// 10:00 windows are blocked. App B is unaffected.
func TestServiceStop(t *testing.T) {
	o := opts()
	o.Paid = func(string, int64) bool { return false }
	res := run(t, []Grant{free(10)}, []Window{
		win("A", "trtc.av.audio", 1, 9, 0, 6*60_000),
		win("A", "trtc.av.audio", 1, 9, 5, 6*60_000),
		win("A", "trtc.av.hd", 1, 9, 5, 60_000), // same window: billed
		win("A", "trtc.av.audio", 1, 9, 10, 3*60_000),
		win("A", "trtc.av.audio", 1, 10, 0, 60_000),
		win("B", "trtc.av.audio", 1, 11, 0, 60_000),
	}, o)
	wantDed(t, res, "A", "2024-10-01", "trtc.av.audio", 12, 10, 2)
	wantDed(t, res, "A", "2024-10-01", "trtc.av.hd", 1, 0, 1)
	wantDed(t, res, "B", "2024-10-01", "trtc.av.audio", 1, 0, 1)
	if len(res.Stops) != 2 {
		t.Fatalf("stops = %+v, want A and B", res.Stops)
	}
	s := res.Stops[0]
	if s.App != "A" || s.At != at(1, 9, 10).UnixMilli() || s.FirstBlocked != at(1, 9, 10).UnixMilli() || s.Blocked["trtc.av.audio"] != 4*60_000 {
		t.Errorf("stop = %+v", s)
	}
	if !res.Blocked("A", at(1, 10, 0).UnixMilli()) || res.Blocked("A", at(1, 9, 5).UnixMilli()) {
		t.Error("blocked windows wrong")
	}
}

// A paid plan means no stop; an item no pack could ever cover (relay-like
// items without a ratio) never stops the app.
func TestNoStop(t *testing.T) {
	o := opts()
	o.Paid = func(app string, _ int64) bool { return app == "A" }
	res := run(t, []Grant{free(0)}, []Window{
		win("A", "trtc.av.audio", 1, 9, 0, 60_000),
		win("B", "trtc.transcode.audio", 1, 9, 0, 60_000),
	}, o)
	if len(res.Stops) != 0 {
		t.Errorf("stops = %+v, want none", res.Stops)
	}
}

// A stopped app resumes when a paid plan is bought: windows from the stop
// to the purchase instant are blocked, later ones are deducted again.
func TestResume(t *testing.T) {
	o := opts()
	buy := at(2, 9, 0).UnixMilli()
	o.Paid = func(_ string, t int64) bool { return t >= at(2, 0, 0).UnixMilli() }
	o.Resume = func(string, int64) int64 { return buy }
	res := run(t, []Grant{free(1)}, []Window{
		win("A", "trtc.av.audio", 1, 9, 0, 2*60_000),
		win("A", "trtc.av.audio", 1, 9, 30, 60_000),
		win("A", "trtc.av.audio", 2, 8, 0, 60_000),
		win("A", "trtc.av.audio", 2, 9, 0, 60_000),
	}, o)
	wantDed(t, res, "A", "2024-10-01", "trtc.av.audio", 2, 1, 1)
	wantDed(t, res, "A", "2024-10-02", "trtc.av.audio", 1, 0, 1)
	if got := res.Stops[0].Blocked["trtc.av.audio"]; got != 2*60_000 {
		t.Errorf("blocked %d ms, want 120000", got)
	}
}

// A stopped app whose new pack is bought later than the pack's start
// (a plan's gift minutes are valid from 00:00 of the purchase day) runs
// again from the purchase, not from 00:00: the windows between are still
// blocked (docs/decisions.md, "Resuming").
func TestResumeAtPurchaseNotPackStart(t *testing.T) {
	o := opts()
	o.Paid = func(string, int64) bool { return false }
	gift := Grant{ID: "gift", Kind: KindGift, App: "A", Start: at(2, 0, 0), End: at(30, 0, 0), Bought: at(2, 9, 30), Minutes: 1000, Ratios: av, Seq: 1}
	res := run(t, []Grant{free(1), gift}, []Window{
		win("A", "trtc.av.audio", 1, 9, 0, 2*60_000), // 2 min, 1 covered: stop at 09:05
		win("A", "trtc.av.audio", 2, 8, 0, 60_000),   // blocked
		win("A", "trtc.av.audio", 2, 9, 30, 60_000),  // runs again: covered by the gift
	}, o)
	if len(res.Stops) != 1 || res.Stops[0].Resume != at(2, 9, 30).UnixMilli() {
		t.Fatalf("stops %+v, want one resumed at day 2 09:30", res.Stops)
	}
	wantDed(t, res, "A", "2024-10-02", "trtc.av.audio", 1, 1, 0)
}

func TestInvalidGrant(t *testing.T) {
	g := free(10)
	g.Ratios = map[string]money.Decimal{"x": money.Zero}
	if _, err := Run([]Grant{g}, nil, opts()); err == nil {
		t.Error("a zero ratio must be refused")
	}
	if _, err := Run([]Grant{free(-1)}, nil, opts()); err == nil {
		t.Error("negative minutes must be refused")
	}
	if _, err := Run(nil, []Window{{App: "A", Item: "x", MS: -1}}, opts()); err == nil {
		t.Error("negative usage must be refused")
	}
}

// A pack whose balance ÷ ratio does not fit in int64 (a ratio finer than
// the fixed-point millionths, so the decimal path) still covers the whole
// increment: 10 minutes against 9.2e18 minutes at 1e-8 per minute (the
// quotient, 9.2e26, once wrapped to a negative count and covered nothing).
func TestHugeQuotientCoversIncrement(t *testing.T) {
	g := free(1<<63 - 1)
	g.Ratios = map[string]money.Decimal{"trtc.av.audio": money.MustParse("0.00000001")}
	res := run(t, []Grant{g}, []Window{win("a", "trtc.av.audio", 1, 10, 0, 10*60000)}, opts())
	wantDed(t, res, "a", "2024-10-01", "trtc.av.audio", 10, 10, 0)
}
