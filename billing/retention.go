package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
)

// Retention: an account's raw events are kept for Retention after their
// day is settled, then deleted, or archived (Archive) and deleted, month
// by month; bills, the ledger and the rollups stay. The anchor is the
// account's newest checkpoint stored at least Retention ago: its instant
// becomes the account's purge boundary (AccountRecord.Purged), its
// checkpoints before it are dropped, and its events of the months that
// ended by then are deleted (the days of the anchor's own month before it
// wait for the next month's run). Ingestion refuses an event before the
// boundary, so a late event never re-meters a day whose events are gone:
// it resumes from the anchor or a later checkpoint. A day's events are
// therefore kept at least Retention after its settlement (its
// checkpoint), and at most a month more.

// DefaultRetention is how long events are kept after their day is
// settled when Service.Retention is 0.
const DefaultRetention = 90 * 24 * time.Hour

// NoRetention keeps events for ever (Service.Retention).
const NoRetention = time.Duration(-1)

func (s *Service) retention() time.Duration {
	if s.Retention == 0 {
		return DefaultRetention
	}
	return s.Retention
}

// Retain deletes (archiving them first, with an Archive) the events that
// retention lets go, for every account, and the checkpoints no longer
// kept (CheckpointDays); it goes on past an account's error and returns
// them joined.
func (s *Service) Retain(ctx context.Context) error {
	return s.retainAccounts(ctx, nil)
}

// retainAccounts is Retain over accts, the accounts a settlement run
// listed (nil: every account, listed here).
func (s *Service) retainAccounts(ctx context.Context, accts []*livebill.AccountRecord) error {
	if err := s.Store.PruneCheckpoints(ctx, s.checkpointDays()); err != nil {
		return err
	}
	if s.retention() < 0 {
		return nil
	}
	if accts == nil {
		var err error
		if accts, err = s.Store.ListAccounts(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, rec := range accts {
		if s.Owns != nil && !s.Owns(rec.ID) {
			continue // another worker's: it holds the account's slot, not this one
		}
		if err := s.retainAccount(ctx, rec); err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", rec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// retain runs retention over accts at most once an hour (SettleAll runs
// every tick).
func (s *Service) retain(ctx context.Context, now time.Time, accts []*livebill.AccountRecord) error {
	last := s.retained.Load()
	if last != 0 && now.Sub(time.UnixMilli(last)) < time.Hour {
		return nil
	}
	if !s.retained.CompareAndSwap(last, now.UnixMilli()) {
		return nil
	}
	return s.retainAccounts(ctx, accts)
}

func (s *Service) retainAccount(ctx context.Context, rec *livebill.AccountRecord) error {
	horizon := s.Clock.Now().Add(-s.retention()).UnixMilli()
	if rec.Events.Count == 0 || rec.Events.First >= horizon {
		return nil // none stored, or none older than the retention: nothing to look up
	}
	cp, err := s.Store.FindCheckpointMade(ctx, rec.ID, horizon)
	if livebill.ErrorCode(err) == livebill.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if cp.At <= rec.Purged {
		return nil
	}
	if t, late, err := s.Store.EarliestAfter(ctx, rec.ID, cp.Seq); err != nil || (late && t < cp.At) {
		return err // a late event came before it: wait for a newer anchor
	}
	a, err := accountZone(rec)
	if err != nil {
		return err
	}
	// under the account's slot: no settlement or meter reads its events meanwhile
	sl := s.slot(rec.ID)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	before := monthOf(cp.At, a.loc)
	if s.Archive != nil && rec.Events.Count > 0 {
		start := monthOf(rec.Events.First, a.loc)
		if rec.Purged > 0 {
			start = max(start, monthOf(rec.Purged, a.loc))
		}
		for m := start; m < before; {
			t := time.UnixMilli(m).In(a.loc)
			end := t.AddDate(0, 1, 0).UnixMilli()
			// every month, an idle one as an empty file: restoring needs
			// them all, from the first event to the boundary
			if err := s.Archive.Archive(rec.ID, t.Format("2006-01"), s.eventPages(ctx, rec.ID, m, end, s.archivePage())); err != nil {
				return err
			}
			m = end
		}
	}
	_, err = s.Store.PurgeEvents(ctx, rec.ID, before, cp.At, cp.Seq)
	return err
}

// DefaultArchivePage is how many events retention reads at a time to
// archive a month when Service.ArchivePage is 0: a page of events of a
// few hundred bytes is a few hundred KB in memory, where a busy
// account's month is millions of events.
const DefaultArchivePage = 1000

// archivePage is ArchivePage or its default.
func (s *Service) archivePage() int {
	if s.ArchivePage <= 0 {
		return DefaultArchivePage
	}
	return s.ArchivePage
}

// eventPages reads the account's events with times in [from, to) (to 0:
// no bound) a page of size at a time, in ListEvents' order: each call
// returns the next page, a short one being the last (then nil).
func (s *Service) eventPages(ctx context.Context, accountID string, from, to int64, size int) func() ([]livebill.StoredEvent, error) {
	var after *livebill.StoredEvent // the key of the last event read
	done := false
	return func() ([]livebill.StoredEvent, error) {
		if done {
			return nil, nil
		}
		page, err := s.Store.ListEventsPage(ctx, accountID, from, to, after, size)
		if err != nil {
			return nil, err
		}
		if len(page) < size {
			done = true // a short page is the last: no query for an empty one
		}
		if len(page) > 0 {
			last := page[len(page)-1]
			after = &livebill.StoredEvent{Time: last.Time, Seq: last.Seq}
		}
		return page, nil
	}
}

// purgedError is the refusal of an event before its account's purge
// boundary.
func purgedError(e *livebill.Event, purged int64, loc *time.Location) error {
	return &livebill.EventError{Line: e.Line, ID: e.ID, Field: "time", Reason: fmt.Sprintf(
		"before %s: the account's events before then were deleted by retention, and its days then are settled for good",
		time.UnixMilli(purged).In(loc).Format(time.RFC3339))}
}
