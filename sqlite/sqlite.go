// Package sqlite is the embedded storage backend: a pure-Go SQLite
// (modernc.org/sqlite, no cgo) database file in a data directory, in WAL
// mode with full fsync, so an acknowledged batch survives a crash.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema migrations Open applies, in directory
// "migrations" (for tests that start from an older schema).
func Migrations() fs.FS { return migrations }

// FileName is the database file inside the data directory.
const FileName = "livebill.db"

// Open opens (creating if needed) the database in dir and applies the
// migrations. dir ":memory:" opens a private in-memory database.
func Open(ctx context.Context, dir string, clock livebill.Clock) (*sqlstore.DB, error) {
	var dsn string
	if dir == ":memory:" {
		dsn = "file::memory:?_pragma=foreign_keys(1)"
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		// Durability: WAL with synchronous=FULL fsyncs the WAL at every
		// commit, and a batch is acknowledged only after its commit, so an
		// acknowledged event survives kill -9, an OS crash and a power
		// loss. (synchronous=NORMAL would survive kill -9 only: in WAL mode
		// it fsyncs at checkpoints, not commits. Not used.)
		//
		// wal_autocheckpoint(10000): copy the WAL into the database file
		// every ~40 MiB of WAL instead of every ~4 MiB (1,000 pages). A
		// page changed by many batches (the index pages) is copied once per
		// checkpoint, so fewer writes and fsyncs of the database file per
		// event; it changes nothing of durability (what is committed is in
		// the fsynced WAL). The cost: a WAL file of up to ~40 MiB and a
		// longer recovery after a crash.
		//
		// cache_size(-65536): a page cache of 64 MiB instead of 2 MiB.
		// Each settlement writes a few rows into every settled account's
		// part of the rollups and events indexes; with 2 MiB the inner
		// pages of those trees in a database of gigabytes did not stay
		// cached, and each day's settlement cost more than the day before.
		dsn = "file:" + filepath.Join(dir, FileName) +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(10000)&_pragma=cache_size(-65536)&_pragma=foreign_keys(1)&_txlock=immediate"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer anyway, and it keeps an
	// in-memory database a single database.
	db.SetMaxOpenConns(1)
	s := sqlstore.New(db, sqlstore.Dialect{Name: "sqlite"}, clock)
	if err := s.Migrate(ctx, migrations, "migrations"); err != nil {
		db.Close()
		return nil, err
	}
	if dir != ":memory:" {
		// Read connections for the settlement's batched reads
		// (sqlstore.DB.UseReadPool): in WAL mode they read the last
		// commit beside the writer, so while one group of accounts is
		// written the next group's inputs are read on the other core.
		// query_only: nothing is ever written through them. A page cache
		// of 16 MiB each, not the writer's 64: they read a group's recent
		// rows, and a settlement of 20,000 accounts took the same time
		// with either, where two more 64 MiB caches would be memory the
		// service holds for good.
		reads, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName)+
			"?_pragma=busy_timeout(10000)&_pragma=cache_size(-16384)&_pragma=query_only(1)")
		if err != nil {
			s.Close()
			return nil, err
		}
		reads.SetMaxOpenConns(readConns)
		reads.SetMaxIdleConns(readConns)
		s.UseReadPool(reads)
	}
	return s, nil
}

// readConns is the size of the read pool: the settlement's workers
// (GOMAXPROCS+1) take turns reading and writing, and with two cores two
// reading at once kept the writer busy.
const readConns = 2
