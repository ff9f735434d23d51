package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

const backupSynopsis = `livebill backup [--db DIR] OUT

Copies the embedded SQLite database of the data directory into the new
file OUT, while the server runs: the copy is consistent (every event
batch acknowledged before the backup began, and no part of a batch
acknowledged after) and compact. 'livebill restore OUT --db DIR' makes a
data directory from it. Copying the files of a running data directory is
not a backup: what was committed last may still be only in its WAL.

A PostgreSQL database is backed up with pg_dump (docs/operations.md).

` + dbHelp

const restoreSynopsis = `livebill restore BACKUP [--db DIR] [--force]

Makes the data directory DIR from a file 'livebill backup' wrote, after
checking the backup (an intact livebill database whose schema this
binary knows; an older schema is migrated, as 'serve' would). DIR must
be empty or absent: --force replaces the database of a data directory
that has one (its other files are left alone), and is refused while a
server has that database open. Stop the server before restoring.

A PostgreSQL database is restored with pg_restore (docs/operations.md).

` + dbHelp

func init() {
	register("backup", command{synopsis: "[--db DIR] OUT  copy a (running) server's SQLite database, consistently", order: 20, run: cmdBackup})
	register("restore", command{synopsis: "BACKUP [--db DIR]  make a data directory from a backup", order: 21, run: cmdRestore})
}

// sqliteFileArgs parses the arguments of backup and restore: one file
// (what it is says the usage error) and a --db that must be a SQLite data
// directory; a PostgreSQL one is pointed to tool.
func sqliteFileArgs(fs *flag.FlagSet, dbf *dbFlags, args []string, file, tool string) (string, string, error) {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return "", "", err
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", "", &exitError{code: 2, err: fmt.Errorf("%s takes one argument, %s (got %d)", fs.Name(), file, len(pos))}
	}
	db, err := dbf.value()
	if err != nil {
		return "", "", err
	}
	if isPostgres(db) {
		return "", "", &exitError{code: 2, err: fmt.Errorf("%s works on the embedded SQLite data directory; --db names a PostgreSQL database: use %s (see docs/operations.md)", fs.Name(), tool)}
	}
	return pos[0], db, nil
}

func cmdBackup(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", backupSynopsis, stderr)
	dbf := addDBFlags(fs)
	out, db, err := sqliteFileArgs(fs, dbf, args, "the file to write", "pg_dump")
	if err != nil {
		return err
	}
	info, err := sqlite.Backup(context.Background(), db, out)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(stdout, "backed up %s to %s: %s\n", db, out, describeInfo(info))
	return nil
}

func cmdRestore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", restoreSynopsis, stderr)
	dbf := addDBFlags(fs)
	force := fs.Bool("force", false, "replace the database of a data directory that has one")
	backup, db, err := sqliteFileArgs(fs, dbf, args, "the backup file", "pg_restore")
	if err != nil {
		return err
	}
	info, err := sqlite.Restore(context.Background(), backup, db, *force)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(stdout, "restored %s into %s: %s", backup, db, describeInfo(info))
	if known, err := sqlstore.SchemaVersion(sqlite.Migrations(), "migrations"); err == nil && known > info.Schema {
		fmt.Fprintf(stdout, " (migrated to schema version %d)", known)
	}
	fmt.Fprintln(stdout)
	return nil
}

func describeInfo(in *sqlite.Info) string {
	return fmt.Sprintf("schema version %d, %d accounts, %d events, %.1f MiB", in.Schema, in.Accounts, in.Events, float64(in.Bytes)/(1<<20))
}
