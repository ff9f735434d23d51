package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests of the documents (README.md and docs/*.md) run the commands
// they show and compare the outputs they show with what livebill prints,
// so the documents cannot drift from the program. A fenced block is given
// to a test by an HTML comment "<!-- test: LABEL -->" on the line before
// it; a block without one is an error in the files these tests read.

// docBlock is a fenced block of a document labelled for its test.
type docBlock struct {
	lang string // sh: commands; text: output (… matches anything) or a file
	body string
	line int
}

// readDocBlocks returns the labelled blocks of a Markdown file; a fenced
// block without a label is an error, so every command in the file is
// given to a test.
func readDocBlocks(t *testing.T, path string) map[string]docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	label := regexp.MustCompile(`^<!-- test: ([a-z0-9-]+) -->$`)
	blocks := map[string]docBlock{}
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		m := []string(nil)
		if start > 0 {
			m = label.FindStringSubmatch(lines[start-1])
		}
		if m == nil {
			t.Errorf("%s:%d: a block without a <!-- test: LABEL --> line before it", path, start+1)
			continue
		}
		if _, dup := blocks[m[1]]; dup {
			t.Errorf("%s:%d: label %s used twice", path, start+1, m[1])
		}
		blocks[m[1]] = docBlock{lang: lang, body: strings.Join(body, "\n") + "\n", line: start + 1}
	}
	return blocks
}

// readDocTable returns the rows of the table after the line
// "<!-- test: LABEL -->" of a Markdown file, and the table's line.
func readDocTable(t *testing.T, path, label string) docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if l != "<!-- test: "+label+" -->" {
			continue
		}
		var rows []string
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "|") {
				break
			}
			rows = append(rows, r)
		}
		return docBlock{lang: "table", body: strings.Join(rows, "\n"), line: i + 2}
	}
	t.Fatalf("%s has no table labelled %s", path, label)
	return docBlock{}
}

// docRun runs the blocks of one document in a scratch directory with the
// built livebill first on PATH.
type docRun struct {
	t       *testing.T
	path    string // the document
	blocks  map[string]docBlock
	used    map[string]bool
	dir     string
	env     []string
	addr    string   // replaces the documented 127.0.0.1:8080
	rewrite []string // pairs: text of every script replaced by another (the document's spelling of a command, say)
}

// newDocRun reads the document at path and prepares a scratch directory
// and an environment without the test's own database settings.
func newDocRun(t *testing.T, path string) *docRun {
	bin := livebillBinary(t)
	d := &docRun{t: t, path: path, blocks: readDocBlocks(t, path), used: map[string]bool{}, dir: t.TempDir(), addr: freeAddr(t)}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LIVEBILL_DB", "LIVEBILL_KEY", "LIVEBILL_SERVER", "LIVEBILL_ADMIN_KEY", "PGPASSWORD", "PGPASSFILE", "PATH":
		default:
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return d
}

func (d *docRun) block(label, lang string) docBlock {
	d.t.Helper()
	b, ok := d.blocks[label]
	if !ok || b.lang != lang {
		d.t.Fatalf("%s has no %s block labelled %s", d.path, lang, label)
	}
	d.used[label] = true
	return b
}

// script is the sh block label with the listen address replaced, the
// document's rewrites made and the given replacements made (each must
// occur).
func (d *docRun) script(label string, replace ...string) string {
	d.t.Helper()
	s := strings.ReplaceAll(d.block(label, "sh").body, "127.0.0.1:8080", d.addr)
	for i := 0; i < len(d.rewrite); i += 2 {
		s = strings.ReplaceAll(s, d.rewrite[i], d.rewrite[i+1])
	}
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			d.t.Fatalf("block %s lacks %q", label, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

func (d *docRun) command(script string, env []string) *exec.Cmd {
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = d.dir
	cmd.Env = append(append([]string(nil), d.env...), env...)
	return cmd
}

// run runs the sh block label; it must succeed. It returns its stdout.
func (d *docRun) run(label string, env []string, replace ...string) string {
	d.t.Helper()
	var out, errb bytes.Buffer
	cmd := d.command(d.script(label, replace...), env)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("block %s (%s:%d): %v\n%s%s", label, d.path, d.blocks[label].line, err, out.String(), errb.String())
	}
	return out.String()
}

// session runs the sh blocks labels one after the other in one shell, as
// a reader types them into one terminal (a variable set by one is seen by
// the next), and returns what each printed, standard output and error
// together as a terminal shows them. Each block must succeed.
func (d *docRun) session(labels []string, env []string) map[string]string {
	d.t.Helper()
	const mark = "\x1e doc block "
	var script strings.Builder
	for _, l := range labels {
		fmt.Fprintf(&script, "printf '%%s\\n' '%s%s'\n", mark, l)
		script.WriteString(d.script(l))
	}
	var out bytes.Buffer
	cmd := d.command(script.String(), env)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	outs := map[string]string{}
	last := ""
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if l, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), mark); ok {
			last = l
			continue
		}
		outs[last] += line
	}
	if err != nil {
		d.t.Fatalf("block %s (%s:%d): %v\n%s", last, d.path, d.blocks[last].line, err, outs[last])
	}
	return outs
}

// serve runs the sh block label, which starts a server, until it listens.
func (d *docRun) serve(label string, env []string, replace ...string) *serveProc {
	d.t.Helper()
	return startProc(d.t, d.command(d.script(label, replace...), env))
}

// stop sends SIGTERM to the server and waits for it to exit.
func (d *docRun) stop(p *serveProc) {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		d.t.Fatal("the server did not stop")
	}
}

// matches checks that output holds, in order, a line matching each line
// of the text block label, where … matches any text.
func (d *docRun) matches(label, output string) {
	d.t.Helper()
	b := d.block(label, "text")
	want := strings.Split(strings.TrimSuffix(strings.ReplaceAll(b.body, "127.0.0.1:8080", d.addr), "\n"), "\n")
	got := strings.Split(strings.ReplaceAll(output, "\r\n", "\n"), "\n") // HTTP headers end in CR LF
	k := 0
	for _, w := range want {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*") + "$")
		for k < len(got) && !re.MatchString(got[k]) {
			k++
		}
		if k == len(got) {
			d.t.Errorf("the output shown in %s:%d (%s) is not what livebill printed: no line matches\n  %s\nin\n%s", d.path, b.line, label, w, output)
			return
		}
		k++
	}
}

// allUsed reports the blocks no part of the test ran or checked.
func (d *docRun) allUsed() {
	d.t.Helper()
	for label, b := range d.blocks {
		if !d.used[label] {
			d.t.Errorf("%s:%d: block %s is not run or checked by this test", d.path, b.line, label)
		}
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
