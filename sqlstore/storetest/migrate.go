package storetest

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/livebill/livebill/sqlstore"
)

// CheckEventSpanBackfill checks migration 0009: the event spans it adds to
// the accounts are filled from the events stored before it. s is an empty
// database; full holds every migration in directory "migrations".
func CheckEventSpanBackfill(t *testing.T, s *sqlstore.DB, full fs.FS) {
	t.Helper()
	ctx := context.Background()
	ents, err := fs.ReadDir(full, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before := fstest.MapFS{}
	for _, e := range ents {
		if e.Name() < "0009" {
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
	q := func(query string, args ...any) {
		t.Helper()
		if _, err := s.SQL().ExecContext(ctx, s.Rebind(query), args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
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
