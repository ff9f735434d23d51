package billing

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/deduct"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/rating"
)

// Usage from rollups and the live meter. A live meter holds an account's
// usage from its from instant on; every settlement stores the usage of
// the days it settles (rollups) with a checkpoint at the first day it
// leaves open, in the transaction that records it, and the meter then
// lets go of it. So the usage of a span is the rollups before the meter's
// from and the meter's after, and settled time is never metered again
// unless a late event changes it (the meter is then made again from a
// checkpoint before the event, and the next settlement rewrites the
// rollups from there).

// DefaultCheckpointDays is how many days of daily checkpoints an account
// keeps (older ones only at the first midnight of each month): late
// events of the last days resume from the day before them, older ones from
// their month's first day.
const DefaultCheckpointDays = 7

// usageSet is what rating a span needs from metering.
type usageSet struct {
	records []meter.Record
	relays  []meter.RelayInterval
	mau     map[string]map[string]int
}

// usageOf is the account's usage in [from, to) (Unix ms, midnights or
// window boundaries): the rollups before src's from, src's usage after.
// Before onlyBefore, rollups of the items listed only (items nil: all);
// with items empty, no relay or login rollups either (they feed only
// monthly bills).
func (s *Service) usageOf(ctx context.Context, a *account, src *liveMeter, from, to, onlyBefore int64, items []string) (*usageSet, error) {
	id := a.rec.ID
	us := &usageSet{mau: map[string]map[string]int{}}
	split := src.from
	if from < split {
		add := func(lo, hi int64, items []string) error {
			if lo >= hi || (items != nil && len(items) == 0) {
				return nil
			}
			ws, err := s.Store.ListUsageRollups(ctx, id, lo, hi, items)
			if err != nil {
				return err
			}
			for _, w := range ws {
				us.records = append(us.records, meter.Record{App: w.App, Item: w.Item, Window: w.Window, Value: w.Value})
			}
			return nil
		}
		mid := max(from, min(onlyBefore, split, to))
		if err := add(from, mid, items); err != nil {
			return nil, err
		}
		if err := add(mid, min(split, to), nil); err != nil {
			return nil, err
		}
		if items == nil || len(items) > 0 {
			if err := s.relaysAndLogins(ctx, a, us, from, split, to); err != nil {
				return nil, err
			}
		}
	}
	lo := max(from, split)
	for _, r := range src.m.Records() {
		if r.Window >= lo && r.Window < to {
			us.records = append(us.records, r)
		}
	}
	for _, r := range src.m.Relays() {
		if r.End != 0 && r.End <= lo {
			continue
		}
		r.Start = max(r.Start, split)
		us.relays = append(us.relays, r)
	}
	us.relays = relaysBefore(us.relays, to)
	for app, months := range src.m.MAUBefore(to) {
		for mon, n := range months {
			if monthEnd(mon, a.loc) <= split {
				continue
			}
			if us.mau[app] == nil {
				us.mau[app] = map[string]int{}
			}
			us.mau[app][mon] = n
		}
	}
	sort.SliceStable(us.records, func(i, j int) bool {
		x, y := us.records[i], us.records[j]
		if x.App != y.App {
			return x.App < y.App
		}
		if x.Item != y.Item {
			return x.Item < y.Item
		}
		return x.Window < y.Window
	})
	return us, nil
}

// relaysAndLogins adds the relay runs and first logins of [from, split)
// to us: the rollups of the monthly bills' relay peaks and MAU.
func (s *Service) relaysAndLogins(ctx context.Context, a *account, us *usageSet, from, split, to int64) error {
	id := a.rec.ID
	ps, err := s.Store.ListRelayRollups(ctx, id, from, min(split, to))
	if err != nil {
		return err
	}
	for _, p := range ps {
		us.relays = append(us.relays, meter.RelayInterval{App: p.App, Room: p.Room, Task: p.Task, Destination: p.Destination, Kbps: p.Kbps, Start: p.Start, End: p.End})
	}
	// first logins of the months the meter no longer holds
	ls, err := s.Store.ListLoginRollups(ctx, id, monthOf(from, a.loc), split)
	if err != nil {
		return err
	}
	for _, l := range ls {
		if l.First >= to || monthEnd(l.Month, a.loc) > split {
			continue
		}
		if us.mau[l.App] == nil {
			us.mau[l.App] = map[string]int{}
		}
		us.mau[l.App][l.Month]++
	}
	return nil
}

// monthOf is the first midnight of the month of instant t in loc.
func monthOf(t int64, loc *time.Location) int64 {
	y, m, _ := time.UnixMilli(t).In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc).UnixMilli()
}

// monthEnd is the end of month mon (YYYY-MM) in loc, Unix ms.
func monthEnd(mon string, loc *time.Location) int64 {
	t, err := time.ParseInLocation("2006-01", mon, loc)
	if err != nil {
		return 0
	}
	return t.AddDate(0, 1, 0).UnixMilli()
}

// monthlyOf is the catalog's items billed by the month: counts, µs, and
// durations rounded by the month.
func monthlyOf(cat *catalog.Catalog) []string {
	out := []string{}
	for _, it := range cat.Items {
		if it.Measure != catalog.MeasureDuration || it.Rounding == catalog.RoundMonth {
			out = append(out, it.ID)
		}
	}
	return out
}

// openingFor is the deduction state to rate the account from for a span
// starting at instant at: the newest at or before at and the live
// meter's from (the usage from there is the meter's or the rollups') that
// holds for the account's rating inputs now; nil if none (rate from the
// account's first month).
func (s *Service) openingFor(ctx context.Context, a *account, lm *liveMeter, at int64) (*opening, error) {
	at = min(at, lm.from)
	if at <= noRollups {
		return nil, nil // the meter holds the whole history: rate it all
	}
	if o := lm.open; o != nil && o.at <= at && o.fingerprint == rating.Fingerprint(a.in, o.at) {
		return o, nil
	}
	before := at
	for {
		cp, err := s.Store.FindCheckpoint(ctx, a.rec.ID, before, false)
		if livebill.ErrorCode(err) == livebill.ENOTFOUND {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		before = cp.At - 1
		if cp.Fingerprint != rating.Fingerprint(a.in, cp.At) {
			continue
		}
		t, late, err := s.Store.EarliestAfter(ctx, a.rec.ID, cp.Seq)
		if err != nil {
			return nil, err
		}
		var st deduct.State
		if late && t < cp.At {
			before = min(before, t)
			continue
		}
		if json.Unmarshal(cp.Deduction, &st) != nil || st.At != cp.At {
			continue
		}
		return &opening{at: cp.At, fingerprint: cp.Fingerprint, state: &st}, nil
	}
}

// rateSpan rates in (its From, To, Opening set) from the usage of
// [from, in.To): the rollups and src's.
func (s *Service) rateSpan(ctx context.Context, a *account, src *liveMeter, in rating.Input, from, onlyBefore int64, items []string) (*livebill.Quote, *deduct.State, error) {
	us, err := s.usageOf(ctx, a, src, from, in.To.UnixMilli(), onlyBefore, items)
	if err != nil {
		return nil, nil, err
	}
	in.Records, in.Relays, in.MAU = us.records, us.relays, us.mau
	in.Notices = src.m.NoticesIn(in.From.UnixMilli(), in.To.UnixMilli())
	q, st, err := rating.RateState(in)
	if err != nil {
		return nil, nil, err
	}
	q.Notices = append(q.Notices, src.norm.Notices()...)
	return q, st, nil
}

// errorsOf are the events src's meter refused, and the stored events
// that did not parse.
func (lm *liveMeter) errorsOf() []error {
	return append(slices.Clone(lm.rejected), lm.m.Errors()...)
}

// rollupFor is what the settlement through midnight b stores of the live
// meter: its usage of [from, b) and the checkpoint at b (the meter's
// state kept when it crossed b, the deduction's state there, st). Nil
// when there is nothing to store.
func (s *Service) rollupFor(a *account, lm *liveMeter, b int64, fp string, st *deduct.State, now time.Time) *livebill.RollupWrite {
	if b <= lm.from {
		return nil
	}
	w := &livebill.RollupWrite{From: lm.from, To: b, Fresh: lm.fresh, Location: a.loc}
	for _, r := range lm.m.Records() {
		if r.Window >= lm.from && r.Window < b {
			w.Usage = append(w.Usage, livebill.UsageWindow{App: r.App, Item: r.Item, Window: r.Window, Value: r.Value})
		}
	}
	w.Days = livebill.SumDays(w.Usage, a.loc)
	for _, r := range lm.m.Relays() {
		if r.Start >= b || (r.End != 0 && r.End <= lm.from) {
			continue
		}
		p := livebill.RelayPiece{App: r.App, Room: r.Room, Task: r.Task, Destination: r.Destination, Kbps: r.Kbps,
			Start: max(r.Start, lm.from), End: r.End}
		if p.End == 0 || p.End > b {
			p.End = b
		}
		w.Relays = append(w.Relays, p)
	}
	for _, l := range lm.m.FirstLogins() {
		if l.First >= lm.from && l.First < b {
			w.Logins = append(w.Logins, livebill.FirstLogin{App: l.App, Month: l.Month, User: l.User, First: l.First})
		}
	}
	if sn, ok := lm.snap(b); ok && st != nil && st.At == b {
		ded, err := json.Marshal(st)
		if err == nil {
			w.Checkpoint = &livebill.Checkpoint{AccountID: a.rec.ID, At: b, Seq: sn.seq, Meter: sn.data, Fingerprint: fp, Deduction: ded, MadeAt: now}
		}
	}
	return w
}

// checkpointDays is CheckpointDays or its default.
func (s *Service) checkpointDays() int {
	if s.CheckpointDays <= 0 {
		return DefaultCheckpointDays
	}
	return s.CheckpointDays
}

// keepBill reports whether a bill of kind and date is among those a
// settlement rated from the deduction state at day since (YYYY-MM-DD, ""
// for all) recomputes: the days from since, and the monthly bill of its
// month and later ones.
func keepBill(kind, date, since string) bool {
	if since == "" || date >= since {
		return true
	}
	return kind == livebill.BillMonthly && date >= since[:8]+"01"
}

// keepIssued is keepBill for an issued bill (an adjustment: for the bill
// it adjusts, whose key starts kind|date).
func keepIssued(b *livebill.IssuedBill, since string) bool {
	if b.Kind != livebill.BillAdjustment {
		return keepBill(b.Kind, b.Date, since)
	}
	kind, date := keyKindDate(b.Adjusts)
	return keepBill(kind, date, since)
}
