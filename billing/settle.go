package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/rating"
	"github.com/livebill/livebill/webhook"
)

// Settling one account, shared by Settle (one account, its inputs read
// one query at a time) and the grouped SettleAll (a group's inputs read
// in a few batched queries, accounts computed in parallel): what the store
// gave is a settleInput; settleAccount turns it into the bills to issue
// and the settlement to record, touching neither the store nor the clock.

// settleInput is what settling one account reads.
type settleInput struct {
	a      *account
	st     *livebill.Settlement
	issued []livebill.IssuedBill // in issue order, dated from issuedFrom on
	// issuedFrom is the first date of the bills read ("" all of them;
	// with a date, the monthly bill of its month too)
	issuedFrom string
	lm         *liveMeter // advanced to meterTo(a, now)
	now        time.Time
	// hold is the first billing day whose ingest is not quiet yet ("" none):
	// bills and adjustments from it on wait (hold.go).
	hold string
}

// settleDue reports whether the account has anything to settle at now: a
// day closed since its last settlement, a change (revision) since then,
// or days its last settlement held back. An account never settled with
// nothing to bill and unchanged is not due. Nor is an account with
// sessions open (usage accruing without events) for longer than
// ObserveEvery since it was looked at: its trial may run out meanwhile
// (observe). sl is the account's slot, held.
func (s *Service) settleDue(a *account, st *livebill.Settlement, sl *liveSlot, now time.Time) bool {
	throughS := SettleThrough(now, s.SettleDelay, a.loc).Format(time.DateOnly)
	if st.Held != "" || !(st.Revision == a.rec.Revision && (st.Through == throughS || st.Through == "")) {
		return true
	}
	every := s.ObserveEvery
	if every == 0 {
		every = DefaultObserveEvery
	}
	return sl != nil && sl.lm != nil && now.Sub(sl.observed) >= every && sl.lm.m.Open()
}

// DefaultObserveEvery is how often an account with open sessions is rated
// for what its usage does to its apps (a trial running out) when
// Service.ObserveEvery is 0: the deduction's window.
const DefaultObserveEvery = 5 * time.Minute

// meterTo is the instant the live meter is advanced to for settling at
// now: the watermark, and at least the first day not settled.
func (s *Service) meterTo(a *account, now time.Time) time.Time {
	through := SettleThrough(now, s.SettleDelay, a.loc)
	if w := now.Add(-s.lateness()); w.After(through) {
		return w
	}
	return through
}

// lateness is Lateness or its default.
func (s *Service) lateness() time.Duration {
	if s.Lateness == 0 {
		return webhook.DefaultLateness
	}
	return s.Lateness
}

// settleStart is where an account's bills begin: the first day of the
// month of its creation, its first purchase or its first event, whichever
// is earliest.
func settleStart(in *settleInput) time.Time {
	a := in.a
	first := a.in.Account.Created
	for _, p := range a.in.Purchases {
		if first.IsZero() || p.Start.Before(first) {
			first = p.Start
		}
	}
	if sp := a.rec.Events; sp.Ever() {
		if t := time.UnixMilli(sp.First); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		first = in.now
	}
	y, m, _ := first.In(a.loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, a.loc)
}

// settleAccount computes a due account's settlement: the bills of days
// and months closed by now, and an adjustment (dated the last day settled
// now: the next bill) for every issued bill whose recomputed content
// differs from what is in force (the bill plus its adjustments); each bill
// carries when it is charged (lifecycle.ChargeAt). Bills dated from the
// held day on (in.hold), new or adjusted, wait: the settlement records
// that day as Held and the next one looks again. It returns nil when
// there is nothing to write, and the quote the bills came from. The write
// carries the rollups of the days settled and the checkpoint at the first
// day left open (rollups.go).
//
// The account is rated from the deduction's state at the newest checkpoint
// that holds (openingFor), normally the last settlement's: only the days
// from there are recomputed (and the month's bill, once the month closes),
// and only the bills from there are compared; without one, from the
// account's first month. The quote runs to the end of the day of the
// watermark, not only to the days closed: the bills of the closed days
// are the same (rating goes in time order, and a day's bill depends on
// nothing after it), and the open day tells what the deduction found so
// far (a trial app stopped, packs used: observe).
func (s *Service) settleAccount(ctx context.Context, in *settleInput) (*livebill.SettleWrite, *livebill.Quote, error) {
	a, st, now := in.a, in.st, in.now
	accountID := a.rec.ID
	through := SettleThrough(now, s.SettleDelay, a.loc)
	from := settleStart(in)
	if !from.Before(through) {
		return nil, nil, nil
	}
	op, err := s.openingFor(ctx, a, in.lm, through.UnixMilli())
	if err != nil {
		return nil, nil, err
	}
	since := ""
	if op != nil {
		day := time.UnixMilli(op.at).In(a.loc)
		since = day.Format(time.DateOnly)
		from = time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, a.loc)
	}
	if in.issuedFrom != "" && (since == "" || since < in.issuedFrom) {
		// the bills read are not enough: rating starts earlier
		all, err := s.Store.ListBills(ctx, accountID)
		if err != nil {
			return nil, nil, err
		}
		in.issued, in.issuedFrom = all, ""
	}
	// settled now: the bills due by upTo, the first day held (or through)
	upTo, held := through, ""
	if in.hold != "" {
		h, err := time.ParseInLocation(time.DateOnly, in.hold, a.loc)
		if err != nil {
			h = from // not a day we can place: hold everything
		}
		if h.Before(through) {
			upTo, held = h, in.hold
		}
	}
	throughS := upTo.Format(time.DateOnly)
	if throughS < st.Through {
		throughS = st.Through // a settled day stays settled; only its adjustments wait
	}
	rin := a.in
	rin.From, rin.To = from, SettleThrough(now.Add(-s.lateness()), 0, a.loc).AddDate(0, 0, 1)
	if rin.To.Before(through) {
		rin.To = through
	}
	// the checkpoint this settlement leaves: at the first day not settled
	b, _ := time.ParseInLocation(time.DateOnly, throughS, a.loc)
	if throughS != "" && b.UnixMilli() > in.lm.from {
		rin.StateAt = b
	}
	onlyBefore, items := from.UnixMilli(), []string(nil)
	if op != nil {
		rin.Opening = op.state
		// before the state's day, only the month's bill needs usage, and
		// only once the month closes
		onlyBefore, items = op.at, []string{}
		if !from.AddDate(0, 1, 0).After(upTo) {
			items = monthlyOf(a.cat)
		}
	}
	q, dst, err := s.rateSpan(ctx, a, in.lm, rin, from.UnixMilli(), onlyBefore, items)
	if err != nil {
		return nil, nil, err
	}
	cur, err := money.LookupCurrency(a.cat.Currency)
	if err != nil {
		return nil, nil, err
	}
	// what is in force per key: the issued bill plus its adjustments
	type state struct {
		lines map[string]*livebill.Line
		total money.Decimal
	}
	force := map[string]*state{}
	var order []string
	add := func(key string, b livebill.Bill) {
		f := force[key]
		if f == nil {
			f = &state{lines: map[string]*livebill.Line{}}
			force[key] = f
			order = append(order, key)
		}
		f.total = f.total.Add(dec(b.Total))
		for _, l := range b.Lines {
			k := lineKey(l)
			if cur := f.lines[k]; cur != nil {
				cur.Quantity = dec(cur.Quantity).Add(dec(l.Quantity)).String()
				cur.Amount = dec(cur.Amount).Add(dec(l.Amount)).String()
			} else {
				c := l
				f.lines[k] = &c
			}
		}
	}
	// Adjustment keys number a bill's adjustments (1, 2, …), so two
	// changes of one bill never collide, whatever caused them (a late event,
	// or an engine upgrade re-pricing history at the same revision).
	adjustments := map[string]int{}
	adjKey := func(key string) string {
		adjustments[key]++
		return fmt.Sprintf("adjustment|%s|%d", key, adjustments[key])
	}
	original := map[string]livebill.Bill{} // issued bills by key, for their dates
	for _, b := range in.issued {
		if !keepIssued(&b, since) {
			continue
		}
		if b.Kind == livebill.BillAdjustment {
			adjustments[b.Adjusts]++
			add(b.Adjusts, b.Bill)
		} else {
			add(b.Key, b.Bill)
			original[b.Key] = b.Bill
		}
	}
	lastDay := through.AddDate(0, 0, -1).Format(time.DateOnly)
	// what an earlier settlement already closed: a bill appearing there
	// now (a late event on a day that had none) is an adjustment too
	var closed time.Time
	if st.Through != "" {
		closed, _ = time.ParseInLocation(time.DateOnly, st.Through, a.loc)
	}
	var out []livebill.IssuedBill
	seen := map[string]bool{}
	for _, b := range keyed(q.Bills) {
		if !due(b.Bill, upTo, a.loc) || !keepBill(b.Kind, b.Date, since) {
			continue
		}
		seen[b.key] = true
		f := force[b.key]
		if f == nil && (closed.IsZero() || !due(b.Bill, closed, a.loc)) {
			charge, err := lifecycle.ChargeAt(&b.Bill, a.loc)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, livebill.IssuedBill{AccountID: accountID, Key: b.key, Bill: b.Bill, IssuedAt: now, Charge: charge})
			continue
		}
		if f == nil {
			f = &state{lines: map[string]*livebill.Line{}}
		}
		if adj, ok := diff(b.Bill, f.lines, f.total, cur); ok {
			adj.Date = lastDay
			out = append(out, livebill.IssuedBill{AccountID: accountID, Bill: adj, Adjusts: b.key, IssuedAt: now,
				Key: adjKey(b.key), Charge: through})
		}
	}
	for _, key := range order { // issued bills that are no longer there
		if seen[key] {
			continue
		}
		if o, ok := original[key]; ok && !due(o, upTo, a.loc) {
			continue // its day is held
		}
		f := force[key]
		if f.total.IsZero() && len(nonzero(f.lines)) == 0 {
			continue
		}
		if adj, ok := diff(livebill.Bill{Lines: nil, Total: "0"}, f.lines, f.total, cur); ok {
			adj.Date = lastDay
			out = append(out, livebill.IssuedBill{AccountID: accountID, Bill: adj, Adjusts: key, IssuedAt: now,
				Key: adjKey(key), Charge: through})
		}
	}
	if op == nil && in.issuedFrom == "" && len(in.issued) == 0 && len(out) == 0 && len(a.in.Purchases) == 0 && !a.rec.Events.Ever() {
		// An account with nothing to bill closes no day: history imported
		// later gets its own bills, not adjustments dated today.
		throughS = ""
	}
	w := &livebill.SettleWrite{Settlement: livebill.Settlement{AccountID: accountID, Through: throughS, Revision: a.rec.Revision, Held: held}, Bills: out}
	if throughS != "" {
		if held != "" {
			// a checkpoint at b would let later settlements start at b,
			// while the held days' adjustments are still to come
			dst = nil
		}
		w.Rollup = s.rollupFor(a, in.lm, b.UnixMilli(), rating.Fingerprint(a.in, b.UnixMilli()), dst, now)
	}
	return w, q, nil
}
