package livebill

import (
	"context"
	"time"
)

// BillingMonitor is told what the billing service does, for monitoring:
// each ingested batch and each settlement of every account. Package
// prometheus exports it as metrics. Its methods are called concurrently
// from ingestion and settlement, so they must be quick and never block.
type BillingMonitor interface {
	// Ingested reports one batch: what became of its events and how long
	// validating and storing them took.
	Ingested(res *IngestResult, took time.Duration)
	// Settled reports one settlement run of every account (SettleAll).
	Settled(run *SettleRun)
}

// SettleRun sums up one settlement run of every account.
type SettleRun struct {
	Took time.Duration
	// Settled counts the accounts whose bills and settlement the run
	// wrote; Failed those it could not settle (its error lists them).
	// Accounts with nothing due count in neither.
	Settled, Failed int
	// Bills counts the bills issued, adjustments included.
	Bills int
	// OwedSince is when the oldest closed day that no settlement has
	// covered became due for settlement (its end in the account's zone
	// plus the settle delay), over every account, as the run left them.
	// It is in the future when every account is settled through the last
	// closed day (it is then when the next day becomes due); zero when no
	// account has anything to settle. The settlement lag at an instant t
	// is t − OwedSince when positive: how long the most overdue day has
	// waited.
	OwedSince time.Time
	// OpenSessions counts the participants (users and robots) present in
	// rooms as the live meters hold them; LiveMeters counts those meters
	// (one per account metered since the server started).
	OpenSessions, LiveMeters int
}

// Lag is the settlement lag at now: how long the oldest closed day not
// settled has been due; 0 when none is.
func (r *SettleRun) Lag(now time.Time) time.Duration {
	if r.OwedSince.IsZero() || !now.After(r.OwedSince) {
		return 0
	}
	return now.Sub(r.OwedSince)
}

// Pinger is a store that can tell whether its database answers, for
// readiness checks.
type Pinger interface {
	Ping(ctx context.Context) error
}
