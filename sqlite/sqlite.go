// Package sqlite is the embedded storage backend: a pure-Go SQLite
// (modernc.org/sqlite, no cgo) database file in a data directory, in WAL
// mode with full fsync, so an acknowledged batch survives a crash.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

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
		dsn = "file:" + filepath.Join(dir, FileName) +
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
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
	return s, nil
}
