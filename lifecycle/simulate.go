package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// Period is what a quote's account lifecycle is simulated from: the
// balance at the period's start, the period's bills (each charged at
// ChargeAt, or at the period's end if that is earlier: every bill of a
// quote is charged within it), the top-ups and the operator's app actions.
type Period struct {
	Account    string
	Opening    money.Decimal
	Start, End time.Time
	Location   *time.Location // the billing zone bills' dates are read in
	Terms      livebill.Terms
	Bills      []livebill.Bill
	TopUps     []TopUp
	Actions    []AppAction
}

// TopUp is a credit of the balance.
type TopUp struct {
	ID     string
	At     time.Time
	Amount money.Decimal
}

// AppAction is an operator's disable or enable of an app.
type AppAction struct {
	App    string
	Action string // livebill.AppDisable or livebill.AppEnable
	At     time.Time
}

// Result is a simulated period: its ledger, the transitions of the account
// and its apps in time order, the spans they block, and the state at the
// end.
type Result struct {
	Ledger      []livebill.LedgerEntry
	Transitions []livebill.Transition
	Blocks      []livebill.Block
	State       livebill.AccountState
}

// Simulate runs the period through the arrears rule. Entries are taken in
// time order; at one instant, top-ups before charges (the service records
// a day's bills after the day closes, so a top-up made at that instant is
// in first) and time-driven transitions before both. A reclaim is a
// transition like the others (the quote purges nothing).
func Simulate(p *Period) (*Result, error) {
	type entry struct {
		at     time.Time
		rank   int // 0 top-up, 1 charge, 2 app action
		n      int // input order
		kind   string
		ref    string
		date   string
		amount money.Decimal
		action *AppAction
	}
	var es []entry
	for i, t := range p.TopUps {
		if !t.Amount.IsPositive() {
			return nil, fmt.Errorf("top-up %s: amount must be positive", t.ID)
		}
		es = append(es, entry{at: t.At, rank: 0, n: i, kind: livebill.LedgerTopUp, ref: t.ID, amount: t.Amount})
	}
	for i := range p.Bills {
		b := &p.Bills[i]
		total, err := money.Parse(b.Total)
		if err != nil {
			return nil, fmt.Errorf("bill of %s: total: %w", b.Date, err)
		}
		if total.IsZero() {
			continue // moves no money
		}
		at, err := ChargeAt(b, p.Location)
		if err != nil {
			return nil, err
		}
		if at.After(p.End) {
			at = p.End
		}
		es = append(es, entry{at: at, rank: 1, n: i, kind: EntryKind(b), ref: b.Kind + "|" + b.Date, date: b.Date, amount: total.Neg()})
	}
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.Action != livebill.AppDisable && a.Action != livebill.AppEnable {
			return nil, fmt.Errorf("app %s: action must be %s or %s, not %q", a.App, livebill.AppDisable, livebill.AppEnable, a.Action)
		}
		es = append(es, entry{at: a.At, rank: 2, n: i, action: a})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		return cmp.Compare(a.n, b.n)
	})

	m, err := New(livebill.AccountState{AccountID: p.Account, Since: p.Start, Last: p.Start, Terms: p.Terms})
	if err != nil {
		return nil, err
	}
	res := &Result{}
	post := func(kind, ref, date string, amount money.Decimal, at time.Time, cause string) {
		res.Transitions = append(res.Transitions, m.Post(amount, at, cause)...)
		res.Ledger = append(res.Ledger, livebill.LedgerEntry{AccountID: p.Account, Seq: int64(len(res.Ledger) + 1), Kind: kind, Ref: ref,
			Date: date, Amount: Format(amount), Balance: Format(m.bal), At: at})
	}
	post(livebill.LedgerOpening, "", "", p.Opening, p.Start, CauseOpening)
	disabled := map[string]bool{}
	for _, e := range es {
		res.Transitions = append(res.Transitions, m.Advance(e.at, true)...)
		if a := e.action; a != nil {
			dis := a.Action == livebill.AppDisable
			if disabled[a.App] == dis {
				continue // already so
			}
			disabled[a.App] = dis
			from, to := livebill.AppActive, livebill.AppDisabled
			reason := livebill.ReasonAppDisabled
			if !dis {
				from, to, reason = to, from, ""
			}
			res.Transitions = append(res.Transitions, livebill.Transition{AccountID: p.Account, App: a.App, From: from, To: to,
				Reason: reason, At: a.At, Cause: "operator"})
			continue
		}
		cause := e.ref
		if e.kind == livebill.LedgerTopUp {
			cause = "topup " + e.ref
		}
		post(e.kind, e.ref, e.date, e.amount, e.at, cause)
	}
	res.Transitions = append(res.Transitions, m.Advance(p.End, true)...)
	for i := range res.Transitions {
		res.Transitions[i].Seq = int64(i + 1)
	}
	res.Blocks = Blocks(res.Transitions)
	res.State = m.State()
	return res, nil
}
