package livebill

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Settlement waits until what it bills has stopped arriving. Ingestion
// records, in the transaction that stores the events, when each account
// last received events for each billing day; a day is settled only once
// that is older than the quiet delay (billing.Service.SettleQuiet). Bulk
// imports go further: an account that an unfinished import has sent
// events for is not settled at all until the import finishes or expires.

// Import states.
const (
	ImportOpen     = "open"     // batches may be sent; its accounts are held
	ImportFinished = "finished" // the client said every batch was sent
	ImportExpired  = "expired"  // no batch for its timeout: it holds nothing
)

// Import is a bulk import: batches of events sent under its id hold the
// settlement of the accounts they belong to until it is finished, or until
// no batch came for its timeout (a client that crashed holds nothing for
// long).
type Import struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`             // open, finished or expired
	Name       string    `json:"name,omitempty"`    // the client's label (events push: the file's name)
	Account    string    `json:"account,omitempty"` // the account whose key started it; "" for an operator
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"` // renewed by every batch while open
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Accounts   int       `json:"accounts"` // accounts its batches sent events for
}

// CreateImportInput starts an import.
type CreateImportInput struct {
	ID      string        `json:"-"` // made by the service
	Name    string        `json:"name,omitempty"`
	Account string        `json:"-"` // the account whose key starts it; "" for an operator
	Timeout time.Duration `json:"-"` // how long it holds after its last batch
}

// maxImportName bounds an import's name (bytes).
const maxImportName = 256

// Validate reports every problem with the input, joined.
func (in *CreateImportInput) Validate() error {
	var errs []error
	if in.ID == "" {
		errs = append(errs, Errorf(EINVALID, "import id: missing"))
	}
	if len(in.Name) > maxImportName || !utf8.ValidString(in.Name) || strings.ContainsRune(in.Name, 0) {
		errs = append(errs, Errorf(EINVALID, "name: must be valid UTF-8 without NUL, at most %d bytes", maxImportName))
	}
	if in.Timeout <= 0 {
		errs = append(errs, Errorf(EINVALID, "timeout: must be positive, not %s", in.Timeout))
	}
	return errors.Join(errs...)
}

// SettleHold is what keeps an account's days from being settled now.
type SettleHold struct {
	// Day is the first billing day (YYYY-MM-DD) whose ingest is not quiet
	// yet: events for it were stored after the quiet cutoff. "" for none.
	Day string
	// LastIngest is when events for a not-yet-quiet day were last stored.
	LastIngest time.Time
	// Import is an open import that sent events for the account (it holds
	// every day); "" for none. ImportExpires is when it lapses unless
	// another batch comes.
	Import        string
	ImportExpires time.Time
}

// Held reports whether anything holds the account.
func (h SettleHold) Held() bool { return h.Day != "" || h.Import != "" }

// HoldService records imports and reads what holds accounts' settlement.
// Ingest activity itself is recorded by EventService.StoreEvents (see
// IncomingEvent.Day and Import), and by purchases and refunds on the day
// they take effect.
type HoldService interface {
	// CreateImport records a new open import expiring in.Timeout from now.
	CreateImport(ctx context.Context, in *CreateImportInput) (*Import, error)
	// FindImport returns an import or ENOTFOUND.
	FindImport(ctx context.Context, id string) (*Import, error)
	// FinishImport marks an import finished (again: no change); ENOTFOUND
	// if there is none.
	FinishImport(ctx context.Context, id string) (*Import, error)
	// FindSettleHolds returns what holds each account of ids: the first
	// billing day with ingest after quietSince, and an open import. An
	// account held by nothing has no entry.
	FindSettleHolds(ctx context.Context, ids []string, quietSince time.Time) (map[string]SettleHold, error)
	// PruneHolds forgets ingest activity recorded before before and imports
	// finished or expired before it: they hold nothing any more.
	PruneHolds(ctx context.Context, before time.Time) error
}

// EarliestDay is the earliest billing day an instant can fall on in any
// zone (zones run from UTC−12 to UTC+14): the day before its UTC date.
// It is where a change whose account zone is not known takes effect, for
// holding settlement: holding a day too early only waits a little longer.
func EarliestDay(t time.Time) string {
	return t.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
}

// EffectiveDay is the first billing day a purchase start or refund time
// (a date in the billing zone, or an RFC 3339 instant) can change: the
// date itself, or EarliestDay of the instant. "" if s is neither.
func EffectiveDay(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return s
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return EarliestDay(t)
	}
	return ""
}
