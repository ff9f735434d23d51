package rating

// Cloud gaming, industrial licences, HST and FlexMatch (SPEC §5). Every
// expected number is computed by hand in the comment next to it, from the
// rules and the seeds' price tables — never copied from program output.

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
)

var shanghai = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func cat(t *testing.T, name string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func day(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func dec(s string) money.Decimal { return money.MustParse(s) }

func eqDec(t *testing.T, what string, got money.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Errorf("%s: got %s, want %s", what, got, want)
	}
}

// run meters events (if any) and rates them.
func run(t *testing.T, in Input, events ...livebill.Event) *livebill.Quote {
	t.Helper()
	q, err := tryRun(in, events...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func tryRun(in Input, events ...livebill.Event) (*livebill.Quote, error) {
	loc := in.Location
	if loc == nil {
		loc = in.Catalog.Location()
	}
	m, err := meter.New(in.Catalog, meter.Options{Location: loc})
	if err != nil {
		return nil, err
	}
	// Events are applied in time order (a re-rated month mixes late events
	// into the ones already seen); equal times keep their order.
	sorted := append([]livebill.Event(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time < sorted[j].Time })
	for i := range sorted {
		e := sorted[i]
		e.Line = i + 1
		m.Apply(&e)
	}
	m.Close(in.To.UnixMilli())
	if errs := m.Errors(); len(errs) > 0 {
		return nil, errs[0]
	}
	in.Records, in.Relays, in.MAU, in.Notices = m.Records(), m.Relays(), m.MAU(), m.Notices()
	return Rate(in)
}

func line(t *testing.T, q *livebill.Quote, item string) livebill.Line {
	t.Helper()
	for _, l := range q.Lines {
		if l.Item == item {
			return l
		}
	}
	t.Fatalf("no line %s in %+v", item, q.Lines)
	return livebill.Line{}
}

func noLine(t *testing.T, q *livebill.Quote, item string) {
	t.Helper()
	for _, l := range q.Lines {
		if l.Item == item {
			t.Errorf("unexpected line %s: %+v", item, l)
		}
	}
}

func expectLine(t *testing.T, q *livebill.Quote, item, quantity, amount string) {
	t.Helper()
	l := line(t, q, item)
	eqDec(t, item+" quantity", dec(l.Quantity), quantity)
	eqDec(t, item+" amount", dec(l.Amount), amount)
}

func expectTotal(t *testing.T, q *livebill.Quote, want string) {
	t.Helper()
	eqDec(t, "total", dec(q.Total), want)
}

func expectErr(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	if got := livebill.ErrorCode(err); got != code {
		t.Errorf("error code %s, want %s (%v)", got, code, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %q", err, p)
		}
	}
}

// ---------------------------------------------------------------- cloud gaming

// The seed's refund tables (元/小时) and monthly prices (元/并发), typed
// from seed 000, must be what the catalog holds.
func TestCloudGamingCatalogMatchesSeed(t *testing.T) {
	c := cat(t, "cloudgaming")
	want := map[string][2]string{
		"cloudgaming.desktop.s1.standard": {"897", "2.98"},
		"cloudgaming.desktop.s1.hd":       {"998", "3.48"},
		"cloudgaming.desktop.s1.uhd":      {"1198", "3.98"},
		"cloudgaming.desktop.m1.standard": {"1427", "4.48"},
		"cloudgaming.desktop.m1.hd":       {"1548", "4.98"},
		"cloudgaming.desktop.m1.uhd":      {"1698", "5.48"},
		"cloudgaming.desktop.l1.standard": {"2288", "7.98"},
		"cloudgaming.desktop.l1.hd":       {"2488", "8.48"},
		"cloudgaming.desktop.l1.uhd":      {"2688", "8.98"},
		"cloudgaming.mobile.ms1.hd":       {"440", "1.83"},
		"cloudgaming.mobile.ms1.uhd":      {"590", "2.458"},
		"cloudgaming.mobile.mm1.hd":       {"503", "2.096"},
		"cloudgaming.mobile.mm1.uhd":      {"653", "2.72"},
		"cloudgaming.mobile.mp1.hd":       {"630", "2.625"},
		"cloudgaming.mobile.mp1.uhd":      {"780", "3.25"},
		"cloudgaming.mobile.ml1.hd":       {"1008", "4.2"},
		"cloudgaming.mobile.ml1.uhd":      {"1158", "4.825"},
	}
	for id, pr := range want {
		p, ok := c.Plan(id)
		if !ok {
			t.Errorf("missing plan %s", id)
			continue
		}
		eqDec(t, id+" price", p.PriceValue(), pr[0])
		h, ok := p.HourlyRefundValue()
		if !ok {
			t.Errorf("%s: no hourly refund rate", id)
		}
		eqDec(t, id+" hourly", h, pr[1])
	}
	lp, ok := c.Plan("cloudgaming.live_push")
	if !ok {
		t.Fatal("missing plan cloudgaming.live_push")
	}
	eqDec(t, "live push price", lp.PriceValue(), "498")
	if _, ok := lp.HourlyRefundValue(); ok {
		t.Error("live push has no refund table in the seed")
	}
}

// Refund per unit = max(0, price − ceil(hours since the period start) × rate).
func TestRefundPerUnitRounding(t *testing.T) {
	start := day(2024, 10, 1, shanghai)
	h := func(n int64) time.Time { return start.Add(time.Duration(n) * time.Hour) }
	cases := []struct {
		name          string
		price, hourly string
		at            time.Time
		want          string
	}{
		// 100 h exactly: 897 − 100 × 2.98 = 897 − 298 = 599 (seed example).
		{"S1 standard 100h", "897", "2.98", h(100), "599"},
		// 100 h 1 ms: a started hour counts → 101 h: 897 − 300.98 = 596.02.
		{"S1 standard 100h1ms", "897", "2.98", h(100).Add(time.Millisecond), "596.02"},
		// 99 h 59 min 59.999 s → 100 h → 599.
		{"S1 standard just under 100h", "897", "2.98", h(100).Add(-time.Millisecond), "599"},
		// At the start instant: 0 h used → everything back.
		{"at start", "897", "2.98", start, "897"},
		// 1 ms in → 1 h: 897 − 2.98 = 894.02.
		{"1ms", "897", "2.98", start.Add(time.Millisecond), "894.02"},
		// 301 h: 301 × 2.98 = 896.98 → 0.02 left.
		{"301h", "897", "2.98", h(301), "0.02"},
		// 302 h: 302 × 2.98 = 899.96 > 897 → never negative: 0.
		{"302h never negative", "897", "2.98", h(302), "0"},
		// A whole 31-day month: 744 × 2.98 = 2217.12 > 897 → 0.
		{"whole month", "897", "2.98", h(744), "0"},
		// MS1 UHD (mobile): 590 − 100 × 2.458 = 590 − 245.8 = 344.2.
		{"MS1 UHD 100h", "590", "2.458", h(100), "344.2"},
		// MS1 UHD 240 h: 240 × 2.458 = 589.92 → 0.08.
		{"MS1 UHD 240h", "590", "2.458", h(240), "0.08"},
		// MS1 UHD 241 h: 592.378 > 590 → 0.
		{"MS1 UHD 241h", "590", "2.458", h(241), "0"},
		// MM1 HD 60.5 h → 61 h: 503 − 61 × 2.096 = 503 − 127.856 = 375.144.
		{"MM1 HD 60.5h", "503", "2.096", h(60).Add(30 * time.Minute), "375.144"},
		// ML1 UHD 10 h: 1158 − 48.25 = 1109.75.
		{"ML1 UHD 10h", "1158", "4.825", h(10), "1109.75"},
	}
	for _, c := range cases {
		eqDec(t, c.name, RefundPerUnit(dec(c.price), dec(c.hourly), start, c.at), c.want)
	}
}

func cgInput(t *testing.T, from, to time.Time, ps []livebill.Purchase, rfs []livebill.RefundRequest) Input {
	return Input{Catalog: cat(t, "cloudgaming"), Location: shanghai, From: from, To: to,
		Account: livebill.Account{ID: "arcade", Created: day(2024, 1, 1, shanghai)}, Purchases: ps, Refunds: rfs}
}

// Three MS1 UHD concurrencies bought 2024-10-01; one returned on
// 2024-10-03 12:30 (+08:00), 60.5 h after 00:00 on the 1st → 61 h.
//
//	purchase: 3 × 590 = 1770
//	refund:   590 − 61 × 2.458 = 590 − 149.938 = 440.062 → bill −440.06
//	total:    1770.00 − 440.06 = 1329.94
func TestCloudGamingMobileRefundLine(t *testing.T) {
	in := cgInput(t, day(2024, 10, 1, shanghai), day(2024, 11, 1, shanghai),
		[]livebill.Purchase{{ID: "m", Plan: "cloudgaming.mobile.ms1.uhd", Count: 3, Region: "ap-guangzhou", Start: day(2024, 10, 1, shanghai)}},
		[]livebill.RefundRequest{{Plan: "m", Count: 1, Time: time.Date(2024, 10, 3, 12, 30, 0, 0, shanghai)}})
	q := run(t, in)
	expectLine(t, q, "cloudgaming.mobile.ms1.uhd", "3", "1770")
	expectLine(t, q, "cloudgaming.mobile.ms1.uhd.refund", "1", "-440.062")
	expectTotal(t, q, "1329.94")
}

// A refund line is never positive (never charges): S1 standard returned
// after 20 days (480 h × 2.98 = 1430.4 > 897) refunds 0.
func TestCloudGamingRefundNeverNegative(t *testing.T) {
	in := cgInput(t, day(2024, 10, 1, shanghai), day(2024, 11, 1, shanghai),
		[]livebill.Purchase{{ID: "p", Plan: "cloudgaming.desktop.s1.standard", Count: 1, Start: day(2024, 10, 1, shanghai)}},
		[]livebill.RefundRequest{{Plan: "p", Count: 1, Time: day(2024, 10, 21, shanghai)}})
	q := run(t, in)
	expectLine(t, q, "cloudgaming.desktop.s1.standard.refund", "1", "0")
	expectTotal(t, q, "897")
}

func TestCloudGamingRefundErrors(t *testing.T) {
	oct1 := day(2024, 10, 1, shanghai)
	pool := []livebill.Purchase{{ID: "s1-pool", Plan: "cloudgaming.desktop.s1.standard", Count: 10, Start: oct1},
		{ID: "push", Plan: "cloudgaming.live_push", Count: 2, Start: oct1}}
	try := func(rfs ...livebill.RefundRequest) error {
		_, err := tryRun(cgInput(t, oct1, day(2024, 11, 1, shanghai), pool, rfs))
		return err
	}
	// More than bought in one request: 11 of 10.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Count: 11, Time: day(2024, 10, 5, shanghai)}),
		livebill.EINVALID, "s1-pool", "cloudgaming.desktop.s1.standard", "11", "10 units held")
	// More than held over two requests: 6, then 5 of the 4 left.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Count: 6, Time: day(2024, 10, 5, shanghai)},
		livebill.RefundRequest{Plan: "s1-pool", Count: 5, Time: day(2024, 10, 6, shanghai)}),
		livebill.EINVALID, "s1-pool", "count 5", "4 units held")
	// Unknown purchase id.
	expectErr(t, try(livebill.RefundRequest{Plan: "s2-pool", Count: 1, Time: day(2024, 10, 5, shanghai)}),
		livebill.ENOTFOUND, `"s2-pool"`, "push, s1-pool")
	// Before the purchase's period.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Count: 1, Time: day(2024, 9, 30, shanghai)}),
		livebill.ECONFLICT, "s1-pool", "not running")
	// After the (non-renewing) period: it ends 2024-11-01 00:00.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Count: 1, Time: day(2024, 11, 1, shanghai)}),
		livebill.ECONFLICT, "s1-pool", "not running")
	// Live push has no refund table.
	expectErr(t, try(livebill.RefundRequest{Plan: "push", Count: 1, Time: day(2024, 10, 5, shanghai)}),
		livebill.ECONFLICT, "push", "cloudgaming.live_push", "not refundable")
	// Negative count.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Count: -1, Time: day(2024, 10, 5, shanghai)}),
		livebill.EINVALID, "s1-pool", "negative")
	// Everything returned, then once more.
	expectErr(t, try(livebill.RefundRequest{Plan: "s1-pool", Time: day(2024, 10, 5, shanghai)},
		livebill.RefundRequest{Plan: "s1-pool", Count: 1, Time: day(2024, 10, 6, shanghai)}),
		livebill.EINVALID, "s1-pool", "already returned")
}

// A refund without a count returns every unit held: 10 × 599 (100 h).
func TestCloudGamingRefundAll(t *testing.T) {
	oct1 := day(2024, 10, 1, shanghai)
	in := cgInput(t, oct1, day(2024, 11, 1, shanghai),
		[]livebill.Purchase{{ID: "p", Plan: "cloudgaming.desktop.s1.standard", Count: 10, Start: oct1}},
		[]livebill.RefundRequest{{Plan: "p", Time: oct1.Add(100 * time.Hour)}})
	q := run(t, in)
	// 8970 − 10 × 599 = 8970 − 5990 = 2980
	expectLine(t, q, "cloudgaming.desktop.s1.standard.refund", "10", "-5990")
	expectTotal(t, q, "2980")
}

// An auto-renewing S1 HD concurrency bought 2024-01-31 renews on the
// anchor day, clamped: Jan 31 → Feb 29 (2024 is a leap year) → Mar 31 →
// Apr 30. Period Jan 1 – May 1: 4 purchase bills of 998 = 3992.
func TestCloudGamingRenewalAnchorDay(t *testing.T) {
	in := cgInput(t, day(2024, 1, 1, shanghai), day(2024, 5, 1, shanghai),
		[]livebill.Purchase{{ID: "p", Plan: "cloudgaming.desktop.s1.hd", Count: 1, Start: day(2024, 1, 31, shanghai), AutoRenew: true}}, nil)
	q := run(t, in)
	expectLine(t, q, "cloudgaming.desktop.s1.hd", "4", "3992")
	var dates []string
	for _, b := range q.Bills {
		if b.Kind == livebill.BillPurchase {
			dates = append(dates, b.Date)
		}
	}
	if got, want := strings.Join(dates, " "), "2024-01-31 2024-02-29 2024-03-31 2024-04-30"; got != want {
		t.Errorf("purchase bill dates %q, want %q", got, want)
	}
	expectTotal(t, q, "3992")
}

// Two auto-renewing S1 HD concurrencies from 2024-01-31; one returned on
// 2024-02-10 00:00, 10 days = 240 h into the first period:
//
//	refund 998 − 240 × 3.48 = 998 − 835.2 = 162.8
//	renewals renew only the unit kept: Jan 31: 2 × 998; Feb 29: 1; Mar 31: 1
//	lines: 4 units, 3992; refund −162.8; total 3992 − 162.8 = 3829.20
func TestCloudGamingRefundReducesRenewals(t *testing.T) {
	in := cgInput(t, day(2024, 1, 1, shanghai), day(2024, 4, 1, shanghai),
		[]livebill.Purchase{{ID: "p", Plan: "cloudgaming.desktop.s1.hd", Count: 2, Start: day(2024, 1, 31, shanghai), AutoRenew: true}},
		[]livebill.RefundRequest{{Plan: "p", Count: 1, Time: day(2024, 2, 10, shanghai)}})
	q := run(t, in)
	expectLine(t, q, "cloudgaming.desktop.s1.hd", "4", "3992")
	expectLine(t, q, "cloudgaming.desktop.s1.hd.refund", "1", "-162.8")
	expectTotal(t, q, "3829.20")
}

// A refund in a renewal period counts hours from the renewal's start:
// renewed 2024-02-29 00:00, returned 2024-03-01 01:00 → 25 h:
// 998 − 25 × 3.48 = 998 − 87 = 911. Nothing is left, so no renewal on
// Mar 31. Period Feb 1 – May 1: one purchase (Feb 29) 998 − 911 = 87.
func TestCloudGamingRefundInRenewal(t *testing.T) {
	in := cgInput(t, day(2024, 2, 1, shanghai), day(2024, 5, 1, shanghai),
		[]livebill.Purchase{{ID: "p", Plan: "cloudgaming.desktop.s1.hd", Count: 1, Start: day(2024, 1, 31, shanghai), AutoRenew: true}},
		[]livebill.RefundRequest{{Plan: "p", Count: 1, Time: time.Date(2024, 3, 1, 1, 0, 0, 0, shanghai)}})
	q := run(t, in)
	expectLine(t, q, "cloudgaming.desktop.s1.hd", "1", "998")
	expectLine(t, q, "cloudgaming.desktop.s1.hd.refund", "1", "-911")
	expectTotal(t, q, "87")
}

// Live push: 498 per concurrency per month. 3 auto-renewing from Oct 1
// plus 2 for one month from Oct 20; period Oct 1 – Dec 1:
//
//	Oct 1: 3 × 498 = 1494; Oct 20: 2 × 498 = 996; Nov 1: 3 × 498 = 1494
//	line: 8 concurrencies, 3984
func TestLivePushLinesAndConcurrency(t *testing.T) {
	ps := []livebill.Purchase{
		{ID: "push-a", Plan: "cloudgaming.live_push", Count: 3, Start: day(2024, 10, 1, shanghai), AutoRenew: true},
		{ID: "push-b", Plan: "cloudgaming.live_push", Count: 2, Start: time.Date(2024, 10, 20, 15, 0, 0, 0, shanghai)},
	}
	in := cgInput(t, day(2024, 10, 1, shanghai), day(2024, 12, 1, shanghai), ps, nil)
	q := run(t, in)
	l := line(t, q, "cloudgaming.live_push")
	eqDec(t, "quantity", dec(l.Quantity), "8")
	eqDec(t, "amount", dec(l.Amount), "3984")
	eqDec(t, "unit price", dec(l.UnitPrice), "498")
	if l.Unit != "concurrency" {
		t.Errorf("unit %q, want concurrency", l.Unit)
	}
	expectTotal(t, q, "3984")

	c := in.Catalog
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{day(2024, 9, 30, shanghai), 0},                      // before any purchase
		{day(2024, 10, 15, shanghai), 3},                     // push-a only
		{time.Date(2024, 10, 20, 9, 0, 0, 0, shanghai), 5},   // push-b's period starts 00:00 of its day
		{time.Date(2024, 11, 19, 23, 59, 0, 0, shanghai), 5}, // push-b still valid
		{day(2024, 11, 20, shanghai), 3},                     // push-b ended (not renewing), push-a renewed Nov 1
		{day(2025, 3, 1, shanghai), 3},                       // push-a keeps renewing
	} {
		n, err := Concurrency(c, shanghai, ps, nil, "cloudgaming.live_push", tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if n != tc.want {
			t.Errorf("concurrency at %s: %d, want %d", tc.at, n, tc.want)
		}
	}
	// Returned units leave the count from the refund's instant: 10 S1
	// bought Oct 1, 4 returned Oct 5 04:00.
	s1 := []livebill.Purchase{{ID: "s1", Plan: "cloudgaming.desktop.s1.standard", Count: 10, Start: day(2024, 10, 1, shanghai)}}
	rf := []livebill.RefundRequest{{Plan: "s1", Count: 4, Time: time.Date(2024, 10, 5, 4, 0, 0, 0, shanghai)}}
	for at, want := range map[time.Time]int{
		time.Date(2024, 10, 5, 3, 59, 0, 0, shanghai): 10,
		time.Date(2024, 10, 5, 4, 0, 0, 0, shanghai):  6,
		day(2024, 11, 1, shanghai):                    0,
	} {
		n, err := Concurrency(c, shanghai, s1, rf, "cloudgaming.desktop.s1.standard", at)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("s1 at %s: %d, want %d", at, n, want)
		}
	}
}

// ---------------------------------------------------------------- industrial

// licences = max(1, round_half_up(Σ areas / 921,600)).
func TestLicencesForBoundaries(t *testing.T) {
	sz := func(w, h int) livebill.Size { return livebill.Size{Width: w, Height: h} }
	cases := []struct {
		name string
		cams []livebill.Size
		want int
	}{
		// Seed 001: 921,600 + 2 × 307,200 = 1,536,000 → 1.67 → 2.
		{"seed example", []livebill.Size{sz(1280, 720), sz(640, 480), sz(640, 480)}, 2},
		// 921,600 + 640×720 (460,800) = 1,382,400 → exactly 1.5 → up → 2.
		{"exactly 1.5", []livebill.Size{sz(1280, 720), sz(640, 720)}, 2},
		// 921,600 + 460,799 = 1,382,399 → 1.4999989 → down → 1.
		{"just below 1.5", []livebill.Size{sz(1280, 720), sz(460799, 1)}, 1},
		// 2 × 921,600 + 460,800 = 2,304,000 → exactly 2.5 → 3.
		{"exactly 2.5", []livebill.Size{sz(1280, 720), sz(1280, 720), sz(640, 720)}, 3},
		// 2,303,999 → 2.4999989 → 2.
		{"just below 2.5", []livebill.Size{sz(1280, 720), sz(1280, 720), sz(460799, 1)}, 2},
		// 460,800 → exactly 0.5 → 1.
		{"exactly 0.5", []livebill.Size{sz(640, 720)}, 1},
		// 320×240 = 76,800 → 0.083 → 0 → at least 1.
		{"tiny", []livebill.Size{sz(320, 240)}, 1},
		// 1×1 → at least 1.
		{"one pixel", []livebill.Size{sz(1, 1)}, 1},
		// 1280×720 → exactly 1.
		{"720p", []livebill.Size{sz(1280, 720)}, 1},
		// 3840×2160 = 8,294,400 = 9 × 921,600 → 9.
		{"4k", []livebill.Size{sz(3840, 2160)}, 9},
		// 1920×1080 = 2,073,600 → 2.25 → 2.
		{"1080p", []livebill.Size{sz(1920, 1080)}, 2},
	}
	for _, c := range cases {
		if got := LicencesFor(c.cams, 921600); got != c.want {
			t.Errorf("%s: %d licences, want %d", c.name, got, c.want)
		}
	}
}

var truck = livebill.Device{ID: "truck-7", Cameras: []livebill.Size{{Width: 1280, Height: 720}, {Width: 640, Height: 480}, {Width: 640, Height: 480}}}

func indInput(t *testing.T, from, to time.Time, ps []livebill.Purchase) Input {
	return Input{Catalog: cat(t, "industrial"), Location: shanghai, From: from, To: to,
		Account: livebill.Account{ID: "mine-co", Created: day(2023, 6, 1, shanghai)}, Purchases: ps, Devices: []livebill.Device{truck}}
}

// A given count overrides the derived one: 5 licences (derived would be 2)
// → 5 × 3600 = 18000.
func TestIndustrialCountOverride(t *testing.T) {
	q := run(t, indInput(t, day(2024, 1, 1, shanghai), day(2025, 1, 1, shanghai),
		[]livebill.Purchase{{ID: "lic", Plan: "industrial.license", Device: "truck-7", Count: 5, Start: day(2024, 3, 10, shanghai)}}))
	expectLine(t, q, "industrial.license", "5", "18000")
	expectTotal(t, q, "18000")
}

// Yearly period and renewal: derived 2 licences bought 2024-02-29,
// auto-renewing. The anchor day is kept: 2024-02-29 → 2025-02-28 →
// 2026-02-28 → 2027-02-28 → 2028-02-29. Period 2024-01-01 – 2026-01-01:
// bills 2024-02-29 and 2025-02-28, 2 × 3600 each → 4 licences, 14400.
func TestIndustrialYearlyRenewal(t *testing.T) {
	q := run(t, indInput(t, day(2024, 1, 1, shanghai), day(2026, 1, 1, shanghai),
		[]livebill.Purchase{{ID: "lic", Plan: "industrial.license", Device: "truck-7", Start: day(2024, 2, 29, shanghai), AutoRenew: true}}))
	expectLine(t, q, "industrial.license", "4", "14400")
	var dates []string
	for _, b := range q.Bills {
		dates = append(dates, b.Kind+" "+b.Date+" "+b.Total)
	}
	if got, want := strings.Join(dates, ", "), "purchase 2024-02-29 7200.00, purchase 2025-02-28 7200.00"; got != want {
		t.Errorf("bills %q, want %q", got, want)
	}
	start := day(2024, 2, 29, shanghai)
	for n, want := range map[int]time.Time{1: day(2025, 2, 28, shanghai), 2: day(2026, 2, 28, shanghai), 4: day(2028, 2, 29, shanghai)} {
		if got := AddPeriod(start, 0, 1, 0, n); !got.Equal(want) {
			t.Errorf("%d years after 2024-02-29: %s, want %s", n, got, want)
		}
	}
}

func TestIndustrialLicenceNeedsDeviceAndIsNotRefundable(t *testing.T) {
	_, err := tryRun(indInput(t, day(2024, 1, 1, shanghai), day(2025, 1, 1, shanghai),
		[]livebill.Purchase{{ID: "lic", Plan: "industrial.license", Start: day(2024, 1, 1, shanghai)}}))
	expectErr(t, err, livebill.EINVALID, "lic", "device")
	_, err = tryRun(indInput(t, day(2024, 1, 1, shanghai), day(2025, 1, 1, shanghai),
		[]livebill.Purchase{{ID: "lic", Plan: "industrial.license", Device: "crane-1", Start: day(2024, 1, 1, shanghai)}}))
	expectErr(t, err, livebill.ENOTFOUND, "lic", "crane-1")
	in := indInput(t, day(2024, 1, 1, shanghai), day(2025, 1, 1, shanghai),
		[]livebill.Purchase{{ID: "lic", Plan: "industrial.license", Device: "truck-7", Start: day(2024, 1, 1, shanghai)}})
	in.Refunds = []livebill.RefundRequest{{Plan: "lic", Count: 1, Time: day(2024, 1, 2, shanghai)}}
	_, err = tryRun(in)
	expectErr(t, err, livebill.ECONFLICT, "lic", "industrial.license", "not refundable")
}

// Expiry reduces a device's valid licences:
//
//	lic-1: derived 2 (1.67 → 2), bought 2024-01-01, valid until 2025-01-01 00:00
//	lic-2: 1, bought 2024-06-15 14:00, valid from 2024-06-15 00:00 to 2025-06-15 00:00
//	other: 4 for another device (never counted for truck-7)
func TestDeviceLicencesExpiry(t *testing.T) {
	c := cat(t, "industrial")
	crane := livebill.Device{ID: "crane-1", Cameras: []livebill.Size{{Width: 1920, Height: 1080}}}
	devs := []livebill.Device{truck, crane}
	ps := []livebill.Purchase{
		{ID: "lic-1", Plan: "industrial.license", Device: "truck-7", Start: day(2024, 1, 1, shanghai)},
		{ID: "lic-2", Plan: "industrial.license", Device: "truck-7", Count: 1, Start: time.Date(2024, 6, 15, 14, 0, 0, 0, shanghai)},
		{ID: "other", Plan: "industrial.license", Device: "crane-1", Count: 4, Start: day(2024, 1, 1, shanghai)},
	}
	cases := []struct {
		name     string
		at       time.Time
		licences int
		maxArea  int64
		expiry   time.Time
	}{
		{"before any", day(2023, 12, 31, shanghai), 0, 0, time.Time{}},
		// 2 licences × 921,600 = 1,843,200 px.
		{"lic-1 only", day(2024, 3, 1, shanghai), 2, 1843200, day(2025, 1, 1, shanghai)},
		// 3 × 921,600 = 2,764,800; next expiry is lic-1's.
		{"both", time.Date(2024, 6, 15, 8, 0, 0, 0, shanghai), 3, 2764800, day(2025, 1, 1, shanghai)},
		{"last ms of lic-1", day(2025, 1, 1, shanghai).Add(-time.Millisecond), 3, 2764800, day(2025, 1, 1, shanghai)},
		// lic-1 expired at 2025-01-01 00:00 (half-open period): 1 × 921,600.
		{"lic-1 expired", day(2025, 1, 1, shanghai), 1, 921600, day(2025, 6, 15, shanghai)},
		// everything expired → 0 → no service.
		{"all expired", day(2025, 6, 15, shanghai), 0, 0, time.Time{}},
	}
	for _, tc := range cases {
		st, err := DeviceLicences(c, shanghai, ps, devs, "truck-7", tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if st.Licences != tc.licences || st.MaxArea != tc.maxArea || !st.NextExpiry.Equal(tc.expiry) {
			t.Errorf("%s: got %d licences, %d px, expiry %s; want %d, %d, %s", tc.name, st.Licences, st.MaxArea, st.NextExpiry, tc.licences, tc.maxArea, tc.expiry)
		}
	}
	// The truck's cameras push 1,536,000 px: served with 2 or 3 licences
	// (1,843,200 px), not with 1 (921,600 px), never with 0.
	st, _ := DeviceLicences(c, shanghai, ps, devs, "truck-7", day(2024, 7, 1, shanghai))
	if !st.Serves(1536000) {
		t.Error("3 licences should serve 1,536,000 px")
	}
	st, _ = DeviceLicences(c, shanghai, ps, devs, "truck-7", day(2025, 2, 1, shanghai))
	if st.Serves(1536000) || !st.Serves(921600) || st.Serves(921601) {
		t.Errorf("1 licence serves up to 921,600 px exactly: %+v", st)
	}
	st, _ = DeviceLicences(c, shanghai, ps, devs, "truck-7", day(2026, 1, 1, shanghai))
	if st.Serves(1) || st.Serves(0) {
		t.Error("0 licences: no service at all")
	}
	// Renewal keeps them: lic-1 auto-renewing is valid on 2025-01-01 again.
	ps[0].AutoRenew = true
	st, _ = DeviceLicences(c, shanghai, ps, devs, "truck-7", day(2025, 1, 1, shanghai))
	if st.Licences != 3 || st.MaxArea != 2764800 {
		t.Errorf("renewed: %+v, want 3 licences, 2,764,800 px", st)
	}
	// crane-1 has its own 4 (given count, derived would be 2).
	st, _ = DeviceLicences(c, shanghai, ps, devs, "crane-1", day(2024, 7, 1, shanghai))
	if st.Licences != 4 || st.MaxArea != 3686400 {
		t.Errorf("crane: %+v, want 4 licences, 3,686,400 px", st)
	}
	_, err := DeviceLicences(c, shanghai, ps, devs, "forklift", day(2024, 7, 1, shanghai))
	expectErr(t, err, livebill.ENOTFOUND, "forklift")
}

// ---------------------------------------------------------------- FlexMatch

func fmEvents(at time.Time, players, evals, durUS int64) []livebill.Event {
	var out []livebill.Event
	if players > 0 {
		out = append(out, livebill.Event{Type: livebill.MatchmakingRequest, Time: at.UnixMilli(), App: "game", Players: players})
	}
	if evals > 0 {
		out = append(out, livebill.Event{Type: livebill.MatchmakingEvaluation, Time: at.UnixMilli(), App: "game", DurationUS: durUS, Count: evals})
	}
	return out
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

// Free tier boundary, account created 2024-03-15 (UTC, FlexMatch's zone).
// Decision (docs/decisions.md): the free tier runs date to date,
// [2024-03-15 00:00, 2025-03-15 00:00); each calendar month's allowance
// (50,000 packs, 5 h) covers only that month's usage inside the window.
// Every month below has 60,000 packs and 7 h (7 × 3.6e9 µs).
//
//	2024-03 (creation month, from the 15th): 10,000 packs, 2 h billable
//	2025-02 (last whole month):              10,000 packs, 2 h
//	2025-03: usage on the 10th (30,000 packs, 3 h) is inside the window,
//	         usage on the 20th (30,000 packs, 4 h) is not:
//	         free = min(allowance, inside) = 30,000 packs, 3 h
//	         billable 30,000 packs, 4 h
//	2025-04: nothing free: 60,000 packs, 7 h
//
// Packs cost 20 per million: 10,000 → 0.2; 30,000 → 0.6; 60,000 → 1.2.
// Hours cost 1 each.
func TestFlexMatchFreeTierBoundaryMonth(t *testing.T) {
	c := cat(t, "flexmatch")
	hour := int64(3_600_000_000)
	created := day(2024, 3, 15, time.UTC)
	month := func(from, to time.Time, evs ...[]livebill.Event) *livebill.Quote {
		var all []livebill.Event
		for _, e := range evs {
			all = append(all, e...)
		}
		return run(t, Input{Catalog: c, From: from, To: to, Account: livebill.Account{ID: "studio", Created: created}}, all...)
	}
	q := month(day(2024, 3, 1, time.UTC), day(2024, 4, 1, time.UTC), fmEvents(utc(2024, 3, 20, 0, 0), 60000, 7, hour))
	expectLine(t, q, "flexmatch.player_packs", "10000", "0.2")
	expectLine(t, q, "flexmatch.matchmaking_hours", "2", "2")
	expectTotal(t, q, "2.20")

	q = month(day(2025, 2, 1, time.UTC), day(2025, 3, 1, time.UTC), fmEvents(utc(2025, 2, 27, 12, 0), 60000, 7, hour))
	expectLine(t, q, "flexmatch.player_packs", "10000", "0.2")
	expectLine(t, q, "flexmatch.matchmaking_hours", "2", "2")

	q = month(day(2025, 3, 1, time.UTC), day(2025, 4, 1, time.UTC),
		fmEvents(utc(2025, 3, 10, 0, 0), 30000, 3, hour), fmEvents(utc(2025, 3, 20, 0, 0), 30000, 4, hour))
	expectLine(t, q, "flexmatch.player_packs", "30000", "0.6")
	expectLine(t, q, "flexmatch.matchmaking_hours", "4", "4")
	expectTotal(t, q, "4.60")

	// The window's last instant and its end: usage at 2025-03-14 23:55
	// (inside) is covered, at 2025-03-15 00:00 (outside) is not.
	q = month(day(2025, 3, 1, time.UTC), day(2025, 4, 1, time.UTC),
		fmEvents(utc(2025, 3, 14, 23, 55), 20000, 1, hour), fmEvents(utc(2025, 3, 15, 0, 0), 20000, 1, hour))
	// packs: 40,000 − min(50,000, 20,000) = 20,000 → 0.4; hours: 2 − min(5, 1) = 1 → 1
	expectLine(t, q, "flexmatch.player_packs", "20000", "0.4")
	expectLine(t, q, "flexmatch.matchmaking_hours", "1", "1")

	q = month(day(2025, 4, 1, time.UTC), day(2025, 5, 1, time.UTC), fmEvents(utc(2025, 4, 2, 0, 0), 60000, 7, hour))
	expectLine(t, q, "flexmatch.player_packs", "60000", "1.2")
	expectLine(t, q, "flexmatch.matchmaking_hours", "7", "7")
	expectTotal(t, q, "8.20")

	// Calculator mode (list prices): no free tier even in the first year.
	in := Input{Catalog: c, Mode: ModeCalculator, From: day(2024, 6, 1, time.UTC), To: day(2024, 7, 1, time.UTC),
		Account: livebill.Account{ID: "studio", Created: created}}
	q = run(t, in, fmEvents(utc(2024, 6, 2, 0, 0), 60000, 7, hour)...)
	expectLine(t, q, "flexmatch.player_packs", "60000", "1.2")
	expectLine(t, q, "flexmatch.matchmaking_hours", "7", "7")
}

// Hours are pro rata, exact to 12 decimal places. Account older than a
// year (no free tier).
//
//	1,250,000 × 50,000 µs = 62,500,000,000 µs / 3,600,000,000 = 17.3611… h
//	→ 17.361111111111 (12 places) → total 17.36
//	1 evaluation of 1 µs: 1 / 3.6e9 = 0.000000000277… → 0.000000000278
//	10 × 2,700,000,000 µs (45 min) = 7.5 h → 7.5 USD
func TestFlexMatchProRataHours(t *testing.T) {
	c := cat(t, "flexmatch")
	old := livebill.Account{ID: "old", Created: day(2020, 1, 1, time.UTC)}
	in := Input{Catalog: c, From: day(2024, 10, 1, time.UTC), To: day(2024, 11, 1, time.UTC), Account: old}
	q := run(t, in, fmEvents(utc(2024, 10, 10, 0, 0), 0, 1250000, 50000)...)
	expectLine(t, q, "flexmatch.matchmaking_hours", "17.361111111111", "17.361111111111")
	expectTotal(t, q, "17.36")
	q = run(t, in, fmEvents(utc(2024, 10, 10, 0, 0), 0, 1, 1)...)
	expectLine(t, q, "flexmatch.matchmaking_hours", "0.000000000278", "0.000000000278")
	q = run(t, in, fmEvents(utc(2024, 10, 10, 0, 0), 0, 10, 2_700_000_000)...)
	expectLine(t, q, "flexmatch.matchmaking_hours", "7.5", "7.5")
	// Player packs pro rata too: 1,234,567 × 20 / 1,000,000 = 24.69134.
	q = run(t, in, fmEvents(utc(2024, 10, 10, 0, 0), 1234567, 0, 0)...)
	expectLine(t, q, "flexmatch.player_packs", "1234567", "24.69134")
	expectTotal(t, q, "24.69")
}

// ---------------------------------------------------------------- HST

func hstEv(typ livebill.EventType, at time.Time, user string) livebill.Event {
	return livebill.Event{Type: typ, Time: at.UnixMilli(), App: "conf", Room: "m1", User: user}
}

// listen returns events where A speaks (audio only) and B listens from
// start for d.
func listen(start time.Time, d time.Duration, listener string) []livebill.Event {
	j := hstEv(livebill.RoomJoin, start, "A")
	j.Subscribe = "all"
	a := hstEv(livebill.StreamStart, start, "A")
	a.Stream, a.Media = livebill.StreamMain, livebill.MediaAudio
	b := hstEv(livebill.RoomJoin, start, listener)
	b.Subscribe = "all"
	return []livebill.Event{j, b, a, hstEv(livebill.RoomLeave, start.Add(d), "A"), hstEv(livebill.RoomLeave, start.Add(d), listener)}
}

// Minutes are ceiled per month per item, not per day: three 20 s
// sessions on three days are 60 s in the month → ceil(60,000 / 60,000) =
// 1 minute → 1 × 6 / 1000 = 0.006 CNY (per-day ceiling would give 3).
// Adding a fourth 20 s session: 80 s → 2 minutes → 0.012.
func TestHSTMonthlyCeilPerItem(t *testing.T) {
	c := cat(t, "hst")
	in := Input{Catalog: c, Mode: ModeCalculator, From: day(2024, 10, 1, shanghai), To: day(2024, 11, 1, shanghai)}
	var evs []livebill.Event
	for d := 1; d <= 3; d++ {
		evs = append(evs, listen(time.Date(2024, 10, d, 10, 0, 0, 0, shanghai), 20*time.Second, "B")...)
	}
	q := run(t, in, evs...)
	expectLine(t, q, "hst.audio", "1", "0.006")
	if len(q.Bills) != 1 || q.Bills[0].Kind != livebill.BillMonthly || q.Bills[0].Date != "2024-10-01" {
		t.Errorf("want one monthly bill dated 2024-10-01, got %+v", q.Bills)
	}
	evs = append(evs, listen(time.Date(2024, 10, 4, 10, 0, 0, 0, shanghai), 20*time.Second, "B")...)
	q = run(t, in, evs...)
	expectLine(t, q, "hst.audio", "2", "0.012")
}

func signal(at time.Time, app string, n int64) livebill.Event {
	return livebill.Event{Type: livebill.Signal, Time: at.UnixMilli(), App: app, Count: n}
}

// Signalling: the first 1,000,000 calls of a month are free, then 0.1 per
// 1,000 calls, pro rata (no rounding to whole thousands).
func TestHSTSignalling(t *testing.T) {
	c := cat(t, "hst")
	oct := Input{Catalog: c, From: day(2024, 10, 1, shanghai), To: day(2024, 11, 1, shanghai)}
	d := time.Date(2024, 10, 9, 12, 0, 0, 0, shanghai)
	cases := []struct {
		name     string
		evs      []livebill.Event
		billable string
		amount   string
	}{
		// exactly the free million → 0.
		{"1,000,000", []livebill.Event{signal(d, "conf", 1000000)}, "0", "0"},
		// one call over: 1 × 0.1 / 1000 = 0.0001.
		{"1,000,001", []livebill.Event{signal(d, "conf", 1000001)}, "1", "0.0001"},
		// 234,567 over: 234,567 × 0.1 / 1000 = 23.4567.
		{"1,234,567", []livebill.Event{signal(d, "conf", 1234567)}, "234567", "23.4567"},
		// Decision: the million is per account, across apps: 600,000 + 600,000
		// = 1,200,000 → 200,000 over → 20.
		{"two apps", []livebill.Event{signal(d, "conf", 600000), signal(d, "chat", 600000)}, "200000", "20"},
	}
	for _, tc := range cases {
		q := run(t, oct, tc.evs...)
		l := line(t, q, "hst.signal")
		eqDec(t, tc.name+" quantity", dec(l.Quantity), tc.billable)
		eqDec(t, tc.name+" amount", dec(l.Amount), tc.amount)
	}
	// Each month has its own million: Oct 1,500,000 → 500,000 → 50;
	// Nov 900,000 → 0.
	two := Input{Catalog: c, From: day(2024, 10, 1, shanghai), To: day(2024, 12, 1, shanghai)}
	q := run(t, two, signal(d, "conf", 1500000), signal(time.Date(2024, 11, 9, 0, 0, 0, 0, shanghai), "conf", 900000))
	expectLine(t, q, "hst.signal", "500000", "50")
	expectTotal(t, q, "50")
	// The month boundary is in Asia/Shanghai: 2024-10-31T16:30Z is
	// 2024-11-01 00:30 local → November's million.
	q = run(t, two, signal(d, "conf", 1000000), signal(time.Date(2024, 10, 31, 16, 30, 0, 0, time.UTC), "conf", 5000))
	expectLine(t, q, "hst.signal", "0", "0")
	noLine(t, q, "hst.audio")
}

// ---------------------------------------------------------------- adjustments

func monthlyBill(t *testing.T, q *livebill.Quote, date string) livebill.Bill {
	t.Helper()
	for _, b := range q.Bills {
		if b.Kind == livebill.BillMonthly && b.Date == date {
			return b
		}
	}
	t.Fatalf("no monthly bill %s in %+v", date, q.Bills)
	return livebill.Bill{}
}

// A late event for a closed HST month. October is closed with A speaking
// (audio only) 09:00–10:00 on Oct 8 and B, C, D listening:
//
//	closed: hst.audio 3 × 60 = 180 min × 6 / 1000 = 1.08
//
// Then a late event arrives: E listened 09:10:00–09:40:30 (30.5 min). The
// month re-rated whole: 180 + 30.5 = 210.5 min → ceil 211 min → 1.266.
//
//	adjustment (dated 2024-11-01): hst.audio +31 min, +0.186; total 0.19
//
// (30.5 min ceiled on its own would also be 31 here, but with the month's
// ceil the delta is always re-rated − billed.) A second late event — F
// listened 10 min — is adjusted against closed + first adjustment:
// 220.5 → 221 min → 1.326; delta +10 min, +0.06.
func TestAdjustLateHSTEvent(t *testing.T) {
	c := cat(t, "hst")
	in := Input{Catalog: c, From: day(2024, 10, 1, shanghai), To: day(2024, 11, 1, shanghai)}
	nine := time.Date(2024, 10, 8, 9, 0, 0, 0, shanghai)
	base := listen(nine, time.Hour, "B")
	for _, u := range []string{"C", "D"} {
		j := hstEv(livebill.RoomJoin, nine, u)
		j.Subscribe = "all"
		base = append(base, j, hstEv(livebill.RoomLeave, nine.Add(time.Hour), u))
	}
	closed := monthlyBill(t, run(t, in, base...), "2024-10-01")
	if len(closed.Lines) != 1 || closed.Total != "1.08" {
		t.Fatalf("closed bill: %+v, want hst.audio 180 min, 1.08", closed)
	}
	eqDec(t, "closed minutes", dec(closed.Lines[0].Quantity), "180")

	late := func(user string, from, to time.Time) []livebill.Event {
		j := hstEv(livebill.RoomJoin, from, user)
		j.Subscribe = "all"
		return []livebill.Event{j, hstEv(livebill.RoomLeave, to, user)}
	}
	withE := append(append([]livebill.Event{}, base...), late("E", nine.Add(10*time.Minute), nine.Add(40*time.Minute+30*time.Second))...)
	rerated := monthlyBill(t, run(t, in, withE...), "2024-10-01")
	cur, _ := money.LookupCurrency("CNY")
	adj, ok, err := Adjust(closed, rerated.Lines, cur)
	if err != nil || !ok {
		t.Fatalf("adjust: %v %v", ok, err)
	}
	if adj.OfKind != livebill.BillMonthly || adj.OfDate != "2024-10-01" {
		t.Errorf("adjusts %s %s, want monthly 2024-10-01", adj.OfKind, adj.OfDate)
	}
	b := adj.Bill
	if b.Kind != livebill.BillAdjustment || b.Date != "2024-11-01" || b.Total != "0.19" || len(b.Lines) != 1 {
		t.Fatalf("adjustment bill %+v, want kind adjustment, 2024-11-01, total 0.19, one line", b)
	}
	l := b.Lines[0]
	if l.Item != "hst.audio" || l.UnitPrice != "6" || l.Per != "1000" || l.Unit != "minute" {
		t.Errorf("line %+v, want hst.audio at 6 per 1000 minutes", l)
	}
	eqDec(t, "delta minutes", dec(l.Quantity), "31")
	eqDec(t, "delta amount", dec(l.Amount), "0.186")

	// Second late event, against closed + the first adjustment.
	withF := append(withE, late("F", nine.Add(20*time.Minute), nine.Add(30*time.Minute))...)
	rerated2 := monthlyBill(t, run(t, in, withF...), "2024-10-01")
	sofar, err := Merge(closed, adj)
	if err != nil {
		t.Fatal(err)
	}
	eqDec(t, "billed so far", dec(sofar.Lines[0].Quantity), "211")
	adj2, ok, err := Adjust(sofar, rerated2.Lines, cur)
	if err != nil || !ok {
		t.Fatalf("adjust 2: %v %v", ok, err)
	}
	eqDec(t, "delta 2 minutes", dec(adj2.Bill.Lines[0].Quantity), "10")
	eqDec(t, "delta 2 amount", dec(adj2.Bill.Lines[0].Amount), "0.06")
	if adj2.Bill.Total != "0.06" {
		t.Errorf("total 2: %s, want 0.06", adj2.Bill.Total)
	}

	// Re-rating the same events changes nothing: no adjustment.
	if _, ok, _ := Adjust(sofar, rerated.Lines, cur); ok {
		// sofar is 211 min = rerated (withE): nothing to adjust.
		t.Error("no change should give no adjustment")
	}
}

// Items that appear or disappear, bills dated in December, and the
// adjustment's own rounding.
func TestAdjustLines(t *testing.T) {
	cur, _ := money.LookupCurrency("CNY")
	closed := livebill.Bill{Kind: livebill.BillMonthly, Date: "2024-12-01", Total: "1.44", Lines: []livebill.Line{
		{Item: "hst.video.sd", Quantity: "60", Unit: "minute", UnitPrice: "24", Per: "1000", Amount: "1.44"},
		{Item: "hst.audio", Quantity: "1", Unit: "minute", UnitPrice: "6", Per: "1000", Amount: "0.006"},
	}}
	rerated := []livebill.Line{
		// hst.video.sd disappeared (the late event was a correction).
		{Item: "hst.audio", Quantity: "1", Unit: "minute", UnitPrice: "6", Per: "1000", Amount: "0.006"},
		{Item: "hst.screen", Quantity: "15", Unit: "minute", UnitPrice: "64", Per: "1000", Amount: "0.96"},
	}
	adj, ok, err := Adjust(closed, rerated, cur)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// December → the next statement is 2025-01-01.
	// video.sd −60 min −1.44; audio unchanged (no line); screen +15 min +0.96.
	// total −1.44 + 0.96 = −0.48.
	if adj.Bill.Date != "2025-01-01" || adj.Bill.Total != "-0.48" || len(adj.Bill.Lines) != 2 {
		t.Fatalf("%+v", adj.Bill)
	}
	eqDec(t, "sd quantity", dec(adj.Bill.Lines[0].Quantity), "-60")
	eqDec(t, "sd amount", dec(adj.Bill.Lines[0].Amount), "-1.44")
	eqDec(t, "screen quantity", dec(adj.Bill.Lines[1].Quantity), "15")
	eqDec(t, "screen amount", dec(adj.Bill.Lines[1].Amount), "0.96")

	// The adjustment bill is rounded on its own like every bill (SPEC §1):
	// 1 → 2 audio minutes is +0.006 → total 0.01.
	adj, _, _ = Adjust(livebill.Bill{Kind: livebill.BillMonthly, Date: "2024-10-01", Lines: closed.Lines[1:]},
		[]livebill.Line{{Item: "hst.audio", Quantity: "2", Unit: "minute", UnitPrice: "6", Per: "1000", Amount: "0.012"}}, cur)
	if adj.Bill.Total != "0.01" {
		t.Errorf("rounded total %s, want 0.01", adj.Bill.Total)
	}
	if _, _, err := Adjust(livebill.Bill{Date: "October"}, nil, cur); err == nil {
		t.Error("a bad closed date must be an error")
	}
}
