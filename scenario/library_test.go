package scenario_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livebill/livebill/scenario"
)

// TestScenarioLibrary quotes every scenario file of the project's library
// (../testdata/scenarios) and of the shared suite (../../shared/scenarios,
// skipped when absent) and fails on any expect: mismatch, as `livebill
// test` does.
func TestScenarioLibrary(t *testing.T) {
	dirs := []struct {
		path     string
		optional bool
	}{
		{filepath.Join("..", "testdata", "scenarios"), false},
		{filepath.Join("..", "..", "shared", "scenarios"), true},
	}
	for _, d := range dirs {
		if _, err := os.Stat(d.path); err != nil {
			if d.optional {
				t.Logf("skipping %s: %v", d.path, err)
				continue
			}
			t.Fatalf("scenario library: %v", err)
		}
		var files []string
		err := filepath.WalkDir(d.path, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					files = append(files, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 && !d.optional {
			t.Fatalf("no scenario files in %s", d.path)
		}
		for _, p := range files {
			t.Run(filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p), func(t *testing.T) {
				f, err := scenario.Load(p)
				if err != nil {
					t.Fatal(err)
				}
				res, err := f.Run()
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range res.Rejected {
					t.Errorf("rejected event: %v", e)
				}
				if f.Expect == nil {
					t.Fatalf("%s has no expect: block", p)
				}
				for _, m := range scenario.Compare(f.Expect, res.Quote) {
					t.Errorf("%s", m)
				}
			})
		}
	}
}
