package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	plat := runtime.GOOS + "/" + runtime.GOARCH
	bi := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Path: "github.com/livebill/livebill", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2024-10-01T08:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	want := "livebill v1.4.0\nrevision 0123abcd (2024-10-01T08:00:00Z, with local changes)\ngo1.99.1 " + plat + "\nschema version 7\n"
	if got := versionText(bi, "7"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// go install …@version: a module version and no checkout
	bi.Main.Version, bi.Settings = "v1.4.1", nil
	want = "livebill v1.4.1\nrevision unknown (built without version control information)\ngo1.99.1 " + plat + "\nschema version 7\n"
	if got := versionText(bi, "7"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// 'livebill version' and 'livebill --version' print the same, and the
// schema version is the highest migration file's number, per backend
// when the two backends' numbers differ.
func TestVersionCommand(t *testing.T) {
	out, errs, code := runCLI(t, "version")
	out2, _, _ := runCLI(t, "--version")
	if code != 0 || out != out2 {
		t.Fatalf("version: exit %d %s\n%s\n--version:\n%s", code, errs, out, out2)
	}
	last := map[string]int{}
	for _, backend := range []string{"sqlite", "postgres"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", backend, "migrations", "*.sql"))
		if len(files) == 0 {
			t.Fatal("no migration files")
		}
		n, _, _ := strings.Cut(filepath.Base(files[len(files)-1]), "_")
		last[backend], _ = strconv.Atoi(n)
	}
	want := "schema version " + strconv.Itoa(last["sqlite"]) + "\n"
	if last["sqlite"] != last["postgres"] {
		want = "schema version " + strconv.Itoa(last["sqlite"]) + " (SQLite), " + strconv.Itoa(last["postgres"]) + " (PostgreSQL)\n"
	}
	if !strings.HasSuffix(out, want) {
		t.Errorf("output ends %q, want %q", out[strings.LastIndex(out, "schema"):], want)
	}
}

// The built binary carries the git revision it was built from (when the
// source is a git checkout Go stamps: not a git worktree, whose .git is a
// file Go does not follow).
func TestVersionBinary(t *testing.T) {
	bin := livebillBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if !strings.HasPrefix(lines[0], "livebill ") || lines[2] != runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version output:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join("..", "..", ".git"))
	if err != nil || !fi.IsDir() {
		if lines[1] != "revision unknown (built without version control information)" {
			t.Errorf("built outside a git checkout Go stamps, but: %s", lines[1])
		}
		t.Skipf("the source is not in a git checkout Go stamps (.git is not a directory): revision not checked")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("git: %v", err)
	}
	status, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Skipf("git: %v", err)
	}
	want := "revision " + strings.TrimSpace(string(head)) + " ("
	if !strings.HasPrefix(lines[1], want) {
		t.Errorf("got %q, want it to start %q", lines[1], want)
	}
	if dirty := len(status) > 0; dirty != strings.Contains(lines[1], "with local changes") {
		t.Errorf("%q, but the checkout has local changes: %v", lines[1], dirty)
	}
}
