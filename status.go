package livebill

import (
	"context"
	"time"
)

// Account states (SPEC §4 "Arrears"): settled bills draw down the
// balance; below zero the account is in arrears for a grace period, then
// suspended (every app stops), and after a long suspension reclaimed.
const (
	AccountActive    = "active"
	AccountArrears   = "arrears"
	AccountSuspended = "suspended"
	AccountReclaimed = "reclaimed"
)

// App states (SPEC §4 "Service stop"). An app is stopped when its
// account is suspended or reclaimed, or when a trial app's packs run out
// (a non-arrears stop); an operator can disable and enable it by hand.
const (
	AppActive   = "active"
	AppStopped  = "stopped"
	AppDisabled = "disabled"
)

// Reasons an app may not serve, machine-readable (admission answers and
// notifications carry them).
const (
	ReasonAccountArrears   = "account_arrears"   // in arrears, still within the grace period (serving)
	ReasonAccountSuspended = "account_suspended" // grace over: every app stops
	ReasonAccountReclaimed = "account_reclaimed" // suspended too long: data purged
	ReasonTrialExhausted   = "trial_exhausted"   // trial app whose packs ran out
	ReasonAppDisabled      = "app_disabled"      // disabled by an operator
)

// ServiceStatus is whether an app may serve at an instant, and why not.
type ServiceStatus struct {
	Account      string    `json:"account"`
	App          string    `json:"app,omitempty"`
	AccountState string    `json:"account_state"`
	AppState     string    `json:"app_state,omitempty"`
	Reason       string    `json:"reason,omitempty"` // empty when serving normally
	Since        time.Time `json:"since"`            // when the current state began
	// GraceUntil is when an account in arrears is suspended unless its
	// balance is back to zero or more.
	GraceUntil time.Time `json:"grace_until,omitzero"`
}

// Serving reports whether the app may serve (arrears within its grace
// period still serves).
func (s *ServiceStatus) Serving() bool {
	switch s.AccountState {
	case AccountSuspended, AccountReclaimed:
		return false
	}
	return s.AppState == "" || s.AppState == AppActive
}

// StatusReader tells the current service status of an app (admission and
// the console read it; the account lifecycle keeps it).
type StatusReader interface {
	AppStatus(ctx context.Context, appID string) (*ServiceStatus, error)
}
