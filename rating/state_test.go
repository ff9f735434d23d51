package rating

import (
	"testing"
	"time"

	"github.com/livebill/livebill/catalog"
)

// A stored deduction state holds for the catalog's content, not its name:
// the same name with another price (an account's own catalog, or a
// built-in one changed by an upgrade) gives another fingerprint.
func TestFingerprintFollowsTheCatalogsContent(t *testing.T) {
	base, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	again, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	cheaper, err := catalog.Parse([]byte("extends: trtc\nitems:\n  - {id: trtc.av.hd, price: \"3.50\"}\n"), "own")
	if err != nil {
		t.Fatal(err)
	}
	cheaper.Name = base.Name
	at := time.Date(2024, 10, 2, 0, 0, 0, 0, time.UTC).UnixMilli()
	fp := func(c *catalog.Catalog) string { return Fingerprint(Input{Catalog: c, Location: time.UTC}, at) }
	if fp(base) != fp(again) {
		t.Error("the same catalog parsed twice gives two fingerprints")
	}
	if fp(base) == fp(cheaper) {
		t.Error("a catalog with another price gives the same fingerprint")
	}
}
