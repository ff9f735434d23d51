package main

import (
	"context"
	"flag"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --db wins, then --db-file, then $LIVEBILL_DB, then ./data.
func TestDBFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "db-url")
	os.WriteFile(file, []byte("postgres://u:p@h/db\n"), 0o600)
	badFile := filepath.Join(t.TempDir(), "bad-url")
	os.WriteFile(badFile, []byte("sqlite://data\n"), 0o600)
	for _, c := range []struct {
		env  string
		args []string
		want string
		err  string
	}{
		{"", nil, "data", ""},
		{"/srv/lb", nil, "/srv/lb", ""},
		{"/srv/lb", []string{"--db", "other"}, "other", ""},
		{"/srv/lb", []string{"--db-file", file}, "postgres://u:p@h/db", ""},
		{"", []string{"--db", "x", "--db-file", file}, "", "give --db or --db-file, not both"},
		{"", []string{"--db-file", filepath.Join(t.TempDir(), "missing")}, "", "--db-file: open"},
		// a URL of another database, or a misspelt postgres://, is not a
		// directory; the PostgreSQL schemes in any case are
		{"", []string{"--db", "postgress://foo/bar"}, "", `--db: unknown database scheme "postgress://"`},
		{"", []string{"--db", "mysql://u@h/db"}, "", `--db: unknown database scheme "mysql://"`},
		{"mysql://u@h/db", nil, "", `$LIVEBILL_DB: unknown database scheme "mysql://"`},
		{"", []string{"--db-file", badFile}, "", "--db-file " + badFile + `: unknown database scheme "sqlite://"`},
		{"", []string{"--db", "Postgres://h/db"}, "postgres://h/db", ""},
		{"POSTGRESQL://h/db", nil, "postgresql://h/db", ""},
	} {
		t.Setenv("LIVEBILL_DB", c.env)
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		d := addDBFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		got, err := d.value()
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("env %q args %q: %q, %v; want %q, %q", c.env, c.args, got, err, c.want, c.err)
		}
	}
}

func TestDescribeDB(t *testing.T) {
	for in, want := range map[string]string{
		"data": "sqlite data",
		"postgres://livebill:s3cret@db.example:5432/billing?sslmode=require": "postgres postgres://livebill:xxxxx@db.example:5432/billing?sslmode=require",
		"postgres://livebill@db.example/billing":                             "postgres postgres://livebill@db.example/billing",
		"postgresql://db.example/billing?user=lb&password=s3cret":            "postgres postgresql://db.example/billing?password=xxxxx&user=lb",
		"postgres://db.example/b?sslpassword=s3cret&sslkey=/k":               "postgres postgres://db.example/b?sslkey=%2Fk&sslpassword=xxxxx",
		"postgres://lb:s3cret@db.example:bad/b%zz":                           "postgres (a URL that does not parse; not shown)",
	} {
		if got := describeDB(in); got != want {
			t.Errorf("describeDB(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPostgresPassword: the PostgreSQL password can stay off the command
// line: a URL without one connects with $PGPASSWORD or a password file
// ($PGPASSFILE), and fails without them (the server does ask for it); the
// URL can come from $LIVEBILL_DB or --db-file; serve's log and errors show
// the URL without its password.
func TestPostgresPassword(t *testing.T) {
	full := freshPostgres(t, "the PostgreSQL password test")
	u, err := url.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok {
		t.Skip("LIVEBILL_TEST_POSTGRES has no password to move off the command line")
	}
	u.User = url.User(u.User.Username())
	bare := u.String()
	ctx := context.Background()
	open := func() error {
		s, err := openStore(ctx, bare, nil)
		if err == nil {
			s.Close()
		}
		return err
	}
	nowhere := filepath.Join(t.TempDir(), "no-pgpass")
	t.Setenv("PGPASSFILE", nowhere)
	t.Setenv("PGPASSWORD", "")
	os.Unsetenv("PGPASSWORD")
	if err := open(); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("without a password: %v; want the server to refuse it (else the test cannot tell whether one is read)", err)
	}
	t.Setenv("PGPASSWORD", password)
	if err := open(); err != nil {
		t.Errorf("with $PGPASSWORD: %v", err)
	}
	os.Unsetenv("PGPASSWORD")
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	pass := filepath.Join(t.TempDir(), "pgpass")
	os.WriteFile(pass, []byte(host+":"+port+":*:"+u.User.Username()+":"+password+"\n"), 0o600)
	t.Setenv("PGPASSFILE", pass)
	if err := open(); err != nil {
		t.Errorf("with $PGPASSFILE: %v", err)
	}

	// serve: the URL from $LIVEBILL_DB, the password from $PGPASSWORD
	bin := livebillBinary(t)
	p := startServe(t, bin, []string{"LIVEBILL_DB=" + bare, "PGPASSWORD=" + password, "PGPASSFILE=" + nowhere}, "--settle-every", "0")
	if log := p.stderr.String(); !strings.Contains(log, "storage: postgres "+describeDB(bare)[len("postgres "):]) {
		t.Errorf("serve log:\n%s", log)
	}
	// the URL with its password from --db-file: logged redacted
	file := filepath.Join(t.TempDir(), "db-url")
	os.WriteFile(file, []byte(full+"\n"), 0o600)
	p = startServe(t, bin, []string{"PGPASSFILE=" + nowhere}, "--settle-every", "0", "--db-file", file)
	userinfo := u.User.Username() + ":" + password + "@"
	if log := p.stderr.String(); !strings.Contains(log, u.User.Username()+":xxxxx@") || strings.Contains(log, userinfo) {
		t.Errorf("serve log shows the password or not the database:\n%s", log)
	}
	// a wrong password: the error names the database, not the password
	wrong := strings.Replace(full, userinfo, u.User.Username()+":Wr0ngPassw0rd@", 1)
	_, errs, code := runCLI(t, "serve", "--db", wrong, "--addr", "127.0.0.1:0")
	if code != 1 || strings.Contains(errs, "Wr0ngPassw0rd") || !strings.Contains(errs, "cannot open the database (postgres postgres://"+u.User.Username()+":xxxxx@") {
		t.Errorf("serve with a wrong password: exit %d: %s", code, errs)
	}
}

// A URL that does not parse, or names no server, is not echoed with its
// password either.
func TestServeErrorHidesPassword(t *testing.T) {
	for _, db := range []string{
		"postgres://u:s3cret@host:badport/db",
		"postgres://u:s3cret@127.0.0.1:5432/db?sslmode=bogus",
		"postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=5",
	} {
		_, errs, code := runCLI(t, "serve", "--db", db, "--addr", "127.0.0.1:0")
		if code != 1 || strings.Contains(errs, "s3cret") || !strings.Contains(errs, "cannot open the database (postgres ") {
			t.Errorf("serve --db %s: exit %d: %s", db, code, errs)
		}
	}
}

// TestServeRefusesOtherSchemes: serve --db with a misspelt postgres:// URL
// exits 2 naming --db and the scheme, and creates no data directory (it
// used to make ./postgress:/foo/bar and bill into it).
func TestServeRefusesOtherSchemes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("LIVEBILL_DB", "")
	t.Setenv("LIVEBILL_ADMIN_KEY", "")
	// an address that cannot be listened on, so that a serve that took the
	// URL for a directory stops rather than serves
	_, stderr, code := runCLI(t, "serve", "--db", "postgress://foo/bar", "--addr", "127.0.0.1:-1")
	if code != 2 || !strings.Contains(stderr, `--db: unknown database scheme "postgress://"`) {
		t.Errorf("exit %d, stderr %q; want 2 naming --db and postgress://", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("serve left %v in its directory", entries)
	}
}
