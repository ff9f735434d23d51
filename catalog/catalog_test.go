package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

func TestBuiltinsLoad(t *testing.T) {
	for _, name := range Builtin() {
		c, err := Load(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.Location() == nil {
			t.Fatalf("%s: no location", name)
		}
	}
}

// An override changes only the fields it sets, publishes an unpublished
// item it prices, and adds items it does not find.
func TestOverrideMergesFieldByField(t *testing.T) {
	c, err := Parse([]byte(`
extends: trtc
items:
  - {id: trtc.av.hd, price: "3.50"}
  - {id: trtc.mau, price: "0.01"}
  - {id: trtc.custom, name: "Custom", unit: minute, price: "1", per: 1000, measure: duration_ms}
`), "over.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hd, _ := c.Item("trtc.av.hd")
	p, _ := hd.PriceOf()
	// price replaced; unit, per and measure kept from the built-in item
	if p.String() != "3.5" || hd.Unit != "minute" || hd.Per != 1000 || hd.Measure != MeasureDuration {
		t.Errorf("trtc.av.hd = %+v price %s, want 3.5 per 1000 minute", hd, p)
	}
	mau, _ := c.Item("trtc.mau")
	if p, err := mau.PriceOf(); err != nil || p.String() != "0.01" {
		t.Errorf("trtc.mau: price %s err %v, want 0.01 published", p, err)
	}
	if _, ok := c.Item("trtc.custom"); !ok {
		t.Error("new item trtc.custom not added")
	}
	base, _ := Load("trtc")
	if b, _ := base.Item("trtc.av.hd"); b.Price != "3.99" {
		t.Errorf("the override changed the built-in catalog: %s", b.Price)
	}
}

// The session timeout is 24 h unless a catalog (or an account's override)
// sets another; the built-in catalog keeps its own.
func TestSessionTimeout(t *testing.T) {
	base, err := Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	if got := base.SessionTimeoutDuration(); got != 24*time.Hour {
		t.Errorf("built-in trtc: %v, want 24h", got)
	}
	over, err := Parse([]byte("extends: trtc\nsession_timeout: 90m\n"), "over.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := over.SessionTimeoutDuration(); got != 90*time.Minute {
		t.Errorf("override: %v, want 1h30m", got)
	}
	if got := base.SessionTimeoutDuration(); got != 24*time.Hour {
		t.Errorf("the override changed the built-in catalog: %v", got)
	}
}

func TestUnpublishedPriceErrorNamesItem(t *testing.T) {
	c, _ := Load("trtc")
	it, _ := c.Item("trtc.mau")
	_, err := it.PriceOf()
	if livebill.ErrorCode(err) != livebill.EUNPUBLISHED || !strings.Contains(err.Error(), "trtc.mau") {
		t.Fatalf("err %v, want EUNPUBLISHED naming trtc.mau", err)
	}
}

// Each invalid catalog is refused with a message naming the problem.
func TestValidation(t *testing.T) {
	base := "name: x\ncurrency: USD\ntimezone: UTC\n"
	for _, c := range []struct{ doc, want string }{
		{base + "colour: red\n", "colour"}, // unknown key
		{base + "resolution_tiers: [{name: a, max_area: 10}, {name: b, max_area: 5}, {name: c}]\n", "does not ascend"},
		{base + "items: [{id: i, unit: x, price: \"-1\", measure: count}]\n", "negative"},
		{base + "items: [{id: i, unit: x, price: \"1\", measure: weight}]\n", "unknown measure"},
		{base + "metering: hst\nresolution_tiers: [{name: sd, max_area: 921600}, {name: hd}]\n", "hst.audio"},
		{"name: x\ncurrency: XYZ\ntimezone: UTC\n", "currency"},
		{"extends: trtc\nitems: [{price: \"1\"}]\n", "missing id"},
		{"extends: trtc\nsession_timeout: soon\n", "session_timeout"},
		{"extends: trtc\nsession_timeout: 30s\n", "minimum of 1m"},
		// null entries: an error naming them, not a panic
		{"extends: trtc\nitems: [null]\n", "items[0]: null"},
		{"extends: trtc\nplans: [{id: p, price: \"1\", period: month}, ~]\n", "plans[1]: null"},
		{base + "items: [null]\n", "items[0]: null"},
		{base + "plans: [{id: p, price: \"1\", period: 100000d}]\n", "n at most 3660"},
	} {
		_, err := Parse([]byte(c.doc), "bad.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want one mentioning %q", c.doc, err, c.want)
		}
	}
}

// The parsed ratio tables and item positions are the catalog's own: an
// override's gift_ratios, free pack and added items show in it, and the
// built-in catalog it extends keeps its own (each parsed catalog computes
// its derived data once).
func TestDerivedDataPerCatalog(t *testing.T) {
	base, err := Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := base.GiftRatioValues(); g["trtc.av.hd"].String() != "4" {
		t.Fatalf("built-in gift ratio of trtc.av.hd = %s, want 4", g["trtc.av.hd"])
	}
	c, err := Parse([]byte(`
extends: trtc
gift_ratios: {trtc.av.hd: "2.5"}
free_pack: {minutes: 100, months: 1, tables: [{from: "", ratios: {trtc.av.audio: "3"}}, {from: "2024-01-01", ratios: {trtc.av.audio: "0.5"}}]}
items:
  - {id: trtc.custom, name: "Custom", unit: minute, price: "1", measure: duration_ms}
`), "over.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.GiftRatioValues()
	if err != nil || len(g) != 1 || g["trtc.av.hd"].String() != "2.5" {
		t.Errorf("override gift ratios %v (%v), want trtc.av.hd 2.5 only", g, err)
	}
	for day, want := range map[string]string{"2023-12-31": "3", "2024-01-01": "0.5"} {
		created, _ := time.Parse(time.DateOnly, day)
		r, err := c.FreePackRatios(created)
		if err != nil || len(r) != 1 || r["trtc.av.audio"].String() != want {
			t.Errorf("created %s: free pack ratios %v (%v), want trtc.av.audio %s", day, r, err, want)
		}
	}
	if n := len(c.Items); c.ItemOrder("trtc.custom") != n-1 || c.ItemOrder("nope") != n || c.ItemOrder(c.Items[0].ID) != 0 {
		t.Errorf("item order: custom %d, unknown %d, first %d; %d items", c.ItemOrder("trtc.custom"), c.ItemOrder("nope"), c.ItemOrder(c.Items[0].ID), n)
	}
	if base.ItemOrder("trtc.custom") != len(base.Items) {
		t.Error("the override's item shows in the built-in catalog")
	}
	if g, _ := base.GiftRatioValues(); g["trtc.av.hd"].String() != "4" {
		t.Errorf("built-in gift ratio of trtc.av.hd became %s", g["trtc.av.hd"])
	}
}

// A document with nothing in it, or comments only (a catalog_yaml), is
// refused as empty, not with the decoder's EOF.
func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "\n", "# prices to come\n"} {
		_, err := Parse([]byte(doc), "mine")
		if err == nil || err.Error() != "catalog mine: the document is empty" || livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("Parse(%q): %v, want invalid: catalog mine: the document is empty", doc, err)
		}
	}
}

// Ids, names and units reach bills, exports and terminals: a control
// character decoded from a YAML escape (an ANSI escape sequence, \x01) or
// a NUL is refused naming the field; an id longer than 256 bytes too.
func TestParseRefusesControlCharacters(t *testing.T) {
	for field, doc := range map[string]string{
		"items[0].unit":    `extends: trtc` + "\n" + `items: [{id: trtc.av.hd, unit: "min\e[2J"}]`,
		"items[0].name":    `extends: trtc` + "\n" + `items: [{id: trtc.av.hd, name: "HD\x01"}]`,
		"items[0].id":      `extends: trtc` + "\n" + `items: [{id: "trtc.av.x\n", unit: minute, price: "1"}]`,
		"plans[0].id":      `extends: trtc` + "\n" + `plans: [{id: "plan\0nul", price: "1", period: month}]`,
		"plans[0].id ":     `extends: trtc` + "\n" + `plans: [{id: "` + strings.Repeat("p", 257) + `", price: "1", period: month}]`,
		"plans[0].edition": `extends: trtc` + "\n" + `plans: [{id: p1, edition: "\t", price: "1", period: month}]`,
	} {
		_, err := Parse([]byte(doc), "mine")
		if livebill.ErrorCode(err) != livebill.EINVALID || !strings.Contains(err.Error(), strings.TrimSpace(field)+":") {
			t.Errorf("%s: %v, want invalid naming %s", field, err, strings.TrimSpace(field))
		}
	}
	// names may be longer than an id, and any script
	if _, err := Parse([]byte("extends: trtc\nitems: [{id: trtc.av.hd, name: \""+strings.Repeat("高清", 100)+"\"}]\n"), "mine"); err != nil {
		t.Errorf("a long Chinese name: %v", err)
	}
}
