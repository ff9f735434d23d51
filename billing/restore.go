package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/archive"
	"github.com/livebill/livebill/eventio"
)

// RestoreArchives stores the events of archive files (package archive)
// back in the store, as they were (ids kept: events already there are
// duplicates), and returns how many it stored. An account's archived
// months are restored all at once, from the month of its first event to
// its purge boundary, which is then cleared: late events before it are
// taken again and its days can be metered again from its first event. A
// part alone is refused before anything is stored: its events, stored
// after the checkpoints and dated before them, would leave the account
// with no checkpoint to resume from and no history to replay.
func (s *Service) RestoreArchives(ctx context.Context, paths []string) (int, error) {
	store := s.Store
	months := map[string]map[string]bool{}
	for _, path := range paths {
		acct, month, err := archive.Name(path)
		if err != nil {
			return 0, err
		}
		if months[acct] == nil {
			months[acct] = map[string]bool{}
		}
		months[acct][month] = true
	}
	for acct, have := range months {
		rec, err := store.FindAccount(ctx, acct)
		if err != nil {
			return 0, err
		}
		if missing, err := missingMonths(rec, have); err != nil {
			return 0, err
		} else if len(missing) > 0 {
			return 0, livebill.Errorf(livebill.EINVALID, "account %s: its archived months are restored all at once, and %s are missing (from the month of its first event to its purge boundary)",
				acct, strings.Join(missing, ", "))
		}
	}
	// every file is read and checked before anything is stored, then read
	// again to store it
	for _, path := range paths {
		if err := s.readArchive(ctx, path, func(livebill.IncomingEvent) error { return nil }); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, path := range paths {
		var batch []livebill.IncomingEvent
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			sts, err := store.StoreEvents(ctx, batch)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, st := range sts {
				switch st.Status {
				case livebill.IngestAccepted:
					n++
				case livebill.IngestRejected:
					return fmt.Errorf("%s: event %q: %s", path, st.ID, st.Error)
				}
			}
			batch = batch[:0]
			return nil
		}
		err := s.readArchive(ctx, path, func(in livebill.IncomingEvent) error {
			if batch = append(batch, in); len(batch) == 1000 {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return n, err
		}
	}
	for acct := range months {
		if err := store.SetPurged(ctx, acct, 0); err != nil {
			return n, err
		}
	}
	return n, nil
}

// missingMonths lists the months (YYYY-MM) from the account's first event
// to its purge boundary that have lacks; none for an account never purged.
func missingMonths(rec *livebill.AccountRecord, have map[string]bool) ([]string, error) {
	if rec.Purged == 0 { // a purged account has its first event's time
		return nil, nil
	}
	a, err := accountZone(rec)
	if err != nil {
		return nil, err
	}
	var missing []string
	end := time.UnixMilli(rec.Purged).In(a.loc).Format("2006-01")
	for m := time.UnixMilli(rec.Events.First).In(a.loc); m.Format("2006-01") < end; m = time.Date(m.Year(), m.Month()+1, 1, 0, 0, 0, 0, a.loc) {
		if !have[m.Format("2006-01")] {
			missing = append(missing, m.Format("2006-01"))
		}
	}
	return missing, nil
}

// readArchive gives fn the events of an archive file, each checked to be
// of the file's account and month: a misfiled or edited file must not
// store another account's usage.
func (s *Service) readArchive(ctx context.Context, path string, fn func(livebill.IncomingEvent) error) error {
	acct, month, err := archive.Name(path)
	if err != nil {
		return err
	}
	rec, err := s.Store.FindAccount(ctx, acct)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	zone, err := accountZone(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	first, err := time.ParseInLocation("2006-01", month, zone.loc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	lo, hi := first.UnixMilli(), first.AddDate(0, 1, 0).UnixMilli()
	owned := map[string]bool{}
	line := 0
	return archive.Read(path, func(b []byte) error {
		line++
		var e livebill.Event
		if err := eventio.Parse(b, &e); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		if e.Time < lo || e.Time >= hi {
			return fmt.Errorf("%s: line %d: field \"time\": the event is not of the file's month %s", path, line, month)
		}
		if !owned[e.App] {
			app, err := s.Store.FindApp(ctx, e.App)
			if err != nil || app.AccountID != acct {
				return fmt.Errorf("%s: line %d: field \"app\": app %q is not an app of account %s", path, line, e.App, acct)
			}
			owned[e.App] = true
		}
		return fn(livebill.IncomingEvent{AccountID: acct, Event: e, Body: append([]byte(nil), b...), Restored: true})
	})
}
