package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
	"go.yaml.in/yaml/v3"
)

const operationsDoc = "../../docs/operations.md"

// docPart is a part of docs/operations.md labelled for the tests by a line
// "<!-- test: LABEL -->" before it: a fenced block (lang sh: commands;
// text: output, where … matches anything; yaml: a file) or a table.
type docPart struct {
	lang string
	body string
	line int
}

// readDocParts returns the labelled parts of a Markdown file; a fenced
// block without a label is an error, so every command in the file is
// given to a test.
func readDocParts(t *testing.T, path string) map[string]docPart {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	label := regexp.MustCompile(`^<!-- test: ([a-z0-9-]+) -->$`)
	parts := map[string]docPart{}
	add := func(name string, p docPart) {
		if _, dup := parts[name]; dup {
			t.Errorf("%s:%d: label %s used twice", path, p.line, name)
		}
		parts[name] = p
	}
	for i := 0; i < len(lines); i++ {
		var name string
		if m := label.FindStringSubmatch(lines[i]); m != nil && i+1 < len(lines) {
			name = m[1]
			i++
			if strings.HasPrefix(lines[i], "|") { // a table: its rows
				start := i
				var rows []string
				for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
					rows = append(rows, lines[i])
				}
				add(name, docPart{lang: "table", body: strings.Join(rows, "\n"), line: start + 1})
				continue
			}
		}
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		if name == "" {
			t.Errorf("%s:%d: a block without a <!-- test: LABEL --> line before it", path, start+1)
			continue
		}
		add(name, docPart{lang: lang, body: strings.Join(body, "\n") + "\n", line: start + 1})
	}
	return parts
}

// monitoringDoc runs the Monitoring parts of docs/operations.md.
type monitoringDoc struct {
	t     *testing.T
	parts map[string]docPart
	used  map[string]bool
	dir   string
	env   []string
	addrs *strings.Replacer // the documented addresses → free ones
}

func (d *monitoringDoc) part(label, lang string) docPart {
	d.t.Helper()
	p, ok := d.parts[label]
	if !ok || p.lang != lang {
		d.t.Fatalf("%s has no %s part labelled %s", operationsDoc, lang, label)
	}
	d.used[label] = true
	return p
}

func (d *monitoringDoc) command(label string) *exec.Cmd {
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", d.addrs.Replace(d.part(label, "sh").body))
	cmd.Dir, cmd.Env = d.dir, d.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (d *monitoringDoc) run(label string) string {
	d.t.Helper()
	var out, errb bytes.Buffer
	cmd := d.command(label)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("block %s (%s:%d): %v\n%s%s", label, operationsDoc, d.parts[label].line, err, out.String(), errb.String())
	}
	return out.String()
}

// matches checks that output holds, in order, a line matching each line
// of the text block label, where … matches any text.
func (d *monitoringDoc) matches(label, output string) {
	d.t.Helper()
	p := d.part(label, "text")
	got := strings.Split(output, "\n")
	k := 0
	for _, w := range strings.Split(strings.TrimSuffix(d.addrs.Replace(p.body), "\n"), "\n") {
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*") + "$")
		for k < len(got) && !re.MatchString(got[k]) {
			k++
		}
		if k == len(got) {
			d.t.Errorf("the output shown in %s:%d (%s) is not what livebill printed: no line matches\n  %s\nin\n%s", operationsDoc, p.line, label, w, output)
			return
		}
		k++
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMonitoringDoc runs the Monitoring section of docs/operations.md: it
// starts the server as shown, runs the health, readiness and scrape
// commands and checks their outputs, checks the access log line shown
// against the server's, the not-ready answer against a server whose
// database is closed, the Prometheus configuration against the serve
// command, and the metrics table against the metrics the server exports.
func TestMonitoringDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a server")
	}
	dir := t.TempDir()
	bin := buildLivebill(t)
	const key = "monitoring-doc-operator-key-0123456789abcdef"
	d := &monitoringDoc{t: t, parts: readDocParts(t, operationsDoc), used: map[string]bool{}, dir: dir,
		addrs: strings.NewReplacer("127.0.0.1:8080", freePort(t), "127.0.0.1:9090", freePort(t))}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "PATH" && !strings.HasPrefix(k, "LIVEBILL_") {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"LIVEBILL_ADMIN_KEY="+key, "LIVEBILL_KEY="+key)

	serve := d.command("monitor-serve")
	logs := &storetest.SyncBuffer{}
	serve.Stderr = logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-serve.Process.Pid, syscall.SIGKILL); serve.Wait() })
	api := "http://" + d.addrs.Replace("127.0.0.1:8080")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(api + "/v1/health"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s", logs)
		}
	}
	d.matches("monitor-checks-output", d.run("monitor-checks"))
	d.matches("monitor-scrape-output", d.run("monitor-scrape"))
	req, _ := http.NewRequest("GET", api+"/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/accounts: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"route":"/v1/accounts"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	d.matches("monitor-access-log", logs.String())
	syscall.Kill(-serve.Process.Pid, syscall.SIGTERM)
	serve.Wait()
	if strings.Contains(logs.String(), key) {
		t.Errorf("the server's log holds the operator key:\n%s", logs)
	}

	// the answer of a server whose database is closed
	store, err := sqlite.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(lbhttp.NewServer(store, billing.New(store, nil)).Handler())
	defer srv.Close()
	store.Close()
	resp, err := http.Get(srv.URL + "/v1/ready")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	d.matches("monitor-not-ready", body.String())

	// the Prometheus configuration scrapes what serve listens on
	var cfg struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(d.part("monitor-prometheus-config", "yaml").body), &cfg); err != nil {
		t.Fatalf("the Prometheus configuration: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].MetricsPath != "/metrics" || len(cfg.ScrapeConfigs[0].StaticConfigs) != 1 ||
		fmt.Sprint(cfg.ScrapeConfigs[0].StaticConfigs[0].Targets) != "[127.0.0.1:9090]" ||
		!strings.Contains(d.parts["monitor-serve"].body, "--metrics-addr 127.0.0.1:9090") {
		t.Errorf("the Prometheus configuration does not scrape serve's --metrics-addr: %+v", cfg)
	}

	checkMetricsTable(t, d.part("monitor-metrics-table", "table"))
	for label, p := range d.parts {
		if !d.used[label] {
			t.Errorf("%s:%d: %s is not run or checked by this test", operationsDoc, p.line, label)
		}
	}
}

// checkMetricsTable checks the table lists every livebill_ metric the
// server exports, with its type and labels, and no other.
func checkMetricsTable(t *testing.T, table docPart) {
	m := prometheus.New(nil, prometheus.Build{})
	m.Served(&lbhttp.Served{Route: "/v1/events", Method: "POST", Status: 200}) // makes the request series
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "livebill_") {
			continue
		}
		var labels []string
		for _, l := range f.Metric[0].Label {
			labels = append(labels, l.GetName())
		}
		sort.Strings(labels)
		want[f.GetName()] = strings.ToLower(f.GetType().String()) + " " + strings.Join(labels, ",")
	}
	got := map[string]string{}
	cell := regexp.MustCompile("`([^`]*)`")
	sc := bufio.NewScanner(strings.NewReader(table.body))
	for sc.Scan() {
		cols := strings.Split(strings.Trim(sc.Text(), "|"), "|")
		if len(cols) != 4 || !strings.Contains(cols[0], "livebill_") {
			continue
		}
		var labels []string
		for _, l := range cell.FindAllStringSubmatch(cols[2], -1) {
			labels = append(labels, l[1])
		}
		sort.Strings(labels)
		got[strings.Trim(strings.TrimSpace(cols[0]), "`")] = strings.TrimSpace(cols[1]) + " " + strings.Join(labels, ",")
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s:%d: the metrics table lacks %s (%s)", operationsDoc, table.line, name, w)
		} else if g != w {
			t.Errorf("%s:%d: the metrics table says %s is %q; it is %q", operationsDoc, table.line, name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s:%d: the metrics table lists %s, which the server does not export", operationsDoc, table.line, name)
		}
	}
}
