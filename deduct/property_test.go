package deduct

import (
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill/money"
	"pgregory.net/rapid"
)

// For random packs and usage: balances never go negative, covered +
// overage = metered for every (app, day, item), metered is the day's
// ceil(ms / 60000) of the windows not blocked, and every pack's used
// minutes are within what it granted.
func TestPropertyBalances(t *testing.T) {
	items := []string{"trtc.av.audio", "trtc.av.hd", "trtc.av.fhd", "trtc.recording.hd"}
	ratios := []string{"1", "4", "9", "6.1", "0.13", "36"}
	apps := []string{"A", "B", "C"}
	rapid.Check(t, func(t *rapid.T) {
		grants, usage := genDeduction(t, items, ratios, apps, 6, 200, false)
		o := opts()
		if rapid.Bool().Draw(t, "stops") {
			o.Paid = func(app string, _ int64) bool { return app == "A" }
		}
		res, err := Run(grants, usage, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Packs {
			if p.Remaining().IsNegative() || p.Used.IsNegative() {
				t.Fatalf("pack %s: granted %d used %s", p.ID, p.Minutes, p.Used)
			}
		}
		ms := map[dayKey]int64{}
		for _, w := range usage {
			if res.Blocked(w.App, w.Start) {
				continue
			}
			day := time.UnixMilli(w.Start).In(shanghai).Format(time.DateOnly)
			ms[dayKey{w.App, day, w.Item}] += w.MS
		}
		for k, v := range ms {
			d, ok := res.Deduction(k.app, k.day, k.item)
			want := money.CeilDiv(v, 60000)
			if !ok && want > 0 {
				t.Fatalf("%v: no deduction for %d ms", k, v)
			}
			if d.Metered != want {
				t.Fatalf("%v: metered %d, want %d", k, d.Metered, want)
			}
		}
		for _, d := range res.Deductions {
			if d.Covered+d.Overage != d.Metered || d.Covered < 0 || d.Overage < 0 {
				t.Fatalf("%+v: covered + overage != metered", d)
			}
		}
	})
}

// The fixed-point balances give exactly what decimal balances give: for
// random packs (ratios with up to 8 places, which fall back to decimals,
// and huge grants) and usage, Run with and without them agrees on every
// pack, deduction and stop.
func TestPropertyFixedMatchesDecimal(t *testing.T) {
	items := []string{"trtc.av.audio", "trtc.av.hd", "trtc.recording.hd"}
	ratios := []string{"1", "4", "36", "6.1", "0.13", "54.5", "0.000001", "1.2345678", "0.00000001", "123456789.123456"}
	apps := []string{"A", "B"}
	rapid.Check(t, func(t *rapid.T) {
		base := time.Date(2024, 10, 1, 0, 0, 0, 0, shanghai)
		var grants []Grant
		for i := range rapid.IntRange(0, 5).Draw(t, "packs") {
			r := map[string]money.Decimal{}
			for _, it := range items {
				if rapid.Bool().Draw(t, "covers") {
					r[it] = money.MustParse(rapid.SampledFrom(ratios).Draw(t, "ratio"))
				}
			}
			start := base.AddDate(0, 0, rapid.IntRange(0, 2).Draw(t, "start"))
			app := ""
			if rapid.Bool().Draw(t, "scoped") {
				app = rapid.SampledFrom(apps).Draw(t, "app")
			}
			minutes := rapid.SampledFrom([]int64{0, 1, 7, 100, 10000, 9_223_372_036_854, 9_223_372_036_855, 1 << 62}).Draw(t, "minutes")
			grants = append(grants, Grant{ID: string(rune('a' + i)), Kind: KindGift, App: app, Start: start,
				End: start.AddDate(0, 0, rapid.IntRange(1, 3).Draw(t, "days")), Minutes: minutes, Ratios: r, Seq: i})
		}
		var usage []Window
		for range rapid.IntRange(0, 40).Draw(t, "windows") {
			w := rapid.IntRange(0, 4*288-1).Draw(t, "window")
			usage = append(usage, Window{App: rapid.SampledFrom(apps).Draw(t, "app"), Item: rapid.SampledFrom(items).Draw(t, "item"),
				Start: base.UnixMilli() + int64(w)*WindowMS, MS: rapid.Int64Range(0, 30*60_000).Draw(t, "ms")})
		}
		o := opts()
		o.Paid = func(app string, _ int64) bool { return app == "A" }
		fast, err := Run(grants, usage, o)
		if err != nil {
			t.Fatal(err)
		}
		decimalOnly = true
		slow, err := Run(grants, usage, o)
		decimalOnly = false
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range fast.Packs {
			s := slow.Packs[i]
			if p.ID != s.ID || !p.Used.Equal(s.Used) || p.Used.String() != s.Used.String() || p.FirstUse != s.FirstUse {
				t.Fatalf("pack %s: used %s (first %d), decimals say %s (first %d)", p.ID, p.Used, p.FirstUse, s.Used, s.FirstUse)
			}
		}
		if !reflect.DeepEqual(fast.Deductions, slow.Deductions) || !reflect.DeepEqual(fast.Stops, slow.Stops) {
			t.Fatalf("deductions or stops differ:\n%+v %+v\n%+v %+v", fast.Deductions, fast.Stops, slow.Deductions, slow.Stops)
		}
	})
}

// smallFixed, the integer test of fixedRatio, agrees with the decimal test
// it stands in for.
func TestSmallFixedMatchesDecimal(t *testing.T) {
	check := func(t interface{ Fatalf(string, ...any) }, ratio money.Decimal) {
		r, ok, known := smallFixed(ratio)
		if !known {
			if ratio.NumDigits() <= 18 {
				t.Fatalf("%s: smallFixed does not know a ratio of %d digits", ratio, ratio.NumDigits())
			}
			return
		}
		var want int64
		s := ratio.Shift(fixedPlaces)
		wantOK := s.IsInteger() && s.IsPositive() && s.LessThanOrEqual(maxFixed)
		if wantOK {
			want = s.IntPart()
		}
		if ok != wantOK || r != want {
			t.Fatalf("%s: smallFixed = %d, %v; decimals say %d, %v", ratio, r, ok, want, wantOK)
		}
	}
	for _, s := range []string{"1", "4", "6.1", "0.13", "0.000001", "0.0000001", "1.2345678", "0", "-1", "-0.5",
		"9223372036854.775807", "9223372036854.775808", "9223372036854775807", "1e30", "1.000000000000", "123456789012345678901234567890"} {
		check(t, money.MustParse(s))
	}
	rapid.Check(t, func(t *rapid.T) {
		c := rapid.Int64().Draw(t, "coefficient")
		e := int32(rapid.IntRange(-25, 20).Draw(t, "exponent"))
		check(t, money.Int(c).Shift(e))
	})
}

// genDeduction draws up to maxPacks packs (ratios from ratios, for some
// of items; free or gift; some scoped to one of apps; starting in the
// first four days of October 2024 for one to four days; up to maxMinutes
// each; bought at a random hour of their first day with bought) and up to
// 60 windows of usage over six days.
func genDeduction(t *rapid.T, items, ratios, apps []string, maxPacks int, maxMinutes int64, bought bool) ([]Grant, []Window) {
	base := time.Date(2024, 10, 1, 0, 0, 0, 0, shanghai)
	var grants []Grant
	for i := range rapid.IntRange(0, maxPacks).Draw(t, "packs") {
		r := map[string]money.Decimal{}
		for _, it := range items {
			if rapid.Bool().Draw(t, "covers") {
				r[it] = money.MustParse(rapid.SampledFrom(ratios).Draw(t, "ratio"))
			}
		}
		start := base.AddDate(0, 0, rapid.IntRange(0, 3).Draw(t, "start"))
		kind := KindGift
		if rapid.Bool().Draw(t, "free") {
			kind = KindFree
		}
		app := ""
		if rapid.Bool().Draw(t, "scoped") {
			app = rapid.SampledFrom(apps).Draw(t, "app")
		}
		g := Grant{ID: string(rune('a' + i)), Kind: kind, App: app, Start: start,
			End: start.AddDate(0, 0, rapid.IntRange(1, 4).Draw(t, "days")), Minutes: rapid.Int64Range(0, maxMinutes).Draw(t, "minutes"),
			Ratios: r, Seq: i}
		if bought {
			g.Bought = start.Add(time.Duration(rapid.IntRange(0, 23).Draw(t, "hour")) * time.Hour)
		}
		grants = append(grants, g)
	}
	var usage []Window
	for range rapid.IntRange(0, 60).Draw(t, "windows") {
		w := rapid.IntRange(0, 6*288-1).Draw(t, "window")
		usage = append(usage, Window{App: rapid.SampledFrom(apps).Draw(t, "app"), Item: rapid.SampledFrom(items).Draw(t, "item"),
			Start: base.UnixMilli() + int64(w)*WindowMS, MS: rapid.Int64Range(0, 10*60_000).Draw(t, "ms")})
	}
	return grants, usage
}
