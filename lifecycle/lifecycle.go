// Package lifecycle is the account lifecycle's rule (SPEC §4 "Arrears",
// "Service stop"), with no storage: a Machine takes an account's state
// through the charges and credits of its balance and the passing of time
// (active → arrears → suspended → reclaimed, and back to active when the
// balance is zero or more again); ChargeAt says when a bill is charged;
// Blocks turns recorded transitions into the spans whose usage is not
// billed; Simulate runs a whole period for `livebill quote`.
//
// The store runs the same Machine inside the transaction that records an
// entry, so the service and the quote follow one rule.
package lifecycle

import (
	"fmt"
	"slices"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// Causes of transitions that no entry makes.
const (
	CauseGraceEnded = "grace_ended" // arrears past the grace period
	CauseReclaim    = "reclaim"     // suspended past the reclaim period
	CauseOpening    = "opening"     // a negative opening balance
)

// Machine holds an account's state and applies the arrears rule to it.
type Machine struct {
	s   livebill.AccountState
	bal money.Decimal
}

// New returns a machine in state s (its Balance a decimal string).
func New(s livebill.AccountState) (*Machine, error) {
	bal := money.Zero
	if s.Balance != "" {
		var err error
		if bal, err = money.Parse(s.Balance); err != nil {
			return nil, fmt.Errorf("account %s: balance: %w", s.AccountID, err)
		}
	}
	if s.State == "" {
		s.State = livebill.AccountActive
	}
	if s.Terms == (livebill.Terms{}) {
		s.Terms = livebill.Terms{Grace: livebill.DefaultGrace, ReclaimAfter: livebill.DefaultReclaimAfter}
	}
	return &Machine{s: s, bal: bal}, nil
}

// State returns the current state, its Balance formatted.
func (m *Machine) State() livebill.AccountState {
	s := m.s
	s.Balance = Format(m.bal)
	return s
}

// Balance returns the current balance.
func (m *Machine) Balance() money.Decimal { return m.bal }

// SetTerms sets the terms later transitions are made under (a state
// entered earlier keeps its dates).
func (m *Machine) SetTerms(t livebill.Terms) { m.s.Terms = t }

// Format writes a decimal with the places it carries ("0.10", "-2.5").
func Format(d money.Decimal) string {
	if e := d.Exponent(); e < 0 {
		return d.StringFixed(-e)
	}
	return d.String()
}

// clamp keeps history in order: nothing is dated before the last
// transition.
func (m *Machine) clamp(t time.Time) time.Time {
	if t.Before(m.s.Last) {
		return m.s.Last
	}
	return t
}

// move records a transition of the account to state at instant at.
func (m *Machine) move(to string, at time.Time, cause, reason string) livebill.Transition {
	tr := livebill.Transition{AccountID: m.s.AccountID, From: m.s.State, To: to, Reason: reason, At: at, Cause: cause,
		Balance: Format(m.bal)}
	m.s.State, m.s.Since, m.s.Last = to, at, at
	m.s.GraceUntil, m.s.ReclaimAt = time.Time{}, time.Time{}
	switch to {
	case livebill.AccountArrears:
		m.s.GraceUntil = at.Add(m.s.Terms.Grace)
		tr.GraceUntil = m.s.GraceUntil
	case livebill.AccountSuspended:
		m.s.ReclaimAt = at.Add(m.s.Terms.ReclaimAfter)
		tr.ReclaimAt = m.s.ReclaimAt
	}
	return tr
}

// Advance makes the transitions time brings up to instant to: the end of
// the grace period (arrears → suspended at GraceUntil) and, when reclaim
// is true, the end of the suspension (→ reclaimed at ReclaimAt). A
// reclaim purges data, so the store makes it alone (ReclaimAccount).
func (m *Machine) Advance(to time.Time, reclaim bool) []livebill.Transition {
	var out []livebill.Transition
	for {
		switch {
		case m.s.State == livebill.AccountArrears && !m.s.GraceUntil.After(to):
			out = append(out, m.move(livebill.AccountSuspended, m.clamp(m.s.GraceUntil), CauseGraceEnded, livebill.ReasonAccountSuspended))
		case reclaim && m.s.State == livebill.AccountSuspended && !m.s.ReclaimAt.IsZero() && !m.s.ReclaimAt.After(to):
			out = append(out, m.move(livebill.AccountReclaimed, m.clamp(m.s.ReclaimAt), CauseReclaim, livebill.ReasonAccountReclaimed))
		default:
			return out
		}
	}
}

// Post moves the balance by amount (negative: a charge) at instant at and
// makes the transition it causes: active below zero → arrears (grace
// until at + Grace); in arrears or suspended at zero or more → active
// (restored at that instant). Time-driven transitions before at are the
// caller's to make first (Advance).
func (m *Machine) Post(amount money.Decimal, at time.Time, cause string) []livebill.Transition {
	at = m.clamp(at)
	m.bal = m.bal.Add(amount)
	switch m.s.State {
	case livebill.AccountActive:
		if m.bal.IsNegative() {
			return []livebill.Transition{m.move(livebill.AccountArrears, at, cause, livebill.ReasonAccountArrears)}
		}
	case livebill.AccountArrears, livebill.AccountSuspended:
		if !m.bal.IsNegative() {
			return []livebill.Transition{m.move(livebill.AccountActive, at, cause, "")}
		}
	}
	return nil
}

// Charge posts issued bills to the balance in charge order (a bill of
// total zero moves nothing), each after the time-driven transitions up to
// its instant. It returns the ledger entries (Seq and RecordedAt unset)
// and the transitions. The store charges a settlement's bills with it,
// and the settlement foresees the same with it.
func (m *Machine) Charge(bills []livebill.IssuedBill) ([]livebill.LedgerEntry, []livebill.Transition, error) {
	bills = slices.Clone(bills)
	slices.SortStableFunc(bills, func(a, b livebill.IssuedBill) int { return a.Charge.Compare(b.Charge) })
	var es []livebill.LedgerEntry
	var trs []livebill.Transition
	for i := range bills {
		b := &bills[i]
		total, err := money.Parse(b.Total)
		if err != nil {
			return nil, nil, fmt.Errorf("bill %q: total: %w", b.Key, err)
		}
		if total.IsZero() {
			continue
		}
		at := b.Charge
		if at.IsZero() {
			at = b.IssuedAt
		}
		trs = append(trs, m.Advance(at, false)...)
		trs = append(trs, m.Post(total.Neg(), at, b.Key)...)
		es = append(es, livebill.LedgerEntry{AccountID: m.s.AccountID, Kind: EntryKind(&b.Bill), Ref: b.Key, Date: b.Date,
			Amount: Format(total.Neg()), Balance: Format(m.bal), At: at})
	}
	return es, trs, nil
}

// ChargeAt is when a bill is charged to the balance: when the day it
// bills closes (daily, purchase and adjustment bills: 00:00 of the next day
// in the billing zone), or the month (monthly bills: 00:00 of the next
// month's first day). Settled bills are charged (SPEC §4), and a day's
// purchases are settled with the day.
func ChargeAt(b *livebill.Bill, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, b.Date, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("bill of kind %s: date %q: %w", b.Kind, b.Date, err)
	}
	if b.Kind == livebill.BillMonthly {
		return d.AddDate(0, 1, 0), nil
	}
	return d.AddDate(0, 0, 1), nil
}

// EntryKind is the ledger kind of a bill: its kind, or LedgerRefund for a
// purchase bill that gives money back.
func EntryKind(b *livebill.Bill) string {
	if b.Kind == livebill.BillPurchase && len(b.Total) > 0 && b.Total[0] == '-' {
		return livebill.LedgerRefund
	}
	return b.Kind
}

// Blocks returns the spans an account's recorded transitions (in order)
// block: from each suspension to the restore (for good after a reclaim),
// for every app; from each app's disable to its enable. Trial stops are
// not blocks here: the deduction decides them with the usage.
func Blocks(trs []livebill.Transition) []livebill.Block {
	var out []livebill.Block
	open := map[string]int{} // app ("" for the account) → index of its open block
	for _, t := range trs {
		var starts, ends bool
		reason := livebill.ReasonAccountSuspended
		if t.App == "" {
			starts = t.To == livebill.AccountSuspended
			ends = t.From == livebill.AccountSuspended && t.To == livebill.AccountActive
		} else {
			reason = livebill.ReasonAppDisabled
			starts = t.To == livebill.AppDisabled
			ends = t.From == livebill.AppDisabled
		}
		i, isOpen := open[t.App]
		switch {
		case starts && !isOpen:
			open[t.App] = len(out)
			out = append(out, livebill.Block{App: t.App, Reason: reason, From: t.At})
		case ends && isOpen:
			out[i].To = t.At
			delete(open, t.App)
		}
	}
	return out
}

// SameBlocks reports whether two block lists are equal.
func SameBlocks(a, b []livebill.Block) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].App != b[i].App || a[i].Reason != b[i].Reason || !a[i].From.Equal(b[i].From) || !a[i].To.Equal(b[i].To) {
			return false
		}
	}
	return true
}
