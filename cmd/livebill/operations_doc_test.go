package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

const operationsDoc = "../../docs/operations.md"

// eventsIn counts the events stored for account "acct" in the data
// directory dir.
func eventsIn(t *testing.T, dir string) int {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.ListEvents(context.Background(), "acct", 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// setupAccount creates account "acct" and its app "app1" through c and
// pushes screenshots(n).
func setupAccount(t *testing.T, c *lbhttp.Client, n int) {
	t.Helper()
	ctx := context.Background()
	if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-01"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return
	}
	if res, err := c.PushEvents(ctx, screenshots(n)); err != nil || res.Accepted != n {
		t.Fatalf("push: %+v %v", res, err)
	}
}

// TestOperationsDoc runs every command of docs/operations.md, in the
// order an operator would, and checks the outputs it shows.
func TestOperationsDoc(t *testing.T) {
	d := newDocRun(t, operationsDoc)
	data := filepath.Join(d.dir, "data")

	t.Run("SQLite", func(t *testing.T) {
		d.t = t
		p := d.serve("serve", nil)
		d.matches("serve-log", p.stderr.String())
		c := lbhttp.NewClient(p.url)
		c.Key = p.key
		setupAccount(t, c, 50)
		d.matches("version-output", d.run("version", nil))
		d.matches("backup-output", d.run("backup", nil))
		// pushed after the backup: 30 more events
		if res, err := c.PushEvents(context.Background(), screenshots(80)); err != nil || res.Accepted != 30 {
			t.Fatalf("push: %+v %v", res, err)
		}
		d.run("restore", nil)
		if n := eventsIn(t, filepath.Join(d.dir, "restored")); n != 50 {
			t.Errorf("restored: %d events, want the 50 stored before the backup", n)
		}
		d.stop(p)
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit status %d after SIGTERM", code)
		}
		d.matches("shutdown-log", p.stderr.String())
		d.run("restore-force", nil)
		if n := eventsIn(t, data); n != 50 {
			t.Errorf("data after restore --force: %d events, want 50", n)
		}
	})

	t.Run("Upgrade", func(t *testing.T) {
		d.t = t
		d.run("upgrade-backup", nil)
		// a newer livebill migrates the data directory
		s, err := sqlite.Open(context.Background(), data, nil)
		if err != nil {
			t.Fatal(err)
		}
		known, _ := sqlstore.SchemaVersion(sqlite.Migrations(), "migrations")
		if _, err := s.SQL().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, '2030-01-01T00:00:00Z')`, known+1, fmt.Sprintf("%04d_future.sql", known+1)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// this one refuses it
		var errb bytes.Buffer
		cmd := d.command(d.script("serve"), nil)
		cmd.Stderr = &errb
		if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 1 {
			t.Fatalf("serve on a newer schema: %v\n%s", err, errb.String())
		}
		d.matches("newer-schema-output", errb.String())
		d.run("downgrade", nil)
		p := d.serve("serve", nil)
		d.stop(p)
		if n := eventsIn(t, data); n != 50 {
			t.Errorf("after the downgrade: %d events, want 50", n)
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		d.t = t
		d.used["pg-dump"], d.used["pg-restore"] = true, true // run below, when PostgreSQL is there
		base := os.Getenv("LIVEBILL_TEST_POSTGRES")
		if base == "" {
			t.Skip("LIVEBILL_TEST_POSTGRES is not set: the pg_dump and pg_restore commands are not run")
		}
		for _, tool := range []string{"pg_dump", "pg_restore"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
		}
		src, dst := scratchDatabase(t, base, "src"), scratchDatabase(t, base, "dst")
		bare, password := withoutPassword(t, src)
		env := []string{"LIVEBILL_DB=" + bare, "PGPASSWORD=" + password}
		q1 := quoteOn(t, src, true)
		d.run("pg-dump", env)
		rbare, _ := withoutPassword(t, dst)
		d.run("pg-restore", append(env, "RESTORED_DB="+rbare))
		if q2 := quoteOn(t, dst, false); q1 != q2 {
			t.Errorf("the restored database quotes\n%s\nthe source\n%s", q2, q1)
		}
	})

	t.Run("Password", func(t *testing.T) {
		d.t = t
		line := strings.TrimSpace(d.block("pgpass", "text").body)
		if len(strings.Split(line, ":")) != 5 {
			t.Fatalf("the password file line %q is not host:port:database:user:password", line)
		}
		d.used["pg-password"] = true // run below, when PostgreSQL is there
		full := freshPostgres(t, "the password file commands")
		bare, password := withoutPassword(t, full)
		u, _ := url.Parse(full)
		port := u.Port()
		if port == "" {
			port = "5432"
		}
		pass := strings.Join([]string{u.Hostname(), port, strings.TrimPrefix(u.Path, "/"), u.User.Username(), password}, ":")
		if err := os.WriteFile(filepath.Join(d.dir, "pgpass"), []byte(pass+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p := d.serve("pg-password", nil, "postgres://livebill@127.0.0.1:5432/livebill?sslmode=disable", bare)
		logs := p.stderr.String()
		if !strings.Contains(logs, "storage: postgres "+strings.TrimPrefix(describeDB(bare), "postgres ")) || (password != "" && strings.Contains(logs, ":"+password+"@")) {
			t.Errorf("serve log:\n%s", logs)
		}
		d.stop(p)
	})

	t.Run("Monitoring", func(t *testing.T) {
		d.t = t
		monitoringDoc(t, d)
	})

	t.Run("Deploy", func(t *testing.T) {
		d.t = t
		deployDoc(t, d)
	})

	t.Run("ServeFlags", func(t *testing.T) {
		d.t = t
		serveFlagsDoc(t)
	})

	d.t = t
	d.allUsed()
}

// scratchDatabase creates a database (dropped after the test) on the
// server of base and returns its URL.
func scratchDatabase(t *testing.T, base, what string) string {
	t.Helper()
	name := fmt.Sprintf("lbdoc_%s_%d_%d", what, os.Getpid(), schemaN.Add(1))
	if err := onPostgres(t, base, "CREATE DATABASE "+name, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Skipf("cannot create a scratch database (the role needs CREATEDB, as .ci/run gives it): %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// withoutPassword splits a URL into the URL without its password and the
// password.
func withoutPassword(t *testing.T, s string) (string, string) {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	return u.String(), p
}

// quoteOn opens the PostgreSQL database at dsn in process (filling it
// first with account "acct" and 50 screenshots when fill is set) and
// returns the account's quote of the month of screenshotDay.
func quoteOn(t *testing.T, dsn string, fill bool) string {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := apiOn(t, s, nil)
	if fill {
		setupAccount(t, c, 50)
	}
	month := time.Date(screenshotDay.Year(), screenshotDay.Month(), 1, 0, 0, 0, 0, time.UTC)
	return string(serverQuote(t, c, month.Format(time.DateOnly), month.AddDate(0, 1, 0).Format(time.DateOnly)))
}
