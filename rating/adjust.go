package rating

import (
	"sort"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// Late usage. A bill once issued is closed: it is never rewritten. When
// events arrive late for a closed month (HST: "provisional charges are
// recomputed at month start into the final bill"; after that the final
// bill stands), the month is rated again from all its events and the
// difference is billed as an adjustment bill in the next statement:
//
//	closed   := the issued monthly bill of October (kept as issued)
//	rerated  := Rate(every October event, late ones included).Lines of that bill
//	adj, ok  := Adjust(closed, rerated, cur)  // kind "adjustment", dated 2024-11-01
//
// Because a month is re-rated whole, rules that work on the month's total
// (HST's ceil per month per item, signalling's free million, FlexMatch's
// free tier) give the right delta: 180 billed minutes that become 210.5 min
// of usage bill 31 more minutes (211 − 180), not 30.5 ceiled on its own.
// The service stores the adjustment with the next statement; a further late
// event re-rates again and adjusts against the closed bill plus the
// adjustments already issued (pass them through Merge first).

// Adjustment is an adjustment bill and the bill it corrects.
type Adjustment struct {
	// Of is the kind and date of the closed bill corrected.
	OfKind, OfDate string
	// Bill has kind livebill.BillAdjustment, the date of the next
	// statement (the first day of the month after the closed bill's), one
	// line per item (and app) whose quantity or amount changed: the
	// quantity and amount deltas, the re-rated unit price; its total is
	// the deltas' sum rounded half-up to the currency's minor unit, like
	// every bill (SPEC §1).
	Bill livebill.Bill
}

// Adjust compares a closed bill with the re-rated lines of the same bill
// and returns the adjustment to issue in the next statement, or false when
// nothing changed. Lines are matched by item and app; an item that
// disappeared is reversed in full, a new one added in full.
func Adjust(closed livebill.Bill, rerated []livebill.Line, cur money.Currency) (Adjustment, bool, error) {
	adj := Adjustment{OfKind: closed.Kind, OfDate: closed.Date}
	day, err := time.Parse(time.DateOnly, closed.Date)
	if err != nil {
		return adj, false, livebill.Errorf(livebill.EINVALID, "adjust: closed bill date %q: %v", closed.Date, err)
	}
	next := time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	adj.Bill = livebill.Bill{Kind: livebill.BillAdjustment, Date: next.Format(time.DateOnly), Lines: []livebill.Line{}}

	type key struct{ item, app string }
	type acc struct {
		line       livebill.Line // unit, price, per: the re-rated line's when there is one
		oldQ, oldA money.Decimal
		newQ, newA money.Decimal
		order      int
		seenNewer  bool
	}
	accs := map[key]*acc{}
	get := func(l livebill.Line) *acc {
		k := key{l.Item, l.App}
		a := accs[k]
		if a == nil {
			a = &acc{line: l, order: len(accs)}
			accs[k] = a
		}
		return a
	}
	parse := func(which string, l livebill.Line) (q, a money.Decimal, err error) {
		if q, err = money.Parse(l.Quantity); err != nil {
			return q, a, livebill.Errorf(livebill.EINVALID, "adjust: %s line %s: quantity: %v", which, l.Item, err)
		}
		if a, err = money.Parse(l.Amount); err != nil {
			return q, a, livebill.Errorf(livebill.EINVALID, "adjust: %s line %s: amount: %v", which, l.Item, err)
		}
		return q, a, nil
	}
	for _, l := range closed.Lines {
		q, a, err := parse("closed", l)
		if err != nil {
			return adj, false, err
		}
		x := get(l)
		x.oldQ, x.oldA = x.oldQ.Add(q), x.oldA.Add(a)
	}
	for _, l := range rerated {
		q, a, err := parse("re-rated", l)
		if err != nil {
			return adj, false, err
		}
		x := get(l)
		if !x.seenNewer {
			x.line.Unit, x.line.UnitPrice, x.line.Per = l.Unit, l.UnitPrice, l.Per
			x.seenNewer = true
		}
		x.newQ, x.newA = x.newQ.Add(q), x.newA.Add(a)
	}
	list := make([]*acc, 0, len(accs))
	for _, a := range accs {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].order < list[j].order })
	total := money.Zero
	for _, a := range list {
		dq, da := a.newQ.Sub(a.oldQ), a.newA.Sub(a.oldA)
		if dq.IsZero() && da.IsZero() {
			continue
		}
		l := a.line
		l.Quantity, l.Amount = dq.String(), da.String()
		adj.Bill.Lines = append(adj.Bill.Lines, l)
		total = total.Add(da)
	}
	adj.Bill.Total = cur.FormatTotal(total)
	return adj, len(adj.Bill.Lines) > 0, nil
}

// Merge returns a closed bill with the adjustments already issued for it
// folded in (quantities and amounts added per item and app), so a second
// late event is adjusted against what was billed so far.
func Merge(closed livebill.Bill, issued ...Adjustment) (livebill.Bill, error) {
	out := closed
	out.Lines = append([]livebill.Line(nil), closed.Lines...)
	for _, adj := range issued {
		for _, l := range adj.Bill.Lines {
			dq, err := money.Parse(l.Quantity)
			if err != nil {
				return out, livebill.Errorf(livebill.EINVALID, "merge: adjustment line %s: quantity: %v", l.Item, err)
			}
			da, err := money.Parse(l.Amount)
			if err != nil {
				return out, livebill.Errorf(livebill.EINVALID, "merge: adjustment line %s: amount: %v", l.Item, err)
			}
			found := false
			for i := range out.Lines {
				o := &out.Lines[i]
				if o.Item != l.Item || o.App != l.App {
					continue
				}
				q, _ := money.Parse(o.Quantity)
				a, _ := money.Parse(o.Amount)
				o.Quantity, o.Amount = q.Add(dq).String(), a.Add(da).String()
				found = true
				break
			}
			if !found {
				out.Lines = append(out.Lines, l)
			}
		}
	}
	return out, nil
}
