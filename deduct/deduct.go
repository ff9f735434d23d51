// Package deduct is the deduction engine of SPEC §4: it offers metered
// minutes to packs (the monthly free pack, plan gift minutes) and tells
// what each pack covered, what remains, and what is left as postpaid
// overage.
//
// The domain:
//
//   - a Grant is a pack given to the account: its kind, its scope (one app,
//     or every app), its validity [Start, End), its pack minutes and the
//     ratio table (pack minutes per usage minute, per item);
//   - a Pack is a grant and its running balance;
//   - a Window is one app's metered milliseconds of one item in one
//     5-minute window (meter.Record);
//   - a Deduction is the result per (app, billing day, item): the metered
//     minutes, what packs covered and the overage.
//
// Usage is processed in time order. At each window's end, per (app, item)
// in order app id then catalog item order, the increment is
// ceil(cumulative day ms / 60000) minus the minutes already counted that
// day (the seed's FAQ table: 30 s → 1, 50 s → 0 more, 90 s → 1 more). The
// increment is offered to the valid packs whose scope and ratio table cover
// it, in order: the free pack first, then the narrower scope (app before
// account), then the earliest expiry, then the earliest grant. A pack
// covers min(increment, floor(balance / ratio)) whole usage minutes; the
// rest goes to the next pack; what no pack covers is overage.
//
// Service stop: when an increment is not fully covered although some pack
// of the account could cover its item, and the app has no paid plan at that
// window (Options.Paid), the app stops at the window's end. That window is
// billed; the app's later windows are blocked (not deducted, not billed)
// until Options.Resume says it runs again.
//
// The engine needs every grant up front: a pack is valid from 00:00 of its
// purchase day, so a plan bought at 15:00 covers the morning's usage too.
// Knowing all purchases before deducting makes that retroactive cover a
// plain consequence of time order.
package deduct

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/livebill/livebill/money"
)

// Pack kinds.
const (
	KindFree = "free" // the monthly free pack
	KindGift = "gift" // a plan's gift minutes
)

// WindowMS is the length of a deduction window (5 minutes).
const WindowMS = 5 * 60 * 1000

// Grant is a pack given to the account.
type Grant struct {
	ID   string
	Kind string // KindFree or KindGift
	// App is the only app the pack covers; "" covers every app of the
	// account.
	App string
	// Start and End bound the validity [Start, End): a window is covered
	// when its start is inside.
	Start, End time.Time
	// Bought is the purchase instant (zero: Start). Packs bought at the same
	// expiry are offered earliest-bought first, and a pack bought during a
	// day covers that day's earlier windows only for what the packs already
	// valid then left uncovered (seed: "未被其他时长包抵扣过的用量").
	Bought  time.Time
	Minutes int64 // pack minutes granted
	// Ratios: pack minutes per usage minute, per item. Items absent are
	// not covered by this pack.
	Ratios map[string]money.Decimal
	// Seq orders grants made at the same instant (the earlier grant first).
	Seq int
}

func (g *Grant) bought() time.Time {
	if g.Bought.IsZero() {
		return g.Start
	}
	return g.Bought
}

// Pack is a grant and its balance.
type Pack struct {
	Grant
	// Used is the pack minutes deducted (Σ covered usage minutes × ratio).
	Used money.Decimal
	// FirstUse is the start of the first window the pack covered, or -1.
	FirstUse int64
}

// Granted is the pack minutes granted.
func (p *Pack) Granted() money.Decimal { return money.Int(p.Minutes) }

// Remaining is the balance left (it expires at End).
func (p *Pack) Remaining() money.Decimal { return p.Granted().Sub(p.Used) }

// UsedBefore reports whether the pack covered a window starting before t.
func (p *Pack) UsedBefore(t time.Time) bool {
	return p.FirstUse >= 0 && p.FirstUse < t.UnixMilli()
}

// Window is one app's usage of one item in one 5-minute window.
type Window struct {
	App   string
	Item  string
	Start int64 // Unix ms of the window's start
	MS    int64 // metered milliseconds
}

// Deduction is what happened to one (app, billing day, item): the metered
// usage minutes (day-ceiled), the minutes packs covered and the overage.
// Covered + Overage = Metered.
type Deduction struct {
	App, Day, Item string
	Metered        int64
	Covered        int64
	Overage        int64
}

// Stop is a service stop: the app stopped at At (a window's end) because
// usage exceeded what packs covered while it had no paid plan; it runs
// again at Resume (0: not within the usage given).
type Stop struct {
	App    string
	At     int64 // Unix ms
	Resume int64 // Unix ms, 0 if never
	// Blocked is the metered ms of windows after the stop, per item.
	Blocked map[string]int64
	// FirstBlocked is the start of the first blocked window (0: none).
	FirstBlocked int64
}

// Options configure a run.
type Options struct {
	// Location is the billing zone: days are its calendar days.
	Location *time.Location
	// ItemOrder orders items within a window (SPEC §2–3 order); nil sorts
	// by id.
	ItemOrder func(item string) int
	// Paid reports whether the app has a paid plan at the instant. nil
	// disables service stops.
	Paid func(app string, at int64) bool
	// Resume returns when a stopped app runs again (a paid plan bought
	// at or after stoppedAt), or 0 when it does not.
	Resume func(app string, stoppedAt int64) int64
	// Opening, when set, is the state the run starts from (state.go):
	// the packs' balances and the apps stopped at Opening.At, as a run
	// over the usage before it left them. Windows before Opening.At are
	// not read.
	Opening *State
	// StatesAt are window boundaries (Unix ms, ascending) at which the
	// run records its state (Result.States), to start a later run from.
	StatesAt []int64
}

// Result is the outcome of a run.
type Result struct {
	Packs      []*Pack     // in grant order (Seq, then Start, then ID)
	Deductions []Deduction // sorted by day, app, item order
	Stops      []Stop      // in time order

	// States are the run's states at Options.StatesAt (those after the
	// last window included), in that order.
	States []State

	byKey map[dayKey]int // index into Deductions, once there are more than smallSet
	stops map[string][]*Stop
}

// smallSet is the size up to which sets are searched linearly: a run of
// one account's day has a few (app, day, item) deductions, and a map per
// run costs more than the search.
const smallSet = 8

// find returns the index in r.Deductions of (app, day, item).
func (r *Result) find(app, day, item string) (int, bool) {
	if r.byKey != nil {
		i, ok := r.byKey[dayKey{app, day, item}]
		return i, ok
	}
	for i := range r.Deductions {
		if d := &r.Deductions[i]; d.Item == item && d.App == app && d.Day == day {
			return i, true
		}
	}
	return 0, false
}

// index maps the deductions' keys to their indexes once they are too many
// to search.
func (r *Result) index() {
	if r.byKey == nil && len(r.Deductions) <= smallSet {
		return
	}
	if r.byKey == nil {
		r.byKey = make(map[dayKey]int, 2*len(r.Deductions))
	}
	for i, d := range r.Deductions {
		r.byKey[dayKey{d.App, d.Day, d.Item}] = i
	}
}

type dayKey struct{ app, day, item string }

// Covered returns the usage minutes packs covered for (app, day, item).
func (r *Result) Covered(app, day, item string) int64 {
	if r == nil {
		return 0
	}
	if i, ok := r.find(app, day, item); ok {
		return r.Deductions[i].Covered
	}
	return 0
}

// Deduction returns the deduction of (app, day, item).
func (r *Result) Deduction(app, day, item string) (Deduction, bool) {
	if r == nil {
		return Deduction{}, false
	}
	i, ok := r.find(app, day, item)
	if !ok {
		return Deduction{}, false
	}
	return r.Deductions[i], true
}

// Blocked reports whether the app's window starting at start was blocked
// by a service stop.
func (r *Result) Blocked(app string, start int64) bool {
	if r == nil {
		return false
	}
	for _, s := range r.stops[app] {
		if blocked(s, start) {
			return true
		}
	}
	return false
}

func blocked(s *Stop, start int64) bool {
	return start >= s.At && (s.Resume == 0 || start < s.Resume)
}

// Pack returns the pack with the id.
func (r *Result) Pack(id string) *Pack {
	for _, p := range r.Packs {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// Run deducts the usage from the packs of the grants. Windows may come in
// any order; grants must have positive ratios.
func Run(grants []Grant, usage []Window, opt Options) (*Result, error) {
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	order := opt.ItemOrder
	if order == nil {
		order = func(string) int { return 0 }
	}
	res := &Result{}
	var live []*Stop
	// res.Packs and the offer order share one array.
	ptrs := make([]*Pack, 2*len(grants))
	res.Packs = ptrs[:0:len(grants)]
	packs := make([]Pack, len(grants))
	for i, g := range grants {
		if g.Minutes < 0 {
			return nil, fmt.Errorf("cannot deduct: pack %s grants %d minutes", g.ID, g.Minutes)
		}
		for item, r := range g.Ratios {
			if !r.IsPositive() {
				return nil, fmt.Errorf("cannot deduct: pack %s: ratio of %s must be positive, not %s", g.ID, item, r)
			}
		}
		packs[i] = Pack{Grant: g, FirstUse: -1}
		res.Packs = append(res.Packs, &packs[i])
	}
	slices.SortStableFunc(res.Packs, func(a, b *Pack) int {
		if a.Seq != b.Seq {
			return cmp.Compare(a.Seq, b.Seq)
		}
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	// offer order: free first, app before account, earliest expiry,
	// earliest grant.
	offer := append(ptrs[len(grants):len(grants)], res.Packs...)
	slices.SortStableFunc(offer, func(a, b *Pack) int {
		if fa, fb := a.Kind == KindFree, b.Kind == KindFree; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		if na, nb := a.App != "", b.App != ""; na != nb {
			if na {
				return -1
			}
			return 1
		}
		if c := a.End.Compare(b.End); c != 0 {
			return c
		}
		return a.bought().Compare(b.bought()) // then grant order
	})
	var spanBuf [4]packSpan // a few packs: on the stack
	spans := spanBuf[:0]
	if len(offer) > len(spanBuf) {
		spans = make([]packSpan, 0, len(offer))
	}
	spans = spans[:len(offer)]
	for i, p := range offer {
		spans[i] = packSpan{start: p.Start.UnixMilli(), end: p.End.UnixMilli(), bought: p.bought().UnixMilli(), ratios: p.Ratios,
			fixed: !decimalOnly && p.Minutes <= math.MaxInt64/fixedScale}
		if spans[i].fixed {
			spans[i].granted = p.Minutes * fixedScale
		}
	}
	if err := opening(opt.Opening, offer, spans); err != nil {
		return nil, err
	}
	// coverable reports whether some pack's ratio table covers the item.
	coverable := func(item string) bool {
		for i := range spans {
			if _, ok := spans[i].ratios[item]; ok {
				return true
			}
		}
		return false
	}

	if o := opt.Opening; o != nil {
		usage = slices.DeleteFunc(slices.Clone(usage), func(w Window) bool { return w.Start < o.At })
	}
	positive := true
	for _, w := range usage {
		if w.MS < 0 {
			return nil, fmt.Errorf("cannot deduct: negative usage of %s in app %s at %d", w.Item, w.App, w.Start)
		}
		positive = positive && w.MS > 0
	}
	// Usage already in order (SortWindows) is read in place, not copied.
	ws := usage
	if !positive || !slices.IsSortedFunc(usage, windowOrder(order)) {
		ws = make([]Window, 0, len(usage))
		for _, w := range usage {
			if w.MS > 0 {
				ws = append(ws, w)
			}
		}
		slices.SortStableFunc(ws, windowOrder(order))
	}

	// acc[i] accumulates res.Deductions[i] (before the final sort).
	type dayAcc struct {
		ms      int64
		counted int64 // minutes counted so far
	}
	var accBuf [8]dayAcc
	acc := accBuf[:0]
	var dayStart, dayEnd int64 = math.MaxInt64, math.MinInt64
	states := opt.StatesAt
	if o := opt.Opening; o != nil {
		for _, st := range o.Stops {
			s := &Stop{App: st.App, At: st.At, Blocked: maps.Clone(st.Blocked), FirstBlocked: st.FirstBlocked}
			if s.Blocked == nil {
				s.Blocked = map[string]int64{}
			}
			s.Resume = resumeOf(opt, offer, s.App, s.At)
			if res.stops == nil {
				res.stops = map[string][]*Stop{}
			}
			res.stops[s.App] = append(res.stops[s.App], s)
			live = append(live, s)
		}
	}
	var day string
	for i := 0; i < len(ws); {
		// one (window, app) group at a time, so a stop decided in the
		// window still bills the window's other items.
		j := i
		for j < len(ws) && ws[j].Start == ws[i].Start && ws[j].App == ws[i].App {
			j++
		}
		group := ws[i:j]
		i = j
		w0 := group[0]
		for len(states) > 0 && states[0] <= w0.Start {
			res.States = append(res.States, capture(states[0], res, offer, spans))
			states = states[1:]
		}
		if ss := res.stops[w0.App]; len(ss) > 0 && blocked(ss[len(ss)-1], w0.Start) {
			s := ss[len(ss)-1]
			if s.FirstBlocked == 0 {
				s.FirstBlocked = w0.Start
			}
			for _, w := range group {
				s.Blocked[w.Item] += w.MS
			}
			continue
		}
		if w0.Start < dayStart || w0.Start >= dayEnd {
			t := time.UnixMilli(w0.Start).In(loc)
			y, m, d := t.Date()
			ds := time.Date(y, m, d, 0, 0, 0, 0, loc)
			dayStart, dayEnd = ds.UnixMilli(), ds.AddDate(0, 0, 1).UnixMilli()
			day = ds.Format(time.DateOnly)
		}
		short := false
		for _, w := range group {
			di, ok := res.find(w.App, day, w.Item)
			if !ok {
				di = len(res.Deductions)
				if res.Deductions == nil {
					res.Deductions = make([]Deduction, 0, 2) // an account's day: audio and a video tier
				}
				res.Deductions = append(res.Deductions, Deduction{App: w.App, Day: day, Item: w.Item})
				acc = append(acc, dayAcc{})
				if res.byKey != nil {
					res.byKey[dayKey{w.App, day, w.Item}] = di
				} else {
					res.index()
				}
			}
			a := &acc[di]
			a.ms += w.MS
			total := money.CeilDiv(a.ms, 60000)
			inc := total - a.counted
			a.counted = total
			if inc == 0 {
				continue
			}
			d := &res.Deductions[di]
			d.Metered += inc
			// Packs bought by the window's end first; then packs bought
			// later that day, retroactively, for what is left.
			for phase := 0; phase < 2 && inc > 0; phase++ {
				for pi, p := range offer {
					if inc == 0 {
						break
					}
					sp := &spans[pi]
					if w.Start < sp.start || w.Start >= sp.end || (p.App != "" && p.App != w.App) {
						continue
					}
					if late := sp.bought >= w.Start+WindowMS; late != (phase == 1) {
						continue
					}
					n, ok := sp.cover(p, w.Item, inc)
					if !ok || n <= 0 {
						continue
					}
					if p.FirstUse < 0 {
						p.FirstUse = w.Start
					}
					d.Covered += n
					inc -= n
				}
			}
			d.Overage += inc
			if inc > 0 && coverable(w.Item) {
				short = true
			}
		}
		if short && opt.Paid != nil && !opt.Paid(w0.App, w0.Start) {
			s := &Stop{App: w0.App, At: w0.Start + WindowMS, Blocked: map[string]int64{}}
			s.Resume = resumeOf(opt, offer, s.App, s.At)
			if res.stops == nil {
				res.stops = map[string][]*Stop{}
			}
			res.stops[w0.App] = append(res.stops[w0.App], s)
			live = append(live, s)
		}
	}
	for len(states) > 0 {
		res.States = append(res.States, capture(states[0], res, offer, spans))
		states = states[1:]
	}
	for i := range spans {
		spans[i].flush(offer[i])
	}
	for _, s := range live {
		res.Stops = append(res.Stops, *s)
	}
	slices.SortStableFunc(res.Deductions, func(a, b Deduction) int {
		if a.Day != b.Day {
			return strings.Compare(a.Day, b.Day)
		}
		if a.App != b.App {
			return strings.Compare(a.App, b.App)
		}
		if oa, ob := order(a.Item), order(b.Item); oa != ob {
			return cmp.Compare(oa, ob)
		}
		return strings.Compare(a.Item, b.Item)
	})
	res.index()
	return res, nil
}

// windowOrder is the order Run reads usage in: window start, app id, then
// catalog item order.
func windowOrder(order func(string) int) func(a, b Window) int {
	return func(a, b Window) int {
		if a.Start != b.Start {
			return cmp.Compare(a.Start, b.Start)
		}
		if a.App != b.App {
			return strings.Compare(a.App, b.App)
		}
		if oa, ob := order(a.Item), order(b.Item); oa != ob {
			return cmp.Compare(oa, ob)
		}
		return strings.Compare(a.Item, b.Item)
	}
}

// SortWindows sorts usage in the order Run reads it (Options.ItemOrder
// orders items; nil sorts by id), so that Run need not copy it.
func SortWindows(usage []Window, itemOrder func(item string) int) {
	if itemOrder == nil {
		itemOrder = func(string) int { return 0 }
	}
	slices.SortStableFunc(usage, windowOrder(itemOrder))
}

// fixedPlaces is the precision of the exact fixed-point pack balances:
// pack minutes are counted in units of 10^-fixedPlaces while every ratio
// a pack meets has at most that many decimal places (TRTC's have one).
const (
	fixedPlaces = 6
	fixedScale  = 1_000_000 // 10^fixedPlaces
)

// packSpan is a pack as the deduction loop sees it: its validity in Unix
// ms, its ratio table and its balance. While fixed, the pack minutes used
// are counted exactly in used (units of 10^-fixedPlaces), which spares
// the decimal arithmetic of each window; a ratio that does not fit makes
// the pack fall back to decimals (Pack.Used) for the rest of the run.
type packSpan struct {
	start, end, bought int64
	ratios             map[string]money.Decimal

	fixed         bool
	granted, used int64         // in units of 10^-fixedPlaces, while fixed
	seen          [2]fixedRatio // the first items seen (no slice into itself: spans stay on the stack)
	nseen         int
	more          []fixedRatio // the items seen after them
}

// fixedRatio is a ratio in units of 10^-fixedPlaces; ok is false when it
// has more places or is too large.
type fixedRatio struct {
	item string
	r    int64
	ok   bool
}

// cover takes up to inc usage minutes of item from the pack: it returns
// the minutes covered, min(inc, floor(balance / ratio)), and false when
// the pack's table does not cover the item.
func (sp *packSpan) cover(p *Pack, item string, inc int64) (int64, bool) {
	ratio, ok := sp.ratios[item]
	if !ok {
		return 0, false
	}
	if sp.fixed {
		if r, ok := sp.fixedRatio(item, ratio); ok {
			n := min(inc, (sp.granted-sp.used)/r) // both non-negative: the floor
			if n > 0 {
				sp.used += r * n // ≤ granted: no overflow
			}
			return n, true
		}
		sp.flush(p)
		sp.fixed = false
	}
	q, _ := p.Remaining().QuoRem(ratio, 0) // exact floor
	n := inc
	if q.LessThan(money.Int(inc)) { // compared as decimals: q may not fit in int64
		n = q.IntPart()
	}
	if n > 0 {
		p.Used = p.Used.Add(ratio.Mul(money.Int(n)))
	}
	return n, true
}

func (sp *packSpan) fixedRatio(item string, ratio money.Decimal) (int64, bool) {
	for _, f := range sp.seen[:sp.nseen] {
		if f.item == item {
			return f.r, f.ok
		}
	}
	for _, f := range sp.more {
		if f.item == item {
			return f.r, f.ok
		}
	}
	f := fixedRatio{item: item}
	if r, ok, known := smallFixed(ratio); known {
		f.r, f.ok = r, ok
	} else if s := ratio.Shift(fixedPlaces); s.IsInteger() && s.IsPositive() && s.LessThanOrEqual(maxFixed) {
		f.r, f.ok = s.IntPart(), true
	}
	if sp.nseen < len(sp.seen) {
		sp.seen[sp.nseen] = f
		sp.nseen++
	} else {
		sp.more = append(sp.more, f)
	}
	return f.r, f.ok
}

// smallFixed is fixedRatio's test for a ratio whose coefficient fits in
// int64 (every catalog ratio), in integers: the decimal test allocates.
// known is false when the coefficient may not fit.
func smallFixed(ratio money.Decimal) (r int64, ok, known bool) {
	if ratio.NumDigits() > 18 {
		return 0, false, false
	}
	c, e := ratio.CoefficientInt64(), int(ratio.Exponent())+fixedPlaces
	if c <= 0 {
		return 0, false, true
	}
	for ; e < 0; e++ {
		if c%10 != 0 {
			return 0, false, true // more than fixedPlaces places
		}
		c /= 10
	}
	for ; e > 0; e-- {
		if c > math.MaxInt64/10 {
			return 0, false, true
		}
		c *= 10
	}
	return c, true, true
}

var maxFixed = money.Int(math.MaxInt64)

// decimalOnly turns the fixed-point balances off (tests compare both).
var decimalOnly bool

// flush stores a fixed-point balance in the pack's Used.
func (sp *packSpan) flush(p *Pack) {
	if !sp.fixed || sp.used == 0 {
		return
	}
	v, places := sp.used, int32(fixedPlaces)
	for places > 0 && v%10 == 0 {
		v /= 10
		places--
	}
	if u := money.Int(v).Shift(-places); p.Used.IsZero() {
		p.Used = u
	} else {
		p.Used = p.Used.Add(u)
	}
	sp.used = 0
}
