package storetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
)

// CheckEventSpanBackfill checks migration 0009: the event spans it adds to
// the accounts are filled from the events stored before it. s is an empty
// database; full holds every migration in directory "migrations".
func CheckEventSpanBackfill(t *testing.T, s *sqlstore.DB, full fs.FS) {
	t.Helper()
	ctx := context.Background()
	q := migrateBefore(t, s, full, "0009")
	for _, a := range []string{"a1", "a2", "a3"} {
		q(`INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision) VALUES (?, 'trtc', '', '2024-10-01', '', '0', '', '2024-10-01T00:00:00Z', 1)`, a)
	}
	// a1: three events stored out of time order; a2: one; a3: none
	for _, e := range []struct {
		acct, id string
		ms       int64
	}{{"a1", "e1", 2000}, {"a1", "e2", 500}, {"a1", "e3", 9000}, {"a2", "e1", 7}} {
		q(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES (?, ?, ?, 'x', '{}')`, e.acct, e.id, e.ms)
	}
	if err := s.Migrate(ctx, full, "migrations"); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string][3]int64{"a1": {3, 500, 9000}, "a2": {1, 7, 7}, "a3": {0, 0, 0}} {
		sp, err := s.EventSpan(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]int64{sp.Count, sp.First, sp.Last}; got != want {
			t.Errorf("account %s: span %v after migration 0009, want %v", a, got, want)
		}
	}
}

// CheckEventCountRecount checks migration 0018: an account retention
// purged before it (its count not lowered then) has its events counted
// again, its first and last times kept; another is left as it is. s is an
// empty database; full holds every migration in directory "migrations".
func CheckEventCountRecount(t *testing.T, s *sqlstore.DB, full fs.FS) {
	t.Helper()
	ctx := context.Background()
	q := migrateBefore(t, s, full, "0018")
	// a1: 5 events counted, 3 of them purged before 1000; a2: never purged
	for _, a := range []struct {
		id                        string
		count, first, last, purge int64
	}{{"a1", 5, 100, 1500, 1000}, {"a2", 2, 10, 20, 0}} {
		q(`INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision, event_count, first_ms, last_ms, purged_ms)
			VALUES (?, 'trtc', '', '2024-10-01', '', '0', '', '2024-10-01T00:00:00Z', 1, ?, ?, ?, ?)`, a.id, a.count, a.first, a.last, a.purge)
	}
	for _, e := range []struct {
		acct, id string
		ms       int64
	}{{"a1", "e4", 1200}, {"a1", "e5", 1500}, {"a2", "e1", 10}, {"a2", "e2", 20}} {
		q(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES (?, ?, ?, 'x', '{}')`, e.acct, e.id, e.ms)
	}
	if err := s.Migrate(ctx, full, "migrations"); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string][3]int64{"a1": {2, 100, 1500}, "a2": {2, 10, 20}} {
		sp, err := s.EventSpan(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]int64{sp.Count, sp.First, sp.Last}; got != want {
			t.Errorf("account %s: span %v after migration 0018, want %v", a, got, want)
		}
	}
}

// migrateBefore runs the migrations of full (directory "migrations")
// named before version on s, and returns a function that runs a
// statement on s.
func migrateBefore(t *testing.T, s *sqlstore.DB, full fs.FS, version string) func(query string, args ...any) {
	t.Helper()
	ctx := context.Background()
	ents, err := fs.ReadDir(full, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	for _, e := range ents {
		if e.Name() < version {
			b, err := fs.ReadFile(full, "migrations/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			before["migrations/"+e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	if err := s.Migrate(ctx, before, "migrations"); err != nil {
		t.Fatal(err)
	}
	return func(query string, args ...any) {
		t.Helper()
		if _, err := s.SQL().ExecContext(ctx, s.Rebind(query), args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
}

// CheckUsageDaysFrom checks migration 0017: an account with 5-minute
// rollups stored before it has its days up to its last window read from
// them (usage_days_from just after that window), one without any from
// its daily rollups. s is an empty database; full holds every migration
// in directory "migrations".
func CheckUsageDaysFrom(t *testing.T, s *sqlstore.DB, full fs.FS) {
	t.Helper()
	ctx := context.Background()
	q := migrateBefore(t, s, full, "0017")
	for _, a := range []string{"a1", "a2"} {
		q(`INSERT INTO accounts (id, catalog, mode, created, activated, balance, timezone, created_at, revision) VALUES (?, 'trtc', '', '2024-10-01', '', '0', '', '2024-10-01T00:00:00Z', 1)`, a)
	}
	for _, w := range []int64{300000, 900000, 600000} {
		q(`INSERT INTO usage_rollups (account_id, window_ms, app, item, value) VALUES ('a1', ?, 'x', 'trtc.av.audio', 1)`, w)
	}
	if err := s.Migrate(ctx, full, "migrations"); err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]int64{"a1": 900001, "a2": 0} {
		ds, from, err := s.ListUsageDays(ctx, a, 0, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		if from != want || len(ds) != 0 {
			t.Errorf("account %s: daily usage from %d (%d rows) after migration 0017, want from %d (none)", a, from, len(ds), want)
		}
	}
}

// SchemaDB is a fresh, empty database of a backend: s to run migrations on
// it directly, and open to open it the way the backend's Open does (with
// the backend's own migrations), returning Open's error.
type SchemaDB func(t *testing.T) (s *sqlstore.DB, open func() error)

// CheckNewerSchema checks that a backend refuses a database whose schema
// is newer than (or different from) the migrations it was built with, and
// says which version it found, which it knows and what to do. full holds
// the backend's migrations in directory "migrations".
func CheckNewerSchema(t *testing.T, newDB SchemaDB, full fs.FS) {
	ctx := context.Background()
	known, err := sqlstore.Migrations(full, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(known) == 0 {
		t.Fatal("no migrations")
	}
	latest := known[len(known)-1].Version
	copyOf := func(keep func(sqlstore.Migration) bool) fstest.MapFS {
		m := fstest.MapFS{}
		for _, k := range known {
			if keep(k) {
				b, err := fs.ReadFile(full, "migrations/"+k.Name)
				if err != nil {
					t.Fatal(err)
				}
				m["migrations/"+k.Name] = &fstest.MapFile{Data: b}
			}
		}
		return m
	}
	for _, c := range []struct {
		name   string
		schema fstest.MapFS // what the "other" livebill migrated the database with
		extra  string       // its migration this binary does not have
		found  int64
		phrase string
	}{
		// a newer livebill: every migration this binary has, and one more
		{"Newer", copyOf(func(sqlstore.Migration) bool { return true }),
			fmt.Sprintf("%04d_future.sql", latest+1), latest + 1, "newer than"},
		// a livebill built from another branch: its own migration under
		// this binary's latest version, which this binary would skip
		{"OtherBranch", copyOf(func(m sqlstore.Migration) bool { return m.Version < latest }),
			fmt.Sprintf("%04d_elsewhere.sql", latest), latest, "different from"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, open := newDB(t)
			c.schema["migrations/"+c.extra] = &fstest.MapFile{Data: []byte("CREATE TABLE future_things (id TEXT PRIMARY KEY);\n")}
			if err := s.Migrate(ctx, c.schema, "migrations"); err != nil {
				t.Fatal(err)
			}
			err := open()
			var se *sqlstore.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("open on a schema with %s: %v, want a schema error", c.extra, err)
			}
			if se.Found != c.found || se.Known != latest || len(se.Unknown) != 1 || se.Unknown[0] != c.extra {
				t.Errorf("schema error %+v, want found %d, known %d, unknown [%s]", se, c.found, latest, c.extra)
			}
			msg := err.Error()
			for _, want := range []string{
				fmt.Sprintf("version %d is %s", c.found, c.phrase),
				fmt.Sprintf("knows (version %d;", latest),
				c.extra,
				"upgrade livebill, or restore a backup",
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			// refused before anything was applied: the migration this
			// binary has and the other did not is still missing
			var n int
			if err := s.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != len(c.schema) {
				t.Errorf("%d migrations recorded after the refused open, want the %d the other livebill applied", n, len(c.schema))
			}
		})
	}
}

// CheckRollupsKept checks a migration that rebuilds the rollup tables
// (SQLite's 0019 stores them in key order): the 5-minute and daily rows
// stored before it are read back the same after it, and their keys stay
// unique. s is an empty database; full holds every migration in
// directory "migrations"; version is the migration's ("0019").
func CheckRollupsKept(t *testing.T, s *sqlstore.DB, full fs.FS, version string) {
	t.Helper()
	ctx := context.Background()
	q := migrateBefore(t, s, full, version)
	// a1: three windows of two items, one day; a2: one window
	windows := []livebill.UsageWindow{
		{App: "x", Item: "trtc.av.audio", Window: 600_000, Value: 7},
		{App: "x", Item: "trtc.av.hd", Window: 300_000, Value: 11},
		{App: "y", Item: "trtc.av.audio", Window: 300_000, Value: 13},
	}
	for _, w := range windows {
		q(`INSERT INTO usage_rollups (account_id, window_ms, app, item, value) VALUES ('a1', ?, ?, ?, ?)`, w.Window, w.App, w.Item, w.Value)
	}
	q(`INSERT INTO usage_rollups (account_id, window_ms, app, item, value) VALUES ('a2', 300000, 'x', 'trtc.av.audio', 17)`)
	q(`INSERT INTO usage_days (account_id, day_ms, app, item, value) VALUES ('a1', 0, 'x', 'trtc.av.audio', 7)`)
	if err := s.Migrate(ctx, full, "migrations"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUsageRollups(ctx, "a1", 0, 1<<40, nil)
	if err != nil {
		t.Fatal(err)
	}
	// the table's order: window, app, item
	want := []livebill.UsageWindow{windows[1], windows[2], windows[0]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a1's windows after migration %s:\n got %+v\nwant %+v", version, got, want)
	}
	if got, err := s.ListUsageRollups(ctx, "a2", 0, 1<<40, nil); err != nil || len(got) != 1 || got[0].Value != 17 {
		t.Errorf("a2's windows after migration %s: %+v %v, want its one of 17", version, got, err)
	}
	days, _, err := s.ListUsageDays(ctx, "a1", 0, 1<<40)
	if err != nil || len(days) != 1 || days[0].Value != 7 {
		t.Errorf("a1's days after migration %s: %+v %v, want its one of 7", version, days, err)
	}
	for _, dup := range []string{
		`INSERT INTO usage_rollups (account_id, window_ms, app, item, value) VALUES ('a2', 300000, 'x', 'trtc.av.audio', 1)`,
		`INSERT INTO usage_days (account_id, day_ms, app, item, value) VALUES ('a1', 0, 'x', 'trtc.av.audio', 1)`,
	} {
		if _, err := s.SQL().ExecContext(ctx, dup); err == nil {
			t.Errorf("a row of an existing key was stored after migration %s: %s", version, dup)
		}
	}
}
