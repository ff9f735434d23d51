package archive

import (
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
	if err := d.Archive("acct/1 x", "2024-10", evs); err != nil {
		t.Fatal(err)
	}
	if err := d.Archive("acct/1 x", "2024-10", evs); err != nil { // again: the same file
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
	if err := d.Archive("a", "2024-11", []livebill.StoredEvent{{ID: "n", Body: []byte("{\n}")}}); err == nil {
		t.Fatal("a body of two lines was archived")
	}
}
