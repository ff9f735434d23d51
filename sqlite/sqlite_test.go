package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock livebill.Clock) livebill.Store {
		s, err := sqlite.Open(context.Background(), t.TempDir(), clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		s, err := sqlite.Open(context.Background(), dir, nil)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n int
		files, _ := filepath.Glob("migrations/*.sql")
		if err := s.SQL().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
			t.Fatalf("open %d: %d migrations recorded, %v", i, n, err)
		}
		s.Close()
	}
}
