package deduct

import (
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
		base := time.Date(2024, 10, 1, 0, 0, 0, 0, shanghai)
		var grants []Grant
		for i := range rapid.IntRange(0, 6).Draw(t, "packs") {
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
			grants = append(grants, Grant{ID: string(rune('a' + i)), Kind: kind, App: app, Start: start,
				End: start.AddDate(0, 0, rapid.IntRange(1, 4).Draw(t, "days")), Minutes: rapid.Int64Range(0, 200).Draw(t, "minutes"),
				Ratios: r, Seq: i})
		}
		var usage []Window
		for range rapid.IntRange(0, 60).Draw(t, "windows") {
			w := rapid.IntRange(0, 6*288-1).Draw(t, "window")
			usage = append(usage, Window{App: rapid.SampledFrom(apps).Draw(t, "app"), Item: rapid.SampledFrom(items).Draw(t, "item"),
				Start: base.UnixMilli() + int64(w)*WindowMS, MS: rapid.Int64Range(0, 10*60_000).Draw(t, "ms")})
		}
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
