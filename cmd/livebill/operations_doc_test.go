package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

const operationsDoc = "../../docs/operations.md"

// docBlock is a fenced block of docs/operations.md labelled for this test
// by an HTML comment "<!-- test: LABEL -->" on the line before it.
type docBlock struct {
	lang string // sh: commands; text: output (… matches anything) or a file
	body string
	line int
}

// readDocBlocks returns the labelled blocks of a Markdown file; a fenced
// block without a label is an error, so every command in the file is
// given to a test.
func readDocBlocks(t *testing.T, path string) map[string]docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	label := regexp.MustCompile(`^<!-- test: ([a-z0-9-]+) -->$`)
	blocks := map[string]docBlock{}
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		m := []string(nil)
		if start > 0 {
			m = label.FindStringSubmatch(lines[start-1])
		}
		if m == nil {
			t.Errorf("%s:%d: a block without a <!-- test: LABEL --> line before it", path, start+1)
			continue
		}
		if _, dup := blocks[m[1]]; dup {
			t.Errorf("%s:%d: label %s used twice", path, start+1, m[1])
		}
		blocks[m[1]] = docBlock{lang: lang, body: strings.Join(body, "\n") + "\n", line: start + 1}
	}
	return blocks
}

// opsDoc runs the blocks of docs/operations.md in a scratch directory
// with the built livebill first on PATH.
type opsDoc struct {
	t      *testing.T
	blocks map[string]docBlock
	used   map[string]bool
	dir    string
	env    []string
	addr   string // replaces the documented 127.0.0.1:8080
}

func (d *opsDoc) block(label, lang string) docBlock {
	d.t.Helper()
	b, ok := d.blocks[label]
	if !ok || b.lang != lang {
		d.t.Fatalf("%s has no %s block labelled %s", operationsDoc, lang, label)
	}
	d.used[label] = true
	return b
}

// script is the sh block label with the listen address replaced and
// the given replacements made (each must occur).
func (d *opsDoc) script(label string, replace ...string) string {
	d.t.Helper()
	s := strings.ReplaceAll(d.block(label, "sh").body, "127.0.0.1:8080", d.addr)
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			d.t.Fatalf("block %s lacks %q", label, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

func (d *opsDoc) command(script string, env []string) *exec.Cmd {
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = d.dir
	cmd.Env = append(append([]string(nil), d.env...), env...)
	return cmd
}

// run runs the sh block label; it must succeed. It returns its stdout.
func (d *opsDoc) run(label string, env []string, replace ...string) string {
	d.t.Helper()
	var out, errb bytes.Buffer
	cmd := d.command(d.script(label, replace...), env)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("block %s (%s:%d): %v\n%s%s", label, operationsDoc, d.blocks[label].line, err, out.String(), errb.String())
	}
	return out.String()
}

// serve runs the sh block label, which starts a server, until it listens.
func (d *opsDoc) serve(label string, env []string, replace ...string) *serveProc {
	d.t.Helper()
	return startProc(d.t, d.command(d.script(label, replace...), env))
}

// stop sends SIGTERM to the server and waits for it to exit.
func (d *opsDoc) stop(p *serveProc) {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		d.t.Fatal("the server did not stop")
	}
}

// matches checks that output holds, in order, a line matching each line
// of the text block label, where … matches any text.
func (d *opsDoc) matches(label, output string) {
	d.t.Helper()
	b := d.block(label, "text")
	want := strings.Split(strings.TrimSuffix(strings.ReplaceAll(b.body, "127.0.0.1:8080", d.addr), "\n"), "\n")
	got := strings.Split(output, "\n")
	k := 0
	for _, w := range want {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*") + "$")
		for k < len(got) && !re.MatchString(got[k]) {
			k++
		}
		if k == len(got) {
			d.t.Errorf("the output shown in %s:%d (%s) is not what livebill printed: no line matches\n  %s\nin\n%s", operationsDoc, b.line, label, w, output)
			return
		}
		k++
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

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
	bin := livebillBinary(t)
	d := &opsDoc{t: t, blocks: readDocBlocks(t, operationsDoc), used: map[string]bool{}, dir: t.TempDir(), addr: freeAddr(t)}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LIVEBILL_DB", "PGPASSWORD", "PGPASSFILE", "PATH":
		default:
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
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

	d.t = t
	for label, b := range d.blocks {
		if !d.used[label] {
			t.Errorf("%s:%d: block %s is not run or checked by this test", operationsDoc, b.line, label)
		}
	}
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
