// Package rating prices metered usage and purchases with a catalog: it
// turns per-window usage into billable quantities (minutes ceiled per
// rounding window, counts less allowances, the month's peak bandwidth,
// pro-rata hours), applies packages in account mode, and assembles daily,
// monthly and purchase bills into a quote (SPEC §7.3).
package rating

import (
	"sort"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/deduct"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
)

// Modes.
const (
	ModeAccount    = "account"    // packs, plans, allowances and stops apply
	ModeCalculator = "calculator" // list prices only
)

// Input is everything a quote is computed from.
type Input struct {
	Catalog  *catalog.Catalog
	Location *time.Location // billing zone (catalog's, or the account's)
	Mode     string
	From, To time.Time // the period, [From, To), local midnights
	Account  livebill.Account

	Records []meter.Record
	Relays  []meter.RelayInterval
	MAU     map[string]map[string]int
	Notices []livebill.Notice

	Purchases []livebill.Purchase
	Refunds   []livebill.RefundRequest
	Devices   []livebill.Device
}

// billKey identifies a bill.
type billKey struct {
	kind string
	date string // YYYY-MM-DD (monthly bills: the month's first day)
	seq  int    // purchase bills: one per purchase or refund
}

// lineAcc accumulates one item's line within a bill.
type lineAcc struct {
	item      string
	unit      string
	unitPrice money.Decimal
	per       money.Decimal
	quantity  money.Decimal
	amount    money.Decimal

	priceStr, perStr string // unitPrice and per as strings, once formatted
}

// usageAcc accumulates an item's metered quantity and coverage.
type usageAcc struct {
	quantity, covered money.Decimal
}

type quoter struct {
	in      Input
	cat     *catalog.Catalog
	loc     *time.Location
	cur     money.Currency
	bills   map[billKey]map[string]*lineAcc
	usage   map[string]*usageAcc
	notices []livebill.Notice
	seq     int
	pl      *planState // TRTC plans, packs and refunds (plans.go)

	dayStart, dayEnd int64 // the day of dayStr (day), Unix ms
	dayStr           string
}

// Rate prices the input.
func Rate(in Input) (*livebill.Quote, error) {
	cur, err := money.LookupCurrency(in.Catalog.Currency)
	if err != nil {
		return nil, err
	}
	if in.Location == nil {
		in.Location = in.Catalog.Location()
	}
	if in.Mode == "" {
		in.Mode = ModeAccount
	}
	q := &quoter{in: in, cat: in.Catalog, loc: in.Location, cur: cur,
		bills: map[billKey]map[string]*lineAcc{}, usage: map[string]*usageAcc{}}
	q.notices = append(q.notices, in.Notices...)
	steps := []func() error{q.plans, q.durations, q.counts, q.microseconds, q.peaks, q.purchases, q.planBills}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	out := q.quote()
	out.Packs = q.packStates()
	return out, nil
}

func (q *quoter) inPeriod(ms int64) bool {
	return ms >= q.in.From.UnixMilli() && ms < q.in.To.UnixMilli()
}

func (q *quoter) item(id string) (*catalog.Item, error) {
	it, ok := q.cat.Item(id)
	if !ok {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "catalog %s has no item %s", q.cat.Name, id)
	}
	return it, nil
}

// addUsage records an item's metered quantity and what packages covered.
func (q *quoter) addUsage(item string, quantity, covered money.Decimal) {
	u := q.usage[item]
	if u == nil {
		u = &usageAcc{}
		q.usage[item] = u
	}
	u.quantity = u.quantity.Add(quantity)
	u.covered = u.covered.Add(covered)
}

// addLine adds a billed quantity of a catalog item to a bill. A zero
// quantity still shows the item; an unpublished item with a quantity fails.
func (q *quoter) addLine(bk billKey, it *catalog.Item, quantity money.Decimal, free bool) error {
	price, err := it.PriceOf()
	if err != nil {
		if quantity.IsZero() {
			return nil
		}
		return err
	}
	amount := money.Cost(quantity, price, money.Int(it.Per))
	if free {
		amount = money.Zero
	}
	q.line(bk, it.ID, it.Unit, price, money.Int(it.Per), quantity, amount)
	return nil
}

func (q *quoter) line(bk billKey, item, unit string, price, per, quantity, amount money.Decimal) {
	b := q.bills[bk]
	if b == nil {
		b = map[string]*lineAcc{}
		q.bills[bk] = b
	}
	l := b[item]
	if l == nil {
		l = &lineAcc{item: item, unit: unit, unitPrice: price, per: per}
		b[item] = l
	}
	l.quantity = l.quantity.Add(quantity)
	l.amount = l.amount.Add(amount)
}

// day is the billing day of instant ms, YYYY-MM-DD. Records come mostly
// in time order, so the last day's bounds are kept.
func (q *quoter) day(ms int64) string {
	if q.dayStr == "" || ms < q.dayStart || ms >= q.dayEnd {
		t := time.UnixMilli(ms).In(q.loc)
		y, m, d := t.Date()
		ds := time.Date(y, m, d, 0, 0, 0, 0, q.loc)
		q.dayStart, q.dayEnd = ds.UnixMilli(), ds.AddDate(0, 0, 1).UnixMilli()
		q.dayStr = ds.Format(time.DateOnly)
	}
	return q.dayStr
}

func (q *quoter) month(ms int64) string {
	return monthStart(time.UnixMilli(ms), q.loc).Format(time.DateOnly)
}

// durations: ms per (app, rounding window, item) → ceil minutes (SPEC §1).
// In account mode the deduction engine (plans.go) tells what packs covered
// of each (app, day, item) and which windows a service stop blocked.
func (q *quoter) durations() error {
	var ded *deduct.Result
	if q.pl != nil {
		ded = q.pl.ded
	}
	type key struct{ app, item, window string }
	sums := map[key]int64{}
	var keys []key
	for _, r := range q.in.Records {
		it, err := q.item(r.Item)
		if err != nil {
			return err
		}
		if it.Measure != catalog.MeasureDuration || !q.inPeriod(r.Window) || ded.Blocked(r.App, r.Window) {
			continue
		}
		k := key{r.App, r.Item, q.day(r.Window)}
		if it.Rounding == catalog.RoundMonth {
			k.window = q.month(r.Window)
		}
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		sums[k] += r.Value
	}
	for _, k := range keys {
		it, _ := q.cat.Item(k.item)
		minutes := money.Int(money.CeilDiv(sums[k], 60000))
		covered := money.Zero
		if it.Rounding != catalog.RoundMonth {
			covered = money.Int(ded.Covered(k.app, k.window, k.item))
		}
		q.addUsage(k.item, minutes, covered)
		kind := livebill.BillDaily
		if it.Rounding == catalog.RoundMonth {
			kind = livebill.BillMonthly
		}
		if err := q.addLine(billKey{kind: kind, date: k.window}, it, minutes.Sub(covered), false); err != nil {
			return err
		}
	}
	return nil
}

// freeTier returns what the free tier covers of an item in a month: the
// month's allowance, up to the usage that falls inside the free-tier window
// (see inFreeTier). Outside account mode nothing is free.
func (q *quoter) freeTier(item string, inWindow money.Decimal) money.Decimal {
	if q.in.Mode != ModeAccount || q.in.Account.Created.IsZero() {
		return money.Zero
	}
	for _, ft := range q.cat.FreeTiers {
		if ft.Item == item {
			if a := money.MustParse(ft.Amount); a.LessThan(inWindow) {
				return a
			}
			return inWindow
		}
	}
	return money.Zero
}

// inFreeTier reports whether usage at ms is inside the account's free-tier
// window for the item: date to date, from 00:00 of the creation day to the
// same day Months months later (anchor kept, SPEC §1), like AWS's "12
// months from sign-up". Each calendar month's allowance covers only that
// month's usage inside the window (docs/decisions.md).
func (q *quoter) inFreeTier(item string, ms int64) bool {
	if q.in.Account.Created.IsZero() {
		return false
	}
	for _, ft := range q.cat.FreeTiers {
		if ft.Item == item {
			start := midnight(q.in.Account.Created, q.loc)
			end := AddPeriod(start, 1, 0, 0, ft.Months)
			return ms >= start.UnixMilli() && ms < end.UnixMilli()
		}
	}
	return false
}

// counts: per (scope, month) count less the monthly allowance, in steps.
func (q *quoter) counts() error {
	type key struct{ scope, item, month string }
	sums, inTier := map[key]int64{}, map[key]int64{}
	var keys []key
	for _, r := range q.in.Records {
		it, _ := q.cat.Item(r.Item)
		if it.Measure != catalog.MeasureCount || !q.inPeriod(r.Window) {
			continue
		}
		k := key{r.App, r.Item, q.month(r.Window)}
		if it.FreeScope == "account" {
			k.scope = ""
		}
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		sums[k] += r.Value
		if q.inFreeTier(r.Item, r.Window) {
			inTier[k] += r.Value
		}
	}
	for _, k := range keys {
		it, _ := q.cat.Item(k.item)
		n := money.Int(sums[k])
		billable := n.Sub(money.Int(it.FreePerMonth)).Sub(q.freeTier(k.item, money.Int(inTier[k])))
		if billable.IsNegative() {
			billable = money.Zero
		}
		if it.Step > 0 {
			billable = money.Int(money.CeilDiv(billable.IntPart(), it.Step))
		}
		q.addUsage(k.item, n, money.Zero)
		if err := q.addLine(billKey{kind: livebill.BillMonthly, date: k.month}, it, billable, false); err != nil {
			return err
		}
	}
	return nil
}

// microseconds: per month, µs → hours pro rata, less the free tier.
func (q *quoter) microseconds() error {
	type key struct{ item, month string }
	sums, inTier := map[key]int64{}, map[key]int64{}
	var keys []key
	for _, r := range q.in.Records {
		it, _ := q.cat.Item(r.Item)
		if it.Measure != catalog.MeasureDurationUS || !q.inPeriod(r.Window) {
			continue
		}
		k := key{r.Item, q.month(r.Window)}
		if _, ok := sums[k]; !ok {
			keys = append(keys, k)
		}
		sums[k] += r.Value
		if q.inFreeTier(r.Item, r.Window) {
			inTier[k] += r.Value
		}
	}
	hour := money.Int(3_600_000_000)
	for _, k := range keys {
		it, _ := q.cat.Item(k.item)
		hours := money.Div(money.Int(sums[k]), hour)
		billable := hours.Sub(q.freeTier(k.item, money.Div(money.Int(inTier[k]), hour)))
		if billable.IsNegative() {
			billable = money.Zero
		}
		q.addUsage(k.item, hours, money.Zero)
		if err := q.addLine(billKey{kind: livebill.BillMonthly, date: k.month}, it, billable, false); err != nil {
			return err
		}
	}
	return nil
}

// peaks: the month's peak of the summed bitrates of running relays, per
// account and destination class (SPEC §3). A relay that stops at the
// instant another starts does not overlap it.
func (q *quoter) peaks() error {
	type edge struct {
		t     int64
		delta int64
	}
	type key struct{ item, month string }
	edges := map[key][]edge{}
	var keys []key
	from, to := q.in.From.UnixMilli(), q.in.To.UnixMilli()
	for _, r := range q.in.Relays {
		s, e := max(r.Start, from), min(r.End, to)
		if s >= e {
			continue
		}
		item := "trtc.relay." + r.Destination
		// Split at month starts so each month has its own peak.
		for s < e {
			ms := monthStart(time.UnixMilli(s), q.loc)
			next := ms.AddDate(0, 1, 0).UnixMilli()
			end := min(e, next)
			k := key{item, ms.Format(time.DateOnly)}
			if _, ok := edges[k]; !ok {
				keys = append(keys, k)
			}
			edges[k] = append(edges[k], edge{s, r.Kbps}, edge{end, -r.Kbps})
			s = end
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].month < keys[j].month || keys[i].month == keys[j].month && keys[i].item < keys[j].item
	})
	for _, k := range keys {
		es := edges[k]
		sort.Slice(es, func(i, j int) bool {
			if es[i].t != es[j].t {
				return es[i].t < es[j].t
			}
			return es[i].delta < es[j].delta // stops first
		})
		var cur, peak int64
		for _, e := range es {
			cur += e.delta
			peak = max(peak, cur)
		}
		it, err := q.item(k.item)
		if err != nil {
			return err
		}
		mbps := money.Div(money.Int(peak), money.Thousand)
		q.addUsage(k.item, mbps, money.Zero)
		fb, has := it.FreeBelowValue()
		free := has && mbps.LessThan(fb)
		if err := q.addLine(billKey{kind: livebill.BillMonthly, date: k.month}, it, mbps, free); err != nil {
			return err
		}
	}
	return nil
}

// quote assembles bills and the per-item summary.
func (q *quoter) quote() *livebill.Quote {
	out := &livebill.Quote{Currency: q.cur.Code, Lines: []livebill.Line{}, Usage: []livebill.UsageLine{},
		Bills: []livebill.Bill{}, Notices: q.notices}
	if out.Notices == nil {
		out.Notices = []livebill.Notice{}
	}
	keys := make([]billKey, 0, len(q.bills))
	for k := range q.bills {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.date != b.date {
			return a.date < b.date
		}
		if a.kind != b.kind {
			return kindOrder(a.kind) < kindOrder(b.kind)
		}
		return a.seq < b.seq
	})
	total := money.Zero
	sum := map[string]*lineAcc{}
	for _, k := range keys {
		lines := q.sortedLines(q.bills[k])
		bt := money.Zero
		bill := livebill.Bill{Kind: k.kind, Date: k.date, Lines: make([]livebill.Line, 0, len(lines))}
		for _, l := range lines {
			bt = bt.Add(l.amount)
			bill.Lines = append(bill.Lines, l.json())
			s := sum[l.item]
			if s == nil {
				cp := *l
				sum[l.item] = &cp
			} else {
				s.quantity = s.quantity.Add(l.quantity)
				s.amount = s.amount.Add(l.amount)
			}
		}
		rounded := q.cur.RoundTotal(bt)
		bill.Total = q.cur.FormatTotal(rounded)
		total = total.Add(rounded)
		out.Bills = append(out.Bills, bill)
	}
	sumLines := q.sortedLines(sum)
	out.Lines = make([]livebill.Line, 0, len(sumLines))
	for _, l := range sumLines {
		out.Lines = append(out.Lines, l.json())
	}
	out.Usage = make([]livebill.UsageLine, 0, len(q.usage))
	items := make([]string, 0, len(q.usage))
	for id := range q.usage {
		items = append(items, id)
	}
	sort.Slice(items, func(i, j int) bool { return q.less(items[i], items[j]) })
	for _, id := range items {
		u := q.usage[id]
		out.Usage = append(out.Usage, livebill.UsageLine{Item: id, Quantity: u.quantity.String(), Covered: u.covered.String()})
	}
	out.Total = q.cur.FormatTotal(total)
	return out
}

// kindOrder orders a day's bills: purchases, daily, monthly, adjustments.
func kindOrder(kind string) int {
	switch kind {
	case livebill.BillPurchase:
		return 0
	case livebill.BillDaily:
		return 1
	case livebill.BillMonthly:
		return 2
	case livebill.BillAdjustment:
		return 3
	}
	return 0
}

func (q *quoter) less(a, b string) bool {
	oa, ob := q.cat.ItemOrder(a), q.cat.ItemOrder(b)
	if oa != ob {
		return oa < ob
	}
	return a < b
}

func (q *quoter) sortedLines(m map[string]*lineAcc) []*lineAcc {
	out := make([]*lineAcc, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return q.less(out[i].item, out[j].item) })
	return out
}

func (l *lineAcc) json() livebill.Line {
	if l.priceStr == "" { // kept for the summary line, a copy of the bill's
		l.priceStr, l.perStr = l.unitPrice.String(), l.per.String()
	}
	return livebill.Line{Item: l.item, Quantity: l.quantity.String(), Unit: l.unit,
		UnitPrice: l.priceStr, Per: l.perStr, Amount: l.amount.String()}
}
