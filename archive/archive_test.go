package archive

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/livebill/livebill"
)

// An archived month reads back line by line as stored, its file names its
// account (escaped) and month, and archiving it again replaces it whole.
func TestArchiveRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	evs := []livebill.StoredEvent{
		{ID: "a", Body: []byte(`{"id":"a","time":"2024-10-01T10:00:00+08:00"}`)},
		{ID: "b", Body: []byte(`{"id":"b","time":"2024-10-02T10:00:00+08:00"}`)},
	}
	if err := d.Archive("acct/1 x", "2024-10", pages(evs, 10)); err != nil {
		t.Fatal(err)
	}
	if err := d.Archive("acct/1 x", "2024-10", pages(evs, 10)); err != nil { // again: the same file
		t.Fatal(err)
	}
	path := d.Path("acct/1 x", "2024-10")
	if filepath.Base(filepath.Dir(path)) != "acct%2F1%20x" {
		t.Fatalf("path %s", path)
	}
	acct, month, err := Name(path)
	if err != nil || acct != "acct/1 x" || month != "2024-10" {
		t.Fatalf("Name(%s) = %q %q %v", path, acct, month, err)
	}
	var got []string
	if err := Read(path, func(l []byte) error { got = append(got, string(l)); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{string(evs[0].Body), string(evs[1].Body)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("%d files beside the archive (a temporary one left?)", len(ents))
	}
	if _, _, err := Name("x/2024-10.ndjson"); err == nil {
		t.Fatal("a file without the extension was taken for an archive")
	}
	if err := d.Archive("a", "2024-11", pages([]livebill.StoredEvent{{ID: "n", Body: []byte("{\n}")}}, 1)); err == nil {
		t.Fatal("a body of two lines was archived")
	}
}

// pages gives evs n at a time, as EventArchive.Archive takes them.
func pages(evs []livebill.StoredEvent, n int) func() ([]livebill.StoredEvent, error) {
	return func() ([]livebill.StoredEvent, error) {
		page := evs[:min(n, len(evs))]
		evs = evs[len(page):]
		return page, nil
	}
}

// A month archived in pages is the file archived at once, byte for byte;
// a page that cannot be read leaves no file.
func TestArchivePages(t *testing.T) {
	var evs []livebill.StoredEvent
	for i := range 25 {
		id := fmt.Sprintf("e%02d", i)
		evs = append(evs, livebill.StoredEvent{ID: id, Body: []byte(fmt.Sprintf(`{"id":%q,"n":%d}`, id, i))})
	}
	read := func(d Dir) []byte {
		b, err := os.ReadFile(d.Path("acct", "2024-10"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	whole := Dir(t.TempDir())
	if err := whole.Archive("acct", "2024-10", pages(evs, len(evs))); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 4, 24} {
		d := Dir(t.TempDir())
		if err := d.Archive("acct", "2024-10", pages(evs, n)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(read(d), read(whole)) {
			t.Fatalf("pages of %d: the file differs from the one archived at once", n)
		}
	}
	d := Dir(t.TempDir())
	calls := 0
	failing := func() ([]livebill.StoredEvent, error) {
		if calls++; calls == 3 {
			return nil, errors.New("the store went away")
		}
		return evs[:2], nil
	}
	if err := d.Archive("acct", "2024-10", failing); err == nil {
		t.Fatal("a month whose third page failed was archived")
	}
	if ents, _ := os.ReadDir(filepath.Dir(d.Path("acct", "2024-10"))); len(ents) != 0 {
		t.Fatalf("%d files left by a failed archive", len(ents))
	}
}

// The archives of accounts "." and ".." (stored before such ids were
// refused) stay inside the directory, in directories of their own, and
// name their accounts: they were written to the directory itself and to
// its parent, where a restore of the directory read the wrong account.
func TestArchiveDotAccounts(t *testing.T) {
	root := t.TempDir()
	d := Dir(filepath.Join(root, "arch"))
	for _, acct := range []string{".", ".."} {
		if err := d.Archive(acct, "2024-10", pages([]livebill.StoredEvent{{ID: "a", Body: []byte(`{"id":"a"}`)}}, 1)); err != nil {
			t.Fatal(err)
		}
		path := d.Path(acct, "2024-10")
		if filepath.Dir(filepath.Dir(path)) != string(d) {
			t.Errorf("account %q archived at %s, outside %s's own directories", acct, path, d)
		}
		if got, _, err := Name(path); err != nil || got != acct {
			t.Errorf("Name(%s) = %q, %v; want %q", path, got, err, acct)
		}
	}
	for _, p := range []string{filepath.Join(root, "2024-10.ndjson.zst"), filepath.Join(string(d), "2024-10.ndjson.zst")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
}
