package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/scenario"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// testAdminKey is the operator key the test servers are started with.
const testAdminKey = "test-operator-key-0123456789abcdef0123"

// api returns a server of an in-memory store, with the operator key
// testAdminKey.
func api(t *testing.T) *lbhttp.Server {
	store, err := sqlite.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := lbhttp.NewServer(store, billing.New(store, nil))
	s.AdminKey = testAdminKey
	return s
}

func server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(api(t).Handler())
	t.Cleanup(srv.Close)
	return srv
}

// client returns a client of srv with the operator key.
func client(srv *httptest.Server) *lbhttp.Client {
	c := lbhttp.NewClient(srv.URL)
	c.Key = testAdminKey
	return c
}

// POST /v1/quote answers what `livebill quote --format json` prints.
func TestQuoteEndpointMatchesCLI(t *testing.T) {
	srv := server(t)
	files, _ := filepath.Glob(filepath.Join(storetest.ScenarioDir(t), "*.yaml"))
	if len(files) == 0 {
		t.Skip("no shared scenarios")
	}
	n := 0
	for _, path := range files {
		f, err := scenario.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := os.ReadFile(path)
		req, _ := http.NewRequest("POST", srv.URL+"/v1/quote", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/yaml")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if f.EventsFile != "" {
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: events_file accepted by the API: %d", path, resp.StatusCode)
			}
			continue
		}
		res, err := f.Run()
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.Encode(res.Quote)
		if resp.StatusCode != 200 || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: status %d\n got %s\nwant %s", filepath.Base(path), resp.StatusCode, got, want.Bytes())
		}
		n++
	}
	if n == 0 {
		t.Fatal("no scenario with inline events was compared")
	}
}

func TestErrorsAndOpenAPI(t *testing.T) {
	srv := server(t)
	c := client(srv)
	ctx := context.Background()
	var doc map[string]any
	if err := c.Do(ctx, "GET", "/v1/openapi.json", nil, &doc); err != nil {
		t.Fatal(err)
	}
	paths, _ := doc["paths"].(map[string]any)
	for _, p := range []string{"/v1/events", "/v1/quote", "/v1/accounts/{id}/bills", "/v1/accounts/{id}/usage", "/v1/accounts/{id}/statements/{month}", "/v1/accounts/{id}/rejections",
		"/v1/imports", "/v1/imports/{id}", "/v1/imports/{id}/events", "/v1/imports/{id}/finish",
		"/v1/accounts/{id}/purchases/{purchase}/cancel", "/v1/quarantine"} {
		if _, ok := paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	cases := []struct {
		method, path string
		body         any
		code         string
	}{
		{"GET", "/v1/accounts/nobody", nil, livebill.ENOTFOUND},
		{"POST", "/v1/accounts", map[string]any{"id": "a"}, livebill.EINVALID},
		{"POST", "/v1/accounts", map[string]any{"id": "a", "catalog": "nope", "created": "2024-01-01"}, livebill.EINVALID},
		{"POST", "/v1/accounts", map[string]any{"id": "a", "catalog": "trtc", "created": "2024-01-01", "extra": 1}, livebill.EINVALID},
		{"GET", "/v1/accounts/a/usage?from=2024-10-01&to=2024-10-02&granularity=hour", nil, livebill.EINVALID},
		{"GET", "/v1/nothing", nil, livebill.ENOTFOUND},
		// a catalog document may extend only a built-in catalog: no server file is read
		{"POST", "/v1/accounts", map[string]any{"id": "b", "catalog": "mine", "created": "2024-01-01", "catalog_yaml": "extends: /etc/passwd\n"}, livebill.EINVALID},
		{"POST", "/v1/accounts", map[string]any{"id": "b", "catalog": "mine", "created": "2024-01-01", "catalog_yaml": "extends: trtc\nitems:\n  - {id: trtc.av.hd, price: \"-1\"}\n"}, livebill.EINVALID},
	}
	for _, tc := range cases {
		err := c.Do(ctx, tc.method, tc.path, tc.body, nil)
		if livebill.ErrorCode(err) != tc.code {
			t.Errorf("%s %s: %v, want code %s", tc.method, tc.path, err, tc.code)
		}
	}
	if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "a", "catalog": "trtc", "created": "2024-01-01"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "a", "catalog": "trtc", "created": "2024-01-01"}, nil); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Errorf("second create: %v", err)
	}
}

func TestSplitEvents(t *testing.T) {
	evs, err := lbhttp.SplitEvents([]byte("\n{\"a\":1}\n\n  {\"b\":2}  \n"), 10)
	if err != nil || len(evs) != 2 || evs[0].Line != 2 || evs[1].Line != 4 || string(evs[1].Body) != `{"b":2}` {
		t.Fatalf("ndjson: %+v %v", evs, err)
	}
	evs, err = lbhttp.SplitEvents([]byte(` [{"a":1}, {"b":2}] `), 10)
	if err != nil || len(evs) != 2 || evs[1].Line != 2 || string(evs[1].Body) != `{"b":2}` {
		t.Fatalf("array: %+v %v", evs, err)
	}
	for _, bad := range []string{`[{"a":1}`, `[{"a":1}] x`, `[{"a":1},]`, `[{"a":}]`} {
		if _, err := lbhttp.SplitEvents([]byte(bad), 10); livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("%s: %v, want invalid", bad, err)
		}
	}
	// exactly max events pass, max+1 are too many, in either form
	if evs, err := lbhttp.SplitEvents([]byte("{}\n{}\n{}\n\n"), 3); err != nil || len(evs) != 3 {
		t.Errorf("3 lines, at most 3: %d %v", len(evs), err)
	}
	if evs, err := lbhttp.SplitEvents([]byte("[{},{},{}]"), 3); err != nil || len(evs) != 3 {
		t.Errorf("3 elements, at most 3: %d %v", len(evs), err)
	}
	for _, body := range []string{"{}\n{}\n{}\n{}", "[{},{},{},{}]"} {
		if _, err := lbhttp.SplitEvents([]byte(body), 3); livebill.ErrorCode(err) != livebill.ETOOLARGE {
			t.Errorf("%q, at most 3: %v, want too_large", body, err)
		}
	}
}

// A body of a million tiny events is refused after the event past the
// bound: the work done does not grow with the body (a 64 MiB body of
// lines once took 4.7 GB before it was counted).
func TestSplitEventsStopsAtTheBound(t *testing.T) {
	lines := bytes.Repeat([]byte("a\n"), 1_000_000)
	array := append(append([]byte("["), bytes.Repeat([]byte("1,"), 1_000_000)...), '1', ']')
	for name, body := range map[string][]byte{"ndjson": lines, "array": array} {
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := lbhttp.SplitEvents(body, 100); livebill.ErrorCode(err) != livebill.ETOOLARGE {
				t.Fatalf("%s: %v, want too_large", name, err)
			}
		})
		// 100 events, each a copy and a slot (the slice grows about 8
		// times), and the scanner or decoder: a few hundred at most,
		// against a million without the bound.
		if allocs > 1000 {
			t.Errorf("%s: %.0f allocations for 100 events", name, allocs)
		}
	}
}

// Errors are problem documents: a validation lists each problem in
// errors, and a quote's invalid events carry their line, id and field.
func TestProblemDetails(t *testing.T) {
	srv := server(t)
	post := func(path, ctype, body string) (int, lbhttp.Problem) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p lbhttp.Problem
		if ct := resp.Header.Get("Content-Type"); ct != lbhttp.ProblemType {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	// three problems with one account: id, catalog and created missing
	code, p := post("/v1/accounts", "application/json", `{"mode":"x"}`)
	if code != 400 || p.Code != livebill.EINVALID || len(p.Errors) != 4 || !strings.HasPrefix(p.Detail, "4 problems: ") {
		t.Fatalf("validation: %d %+v", code, p)
	}
	scenario := `
mode: calculator
catalog: trtc
period: {from: 2024-10-01, to: 2024-10-02}
events:
  - {time: "2024-10-01T10:00:00Z", type: room.join, app: a, room: r, user: A, id: ok}
  - {time: "2024-10-01T10:05:00Z", type: room.join, app: a, room: r, id: nouser}
`
	code, p = post("/v1/quote", "application/yaml", scenario)
	if code != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "user" || p.Errors[0].ID != "nouser" || p.Errors[0].Line == 0 {
		t.Fatalf("quote with an invalid event: %d %+v", code, p)
	}
	// 1,500 events with no field at all: all rejected, the first 1,000
	// listed (a body of millions of them once answered 620 MB)
	many := "catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents: [" + strings.Repeat("{},", 1499) + "{}]\n"
	code, p = post("/v1/quote", "application/yaml", many)
	if code != 400 || len(p.Errors) != 1000 || p.Errors[999].Line != 3 || !strings.HasPrefix(p.Detail, "1500 of 1500 events rejected (1000 listed)") {
		t.Fatalf("quote with 1,500 invalid events: %d, %d errors, %q", code, len(p.Errors), p.Detail)
	}
}
