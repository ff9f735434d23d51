package billing

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/rating"
)

// Quoting settled days from their issued bills. A settlement issues the
// daily bills of the days it closes and stores, with them, the deduction's
// state at the first day it leaves open (a checkpoint); openingFor takes
// that state only while it still holds (same rating inputs, no late event
// before it). So the daily bills before such a checkpoint are the ones a
// rating of those days gives, and a quote can take them as issued and rate
// only the days from the checkpoint on (rating.Input.Closed), instead of
// reading and deducting every 5-minute window of the month again.

// quoteIssued is the quote of [from, to) with the daily bills before the
// newest usable checkpoint read as issued; nil (rate the whole period)
// when there is no checkpoint after from, or when the issued bills might
// not be what rating gives:
//   - a daily bill of those days was adjusted (a late event, an engine
//     upgrade): the issued one is no longer in force as it is;
//   - a block (suspended account, disabled app) began before the
//     checkpoint: its notices come from those days' usage;
//   - a service stop (a trial out of packs) was blocking at from: its
//     notice depends on whether it blocked usage of those days
//     (rating.ErrClosedUnknown). The checkpoint's deduction state holds
//     every stop with what it blocked, so the other stops' notices are
//     the same.
//
// Callers hold the account's slot.
func (s *Service) quoteIssued(ctx context.Context, a *account, src, lm *liveMeter, from, to time.Time) (*livebill.Quote, error) {
	op, err := s.openingFor(ctx, a, lm, to.UnixMilli())
	if err != nil || op == nil || op.at <= from.UnixMilli() {
		return nil, err
	}
	for _, b := range a.in.Blocks {
		if b.From.UnixMilli() < op.at {
			return nil, nil
		}
	}
	fromDay := from.Format(time.DateOnly)
	openDay := time.UnixMilli(op.at).In(a.loc).Format(time.DateOnly)
	closedDay := func(date string) bool { return date >= fromDay && date < openDay }
	issued, err := s.Store.ListBills(ctx, a.rec.ID)
	if err != nil {
		return nil, err
	}
	var closed []livebill.Bill
	for _, b := range issued {
		switch b.Kind {
		case livebill.BillAdjustment:
			if kind, date := keyKindDate(b.Adjusts); kind == livebill.BillDaily && closedDay(date) {
				return nil, nil
			}
		case livebill.BillDaily:
			if closedDay(b.Date) {
				closed = append(closed, b.Bill)
			}
		}
	}
	in := a.in
	in.From, in.To = from, to
	in.Opening, in.WithClosed, in.Closed = op.state, true, closed
	// before the checkpoint only the monthly items' usage is rated (the
	// monthly bills), as a settlement does
	q, _, err := s.rateSpan(ctx, a, src, in, from.UnixMilli(), op.at, monthlyOf(a.cat))
	if errors.Is(err, rating.ErrClosedUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	atomic.AddInt64(&s.IssuedQuotes, 1)
	return q, nil
}
