package main

import (
	"bytes"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const cliDoc = "../../docs/cli.md"

// TestCLIDoc checks that docs/cli.md lists every command, each with the
// usage line its --help prints, and that its build command builds the
// binary.
func TestCLIDoc(t *testing.T) {
	d := newDocRun(t, cliDoc)
	out := filepath.Join(t.TempDir(), "livebill")
	cmd := d.command(d.script("build", "-o livebill", "-o "+out), nil)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the build command of %s: %v\n%s", cliDoc, err, b)
	}
	d.allUsed()

	table := readDocTable(t, cliDoc, "commands")
	row := regexp.MustCompile("^\\| `([a-z]+(?: [a-z]+)?)` \\| `((?:[^`])+)` \\|")
	documented := map[string]string{}
	for _, r := range strings.Split(table.body, "\n") {
		if m := row.FindStringSubmatch(r); m != nil {
			documented[m[1]] = strings.ReplaceAll(m[2], `\|`, "|")
		}
	}
	var names []string
	for name := range commands {
		names = append(names, name)
	}
	// commands whose subcommands have their own usage
	names = append(names, "events restore")
	sort.Strings(names)
	for _, name := range names {
		var help bytes.Buffer
		if err := run(append(strings.Fields(name), "--help"), io.Discard, &help); err != nil && err.Error() != "" {
			t.Errorf("livebill %s --help: %v", name, err)
		}
		usage, _, _ := strings.Cut(help.String(), "\n")
		usage = strings.TrimPrefix(usage, "Usage: ")
		switch got, ok := documented[name]; {
		case !ok:
			t.Errorf("%s:%d: the command table lacks %s (%s)", cliDoc, table.line, name, usage)
		case got != usage:
			t.Errorf("%s:%d: the usage of %s is\n  %s\nin the table, and\n  %s\nin its --help", cliDoc, table.line, name, got, usage)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("%s:%d: the command table lists %s, which livebill does not have", cliDoc, table.line, name)
	}
}
