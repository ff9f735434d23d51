package rating

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/deduct"
	"github.com/livebill/livebill/money"
)

// Rating from a deduction state (Input.Opening): the service keeps the
// deduction's state at each settled day's end (Input.StateAt) and rates
// the next days from it, instead of deducting the account's whole
// history again. A state holds only for the inputs it came from: the
// usage before it (the service re-meters from there when a late event
// changes it) and what Fingerprint sums up.

// StateVersion is the version of the rules a deduction state was made
// under; it changes whenever they change what a state means. Version 2:
// a state holds every service stop, not only each app's last.
const StateVersion = 2

// Fingerprint sums up what the deduction before instant at (a midnight)
// depends on besides the usage: the catalog (its content) and zone, the mode, the
// account's dates, the purchases that start before at, the refunds
// requested before it and the blocks that begin before it (cut at at).
// A state at at is used only with inputs of the same fingerprint.
func Fingerprint(in Input, at int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d|%s|%s|%s|%s|%d|%d\n", StateVersion, in.Catalog.Name, in.Catalog.Digest, in.Location, in.Mode,
		in.Account.Created.UnixMilli(), in.Account.Activated.UnixMilli())
	for _, p := range in.Purchases {
		if p.Start.UnixMilli() < at {
			fmt.Fprintf(h, "p|%q|%q|%q|%d|%q|%q|%d|%v\n", p.ID, p.App, p.Plan, p.Count, p.Region, p.Device, p.Start.UnixMilli(), p.AutoRenew)
		}
	}
	for _, r := range in.Refunds {
		if r.Time.UnixMilli() < at {
			fmt.Fprintf(h, "r|%q|%d|%d\n", r.Plan, r.Count, r.Time.UnixMilli())
		}
	}
	for _, b := range in.Blocks {
		if b.From.UnixMilli() >= at {
			continue
		}
		to := at
		if !b.To.IsZero() && b.To.UnixMilli() < at {
			to = b.To.UnixMilli()
		}
		fmt.Fprintf(h, "b|%q|%q|%d|%d\n", b.App, b.Reason, b.From.UnixMilli(), to)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// state is the deduction's state at in.StateAt: the last run's, or an
// empty one where nothing is deducted (no TRTC plans, calculator mode).
func (q *quoter) state() *deduct.State {
	if q.in.StateAt.IsZero() {
		return nil
	}
	if q.pl != nil && q.pl.ded != nil && len(q.pl.ded.States) > 0 {
		st := q.pl.ded.States[0]
		return &st
	}
	return &deduct.State{At: q.in.StateAt.UnixMilli()}
}

// ErrClosedUnknown is RateState's answer for an input with closed bills
// whose notices need the closed days' usage: a service stop that was
// blocking at the period's start, when it is not known whether it blocked
// usage of the closed days (the stop's notice is given only if it did).
// Rate the period from its records instead.
var ErrClosedUnknown = errors.New("the closed days' usage is needed")

// addClosed adds in.Closed, the daily bills of days before the opening
// state (which the rating leaves out), line by line as rating adds its
// own: the quote's summary and total then count them as if rated.
func (q *quoter) addClosed() error {
	if !q.in.WithClosed {
		if len(q.in.Closed) > 0 {
			return fmt.Errorf("cannot take closed bills without WithClosed")
		}
		return nil
	}
	if q.in.Opening == nil {
		return fmt.Errorf("cannot take closed bills without an opening state")
	}
	for _, b := range q.in.Closed {
		day, err := time.ParseInLocation(time.DateOnly, b.Date, q.loc)
		if err != nil || b.Kind != livebill.BillDaily || day.UnixMilli() >= q.in.Opening.At {
			return fmt.Errorf("cannot take the %s bill of %s as closed: only daily bills before the opening state", b.Kind, b.Date)
		}
		bk := billKey{kind: livebill.BillDaily, date: b.Date}
		for _, l := range b.Lines {
			quantity, err1 := money.Parse(l.Quantity)
			price, err2 := money.Parse(l.UnitPrice)
			amount, err3 := money.Parse(l.Amount)
			per, err4 := strconv.ParseInt(l.Per, 10, 64)
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				return fmt.Errorf("cannot read the %s line of the daily bill of %s: %w", l.Item, b.Date, err)
			}
			q.line(bk, l.Item, l.Unit, price, per, quantity, amount)
		}
	}
	return nil
}
