package livebill

import (
	"context"
	"time"
)

// Quarantine is an account the settlement leaves out because its stored
// data cannot be rated: data stored by an older version, or anything that
// slipped through validation (an unknown plan, an event dated 0024). The
// other accounts keep settling. The account is tried again once its
// revision changes (a purchase cancelled, a new event), and released when
// it settles.
type Quarantine struct {
	AccountID string    `json:"account"`
	Revision  int64     `json:"revision"` // the account revision the error was found at
	Error     string    `json:"error"`
	Since     time.Time `json:"since"`
}

// QuarantineStore keeps the quarantined accounts.
type QuarantineStore interface {
	// PutQuarantine records, or replaces, an account's quarantine.
	PutQuarantine(ctx context.Context, q *Quarantine) error
	// DeleteQuarantine releases an account (one not quarantined: no error).
	DeleteQuarantine(ctx context.Context, accountID string) error
	// FindQuarantine returns the account's quarantine, nil if it has none.
	FindQuarantine(ctx context.Context, accountID string) (*Quarantine, error)
	// ListQuarantines returns every quarantine, by account id.
	ListQuarantines(ctx context.Context) ([]*Quarantine, error)
}
