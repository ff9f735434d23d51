package scenario_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/scenario"
)

// FuzzParse: no scenario document — POST /v1/quote takes them — panics
// the parser or the quote, and errors are coded as the API maps them
// (invalid, not found, conflict, unpublished). A document is run when, as
// in the API, its catalog is built in and its events are inline. Seeds:
// the project's scenario library and the shared scenarios.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{filepath.Join("..", "testdata", "scenarios"), filepath.Join("..", "..", "shared", "scenarios")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents:\n" +
		"  - {time: \"2024-10-01T10:00:00+08:00\", type: room.join, app: a, room: r, user: A}\n" +
		"  - {time: \"9999-12-31T10:00:00+08:00\", type: room.leave, app: a, room: r, user: A}\n"))
	builtin := catalog.Builtin()
	coded := func(err error) bool {
		switch livebill.ErrorCode(err) {
		case livebill.EINVALID, livebill.ENOTFOUND, livebill.ECONFLICT, livebill.EUNPUBLISHED:
			return true
		}
		return false
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sf, err := scenario.Parse(doc, "fuzz.yaml")
		if err != nil {
			if !coded(err) {
				t.Fatalf("parse error coded %s: %v", livebill.ErrorCode(err), err)
			}
			return
		}
		if sf.EventsFile != "" || !slices.Contains(builtin, sf.Catalog) {
			return
		}
		res, err := sf.Run()
		if err != nil && !coded(err) {
			t.Fatalf("run error coded %s: %v", livebill.ErrorCode(err), err)
		}
		if err == nil && res.Quote == nil {
			t.Fatal("no error and no quote")
		}
	})
}
