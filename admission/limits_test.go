package admission

import (
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/rating"
)

func day(s string) time.Time {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

// The app's edition of a product is its plan valid now (SPEC §4: periods
// from 00:00 of the purchase day to the same day next month), the trial
// otherwise; the limits hold until the next period start or end.
func TestLimitsEditions(t *testing.T) {
	in := &rating.Input{Catalog: mustCatalog(t, "trtc"), Purchases: []livebill.Purchase{
		{ID: "p1", App: "app1", Plan: "live.standard", Start: day("2024-10-05")},
		{ID: "p2", App: "app1", Plan: "rtc-engine.pro", Start: day("2024-09-20"), AutoRenew: true},
		{ID: "p3", App: "app2", Plan: "conference.lite", Start: day("2024-08-01")},
	}}
	for _, c := range []struct {
		at         time.Time
		app1, app2 map[string]string
		until      time.Time
	}{
		// Oct 1: app1 has rtc-engine pro (renewing), live starts Oct 5; app2's
		// conference lite ended Sep 1 (limits are recomputed at least hourly)
		{day("2024-10-01"), map[string]string{"rtc-engine": "rtc-engine.pro"}, nil, day("2024-10-01").Add(time.Hour)},
		{day("2024-10-04").Add(23*time.Hour + 30*time.Minute), map[string]string{"rtc-engine": "rtc-engine.pro"}, nil, day("2024-10-05")},
		{day("2024-10-05"), map[string]string{"rtc-engine": "rtc-engine.pro", "live": "live.standard"}, nil, day("2024-10-05").Add(time.Hour)},
		// Nov 5: live standard ended (no renewal), pro renewed on Oct 20
		{day("2024-11-05"), map[string]string{"rtc-engine": "rtc-engine.pro"}, nil, day("2024-11-05").Add(time.Hour)},
		{day("2024-08-15"), nil, map[string]string{"conference": "conference.lite"}, day("2024-08-15").Add(time.Hour)},
	} {
		l, err := ComputeLimits(in, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if !eqMap(l.Editions["app1"], c.app1) || !eqMap(l.Editions["app2"], c.app2) {
			t.Errorf("%s: editions %v, want app1 %v app2 %v", c.at, l.Editions, c.app1, c.app2)
		}
		if !l.Until.Equal(c.until) {
			t.Errorf("%s: until %s, want %s", c.at, l.Until, c.until)
		}
	}
	// a refund of a TRTC plan ends its edition at the refund
	in.Refunds = []livebill.RefundRequest{{Plan: "p1", Time: day("2024-10-07").Add(9 * time.Hour)}}
	l, _ := ComputeLimits(in, day("2024-10-07"))
	if l.Editions["app1"]["live"] != "live.standard" || !l.Until.Equal(day("2024-10-07").Add(time.Hour)) {
		t.Errorf("before the refund: %v until %s", l.Editions["app1"], l.Until)
	}
	l, _ = ComputeLimits(in, day("2024-10-07").Add(9*time.Hour))
	if _, ok := l.Editions["app1"]["live"]; ok {
		t.Errorf("after the refund: %v, want no live edition", l.Editions["app1"])
	}
}

func eqMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Cloud-gaming concurrencies count per plan and region, less the units
// refunded (SPEC §5); live push per account; industrial licences per
// device, counted from its cameras (seed 001: 1.67 → 2) and lost when
// they expire (a year from purchase).
func TestLimitsConcurrencyAndLicences(t *testing.T) {
	cg := &rating.Input{Catalog: mustCatalog(t, "cloudgaming"), Purchases: []livebill.Purchase{
		{ID: "s1", Plan: "cloudgaming.desktop.s1.standard", Count: 10, Region: "ap-shanghai", Start: day("2024-10-01")},
		{ID: "s1b", Plan: "cloudgaming.desktop.s1.standard", Count: 3, Region: "ap-beijing", Start: day("2024-10-01")},
		{ID: "lp", Plan: "cloudgaming.live_push", Count: 2, Start: day("2024-10-01")},
	}, Refunds: []livebill.RefundRequest{{Plan: "s1", Count: 2, Time: day("2024-10-05").Add(4 * time.Hour)}}}
	shanghai := PoolOf("cloudgaming.desktop.s1.standard", "ap-shanghai")
	for _, c := range []struct {
		at           time.Time
		sh, bj, push int
		until        time.Time
	}{
		{day("2024-10-05"), 10, 3, 2, day("2024-10-05").Add(time.Hour)},
		{day("2024-10-05").Add(3 * time.Hour), 10, 3, 2, day("2024-10-05").Add(4 * time.Hour)}, // the refund is next
		{day("2024-10-05").Add(4 * time.Hour), 8, 3, 2, day("2024-10-05").Add(5 * time.Hour)},
		{day("2024-11-01"), 0, 0, 0, day("2024-11-01").Add(time.Hour)}, // a month: over, not renewing
	} {
		l, err := ComputeLimits(cg, c.at)
		if err != nil {
			t.Fatal(err)
		}
		got := []int{l.Concurrency[shanghai], l.Concurrency[PoolOf("cloudgaming.desktop.s1.standard", "ap-beijing")], l.Concurrency[PoolLivePush]}
		if got[0] != c.sh || got[1] != c.bj || got[2] != c.push || !l.Until.Equal(c.until) {
			t.Errorf("%s: shanghai, beijing, push = %v until %s; want %d %d %d until %s", c.at, got, l.Until, c.sh, c.bj, c.push, c.until)
		}
	}
	ind := &rating.Input{Catalog: mustCatalog(t, "industrial"),
		Devices: []livebill.Device{{ID: "truck-7", Cameras: []livebill.Size{{Width: 1280, Height: 720}, {Width: 640, Height: 480}, {Width: 640, Height: 480}}}},
		Purchases: []livebill.Purchase{
			{ID: "lic", Plan: "industrial.license", Device: "truck-7", Start: day("2024-01-01")},            // 2 licences, from the cameras
			{ID: "lic2", Plan: "industrial.license", Device: "truck-7", Count: 1, Start: day("2024-06-01")}, // one more
		}}
	for _, c := range []struct {
		at  time.Time
		lic int
	}{{day("2024-03-01"), 2}, {day("2024-07-01"), 3}, {day("2025-01-01"), 1}, {day("2025-06-01"), 0}} {
		l, err := ComputeLimits(ind, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if l.Licences["truck-7"] != c.lic || len(l.Cameras["truck-7"]) != 3 {
			t.Errorf("%s: %d licences, want %d", c.at, l.Licences["truck-7"], c.lic)
		}
	}
}
