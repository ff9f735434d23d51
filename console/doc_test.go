package console_test

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/livebill/livebill/console"
)

const consoleDoc = "../docs/console.md"

// docs/console.md names every page a signed-in user opens (downloads
// aside: the pages they belong to offer them), and no page the console
// does not have; its command to take the screenshot again runs the
// browser test with the flag that rewrites it.
func TestConsoleDoc(t *testing.T) {
	b, err := os.ReadFile(consoleDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	pages := map[string]bool{}
	for _, p := range (&console.Server{}).Pages() {
		if p.Method != "GET" || p.Access == console.Public {
			continue
		}
		pages[p.Path] = true
		if !strings.HasSuffix(p.Path, "/download") && !strings.Contains(doc, "`"+p.Path+"`") {
			t.Errorf("%s does not name the page %s", consoleDoc, p.Path)
		}
	}
	row := regexp.MustCompile("(?m)^\\| `(/[^`]*)` \\|")
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		if !pages[m[1]] {
			t.Errorf("%s lists the page %s, which the console does not have (or anyone may open)", consoleDoc, m[1])
		}
	}

	cmd := regexp.MustCompile("(?m)^go test \\./console -run (\\w+) -(\\w+)$").FindStringSubmatch(doc)
	if cmd == nil {
		t.Fatalf("%s has no command go test ./console -run TEST -FLAG", consoleDoc)
	}
	src, err := os.ReadFile("browser_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), "func "+cmd[1]+"(t *testing.T)") || flag.Lookup(cmd[2]) == nil ||
		!strings.Contains(flag.Lookup(cmd[2]).Usage, "docs/console-account.png") {
		t.Errorf("%s: go test ./console -run %s -%s does not run the browser test that rewrites docs/console-account.png", consoleDoc, cmd[1], cmd[2])
	}
}
