package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// dbHelp is the part of a command's help about naming its database.
const dbHelp = `--db is a data directory for the embedded SQLite database (default ./data)
or a PostgreSQL URL (postgres:// or postgresql://; a value with another
scheme, such as mysql://, is refused); without --db, $LIVEBILL_DB is used when set, or
--db-file FILE reads it from a file. Keep a PostgreSQL password off the
command line (where ps shows it): leave it out of the URL and set
$PGPASSWORD or a password file ($PGPASSFILE, default ~/.pgpass), or put
the URL in $LIVEBILL_DB or a --db-file readable only by the server.`

// dbFlags are the --db and --db-file flags of the commands that open a
// database.
type dbFlags struct {
	fs   *flag.FlagSet
	db   *string
	file *string
}

func addDBFlags(fs *flag.FlagSet) *dbFlags {
	return &dbFlags{
		fs:   fs,
		db:   fs.String("db", "data", "data directory (embedded SQLite) or postgres:// URL; default $LIVEBILL_DB, else ./data"),
		file: fs.String("db-file", "", "read the --db value from this file (for a PostgreSQL URL with a password)"),
	}
}

// value is the database named by --db, else --db-file, else $LIVEBILL_DB,
// else ./data. Call it after parsing.
func (d *dbFlags) value() (string, error) {
	set := map[string]bool{}
	d.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["db"] && set["db-file"]:
		return "", &exitError{code: 2, err: errors.New("give --db or --db-file, not both")}
	case set["db"]:
		return checkDB(*d.db, "--db")
	case set["db-file"]:
		b, err := os.ReadFile(*d.file)
		if err != nil {
			return "", &exitError{code: 2, err: fmt.Errorf("--db-file: %w", err)}
		}
		v := strings.TrimSpace(string(b))
		if v == "" || strings.Contains(v, "\n") {
			return "", &exitError{code: 2, err: fmt.Errorf("--db-file %s: must hold one line, the data directory or the postgres:// URL", *d.file)}
		}
		return checkDB(v, "--db-file "+*d.file)
	}
	if v := os.Getenv("LIVEBILL_DB"); v != "" {
		return checkDB(v, "$LIVEBILL_DB")
	}
	return checkDB(*d.db, "--db")
}

// checkDB refuses a db value that looks like a URL of another database
// (mysql://, a misspelt postgres://) rather than take it for a data
// directory, and spells the scheme of a PostgreSQL URL in lower case
// (Postgres:// works too). from names where the value came from.
func checkDB(db, from string) (string, error) {
	scheme, rest, ok := strings.Cut(db, "://")
	if !ok {
		return db, nil
	}
	switch s := strings.ToLower(scheme); s {
	case "postgres", "postgresql":
		return s + "://" + rest, nil
	}
	return "", &exitError{code: 2, err: fmt.Errorf("%s: unknown database scheme %q: give a data directory (embedded SQLite) or a postgres:// or postgresql:// URL", from, scheme+"://")}
}

// isPostgres tells whether db names a PostgreSQL database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// describeDB names the database db for logs and messages, without its
// password.
func describeDB(db string) string {
	if !isPostgres(db) {
		return "sqlite " + db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres (a URL that does not parse; not shown)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return "postgres " + u.Redacted()
}
