package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	"github.com/livebill/livebill/sqlite"
	"go.yaml.in/yaml/v3"
)

// monitoringDoc runs the Monitoring section of docs/operations.md (a part
// of TestOperationsDoc): it starts the server as shown, runs the health,
// readiness and scrape commands and checks their outputs, the access log
// line shown against the server's, the not-ready answer against a server
// whose database is closed, the Prometheus configuration against the
// serve command, and the metrics table against what the server exports.
func monitoringDoc(t *testing.T, d *docRun) {
	const key = "monitoring-doc-operator-key-0123456789abcdef"
	metricsAddr := freeAddr(t)
	env := []string{"LIVEBILL_ADMIN_KEY=" + key, "LIVEBILL_KEY=" + key}
	p := d.serve("monitor-serve", env, "127.0.0.1:9090", metricsAddr)
	d.matches("monitor-checks-output", d.run("monitor-checks", env))
	d.matches("monitor-scrape-output", d.run("monitor-scrape", env, "127.0.0.1:9090", metricsAddr))
	req, _ := http.NewRequest("GET", p.url+"/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/accounts: %v %v", resp, err)
	}
	resp.Body.Close()
	for end := time.Now().Add(10 * time.Second); !strings.Contains(p.stderr.String(), `"route":"/v1/accounts"`) && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	d.matches("monitor-access-log", p.stderr.String())
	d.stop(p)
	if strings.Contains(p.stderr.String(), key) {
		t.Errorf("the server's log holds the operator key:\n%s", p.stderr)
	}

	// the answer of a server whose database is closed
	store, err := sqlite.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(lbhttp.NewServer(store, billing.New(store, nil)).Handler())
	defer srv.Close()
	store.Close()
	if resp, err = http.Get(srv.URL + "/v1/ready"); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	d.matches("monitor-not-ready", body.String())
	if doc, _ := os.ReadFile(operationsDoc); !strings.Contains(string(doc), "did not answer within "+lbhttp.DefaultReadyTimeout.String()) {
		t.Errorf("%s does not give the readiness timeout, %s", operationsDoc, lbhttp.DefaultReadyTimeout)
	}

	// the Prometheus configuration scrapes what serve listens on
	var cfg struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(d.block("monitor-prometheus-config", "yaml").body), &cfg); err != nil {
		t.Fatalf("the Prometheus configuration: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 || cfg.ScrapeConfigs[0].MetricsPath != "/metrics" || len(cfg.ScrapeConfigs[0].StaticConfigs) != 1 ||
		fmt.Sprint(cfg.ScrapeConfigs[0].StaticConfigs[0].Targets) != "[127.0.0.1:9090]" ||
		!strings.Contains(d.blocks["monitor-serve"].body, "--metrics-addr 127.0.0.1:9090") {
		t.Errorf("the Prometheus configuration does not scrape serve's --metrics-addr: %+v", cfg)
	}
	checkMetricsTable(t, readDocTable(t, operationsDoc, "monitor-metrics-table"))
}

// checkMetricsTable checks the table lists every livebill_ metric the
// server exports, with its type and labels, and no other.
func checkMetricsTable(t *testing.T, table docBlock) {
	m := prometheus.New(nil, prometheus.Build{})
	m.Served(&lbhttp.Served{Route: "/v1/events", Method: "POST", Status: 200}) // makes the request series
	m.WatchQueue(oneQueue{})                                                   // serve --queue's
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

// oneQueue is an event queue of one partition, for the metrics table.
type oneQueue struct{}

func (oneQueue) Lag(context.Context) ([]livebill.PartitionLag, error) {
	return []livebill.PartitionLag{{Partition: 0}}, nil
}
func (oneQueue) Fill(context.Context) (int64, int64, error) { return 0, 1 << 30, nil }
