package billing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
)

// Settlement waits for quiet (livebill.HoldService): ingestion tags every
// event with its billing day in the account's zone, and the store records
// when each (account, day) last received events, in the transaction that
// stores them. A day is settled — its bills issued, or adjustments of it —
// only once it is closed (SettleDelay) and that record is older than
// SettleQuiet; from the first day that is not quiet on, everything waits.
// An open import that sent events for an account holds all of it.

// DefaultSettleQuiet is how long a day's ingest must have been quiet
// before the day is settled, when Service.SettleQuiet is 0.
const DefaultSettleQuiet = 5 * time.Minute

// DefaultImportTimeout is how long an import holds its accounts after its
// creation or last batch unless finished, when Service.ImportTimeout is 0.
const DefaultImportTimeout = 10 * time.Minute

// keepHolds is how long ingest activity and ended imports are kept at
// least (PruneHolds), so that servers sharing a database with different
// quiet delays do not lose each other's holds.
const keepHolds = 24 * time.Hour

func (s *Service) settleQuiet() time.Duration {
	if s.SettleQuiet <= 0 {
		return DefaultSettleQuiet
	}
	return s.SettleQuiet
}

func (s *Service) importTimeout() time.Duration {
	if s.ImportTimeout <= 0 {
		return DefaultImportTimeout
	}
	return s.ImportTimeout
}

// holds reads what holds the accounts ids at now (an empty map when
// forced: nothing holds a forced settlement).
func (s *Service) holds(ctx context.Context, ids []string, now time.Time, force bool) (map[string]livebill.SettleHold, error) {
	if force || len(ids) == 0 {
		return map[string]livebill.SettleHold{}, nil
	}
	h, err := s.Store.FindSettleHolds(ctx, ids, now.Add(-s.settleQuiet()))
	if err != nil {
		return nil, err
	}
	return h, nil
}

// pruneHolds forgets holds that can hold nothing any more, at most once
// an hour (SettleAll runs every tick).
func (s *Service) pruneHolds(ctx context.Context, now time.Time) error {
	last := s.pruned.Load()
	if last != 0 && now.Sub(time.UnixMilli(last)) < time.Hour {
		return nil
	}
	if !s.pruned.CompareAndSwap(last, now.UnixMilli()) {
		return nil
	}
	return s.Store.PruneHolds(ctx, now.Add(-max(s.settleQuiet(), keepHolds)))
}

// SettleOptions change how Settle settles one account.
type SettleOptions struct {
	// Force settles every closed day now, whatever holds it: ingest not
	// quiet yet, or an open import. For an operator who knows nothing more
	// is coming; anything that arrives later is an adjustment.
	Force bool
}

// SettleResult is what settling one account did.
type SettleResult struct {
	Issued []livebill.IssuedBill `json:"issued"`
	// HeldFrom is the first day left unsettled (or its adjustments left
	// unissued) by a hold; "" when nothing was held. HeldBy says why:
	// "quiet" (events for it arrived less than the quiet delay ago) or
	// "import" (an open import sent events for the account). HeldUntil is
	// when the hold lapses if nothing more arrives.
	HeldFrom  string    `json:"held_from,omitempty"`
	HeldBy    string    `json:"held_by,omitempty"`
	Import    string    `json:"import,omitempty"`
	HeldUntil time.Time `json:"held_until,omitzero"`
}

// ---- ingestion: billing days

// maxCachedZones bounds the accounts whose billing zone ingestion keeps.
const maxCachedZones = 100_000

// zoneCache keeps each account's billing zone for ingestion, which tags
// every event with its billing day. An account's catalog and timezone are
// never changed once made, so a kept zone stays true.
type zoneCache struct {
	m sync.Map // account id → *time.Location
	n atomic.Int64
}

// billingDay is one billing day of an account: [lo, hi) in Unix ms.
type billingDay struct {
	lo, hi int64
	day    string // YYYY-MM-DD
}

// dayOf returns the billing day of instant ms (Unix ms) for the account:
// in its zone, or EarliestDay when the zone cannot be known (a broken
// catalog document: the account cannot be settled anyway).
func (s *Service) dayOf(ctx context.Context, accountID string, ms int64) (billingDay, error) {
	t := time.UnixMilli(ms)
	loc, err := s.zoneOf(ctx, accountID)
	if err != nil {
		return billingDay{}, err
	}
	if loc == nil {
		return billingDay{lo: ms, hi: ms + 1, day: livebill.EarliestDay(t)}, nil
	}
	y, m, d := t.In(loc).Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, loc)
	return billingDay{lo: start.UnixMilli(), hi: start.AddDate(0, 0, 1).UnixMilli(), day: start.Format(time.DateOnly)}, nil
}

// zoneOf returns the account's billing zone, nil if its catalog cannot
// be loaded.
func (s *Service) zoneOf(ctx context.Context, accountID string) (*time.Location, error) {
	if v, ok := s.zones.m.Load(accountID); ok {
		return v.(*time.Location), nil
	}
	rec, err := s.Store.FindAccount(ctx, accountID)
	if err != nil {
		return nil, fmt.Errorf("cannot find the billing zone of account %q: %w", accountID, err)
	}
	a, err := accountZone(rec)
	if err != nil {
		return nil, nil
	}
	if s.zones.n.Load() < maxCachedZones {
		if _, loaded := s.zones.m.LoadOrStore(accountID, a.loc); !loaded {
			s.zones.n.Add(1)
		}
	}
	return a.loc, nil
}

// ---- imports

type importKey struct{}

// WithImport returns ctx carrying an import id: Ingest stores the batch
// under that import (livebill.IncomingEvent.Import). The HTTP layer sends
// import batches through the same handler as POST /v1/events this way.
func WithImport(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, importKey{}, id)
}

func importOf(ctx context.Context) string {
	id, _ := ctx.Value(importKey{}).(string)
	return id
}

// CreateImport starts a bulk import with a new random id and the
// service's ImportTimeout; it holds the accounts its batches send events
// for until FinishImport, or until the timeout passes without a batch.
func (s *Service) CreateImport(ctx context.Context, in livebill.CreateImportInput) (*livebill.Import, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("cannot make an import id: %w", err)
	}
	in.ID, in.Timeout = "imp_"+hex.EncodeToString(b[:]), s.importTimeout()
	return s.Store.CreateImport(ctx, &in)
}

// FindImport returns an import.
func (s *Service) FindImport(ctx context.Context, id string) (*livebill.Import, error) {
	return s.Store.FindImport(ctx, id)
}

// FinishImport ends an import: its accounts are settled again, each day
// once its ingest is quiet.
func (s *Service) FinishImport(ctx context.Context, id string) (*livebill.Import, error) {
	return s.Store.FinishImport(ctx, id)
}
