package livebill

import (
	"context"
	"time"
)

// The account lifecycle (SPEC §4 "Arrears", "Service stop"): every issued
// bill is charged to the account's balance and every top-up credits it,
// in an append-only ledger; a balance below zero puts the account in
// arrears for a grace period, then suspends it (every app stops, open
// rooms are dissolved); a top-up back to zero or more restores it; a long
// suspension reclaims it (its data purged). Apps stop on their own when a
// trial's packs run out, and an operator can disable and enable one. Each
// change of state is recorded (Transition) and may be notified to the
// operator's endpoints (notification.go).

// Ledger entry kinds.
const (
	LedgerOpening = "opening" // the account's balance when it was made
	LedgerTopUp   = "topup"   // a credit: money paid in
	// Bills are entered under their kind (BillDaily, BillMonthly,
	// BillPurchase, BillAdjustment), or LedgerRefund for a purchase bill
	// that gives money back.
	LedgerRefund = "refund"
)

// LedgerEntry is one movement of an account's balance: a charge (an issued
// bill, negative) or a credit (a top-up, a refund, a negative adjustment;
// positive), and the balance after it. Entries are never changed; an
// account's entries, in Seq order, are the order the balance moved in.
type LedgerEntry struct {
	AccountID string `json:"account"`
	Seq       int64  `json:"seq"`
	Kind      string `json:"kind"`
	// Ref names what the entry records: a bill's key, a top-up's id.
	Ref string `json:"ref,omitempty"`
	// Date is a bill's date (the day or month it bills); "" otherwise.
	Date    string `json:"date,omitempty"`
	Amount  string `json:"amount"`  // signed decimal: + credit, − charge
	Balance string `json:"balance"` // after this entry
	// At is when the entry counts for the account's state: a bill when its
	// day (month) closes, a top-up when it was made.
	At         time.Time `json:"at"`
	RecordedAt time.Time `json:"recorded_at,omitzero"` // a quote's entries are not recorded
}

// Terms are the arrears rule's periods, from the account's catalog.
type Terms struct {
	Grace        time.Duration // in arrears this long → suspended
	ReclaimAfter time.Duration // suspended this long → reclaimed
}

// Default terms (SPEC §4, seed 003 "欠费说明", "停服说明").
const (
	DefaultGrace        = 24 * time.Hour
	DefaultReclaimAfter = 60 * 24 * time.Hour
)

// AccountState is an account's current state, as stored.
type AccountState struct {
	AccountID string
	State     string    // AccountActive, AccountArrears, AccountSuspended, AccountReclaimed
	Since     time.Time // when the state began
	// GraceUntil: in arrears, when the account is suspended unless its
	// balance is back to zero or more.
	GraceUntil time.Time
	// ReclaimAt: suspended, when the account is reclaimed.
	ReclaimAt time.Time
	Balance   string // current balance (the last ledger entry's)
	Opening   string // the balance at creation
	// Last is the instant of the last transition: history never goes
	// back, so a later change is never dated before it.
	Last  time.Time
	Terms Terms // the terms the account was last charged under
}

// Due is the instant of the account's next time-driven transition (end of
// grace, reclaim), zero when none.
func (s *AccountState) Due() time.Time {
	switch s.State {
	case AccountArrears:
		return s.GraceUntil
	case AccountSuspended:
		return s.ReclaimAt
	}
	return time.Time{}
}

// AppState is an app's own state: disabled by an operator, stopped when
// its trial ran out. The account's state comes on top (ServiceStatus).
type AppState struct {
	AppID     string
	AccountID string
	// Disabled: since when an operator disabled it (zero: enabled).
	Disabled time.Time
	// Stopped: since when its trial is stopped (zero: running); the stop
	// comes at the end of the 5-minute window its packs fell short in.
	Stopped time.Time
}

// State is the app's own state: disabled over stopped over active.
func (s *AppState) State() (state, reason string, since time.Time) {
	switch {
	case !s.Disabled.IsZero():
		return AppDisabled, ReasonAppDisabled, s.Disabled
	case !s.Stopped.IsZero():
		return AppStopped, ReasonTrialExhausted, s.Stopped
	}
	return AppActive, "", time.Time{}
}

// Transition is a recorded change of state of an account, or of one of its
// apps (App set). Transitions are appended in time order.
type Transition struct {
	AccountID string    `json:"account"`
	Seq       int64     `json:"seq"`
	App       string    `json:"app,omitempty"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
	// Cause names what made it: a bill's key, a top-up's id, "grace_ended",
	// "reclaim", "operator", a purchase.
	Cause   string `json:"cause,omitempty"`
	Balance string `json:"balance,omitempty"` // account transitions: the balance then
	// GraceUntil: entering arrears, when the account will be suspended.
	GraceUntil time.Time `json:"grace_until,omitzero"`
	// ReclaimAt: entering suspension, when the account will be reclaimed.
	ReclaimAt  time.Time `json:"reclaim_at,omitzero"`
	RecordedAt time.Time `json:"recorded_at,omitzero"`
}

// Notification event types.
const (
	EventAccountArrears   = "account.arrears"
	EventAccountSuspended = "account.suspended"
	EventAccountRestored  = "account.restored"
	EventAccountReclaimed = "account.reclaimed"
	EventAppStopped       = "app.stopped"
	EventAppStarted       = "app.started"
	EventAppDisabled      = "app.disabled"
	EventAppEnabled       = "app.enabled"
	EventPackThreshold    = "pack.threshold"
	EventBillIssued       = "bill.issued"
	EventPurchaseRefunded = "purchase.refunded"
)

// EventTypes lists the notification event types.
var EventTypes = []string{EventAccountArrears, EventAccountSuspended, EventAccountRestored, EventAccountReclaimed,
	EventAppStopped, EventAppStarted, EventAppDisabled, EventAppEnabled, EventPackThreshold, EventBillIssued, EventPurchaseRefunded}

// EventType returns the notification type of a transition.
func (t *Transition) EventType() string {
	if t.App != "" {
		switch t.To {
		case AppDisabled:
			return EventAppDisabled
		case AppStopped:
			return EventAppStopped
		}
		if t.From == AppDisabled {
			return EventAppEnabled
		}
		return EventAppStarted
	}
	switch t.To {
	case AccountArrears:
		return EventAccountArrears
	case AccountSuspended:
		return EventAccountSuspended
	case AccountReclaimed:
		return EventAccountReclaimed
	}
	return EventAccountRestored
}

// Block is a span in which an app (App "": every app of the account) does
// not serve: its usage there is blocked, not billed, and whatever ran in
// its rooms at From ended then. To zero: not ended.
type Block struct {
	App      string
	Reason   string // ReasonAccountSuspended, ReasonAppDisabled
	From, To time.Time
}

// Covers reports whether the block covers an instant of app.
func (b *Block) Covers(app string, t time.Time) bool {
	return (b.App == "" || b.App == app) && !t.Before(b.From) && (b.To.IsZero() || t.Before(b.To))
}

// LifecycleService is the account lifecycle's store: balances, states,
// their history, and the time-driven transitions. Charges are recorded by
// BillStore's IssueBills (each bill in the transaction that issues it),
// credits by TopUpService's CreateTopUp.
type LifecycleService interface {
	// FindAccountState returns the account's state (ENOTFOUND if the
	// account does not exist).
	FindAccountState(ctx context.Context, accountID string) (*AccountState, error)
	// FindAccountStates returns the states of the accounts of ids that
	// exist.
	FindAccountStates(ctx context.Context, ids []string) (map[string]*AccountState, error)
	// ListAppStates returns the states of an account's apps that were ever
	// stopped or disabled (the others are active).
	ListAppStates(ctx context.Context, accountID string) ([]*AppState, error)
	// ListAppStatesOf is ListAppStates for several accounts.
	ListAppStatesOf(ctx context.Context, ids []string) (map[string][]*AppState, error)
	// FindAppState returns an app's state (a zero one, active, if never
	// stopped or disabled; ENOTFOUND if the app does not exist).
	FindAppState(ctx context.Context, appID string) (*AppState, error)
	// ListTransitions returns an account's transitions in order.
	ListTransitions(ctx context.Context, accountID string) ([]Transition, error)
	// ListTransitionsOf returns the transitions of several accounts.
	ListTransitionsOf(ctx context.Context, ids []string) (map[string][]Transition, error)
	PageTransitions(ctx context.Context, accountID string, p Page) ([]Transition, string, error)
	ListLedger(ctx context.Context, accountID string) ([]LedgerEntry, error)
	PageLedger(ctx context.Context, accountID string, p Page) ([]LedgerEntry, string, error)
	// DueAccounts returns the accounts whose next time-driven transition
	// (the end of their grace, their reclaim) is at or before now.
	DueAccounts(ctx context.Context, now time.Time) ([]*AccountState, error)
	// AdvanceAccount records the account's time-driven transitions up to
	// to, except a reclaim (ReclaimAccount), and returns them.
	AdvanceAccount(ctx context.Context, accountID string, to time.Time) ([]Transition, error)
	// ReclaimAccount purges the account's events, apps, devices,
	// purchases, refunds and configuration and records it reclaimed at
	// at; its bills, ledger, top-ups and history are kept. It refuses
	// (ECONFLICT) unless the account is suspended and due by at.
	ReclaimAccount(ctx context.Context, accountID string, at time.Time) (*Transition, error)
	// SetAppState records an app's transitions (disabled/enabled by an
	// operator, stopped/started by its trial) in order; a change that
	// changes nothing is skipped, one dated before the app's last change
	// counts at that change. It returns those recorded.
	SetAppState(ctx context.Context, appID string, changes []AppChange) ([]Transition, error)
	// RecordPackAlert records that a pack crossed a usage threshold and
	// notifies it; false when it was recorded already.
	RecordPackAlert(ctx context.Context, accountID string, alert PackAlert) (bool, error)
}

// AppChange is a change of an app's own state.
type AppChange struct {
	Action string    // AppDisable, AppEnable, AppStop, AppStart
	At     time.Time // when
	Cause  string
}

// App actions.
const (
	AppDisable = "disable" // by an operator
	AppEnable  = "enable"
	AppStop    = "stop"  // trial packs ran out
	AppStart   = "start" // a paid plan or a new pack: the trial runs again
)

// PackAlert is a pack crossing a share of its minutes used (the seed's
// usage alerts: 80 % and 100 %).
type PackAlert struct {
	Pack      string `json:"pack"`
	Kind      string `json:"kind"`
	App       string `json:"app,omitempty"`
	Threshold int    `json:"threshold"` // percent
	Granted   string `json:"granted"`
	Used      string `json:"used"`
	End       string `json:"end"` // the pack's expiry date
}
