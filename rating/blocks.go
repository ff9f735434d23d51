package rating

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
)

// Blocks (the account lifecycle, SPEC §4): usage metered while the
// account was suspended or an app disabled is not billed. A 5-minute
// window is blocked when it starts inside a block (the deduction's unit,
// as for a trial's service stop); its usage is taken out before anything
// is rated, so it neither draws on packs nor is billed, and is reported
// by item in usage (blocked) and in a usage_blocked notice naming the
// cause. Relay time inside a block is cut out of the relay intervals.
// (The meter dissolved the rooms at each block's start, so what ran then
// ended; what is left is usage that came while stopped.)

// blockedUsage is what one block took out, per app and item.
type blockedUsage struct {
	first  int64 // the first blocked window
	byItem map[string]int64
}

// applyBlocks takes the blocked usage out of the input and reports it.
func (q *quoter) applyBlocks() error {
	bs := q.in.Blocks
	if len(bs) == 0 {
		return nil
	}
	type key struct {
		block int
		app   string
	}
	took := map[key]*blockedUsage{}
	var keys []key
	recs := make([]meter.Record, 0, len(q.in.Records))
	for _, r := range q.in.Records {
		i := blockAt(bs, r.App, r.Window)
		if i < 0 {
			recs = append(recs, r)
			continue
		}
		if !q.inPeriod(r.Window) {
			continue
		}
		k := key{i, r.App}
		u := took[k]
		if u == nil {
			u = &blockedUsage{first: r.Window, byItem: map[string]int64{}}
			took[k] = u
			keys = append(keys, k)
		}
		u.first = min(u.first, r.Window)
		u.byItem[r.Item] += r.Value
	}
	q.in.Records = recs
	q.in.Relays = cutRelays(q.in.Relays, bs, q.in.To.UnixMilli())

	from, to := q.in.From.UnixMilli(), q.in.To.UnixMilli()
	for _, b := range bs {
		start, end := b.From.UnixMilli(), b.To.UnixMilli()
		if b.To.IsZero() {
			end = to
		}
		if start >= to || end <= from {
			continue
		}
		n := livebill.Notice{Code: livebill.NoticeServiceStop, App: b.App, Time: q.fmtTime(start), Reason: b.Reason, Message: stopMessage(b)}
		if !b.To.IsZero() && end < to {
			n.Message += "; service resumed at " + q.fmtTime(end)
		}
		q.notices = append(q.notices, n)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].block != keys[j].block {
			return keys[i].block < keys[j].block
		}
		return keys[i].app < keys[j].app
	})
	for _, k := range keys {
		u, b := took[k], bs[k.block]
		items := make([]string, 0, len(u.byItem))
		for it := range u.byItem {
			items = append(items, it)
		}
		sort.Slice(items, func(i, j int) bool { return q.less(items[i], items[j]) })
		parts := make([]string, 0, len(items))
		for _, it := range items {
			v := q.blockedQuantity(it, u.byItem[it])
			q.usageOf(it).blocked.add(v)
			parts = append(parts, fmt.Sprintf("%s %s %s", it, decString(v), q.unitOf(it)))
		}
		q.notices = append(q.notices, livebill.Notice{Code: livebill.NoticeBlockedUsage, App: k.app, Time: q.fmtTime(u.first), Reason: b.Reason,
			Message: "usage while " + stoppedWhy(b) + " was blocked and is not billed: " + strings.Join(parts, ", ")})
	}
	return nil
}

// blockAt returns the index of the block covering app's window starting at
// ms, or -1.
func blockAt(bs []livebill.Block, app string, ms int64) int {
	t := time.UnixMilli(ms)
	for i := range bs {
		if bs[i].Covers(app, t) {
			return i
		}
	}
	return -1
}

func stopMessage(b livebill.Block) string {
	if b.Reason == livebill.ReasonAppDisabled {
		return "the app was disabled by the operator: its rooms were dissolved and its usage is not billed"
	}
	return "the account's balance stayed below zero past the grace period: it was suspended, every app stopped and its rooms were dissolved"
}

func stoppedWhy(b livebill.Block) string {
	if b.Reason == livebill.ReasonAppDisabled {
		return "the app was disabled"
	}
	return "the account was suspended"
}

// blockedQuantity is a blocked raw value in the item's unit: minutes
// (exact) for durations, hours for µs, the count otherwise.
func (q *quoter) blockedQuantity(item string, v int64) money.Decimal {
	it, ok := q.cat.Item(item)
	switch {
	case ok && it.Measure == catalog.MeasureDuration:
		return money.Div(money.Int(v), money.Int(60000))
	case ok && it.Measure == catalog.MeasureDurationUS:
		return money.Div(money.Int(v), money.Int(3_600_000_000))
	}
	return money.Int(v)
}

func (q *quoter) unitOf(item string) string {
	if it, ok := q.cat.Item(item); ok {
		switch it.Measure {
		case catalog.MeasureDuration:
			return "min"
		case catalog.MeasureDurationUS:
			return "h"
		}
	}
	return ""
}

// cutRelays removes the blocked spans from the relay intervals (a relay
// open at end runs to end).
func cutRelays(rs []meter.RelayInterval, bs []livebill.Block, end int64) []meter.RelayInterval {
	out := make([]meter.RelayInterval, 0, len(rs))
	for _, r := range rs {
		if r.End == 0 {
			r.End = end
		}
		parts := []meter.RelayInterval{r}
		for _, b := range bs {
			if b.App != "" && b.App != r.App {
				continue
			}
			bf, bt := b.From.UnixMilli(), b.To.UnixMilli()
			if b.To.IsZero() {
				bt = 1<<62 - 1
			}
			var next []meter.RelayInterval
			for _, p := range parts {
				if bt <= p.Start || bf >= p.End {
					next = append(next, p)
					continue
				}
				if p.Start < bf {
					a := p
					a.End = bf
					next = append(next, a)
				}
				if bt < p.End {
					a := p
					a.Start = bt
					next = append(next, a)
				}
			}
			parts = next
		}
		out = append(out, parts...)
	}
	return out
}

// trialStops returns the deduction's trial stops.
func (q *quoter) trialStops() []livebill.TrialStop {
	if q.pl == nil || q.pl.ded == nil {
		return nil
	}
	var out []livebill.TrialStop
	for _, s := range q.pl.ded.Stops {
		st := livebill.TrialStop{App: s.App, At: time.UnixMilli(s.At).In(q.loc)}
		if s.Resume > 0 {
			st.Resume = time.UnixMilli(s.Resume).In(q.loc)
		}
		out = append(out, st)
	}
	return out
}
