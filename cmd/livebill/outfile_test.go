package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill/sqlstore/storetest"
)

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestUsageExportKeepsOut: usage export --out with a request the server
// refuses (from after to, an unknown account), in csv and xlsx, leaves the
// file already there as it was and no other file; one that succeeds
// replaces it and keeps its mode.
func TestUsageExportKeepsOut(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ts := startTestServer(t, storetest.NewClock(time.Date(2024, 10, 2, 12, 0, 0, 0, sh)), nil)
	dir := t.TempDir()
	out := filepath.Join(dir, "good.csv")
	const previous = "an export kept from before\n"
	if err := os.WriteFile(out, []byte(previous), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	remote := []string{"--server", ts.srv.URL, "--key", testAdminKey, "--out", out}
	for _, args := range [][]string{
		{"acct", "--from", "2024-10-02", "--to", "2024-10-01"},
		{"nobody", "--from", "2024-10-01", "--to", "2024-10-02"},
		{"nobody", "--from", "2024-10-01", "--to", "2024-10-02", "--format", "xlsx"},
	} {
		_, stderr, code := runCLI(t, append(append([]string{"usage", "export"}, args...), remote...)...)
		if code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != previous {
			t.Errorf("%v: %s holds %q, want %q as before", args, out, b, previous)
		}
		if names := dirNames(t, dir); len(names) != 1 {
			t.Errorf("%v: the directory holds %v, want good.csv alone", args, names)
		}
	}
	// no usage that day: the header alone
	if _, stderr, code := runCLI(t, append([]string{"usage", "export", "acct", "--from", "2024-10-01", "--to", "2024-10-02"}, remote...)...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	if got := strings.TrimPrefix(string(b), "\ufeff"); !strings.HasPrefix(got, "date,app,item,quantity,unit") {
		t.Errorf("%s holds %q, want the usage header", out, b)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: %v, %v; want mode 0640 kept", out, fi.Mode(), err)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("the directory holds %v, want good.csv alone", names)
	}
}

// TestWriteOut: writeOut leaves the file as it was when writing fails part
// way (as gen's would on a full disk), creates a missing one, refuses a
// directory with exit 2, and writes a device in place.
func TestWriteOut(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "events.ndjson")
	os.WriteFile(out, []byte("old\n"), 0o644)
	failed := errors.New("disk full")
	err := writeOut(out, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return failed
	})
	if !errors.Is(err, failed) {
		t.Errorf("writeOut: %v, want the write's error", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old\n" {
		t.Errorf("after a failed write %s holds %q, want \"old\\n\"", out, b)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("after a failed write the directory holds %v", names)
	}
	fresh := filepath.Join(dir, "new.ndjson")
	if err := writeOut(fresh, func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh); string(b) != "new\n" {
		t.Errorf("%s holds %q, want \"new\\n\"", fresh, b)
	}
	var ee *exitError
	if err := writeOut(dir, func(io.Writer) error { return nil }); !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), dir+": it is a directory") {
		t.Errorf("writeOut(a directory): %v, want exit 2 saying it is a directory", err)
	}
	if err := writeOut(os.DevNull, func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }); err != nil {
		t.Errorf("writeOut(%s): %v", os.DevNull, err)
	}
	// a link: the file it points to is written, the link stays a link
	target := filepath.Join(dir, "target.ndjson")
	link := filepath.Join(dir, "link.ndjson")
	os.WriteFile(target, []byte("old\n"), 0o644)
	if err := os.Symlink("target.ndjson", link); err != nil {
		t.Fatal(err)
	}
	if err := writeOut(link, func(w io.Writer) error { _, err := io.WriteString(w, "through\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "through\n" {
		t.Errorf("the link's target holds %q, want \"through\\n\"", b)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
}

// TestGenOut: gen --out writes what gen writes to stdout, through
// writeOut, and leaves no temporary file.
func TestGenOut(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "w.ndjson")
	stdout, _, code := runCLI(t, "gen", "--events", "20")
	if code != 0 {
		t.Fatalf("gen to stdout: exit %d", code)
	}
	if _, stderr, code := runCLI(t, "gen", "--events", "20", "--out", out); code != 0 {
		t.Fatalf("gen --out: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != stdout {
		t.Errorf("gen --out wrote %d bytes, stdout %d: they differ", len(b), len(stdout))
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("the directory holds %v", names)
	}
}
