package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildLivebill builds the binary into a temporary directory of its own
// and returns its path.
func buildLivebill(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "livebill")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

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

// jsonLog collects a process's stderr, which must be JSON lines only.
type jsonLog struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   strings.Builder
	bad   []string
}

func (l *jsonLog) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		l.mu.Lock()
		l.raw.WriteString(sc.Text() + "\n")
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			l.bad = append(l.bad, sc.Text())
		} else {
			l.lines = append(l.lines, m)
		}
		l.mu.Unlock()
	}
}

// waitFor returns the first line for which match is true, waiting for it.
func (l *jsonLog) waitFor(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		for _, m := range l.lines {
			if match(m) {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
	}
	t.Fatalf("no log line %s in:\n%s", what, l.raw.String())
	return nil
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

// serve --log-format json writes JSON lines only, with an access log line
// per request (its route and the key's id, never the key); --metrics-addr
// serves /metrics without a key on its own listener, while /v1/metrics on
// the API needs the operator key; /v1/ready answers without one.
func TestServeJSONLogsAndMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a server")
	}
	dir := t.TempDir()
	bin := buildLivebill(t)
	const key = "observe-test-operator-key-0123456789abcdef"
	cmd := exec.Command(bin, "serve", "--db", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0", "--settle-every", "0",
		"--log-format", "json", "--log-level", "info", "--metrics-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LIVEBILL_ADMIN_KEY="+key)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log := &jsonLog{}
	done := make(chan struct{})
	go func() { log.read(stderr); close(done) }()

	url := regexp.MustCompile(`http://\S+`)
	msg := func(prefix string) func(map[string]any) bool {
		return func(m map[string]any) bool { s, _ := m["msg"].(string); return strings.HasPrefix(s, prefix) }
	}
	api := url.FindString(log.waitFor(t, "listening on", msg("listening on"))["msg"].(string))
	metrics := url.FindString(log.waitFor(t, "metrics on", msg("metrics on"))["msg"].(string))
	if code, body := get(t, api+"/v1/ready", ""); code != http.StatusOK {
		t.Errorf("GET /v1/ready: %d %s", code, body)
	}
	if code, body := get(t, api+"/v1/accounts", key); code != http.StatusOK {
		t.Errorf("GET /v1/accounts: %d %s", code, body)
	}
	if code, _ := get(t, api+"/v1/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/metrics without a key: %d, want 401", code)
	}
	code, body := get(t, metrics, "")
	if code != http.StatusOK || !strings.Contains(body, "livebill_build_info{") ||
		!strings.Contains(body, `livebill_http_requests_total{code="200",method="GET",route="/v1/ready"} 1`) ||
		!strings.Contains(body, `livebill_http_requests_total{code="401",method="GET",route="/v1/metrics"} 1`) {
		t.Errorf("GET %s: %d\n%s", metrics, code, body)
	}
	if code, body := get(t, api+"/v1/metrics", key); code != http.StatusOK || !strings.Contains(body, "livebill_ingest_events_total") {
		t.Errorf("GET /v1/metrics with the operator key: %d", code)
	}
	access := log.waitFor(t, "GET /v1/accounts's access line", func(m map[string]any) bool {
		return m["msg"] == "request" && m["route"] == "/v1/accounts"
	})
	if access["key"] != "admin" || access["status"] != float64(200) || access["level"] != "INFO" {
		t.Errorf("access line: %v", access)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-done
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.bad) > 0 {
		t.Errorf("stderr lines that are not JSON: %q", log.bad)
	}
	if strings.Contains(log.raw.String(), key) {
		t.Errorf("the log holds the operator key:\n%s", log.raw.String())
	}
}
