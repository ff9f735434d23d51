package deduct

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// A run started from another run's state at a midnight B (Options.Opening)
// deducts the windows from B on exactly as the run over all the usage:
// the same deductions of every day from B, the same final balances and
// first uses, the same stops (all of them: those before B carried, with
// what they blocked), the same blocked windows, and the same state at a later
// midnight. With fixed-point and decimal balances, and through a JSON
// round trip of the state (the service stores it).
func TestPropertyResume(t *testing.T) {
	items := []string{"trtc.av.audio", "trtc.av.hd", "trtc.recording.hd"}
	ratios := []string{"1", "4", "36", "6.1", "0.13", "1.2345678"}
	apps := []string{"A", "B"}
	rapid.Check(t, func(t *rapid.T) {
		base := time.Date(2024, 10, 1, 0, 0, 0, 0, shanghai)
		grants, usage := genDeduction(t, items, ratios, apps, 5, 120, true)
		o := opts()
		if rapid.Bool().Draw(t, "stops") {
			o.Paid = func(app string, _ int64) bool { return app == "A" }
			plan := base.AddDate(0, 0, rapid.IntRange(0, 6).Draw(t, "plan")).UnixMilli()
			o.Resume = func(app string, at int64) int64 {
				if app == "B" && plan >= at {
					return plan
				}
				return 0
			}
		}
		decimalOnly = rapid.Bool().Draw(t, "decimal")
		defer func() { decimalOnly = false }()
		k := rapid.IntRange(0, 6).Draw(t, "boundary")
		b, later := base.AddDate(0, 0, k).UnixMilli(), base.AddDate(0, 0, k+1).UnixMilli()
		o.StatesAt = []int64{b, later}
		whole, err := Run(grants, usage, o)
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.States) != 2 || whole.States[0].At != b {
			t.Fatalf("states %+v, want at %d and %d", whole.States, b, later)
		}
		js, err := json.Marshal(whole.States[0])
		if err != nil {
			t.Fatal(err)
		}
		var st State
		if err := json.Unmarshal(js, &st); err != nil {
			t.Fatal(err)
		}
		o2 := o
		o2.Opening, o2.StatesAt = &st, []int64{later}
		part, err := Run(grants, usage, o2)
		if err != nil {
			t.Fatal(err)
		}
		day := time.UnixMilli(b).In(shanghai).Format(time.DateOnly)
		var want []Deduction
		for _, d := range whole.Deductions {
			if d.Day >= day {
				want = append(want, d)
			}
		}
		if !reflect.DeepEqual(part.Deductions, want) {
			t.Fatalf("deductions from %s:\n got %+v\nwant %+v", day, part.Deductions, want)
		}
		for i, p := range whole.Packs {
			q := part.Packs[i]
			if p.ID != q.ID || p.Used.String() != q.Used.String() || p.FirstUse != q.FirstUse {
				t.Fatalf("pack %s: used %s (first %d), resumed %s (first %d)", p.ID, p.Used, p.FirstUse, q.Used, q.FirstUse)
			}
		}
		if !reflect.DeepEqual(part.States, whole.States[1:]) {
			t.Fatalf("state at %d: %+v, resumed %+v", later, whole.States[1], part.States)
		}
		if !reflect.DeepEqual(part.Stops, whole.Stops) {
			t.Fatalf("stops:\n got %+v\nwant %+v", part.Stops, whole.Stops)
		}
		for _, u := range usage {
			if u.Start >= b && whole.Blocked(u.App, u.Start) != part.Blocked(u.App, u.Start) {
				t.Fatalf("window %+v blocked %v, resumed %v", u, whole.Blocked(u.App, u.Start), part.Blocked(u.App, u.Start))
			}
		}
	})
}

// A state with a pack the grants do not have is refused.
func TestResumeUnknownPack(t *testing.T) {
	o := opts()
	o.Opening = &State{At: at(2, 0, 0).UnixMilli(), Packs: []PackBalance{{ID: "nope", Used: "1", FirstUse: -1}}}
	if _, err := Run([]Grant{free(100)}, nil, o); err == nil {
		t.Fatal("a state of other grants was used")
	}
}
