package http_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// jsonLog is a server's JSON log.
type jsonLog struct{ storetest.SyncBuffer }

// lines decodes the JSON log lines whose msg is msg.
func (s *jsonLog) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// loggedServer is a server of an in-memory store logging JSON into log,
// from level debug.
func loggedServer(t *testing.T) (*httptest.Server, *sqlstore.DB, *jsonLog) {
	store, err := sqlite.Open(context.Background(), ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := &jsonLog{}
	s := lbhttp.NewServer(store, billing.New(store, nil))
	s.AdminKey = testAdminKey
	s.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, store, log
}

func call(t *testing.T, method, url, key string, body string, header ...string) (int, []byte) {
	t.Helper()
	return storetest.Call(t, method, url, key, []byte(body), header...)
}

// Every request gets one access log line: its method, route pattern (not
// the path's ids), path, status, duration, bytes answered and the id of
// the key it was authenticated with. No line holds a key, the
// Authorization header, a webhook secret or signature, or the query.
func TestAccessLog(t *testing.T) {
	srv, _, log := loggedServer(t)
	const whSecret = "webhook-secret-5f4dcc3b5aa765d61d8327deb882cf99"
	const querySecret = "query-secret-0d107d09f5bbe40cade3de5c71e9e9b7"
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/accounts", `{"id":"acct1","catalog":"trtc","created":"2024-10-01"}`},
		{"POST", "/v1/accounts/acct1/apps", `{"id":"app1"}`},
		{"PUT", "/v1/accounts/acct1/apps/app1/webhook", `{"vendor":"trtc","secret":"` + whSecret + `"}`},
	} {
		if code, b := call(t, r.method, srv.URL+r.path, testAdminKey, r.body); code >= 300 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, code, b)
		}
	}
	code, b := call(t, "POST", srv.URL+"/v1/keys", testAdminKey, `{"account":"acct1"}`)
	var key lbhttp.KeyJSON
	if err := json.Unmarshal(b, &key); code != http.StatusCreated || err != nil || key.Key == "" {
		t.Fatalf("create key: %d %s", code, b)
	}
	code, b = call(t, "GET", srv.URL+"/v1/accounts/acct1?token="+querySecret, key.Key, "")
	if code != http.StatusOK {
		t.Fatalf("GET the account: %d %s", code, b)
	}
	answered := len(b)
	// a vendor callback with a signature that does not verify
	body := `{"EventGroupId":1,"EventType":101,"CallbackTs":1727748000000,"EventInfo":{"RoomId":"r1","EventTs":1727748000,"EventMsTs":1727748000000,"UserId":"u1"}}`
	const badSign = "c2lnbmF0dXJlLXRoYXQtZG9lcy1ub3QtdmVyaWZ5LTAxMjM0NTY3"
	if code, b := call(t, "POST", srv.URL+"/v1/ingest/trtc/app1", "", body, "Sign", badSign); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d %s", code, b)
	}

	lines := log.lines(t, "request")
	if len(lines) != 6 {
		t.Fatalf("%d access log lines for 6 requests:\n%s", len(lines), log)
	}
	get := lines[4]
	want := map[string]any{"level": "INFO", "method": "GET", "route": "/v1/accounts/{id}", "path": "/v1/accounts/acct1",
		"status": float64(200), "bytes": float64(answered), "key": key.ID}
	for k, v := range want {
		if get[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, get[k], v, get)
		}
	}
	if d, ok := get["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("access log duration_ms = %v", get["duration_ms"])
	}
	if lines[0]["key"] != "admin" || lines[0]["status"] != float64(201) || lines[0]["route"] != "/v1/accounts" {
		t.Errorf("the operator's request: %v", lines[0])
	}
	hook := lines[5]
	if hook["route"] != "/v1/ingest/trtc/{app}" || hook["status"] != float64(401) || hook["key"] != nil {
		t.Errorf("the refused callback: %v", hook)
	}
	if refused := log.lines(t, "webhook refused"); len(refused) != 1 || refused[0]["vendor"] != "trtc" || refused[0]["reason"] != lbhttp.BadSignature ||
		refused[0]["app"] != "app1" || refused[0]["level"] != "WARN" {
		t.Errorf("webhook refusal lines: %v", refused)
	}
	for _, secret := range []string{testAdminKey, key.Key, "Bearer", whSecret, querySecret, "token=", badSign} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, log)
		}
	}
}

// An internal error is answered "internal error"; its cause goes to the
// request's access log line, at level ERROR. Requests no route takes are
// logged as unmatched, their method bounded to HTTP's; a path is logged
// up to its first 512 bytes.
func TestAccessLogErrors(t *testing.T) {
	srv, store, log := loggedServer(t)
	store.Close()
	code, b := call(t, "GET", srv.URL+"/v1/accounts", testAdminKey, "")
	if code != http.StatusInternalServerError || strings.Contains(string(b), "closed") {
		t.Fatalf("closed store: %d %s", code, b)
	}
	call(t, "BREW", srv.URL+"/v1/coffee/42", "", "")
	long := "/v1/accounts/" + strings.Repeat("x", 3000)
	if code, b := call(t, "GET", srv.URL+long, testAdminKey, ""); code != http.StatusBadRequest {
		t.Errorf("a 3000-byte id: %d %s", code, b)
	}
	lines := log.lines(t, "request")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), log)
	}
	if l := lines[0]; l["level"] != "ERROR" || l["status"] != float64(500) || !strings.Contains(l["error"].(string), "closed") {
		t.Errorf("the internal error's line: %v", l)
	}
	if l := lines[1]; l["route"] != lbhttp.Unmatched || l["method"] != "OTHER" || l["status"] != float64(404) || l["path"] != "/v1/coffee/42" {
		t.Errorf("the unmatched request's line: %v", l)
	}
	if l := lines[2]; l["route"] != "/v1/accounts/{id}" || l["status"] != float64(400) || l["path"] != long[:512]+"…" {
		t.Errorf("the long path's line: %.200v", l)
	}
}

// /v1/health answers without looking at the database; /v1/ready pings it:
// 200 while it answers, 503 with a problem naming the failure once it is
// closed. Neither needs a key.
func TestHealthAndReady(t *testing.T) {
	srv, store, log := loggedServer(t)
	for _, path := range []string{"/v1/health", "/v1/ready"} {
		if code, b := call(t, "GET", srv.URL+path, "", ""); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, b)
		}
	}
	store.Close()
	if code, b := call(t, "GET", srv.URL+"/v1/health", "", ""); code != http.StatusOK {
		t.Errorf("health with the database closed: %d %s", code, b)
	}
	code, b := call(t, "GET", srv.URL+"/v1/ready", "", "")
	var p lbhttp.Problem
	json.Unmarshal(b, &p)
	if code != http.StatusServiceUnavailable || p.Code != livebill.EUNAVAILABLE || !strings.Contains(p.Detail, "database") {
		t.Errorf("ready with the database closed: %d %s", code, b)
	}
	if l := log.lines(t, "not ready: the database ping failed"); len(l) != 1 || !strings.Contains(l[0]["error"].(string), "closed") {
		t.Errorf("the failed ping's log: %v", l)
	}
}

// slowPinger is a store whose ping never answers before its context ends.
type slowPinger struct{ livebill.Store }

func (slowPinger) Ping(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// A database that does not answer in ReadyTimeout is not ready.
func TestReadyTimeout(t *testing.T) {
	s := &lbhttp.Server{Store: slowPinger{}, ReadyTimeout: 50 * time.Millisecond}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/ready", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "did not answer within 50ms") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

// The admission routes (authorize, lease renewal and release) are called
// for every session a media server admits: their answers under 400 are
// logged at debug, not info; a refusal (401 here) at info, as on every
// route.
func TestAccessLogQuietRoutes(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := &jsonLog{}
	svc := billing.New(store, nil)
	s := lbhttp.NewServer(store, svc)
	s.AdminKey = testAdminKey
	s.Admission = &admission.Service{Store: store, Leases: store, Accounts: svc, Clock: livebill.SystemClock{}, Status: svc}
	s.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for _, r := range []struct{ path, body string }{
		{"/v1/accounts", `{"id":"acct1","catalog":"trtc","created":"2024-10-01"}`},
		{"/v1/accounts/acct1/apps", `{"id":"app1"}`},
	} {
		if code, b := call(t, "POST", srv.URL+r.path, testAdminKey, r.body); code >= 300 {
			t.Fatalf("POST %s: %d %s", r.path, code, b)
		}
	}
	join := `{"app":"app1","action":"room.join","room":"r1","user":"u1"}`
	if code, b := call(t, "POST", srv.URL+"/v1/authorize", testAdminKey, join); code != http.StatusOK {
		t.Fatalf("authorize: %d %s", code, b)
	}
	if code, _ := call(t, "POST", srv.URL+"/v1/authorize", "not-a-key", join); code != http.StatusUnauthorized {
		t.Fatalf("authorize with a wrong key: %d", code)
	}
	lines := log.lines(t, "request")
	if len(lines) != 4 {
		t.Fatalf("%d access log lines for 4 requests:\n%s", len(lines), log)
	}
	for i, want := range []struct {
		level  string
		status float64
	}{{"INFO", 201}, {"INFO", 201}, {"DEBUG", 200}, {"INFO", 401}} {
		if l := lines[i]; l["level"] != want.level || l["status"] != want.status {
			t.Errorf("line %d: %v, want level %s, status %v", i, l, want.level, want.status)
		}
	}
}
