package billing

import (
	"context"
	"fmt"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/archive"
	"github.com/livebill/livebill/eventio"
)

// RestoreArchives stores the events of archive files (package archive)
// back in the store, as they were (ids kept: events already there are
// duplicates), and returns how many it stored. An account whose archived months are all restored,
// from the month of its first event to its purge boundary, is made whole
// again (its purge boundary cleared): late events before it are taken
// again and its days can be metered again from its first event. Events of
// an account only partly restored are kept for audit; its boundary stays.
func (s *Service) RestoreArchives(ctx context.Context, paths []string) (int, error) {
	store := s.Store
	months := map[string]map[string]bool{}
	n := 0
	for _, path := range paths {
		acct, month, err := archive.Name(path)
		if err != nil {
			return n, err
		}
		rec, err := store.FindAccount(ctx, acct)
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		zone, err := accountZone(rec)
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		// a file holds its account's events of its month only (a misfiled
		// or edited file must not store another account's usage)
		first, err := time.ParseInLocation("2006-01", month, zone.loc)
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		lo, hi := first.UnixMilli(), first.AddDate(0, 1, 0).UnixMilli()
		owned := map[string]bool{}
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
		line := 0
		err = archive.Read(path, func(b []byte) error {
			line++
			var e livebill.Event
			if err := eventio.Parse(b, &e); err != nil {
				return fmt.Errorf("%s: line %d: %w", path, line, err)
			}
			if e.Time < lo || e.Time >= hi {
				return fmt.Errorf("%s: line %d: field \"time\": the event is not of the file's month %s", path, line, month)
			}
			if !owned[e.App] {
				app, err := store.FindApp(ctx, e.App)
				if err != nil || app.AccountID != acct {
					return fmt.Errorf("%s: line %d: field \"app\": app %q is not an app of account %s", path, line, e.App, acct)
				}
				owned[e.App] = true
			}
			batch = append(batch, livebill.IncomingEvent{AccountID: acct, Event: e, Body: append([]byte(nil), b...)})
			if len(batch) == 1000 {
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
		if months[acct] == nil {
			months[acct] = map[string]bool{}
		}
		months[acct][month] = true
	}
	for acct, have := range months {
		rec, err := store.FindAccount(ctx, acct)
		if err != nil {
			return n, err
		}
		if rec.Purged == 0 || rec.Events.Count == 0 {
			continue
		}
		a, err := accountZone(rec)
		if err != nil {
			return n, err
		}
		loc := a.loc
		whole := true
		end := time.UnixMilli(rec.Purged).In(loc).Format("2006-01")
		for m := time.UnixMilli(rec.Events.First).In(loc); m.Format("2006-01") < end; m = time.Date(m.Year(), m.Month()+1, 1, 0, 0, 0, 0, loc) {
			whole = whole && have[m.Format("2006-01")]
		}
		if whole {
			if err := store.SetPurged(ctx, acct, 0); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
