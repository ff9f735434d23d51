package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

const conceptsDoc = "../../docs/concepts.md"

// TestConceptsDoc runs the quote of docs/concepts.md and checks its
// output, and checks that its tables of event types and notices list
// exactly what livebill knows: every event type the parser reads, every
// notice code the program gives.
func TestConceptsDoc(t *testing.T) {
	d := newDocRun(t, conceptsDoc)
	linkTestdata(t, d.dir)
	d.matches("quote-output", d.run("quote", nil))

	var types []string
	for i := 1; livebill.EventType(i).String() != "unknown"; i++ {
		types = append(types, livebill.EventType(i).String())
	}
	checkDocColumn(t, conceptsDoc, readDocTable(t, conceptsDoc, "event-types"), types, "event type")
	notices := codesInSource(t, regexp.MustCompile(`\bNotice[A-Za-z]* += "([a-z_]+)"`), regexp.MustCompile(`Notice\{Code: "([a-z_]+)"`))
	checkDocColumn(t, conceptsDoc, readDocTable(t, conceptsDoc, "notices"), notices, "notice")

	doc, err := os.ReadFile(conceptsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range codesInSource(t, regexp.MustCompile(`\bDeny[A-Za-z]* += "([a-z_]+)"`)) {
		if !strings.Contains(string(doc), "`"+r+"`") {
			t.Errorf("%s does not give the admission denial %s", conceptsDoc, r)
		}
	}
	d.allUsed()
}

// linkTestdata makes the repository's testdata directory visible as
// testdata in dir, so a document's paths relative to the repository's
// root work in a scratch directory.
func linkTestdata(t *testing.T, dir string) {
	t.Helper()
	abs, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
}

// checkDocColumn checks that the first column of the table of the
// document at path lists, in backquotes, exactly the names want.
func checkDocColumn(t *testing.T, path string, table docBlock, want []string, what string) {
	t.Helper()
	first := regexp.MustCompile("^\\| `([^`]+)` \\|")
	got := map[string]bool{}
	for _, row := range strings.Split(table.body, "\n") {
		if m := first.FindStringSubmatch(row); m != nil {
			got[m[1]] = true
		}
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("%s:%d: the table lacks the %s %s", path, table.line, what, w)
		}
		delete(got, w)
	}
	for g := range got {
		t.Errorf("%s:%d: the table lists %s, which is no %s livebill knows", path, table.line, g, what)
	}
}

// codesInSource returns the codes the program's source gives (outside its
// tests) as the first group of any of the patterns: the constants named
// Notice… and the codes of notices made in place, say.
func codesInSource(t *testing.T, patterns ...*regexp.Regexp) []string {
	t.Helper()
	set := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range patterns {
			for _, m := range re.FindAllSubmatch(b, -1) {
				set[string(m[1])] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for c := range set {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if len(codes) < 5 {
		t.Fatalf("found only the codes %v in the source", codes)
	}
	return codes
}
