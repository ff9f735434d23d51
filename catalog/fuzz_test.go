package catalog_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/rating"
	"github.com/livebill/livebill/scenario"
)

// FuzzParse: no catalog document — an account's catalog_yaml is one —
// panics the parser, and a document that parses rates a small usage and
// a purchase of each of its plans without panicking (an error is fine:
// an unpublished price, a rule of the plans). Errors are coded invalid or
// not found. Seeds: the built-in catalogs, the library's catalog files
// and the override examples of docs/catalogs.md.
func FuzzParse(f *testing.F) {
	for _, name := range catalog.Builtin() {
		b, err := catalog.BuiltinYAML(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "catalogs", "*.yaml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("extends: trtc\nitems:\n  - {id: trtc.av.hd, price: \"3.50\"}\n  - {id: trtc.mau, price: \"0.01\"}\n"))
	f.Add([]byte("extends: cloudgaming\nname: acme\nplans:\n  - {id: cloudgaming.live_push, price: \"450\", period: 30d}\n"))
	f.Add([]byte("extends: trtc\nitems: [null]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := catalog.Parse(doc, "fuzz.yaml")
		if err != nil {
			if code := livebill.ErrorCode(err); code != livebill.EINVALID && code != livebill.ENOTFOUND {
				t.Fatalf("error coded %s: %v", code, err)
			}
			return
		}
		rateSample(c)
	})
}

// rateSample meters and rates a few events of every kind and a purchase
// of each plan with the catalog, in both modes.
func rateSample(c *catalog.Catalog) {
	loc := c.Location()
	from := time.Date(2024, 10, 1, 0, 0, 0, 0, loc)
	at := func(min int) int64 { return from.Add(time.Duration(min) * time.Minute).UnixMilli() }
	events := []livebill.Event{
		{ID: "1", Type: livebill.RoomJoin, Time: at(60), App: "a", Room: "r", User: "A", Subscribe: livebill.SubscribeAll},
		{ID: "2", Type: livebill.RoomJoin, Time: at(60), App: "a", Room: "r", User: "B", Subscribe: livebill.SubscribeAll},
		{ID: "3", Type: livebill.StreamStart, Time: at(61), App: "a", Room: "r", User: "A", Stream: livebill.StreamMain, Media: livebill.MediaVideo, Width: 1920, Height: 1080},
		{ID: "4", Type: livebill.RelayStart, Time: at(62), App: "a", Room: "r", Task: "t", Destination: livebill.DestTencent, BitrateKbps: 3000, AllStreams: true},
		{ID: "5", Type: livebill.Screenshot, Time: at(63), App: "a", Count: 20000},
		{ID: "6", Type: livebill.Login, Time: at(63), App: "a", User: "A"},
		{ID: "7", Type: livebill.Signal, Time: at(63), App: "a", Count: 5},
		{ID: "8", Type: livebill.MatchmakingRequest, Time: at(64), App: "a", Players: 10},
		{ID: "9", Type: livebill.MatchmakingEvaluation, Time: at(64), App: "a", Count: 3, DurationUS: 50000},
		{ID: "10", Type: livebill.RelayStop, Time: at(90), App: "a", Room: "r", Task: "t"},
		{ID: "11", Type: livebill.RoomLeave, Time: at(120), App: "a", Room: "r", User: "A"},
		{ID: "12", Type: livebill.RoomLeave, Time: at(120), App: "a", Room: "r", User: "B"},
	}
	in := rating.Input{Catalog: c, Location: loc, From: from, To: from.AddDate(0, 1, 0),
		Account: livebill.Account{ID: "acct", Created: from.AddDate(0, -2, 0), Activated: from.AddDate(0, -2, 0)},
		Devices: []livebill.Device{{ID: "d", Cameras: []livebill.Size{{Width: 1280, Height: 720}}}}}
	for i, p := range c.Plans {
		in.Purchases = append(in.Purchases, livebill.Purchase{ID: p.ID + "#", App: "a", Plan: p.ID, Device: "d",
			Start: from.Add(time.Duration(i) * time.Hour), AutoRenew: true})
	}
	for _, mode := range []string{rating.ModeAccount, rating.ModeCalculator} {
		in.Mode = mode
		scenario.Compute(in, func(m *meter.Meter) error {
			for i := range events {
				e := events[i]
				m.Apply(&e)
			}
			return nil
		})
	}
}
