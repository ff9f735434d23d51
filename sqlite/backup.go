package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/livebill/livebill/sqlstore"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Info describes a livebill database file.
type Info struct {
	Schema   int64 // its schema version (highest migration applied)
	Accounts int64
	Events   int64
	Bytes    int64 // the file's size
}

// Backup copies the database of the data directory dir into the new file
// out, while a server may be running on it. VACUUM INTO reads one
// snapshot (a read transaction: in WAL mode it neither waits for writers
// nor holds them up), so the copy holds every batch committed before it
// began and none committed after, never part of one. SQLite does not sync
// what VACUUM INTO writes, so it is written to a temporary file beside
// out, synced and renamed: out is complete or absent. Copying the files
// of a running database instead would miss what is still in its WAL.
func Backup(ctx context.Context, dir, out string) (*Info, error) {
	src := filepath.Join(dir, FileName)
	if _, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("cannot back up %s: no livebill database there: %w", dir, err)
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("cannot back up into %s: it already exists", out)
	}
	// no migrations: a backup must not change the database it copies
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := vacuumInto(ctx, db, out, nil); err != nil {
		return nil, fmt.Errorf("cannot back up %s: %w", dir, err)
	}
	return inspect(ctx, out, false)
}

// vacuumInto writes a compacted, consistent copy of db to out, through a
// synced temporary file renamed into place (replacing out); before, if
// not nil, runs just before the rename.
func vacuumInto(ctx context.Context, db *sql.DB, out string, before func() error) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	tmp.Close() // VACUUM INTO writes into an empty file
	done := false
	defer func() {
		if !done {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp.Name()); err != nil {
		return err
	}
	if err := syncFile(tmp.Name()); err != nil {
		return err
	}
	if before != nil {
		if err := before(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	done = true
	return syncFile(filepath.Dir(out))
}

// syncFile flushes a file, or a directory's entries, to stable storage.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Inspect checks that the file path is an intact livebill database whose
// schema this binary knows (an older one is fine: Open migrates it) and
// describes it. It only reads the file.
func Inspect(ctx context.Context, path string) (*Info, error) {
	return inspect(ctx, path, true)
}

func inspect(ctx context.Context, path string, check bool) (*Info, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a database file", path)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	bad := func(err error) (*Info, error) {
		return nil, fmt.Errorf("%s is not a usable livebill database: %w", path, err)
	}
	if check {
		var res string
		if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
			return bad(err)
		}
		if res != "ok" {
			return bad(fmt.Errorf("damaged: %s", res))
		}
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'accounts', 'events')`).Scan(&tables); err != nil {
		return bad(err)
	}
	if tables != 3 {
		return bad(errors.New("it lacks livebill's tables"))
	}
	info := &Info{Bytes: fi.Size()}
	s := sqlstore.New(db, sqlstore.Dialect{Name: "sqlite"}, nil)
	if info.Schema, err = s.CheckSchema(ctx, migrations, "migrations"); err != nil {
		if check {
			return bad(err)
		}
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM events)`).Scan(&info.Accounts, &info.Events); err != nil {
		return bad(err)
	}
	return info, nil
}

// Restore makes the data directory dir from the backup file backup (made
// by Backup) and opens it as Open does, migrating a backup older than this
// binary. It refuses a backup that is damaged or has a newer schema, and
// a directory that is not empty unless force, in which case its database
// is replaced (other files are left alone) — but never while a server has
// that database open.
func Restore(ctx context.Context, backup, dir string, force bool) (*Info, error) {
	info, err := Inspect(ctx, backup)
	if err != nil {
		return nil, fmt.Errorf("cannot restore: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(ents) > 0 && !force {
		return nil, fmt.Errorf("cannot restore into %s: the directory is not empty (--force replaces its database)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	target := filepath.Join(dir, FileName)
	if err := checkUnused(ctx, target); err != nil {
		return nil, fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	src, err := sql.Open("sqlite", "file:"+backup+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// the replaced database's WAL and shared memory go just before the new
	// file takes its name: SQLite would apply that WAL to the new file
	dropOld := func() error {
		for _, f := range []string{target + "-wal", target + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	if err := vacuumInto(ctx, src, target, dropOld); err != nil {
		return nil, fmt.Errorf("cannot restore into %s: %w", dir, err)
	}
	s, err := Open(ctx, dir, nil)
	if err != nil {
		return nil, fmt.Errorf("the restored database in %s does not open: %w", dir, err)
	}
	return info, s.Close()
}

// checkUnused fails when a connection has the database file path open
// (a server running on it): taking it in exclusive locking mode needs
// every other connection gone.
func checkUnused(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=locking_mode(EXCLUSIVE)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		var se *sqlite3.Error
		if errors.As(err, &se) && se.Code()&0xff == sqlite3lib.SQLITE_BUSY {
			return errors.New("its database is in use (is a server running on it?)")
		}
		return err
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}
