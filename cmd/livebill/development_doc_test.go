package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const developmentDoc = "../../docs/development.md"

// TestDevelopmentDoc checks docs/development.md: its layout table names
// every package directory and only existing paths, and each of its
// commands is one .ci/run runs (CI is where they run: a test cannot run
// the test suite it is part of).
func TestDevelopmentDoc(t *testing.T) {
	d := &docRun{t: t, path: developmentDoc, blocks: readDocBlocks(t, developmentDoc), used: map[string]bool{}}
	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat("../../.ci/run"); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf(".ci/run is not executable: %v", err)
	}
	runs := func(label string, patterns ...string) {
		t.Helper()
		d.block(label, "sh")
		for _, p := range patterns {
			if !regexp.MustCompile(p).Match(ci) {
				t.Errorf("%s:%d: .ci/run does not run the block %s (no %s)", developmentDoc, d.blocks[label].line, label, p)
			}
		}
	}
	if d.block("ci", "sh").body != ".ci/run\n" {
		t.Errorf("the ci block is not .ci/run")
	}
	pg := regexp.MustCompile(`^LIVEBILL_TEST_POSTGRES='postgres://livebill:livebill@127\.0\.0\.1:5432/livebill_test\?sslmode=disable' go test \./\.\.\.\n$`)
	if !pg.MatchString(d.block("postgres", "sh").body) {
		t.Errorf("the postgres block changed; change this test and .ci/run with it")
	}
	runs("postgres", `export LIVEBILL_TEST_POSTGRES="postgres://livebill:livebill@127\.0\.0\.1:\$\{pgport\}/livebill_test\?sslmode=disable"`, `(?m)^go test -count=1 \./\.\.\.$`)
	if d.block("scenarios", "sh").body != "go run ./cmd/livebill test testdata/scenarios\n" {
		t.Errorf("the scenarios block changed; change this test and .ci/run with it")
	}
	runs("scenarios", `go build -o (\S+) \./cmd/livebill\n(?:.*\n)*.*livebill-ci test testdata/scenarios`)
	if d.block("fuzz", "sh").body != "go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 12s ./eventio\n" {
		t.Errorf("the fuzz block changed; change this test and .ci/run with it")
	}
	runs("fuzz", `\beventio:FuzzParse\b`, `go test -run '\^\$' -fuzz "\^\$fn\\\$" -fuzztime "\$FUZZTIME" "\./\$pkg"`, `FUZZTIME=\$\{FUZZTIME:-12s\}`)
	d.allUsed()

	table := readDocTable(t, developmentDoc, "layout")
	cell := regexp.MustCompile("(?m)^\\| ([^|]+) \\|")
	code := regexp.MustCompile("`([^`]+)`")
	named := map[string]bool{}
	for _, row := range cell.FindAllStringSubmatch(table.body, -1) {
		paths, _, _ := strings.Cut(row[1], " (") // what follows in parentheses is about the path
		for _, p := range code.FindAllStringSubmatch(paths, -1) {
			named[p[1]] = true
			if p[1] == "*.go" {
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", p[1])); err != nil {
				t.Errorf("%s:%d: the layout names %s, which does not exist", developmentDoc, table.line, p[1])
			}
		}
	}
	dirs, _ := filepath.Glob("../../*/*.go")
	for _, f := range dirs {
		dir := strings.TrimPrefix(filepath.Dir(f), "../../") + "/"
		if !named[dir] && !strings.HasPrefix(dir, ".") {
			t.Errorf("%s:%d: the layout does not name the package directory %s", developmentDoc, table.line, dir)
			named[dir] = true
		}
	}
}
