package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bad --log-format and --log-level values are refused before anything
// starts (exit status 2), naming the flag and the values it takes.
func TestServeLogFlags(t *testing.T) {
	for _, c := range []struct{ args []string }{
		{[]string{"serve", "--log-format", "xml"}},
		{[]string{"serve", "--log-level", "loud"}},
	} {
		_, stderr, code := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.args[1]+": must be") {
			t.Errorf("%v: exit %d, %q", c.args, code, stderr)
		}
	}
}

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// jsonLines decodes a log of JSON lines; a line that is not JSON is an
// error.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("a stderr line that is not JSON: %q", l)
			continue
		}
		out = append(out, m)
	}
	return out
}

// serve --log-format json writes JSON lines only, with an access log line
// per request (its route and the key's id, never the key); --metrics-addr
// serves /metrics without a key on its own listener, while /v1/metrics on
// the API needs the operator key; /v1/ready answers without one.
func TestServeJSONLogsAndMetricsListener(t *testing.T) {
	bin := livebillBinary(t)
	const key = "observe-test-operator-key-0123456789abcdef"
	metrics := freeAddr(t)
	p := startServe(t, bin, []string{"LIVEBILL_ADMIN_KEY=" + key}, "--db", filepath.Join(t.TempDir(), "data"), "--settle-every", "0",
		"--log-format", "json", "--log-level", "info", "--metrics-addr", metrics)
	if code, body := get(t, p.url+"/v1/ready", ""); code != http.StatusOK {
		t.Errorf("GET /v1/ready: %d %s", code, body)
	}
	if code, body := get(t, p.url+"/v1/accounts", key); code != http.StatusOK {
		t.Errorf("GET /v1/accounts: %d %s", code, body)
	}
	if code, _ := get(t, p.url+"/v1/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/metrics without a key: %d, want 401", code)
	}
	code, body := get(t, "http://"+metrics+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, "livebill_build_info{") ||
		!strings.Contains(body, `livebill_http_requests_total{code="200",method="GET",route="/v1/ready"} 1`) ||
		!strings.Contains(body, `livebill_http_requests_total{code="401",method="GET",route="/v1/metrics"} 1`) {
		t.Errorf("GET %s/metrics: %d\n%s", metrics, code, body)
	}
	if code, body := get(t, p.url+"/v1/metrics", key); code != http.StatusOK || !strings.Contains(body, "livebill_ingest_events_total") {
		t.Errorf("GET /v1/metrics with the operator key: %d", code)
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not stop")
	}
	var access map[string]any
	for _, m := range jsonLines(t, p.stderr.String()) {
		if m["msg"] == "request" && m["route"] == "/v1/accounts" {
			access = m
		}
	}
	if access["key"] != "admin" || access["status"] != float64(200) || access["level"] != "INFO" {
		t.Errorf("the access line of GET /v1/accounts: %v\n%s", access, p.stderr)
	}
	if strings.Contains(p.stderr.String(), key) {
		t.Errorf("the log holds the operator key:\n%s", p.stderr)
	}
}
