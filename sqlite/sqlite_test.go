package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
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

// TestDurableSettings: the database runs in WAL mode with an fsync of the
// WAL at every commit (synchronous=FULL, 2), so an acknowledged batch
// survives a crash or a power loss; checkpoints every 10,000 pages.
func TestDurableSettings(t *testing.T) {
	s, err := sqlite.Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	var sync, ckpt int
	db := s.SQL()
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q %v, want wal", mode, err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous %d %v, want 2 (FULL)", sync, err)
	}
	if err := db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&ckpt); err != nil || ckpt != 10000 {
		t.Errorf("wal_autocheckpoint %d %v, want 10000", ckpt, err)
	}
}

// memStore is a store on an empty database in memory.
func memStore(t *testing.T) *sqlstore.DB {
	db, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return sqlstore.New(db, sqlstore.Dialect{Name: "sqlite"}, nil)
}

// TestEventSpanBackfill: migration 0009 fills the event spans of events
// stored before it.
func TestEventSpanBackfill(t *testing.T) {
	storetest.CheckEventSpanBackfill(t, memStore(t), sqlite.Migrations())
}

// TestEventCountRecount: migration 0018 counts again the events of the
// accounts retention purged.
func TestEventCountRecount(t *testing.T) {
	storetest.CheckEventCountRecount(t, memStore(t), sqlite.Migrations())
}

// TestRollupsClustered: migration 0019 keeps the rollups and stores them
// in the order of their key, with no rowid (WITHOUT ROWID tables have
// none to select).
func TestRollupsClustered(t *testing.T) {
	s := memStore(t)
	storetest.CheckRollupsKept(t, s, sqlite.Migrations(), "0019")
	for _, table := range []string{"usage_rollups", "usage_days"} {
		if _, err := s.SQL().Exec(`SELECT rowid FROM ` + table); err == nil || !strings.Contains(err.Error(), "no such column") {
			t.Errorf("%s has a rowid after migration 0019 (%v): it is not stored in key order", table, err)
		}
	}
}

// TestUsageDaysFrom: migration 0017 marks the days settled before it as
// read from the 5-minute rollups.
func TestUsageDaysFrom(t *testing.T) {
	storetest.CheckUsageDaysFrom(t, memStore(t), sqlite.Migrations())
}

// TestNewerSchema: Open refuses a data directory a newer livebill migrated.
func TestNewerSchema(t *testing.T) {
	storetest.CheckNewerSchema(t, func(t *testing.T) (*sqlstore.DB, func() error) {
		dir := t.TempDir()
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return sqlstore.New(db, sqlstore.Dialect{Name: "sqlite"}, nil), func() error {
			s, err := sqlite.Open(context.Background(), dir, nil)
			if err == nil {
				s.Close()
			}
			return err
		}
	}, sqlite.Migrations())
}

// TestBatchedReadsBesideWriter: the settlement's batched reads
// (FindAccounts and the like) go through read connections, so they
// answer while a transaction holds the one writing connection (a group
// being written), from the last commit; once it commits they see it.
func TestBatchedReadsBesideWriter(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-10-01"}); err != nil {
		t.Fatal(err)
	}
	revision := func() int64 {
		t.Helper()
		// bounded: with one connection for everything this read would
		// wait for the transaction below
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		recs, err := s.FindAccounts(rctx, []string{"a1"})
		if err != nil || recs["a1"] == nil {
			t.Fatalf("find account a1 beside the writer: %v %v", recs, err)
		}
		return recs["a1"].Revision
	}
	before := revision()
	tx, err := s.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE accounts SET revision = revision + 100 WHERE id = 'a1'`); err != nil {
		t.Fatal(err)
	}
	if got := revision(); got != before {
		t.Errorf("revision %d during the write, want %d (the last commit's)", got, before)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := revision(); got != before+100 {
		t.Errorf("revision %d after the commit, want %d", got, before+100)
	}
}
