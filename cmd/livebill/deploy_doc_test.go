package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	lbhttp "github.com/livebill/livebill/http"
)

// deployDoc runs the Deploying, API keys and PostgreSQL sections of
// docs/operations.md (a part of TestOperationsDoc): it makes the operator
// key as shown, starts the systemd unit's ExecStart (its paths moved
// into the scratch directory), checks that the server prints no key and
// takes the one in the file, that the Caddy configuration proxies to the
// unit's address, then runs the key commands against that server and
// checks what they did. The PostgreSQL role and database are made by the
// statements .ci/run runs; the test checks they are the ones shown.
func deployDoc(t *testing.T, d *docRun) {
	d.run("deploy-key", nil)
	keyFile := filepath.Join(d.dir, "admin.key")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("admin.key is readable by others: %v", fi.Mode())
	}
	key, _ := os.ReadFile(keyFile)
	if len(strings.TrimSpace(string(key))) < 32 {
		t.Errorf("admin.key holds %q: fewer than 32 characters", key)
	}

	unit := d.block("deploy-unit", "ini").body
	exec := regexp.MustCompile(`(?m)^ExecStart=(.*)$`).FindStringSubmatch(unit)
	stop := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindStringSubmatch(unit)
	if exec == nil || stop == nil {
		t.Fatalf("the unit has no ExecStart or TimeoutStopSec:\n%s", unit)
	}
	if dur, err := time.ParseDuration(stop[1]); err != nil || dur <= 20*time.Second {
		t.Errorf("TimeoutStopSec=%s is not longer than serve's --shutdown-timeout (20s)", stop[1])
	}
	caddy := d.block("deploy-caddy", "text").body
	if !strings.Contains(caddy, "reverse_proxy 127.0.0.1:8080\n") || !strings.Contains(exec[1], "--addr 127.0.0.1:8080 ") {
		t.Errorf("the Caddy configuration does not proxy to the unit's --addr:\n%s\n%s", caddy, exec[1])
	}
	r := strings.NewReplacer("/usr/local/bin/livebill", "livebill", "/var/lib/livebill", filepath.Join(d.dir, "var-lib-livebill"),
		"/etc/livebill/admin.key", keyFile, "127.0.0.1:8080", d.addr)
	p := startProc(t, d.command(r.Replace(exec[1]), nil))
	if p.key != "" || strings.Contains(p.stderr.String(), "lbk_") {
		t.Errorf("a server given a key printed one:\n%s", p.stderr)
	}
	if !strings.HasPrefix(p.stderr.String(), "{") {
		t.Errorf("--log-format json: the log is not JSON:\n%s", p.stderr)
	}
	c := lbhttp.NewClient(p.url)
	c.Key = strings.TrimSpace(string(key))
	if err := c.Do(context.Background(), "POST", "/v1/accounts", map[string]any{"id": "100001", "catalog": "trtc", "created": "2024-01-10"}, nil); err != nil {
		t.Fatalf("the key in admin.key: %v", err)
	}

	outs := d.session([]string{"keys-create", "keys-revoke"}, []string{"LIVEBILL_SERVER=" + p.url})
	d.matches("keys-create-output", outs["keys-create"])
	d.matches("keys-revoke-output", outs["keys-revoke"])
	for file, want := range map[string]int{"pipeline.key": http.StatusOK, "100001.key": http.StatusUnauthorized} {
		k, _ := os.ReadFile(filepath.Join(d.dir, file))
		req, _ := http.NewRequest("GET", p.url+"/v1/accounts/100001", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(k)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("the key in %s: %d, want %d", file, resp.StatusCode, want)
		}
	}
	d.stop(p)

	ci, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(strings.TrimSpace(d.block("pg-create", "sql").body), "\n") {
		re := regexp.QuoteMeta(strings.TrimSuffix(stmt, ";"))
		re = strings.Replace(re, "'choose-a-password'", "'[^']*'", 1)
		re = strings.Replace(re, "DATABASE livebill ", `DATABASE \w+ `, 1)
		if !regexp.MustCompile(re).Match(ci) {
			t.Errorf("%s: .ci/run does not run %s (as %s)", d.path, stmt, re)
		}
	}
}

// serveFlagsDoc checks that the flag table of docs/operations.md lists
// every flag of serve and no other.
func serveFlagsDoc(t *testing.T) {
	var help bytes.Buffer
	run([]string{"serve", "--help"}, io.Discard, &help)
	var want []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help.String(), -1) {
		want = append(want, m[1])
	}
	sort.Strings(want)
	table := readDocTable(t, operationsDoc, "serve-flags")
	var got []string
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\|").FindAllStringSubmatch(table.body, -1) {
		got = append(got, m[1])
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s:%d: the flags of serve are\n  %v\nthe table lists\n  %v", operationsDoc, table.line, want, got)
	}
}
