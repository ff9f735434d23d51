// Package rating prices metered usage and purchases with a catalog: it
// turns per-window usage into billable quantities (minutes ceiled per
// rounding window, counts less allowances, the month's peak bandwidth,
// pro-rata hours), applies packages in account mode, and assembles daily,
// monthly and purchase bills into a quote (SPEC §7.3).
package rating

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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

	// Blocks are the spans in which the account was suspended or an app
	// disabled: their usage is not billed (blocks.go). The meter that
	// made Records dissolved the rooms at each block's start.
	Blocks []livebill.Block

	// Opening, when set, starts the deduction from its state at a
	// midnight (state.go) instead of from the first record: the daily
	// durations before Opening.At are not rated (their days' bills are
	// left out of the quote), monthly items are, from the records given.
	Opening *deduct.State
	// StateAt, when set (a midnight), asks RateState for the deduction's
	// state there.
	StateAt time.Time
	// WithClosed says the daily bills of the period's days before
	// Opening.At are given, in Closed, taken as they are (the bills
	// settlement issued for them): they join the quote's bills, summary
	// and total as if rated (state.go).
	WithClosed bool
	Closed     []livebill.Bill
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
	per       int64
	quantity  qty
	amount    money.Decimal

	priceStr, perStr string // unitPrice and per as strings, once formatted
	// quantity and amount as strings, once formatted; "" after a change
	quantityStr, amountStr string

	// A summary line: the first bill line of its item, whose strings it
	// takes (all of them unless another bill's line was added: merged).
	from   *lineAcc
	merged bool
}

// billAcc accumulates a bill's lines, one per item (a bill has a few:
// searched linearly).
type billAcc struct {
	key   billKey
	lines []lineAcc
}

// usageAcc accumulates an item's metered quantity and coverage.
type usageAcc struct {
	item                       string
	quantity, covered, blocked qty
}

// qty is an exact quantity that adds integers (minutes, counts) as int64,
// without decimal arithmetic: its value is n + d.
type qty struct {
	n int64
	d money.Decimal
}

// add adds v: as an integer when it is one that fits.
func (x *qty) add(v money.Decimal) {
	if n, ok := int64Of(v); ok {
		x.addInt(n)
		return
	}
	x.d = add(x.d, v)
}

func (x *qty) addInt(v int64) {
	s := x.n + v
	if (v > 0 && s < x.n) || (v < 0 && s > x.n) { // overflow: v goes to the decimal
		x.d = add(x.d, money.Int(v))
		return
	}
	x.n = s
}

func (x *qty) addQty(y qty) {
	x.addInt(y.n)
	x.d = add(x.d, y.d)
}

// String is the value's decimal string (money.Decimal's).
func (x qty) String() string {
	if x.d.IsZero() {
		return strconv.FormatInt(x.n, 10)
	}
	return add(intDecimal(x.n), x.d).String()
}

// int64Of returns d as an int64 when it is an integer of exponent 0 that
// fits (money.Int's values).
func int64Of(d money.Decimal) (int64, bool) {
	if d.Exponent() != 0 || d.NumDigits() > 18 {
		return 0, false
	}
	return d.CoefficientInt64(), true
}

// decString is d.String(), through strconv for an integer that fits.
func decString(d money.Decimal) string {
	if n, ok := int64Of(d); ok {
		return strconv.FormatInt(n, 10)
	}
	return d.String()
}

type quoter struct {
	in       Input
	cat      *catalog.Catalog
	loc      *time.Location
	cur      money.Currency
	bills    []billAcc
	lastBill int        // index in bills of the bill last added to
	usage    []usageAcc // one per item, in first-use order
	notices  []livebill.Notice
	seq      int
	pl       *planState // TRTC plans, packs and refunds (plans.go)
	plans0   planState  // pl's storage

	dayStart, dayEnd int64 // the day of dayStr (day), Unix ms
	dayStr           string

	windows []deduct.Window // the deduction's usage (plans.go)

	// closedUnknown: with closed bills, whether a stop blocked usage of
	// the closed days is not known (ErrClosedUnknown)
	closedUnknown bool
	sum           []lineAcc // the quote's summary lines (quote)
}

// quoters keeps quoters between Rate calls for their scratch space (the
// bill, line and usage accumulators and the deduction's usage): a
// settlement rates one account per call and every allocation is costly.
// A quoter serves one Rate at a time, and nothing Rate returns points into
// it: the quote's slices and strings are made by quote and packStates.
var quoters = sync.Pool{New: func() any { return new(quoter) }}

// maxPooled bounds the scratch space a pooled quoter keeps (a year's quote
// of a big account is not kept for the next one).
const maxPooled = 4096

// release clears q, keeping its buffers, and returns it to quoters.
func (q *quoter) release() {
	for i := range q.bills {
		clear(q.bills[i].lines)
		q.bills[i] = billAcc{lines: q.bills[i].lines[:0]}
	}
	clear(q.usage)
	clear(q.windows)
	clear(q.sum)
	big := cap(q.bills) > 64 || cap(q.usage) > 64 || cap(q.windows) > maxPooled || cap(q.sum) > 64
	*q = quoter{bills: q.bills[:0], usage: q.usage[:0], windows: q.windows[:0], sum: q.sum[:0]}
	if !big {
		quoters.Put(q)
	}
}

// Rate prices the input.
func Rate(in Input) (*livebill.Quote, error) {
	q, _, err := RateState(in)
	return q, err
}

// RateState prices the input and returns the deduction's state at
// in.StateAt (nil when it is not set).
func RateState(in Input) (*livebill.Quote, *deduct.State, error) {
	cur, err := money.LookupCurrency(in.Catalog.Currency)
	if err != nil {
		return nil, nil, err
	}
	if in.Location == nil {
		in.Location = in.Catalog.Location()
	}
	if in.Mode == "" {
		in.Mode = ModeAccount
	}
	q := quoters.Get().(*quoter)
	defer q.release()
	q.in, q.cat, q.loc, q.cur = in, in.Catalog, in.Location, cur
	q.notices = append([]livebill.Notice(nil), in.Notices...) // returned: never pooled
	if err := q.applyBlocks(); err != nil {
		return nil, nil, err
	}
	// The steps are called one by one: a slice of method values would
	// allocate each.
	if err := q.plans(); err != nil {
		return nil, nil, err
	}
	if err := q.durations(); err != nil {
		return nil, nil, err
	}
	if err := q.counts(); err != nil {
		return nil, nil, err
	}
	if err := q.microseconds(); err != nil {
		return nil, nil, err
	}
	if err := q.peaks(); err != nil {
		return nil, nil, err
	}
	if err := q.purchases(); err != nil {
		return nil, nil, err
	}
	if err := q.planBills(); err != nil {
		return nil, nil, err
	}
	if err := q.addClosed(); err != nil {
		return nil, nil, err
	}
	if q.closedUnknown {
		return nil, nil, ErrClosedUnknown
	}
	out := q.quote()
	out.Packs = q.packStates()
	out.Stops = q.trialStops()
	return out, q.state(), nil
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
	u := q.usageOf(item)
	u.quantity.add(quantity)
	u.covered.add(covered)
}

// addUsageInt is addUsage for integers.
func (q *quoter) addUsageInt(item string, quantity, covered int64) {
	u := q.usageOf(item)
	u.quantity.addInt(quantity)
	u.covered.addInt(covered)
}

func (q *quoter) usageOf(item string) *usageAcc {
	var u *usageAcc
	for i := range q.usage {
		if q.usage[i].item == item {
			u = &q.usage[i]
			break
		}
	}
	if u == nil {
		if q.usage == nil {
			q.usage = make([]usageAcc, 0, 4)
		}
		q.usage = append(q.usage, usageAcc{item: item})
		u = &q.usage[len(q.usage)-1]
	}
	return u
}

// add is a + b; a sum with zero is the other term, without the
// arithmetic (a value equal to the sum: the same string, the same
// rounding).
func add(a, b money.Decimal) money.Decimal {
	switch {
	case b.IsZero():
		return a
	case a.IsZero():
		return b
	}
	return a.Add(b)
}

// intDecimal is money.Int, without an allocation for 0.
func intDecimal(n int64) money.Decimal {
	if n == 0 {
		return money.Zero
	}
	return money.Int(n)
}

// cost is money.Cost(quantity, price, money.Int(per)). When per is a power
// of ten and the quotient has at most money.DivisionPlaces places (every
// published price), the division is exact: a shift, without DivRound's
// arithmetic.
func cost(quantity, price money.Decimal, per int64) money.Decimal {
	if per > 0 && (quantity.IsZero() || price.IsZero()) {
		return money.Zero
	}
	shift := int32(0)
	for p := per; p > 1 && p%10 == 0; p /= 10 {
		shift++
	}
	if pow10(shift) == per {
		if x := quantity.Mul(price).Shift(-shift); x.Exponent() >= -money.DivisionPlaces {
			return x
		}
	}
	return money.Cost(quantity, price, money.Int(per))
}

// pow10 is 10^n for small n.
func pow10(n int32) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
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
	amount := money.Zero
	if !free {
		amount = cost(quantity, price, it.Per)
	}
	q.line(bk, it.ID, it.Unit, price, it.Per, quantity, amount)
	return nil
}

func (q *quoter) line(bk billKey, item, unit string, price money.Decimal, per int64, quantity, amount money.Decimal) {
	var b *billAcc
	if q.lastBill < len(q.bills) && q.bills[q.lastBill].key == bk {
		b = &q.bills[q.lastBill]
	} else {
		for i := range q.bills {
			if q.bills[i].key == bk {
				b, q.lastBill = &q.bills[i], i
				break
			}
		}
	}
	if b == nil {
		// A pooled bill past len keeps its lines' array (release emptied it).
		if n := len(q.bills); n < cap(q.bills) {
			q.bills = q.bills[:n+1]
			q.bills[n].key = bk
		} else {
			q.bills = append(q.bills, billAcc{key: bk})
		}
		q.lastBill = len(q.bills) - 1
		b = &q.bills[q.lastBill]
	}
	var l *lineAcc
	for i := range b.lines {
		if b.lines[i].item == item {
			l = &b.lines[i]
			break
		}
	}
	if l == nil {
		if b.lines == nil {
			b.lines = make([]lineAcc, 0, 4)
		}
		b.lines = append(b.lines, lineAcc{item: item, unit: unit, unitPrice: price, per: per})
		l = &b.lines[len(b.lines)-1]
	}
	l.quantity.add(quantity)
	l.amount = add(l.amount, amount)
	l.quantityStr, l.amountStr = "", "" // formatted again if already
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
	keys := make([]key, 0, 8) // on the stack while an account has few
	for _, r := range q.in.Records {
		it, err := q.item(r.Item)
		if err != nil {
			return err
		}
		if it.Measure != catalog.MeasureDuration || !q.inPeriod(r.Window) {
			continue
		}
		if o := q.in.Opening; o != nil && r.Window < o.At && it.Rounding != catalog.RoundMonth {
			continue // a day before the deduction's opening state: not rated
		}
		if ded.Blocked(r.App, r.Window) {
			q.usageOf(r.Item).blocked.add(money.Div(money.Int(r.Value), money.Int(60000)))
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
		minutes := money.CeilDiv(sums[k], 60000)
		var covered int64
		if it.Rounding != catalog.RoundMonth {
			covered = ded.Covered(k.app, k.window, k.item)
		}
		q.addUsageInt(k.item, minutes, covered)
		kind := livebill.BillDaily
		if it.Rounding == catalog.RoundMonth {
			kind = livebill.BillMonthly
		}
		if err := q.addLine(billKey{kind: kind, date: k.window}, it, intDecimal(minutes-covered), false); err != nil {
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

// quote assembles bills and the per-item summary. It sorts q.bills: no
// line may be added after it.
func (q *quoter) quote() *livebill.Quote {
	out := &livebill.Quote{Currency: q.cur.Code, Notices: q.notices}
	if out.Notices == nil {
		out.Notices = []livebill.Notice{}
	}
	slices.SortFunc(q.bills, func(a, b billAcc) int {
		if c := strings.Compare(a.key.date, b.key.date); c != 0 {
			return c
		}
		if c := cmp.Compare(kindOrder(a.key.kind), kindOrder(b.key.kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.key.seq, b.key.seq)
	})
	byItem := func(a, b lineAcc) int { return q.compare(a.item, b.item) }
	n := 0
	for i := range q.bills {
		slices.SortFunc(q.bills[i].lines, byItem)
		n += len(q.bills[i].lines)
	}
	// The summary: one line per item (a quote has a few).
	sum := q.sum[:0]
	for i := range q.bills {
		for j := range q.bills[i].lines {
			l := &q.bills[i].lines[j]
			k := slices.IndexFunc(sum, func(s lineAcc) bool { return s.item == l.item })
			if k < 0 {
				sum = append(sum, *l)
				sum[len(sum)-1].from = l
				continue
			}
			s := &sum[k]
			s.quantity.addQty(l.quantity)
			s.amount = add(s.amount, l.amount)
			s.merged = true
			s.quantityStr, s.amountStr = "", ""
		}
	}
	q.sum = sum
	slices.SortFunc(sum, byItem)
	// The bills' lines and the summary's share one array; each slice is
	// capped at its length.
	all := make([]livebill.Line, 0, n+len(sum))
	out.Bills = make([]livebill.Bill, 0, len(q.bills))
	total := money.Zero
	for i := range q.bills {
		b := &q.bills[i]
		bt := money.Zero
		first := len(all)
		for j := range b.lines {
			l := &b.lines[j]
			bt = add(bt, l.amount)
			all = append(all, l.json())
		}
		rounded := q.cur.RoundTotal(bt)
		out.Bills = append(out.Bills, livebill.Bill{Kind: b.key.kind, Date: b.key.date, Lines: all[first:len(all):len(all)],
			Total: q.formatTotal(rounded)})
		total = add(total, rounded)
	}
	first := len(all)
	for i := range sum {
		s := &sum[i]
		s.priceStr, s.perStr = s.from.priceStr, s.from.perStr // the first bill's, as formatted
		if !s.merged {
			s.quantityStr, s.amountStr = s.from.quantityStr, s.from.amountStr
		}
		all = append(all, s.json())
	}
	out.Lines = all[first:len(all):len(all)]
	slices.SortFunc(q.usage, func(a, b usageAcc) int { return q.compare(a.item, b.item) })
	out.Usage = make([]livebill.UsageLine, 0, len(q.usage))
	for _, u := range q.usage {
		l := livebill.UsageLine{Item: u.item, Quantity: u.quantity.String(), Covered: u.covered.String()}
		if u.blocked.n != 0 || !u.blocked.d.IsZero() {
			l.Blocked = u.blocked.String()
		}
		out.Usage = append(out.Usage, l)
	}
	if len(out.Bills) == 1 {
		out.Total = out.Bills[0].Total // the same sum, formatted
	} else {
		out.Total = q.formatTotal(total)
	}
	return out
}

// formatTotal is q.cur.FormatTotal of a total already rounded (rounding
// it again changes nothing); a zero total's string is made once.
func (q *quoter) formatTotal(rounded money.Decimal) string {
	if rounded.IsZero() && int(q.cur.Minor) < len(zeroTotals) {
		return zeroTotals[q.cur.Minor]
	}
	return rounded.StringFixed(q.cur.Minor)
}

// zeroTotals[m] is a zero total with m minor places ("0.00").
var zeroTotals = func() (z [5]string) {
	for m := range z {
		z[m] = money.Currency{Minor: int32(m)}.FormatTotal(money.Zero)
	}
	return z
}()

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

func (q *quoter) less(a, b string) bool { return q.compare(a, b) < 0 }

// compare orders items as the catalog lists them, then by id.
func (q *quoter) compare(a, b string) int {
	if c := cmp.Compare(q.cat.ItemOrder(a), q.cat.ItemOrder(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func (l *lineAcc) json() livebill.Line {
	if l.priceStr == "" { // kept for the summary line, a copy of the bill's
		l.priceStr, l.perStr = l.unitPrice.String(), strconv.FormatInt(l.per, 10)
	}
	if l.quantityStr == "" {
		l.quantityStr, l.amountStr = l.quantity.String(), decString(l.amount)
	}
	return livebill.Line{Item: l.item, Quantity: l.quantityStr, Unit: l.unit,
		UnitPrice: l.priceStr, Per: l.perStr, Amount: l.amountStr}
}
