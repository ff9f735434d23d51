package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
)

// answer is an HTTP answer as the tests read it.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	problem lbhttp.Problem
}

// call sends a request with key as the bearer key ("" for none) and extra
// headers (name, value, …).
func call(t *testing.T, method, url, key string, body []byte, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != lbhttp.ProblemType {
			t.Errorf("%s %s: %d with Content-Type %q, want %s", method, url, resp.StatusCode, ct, lbhttp.ProblemType)
		}
		json.Unmarshal(a.body, &a.problem)
	}
	return a
}

// Call sends a request as the suite does (call) and returns the status
// and body, for other packages' tests.
func Call(t *testing.T, method, url, key string, body []byte, header ...string) (int, []byte) {
	t.Helper()
	a := call(t, method, url, key, body, header...)
	return a.status, a.body
}

// authEnv is a server with two accounts (acct-a, acct-b), each with an
// app, a device, a purchase, a refund, a top-up, events and a bill, and
// keys made through the API.
type authEnv struct {
	server     *lbhttp.Server
	url        string
	admin      *lbhttp.Client
	keyA, keyB string // account keys
	revoked    string // a key of acct-a, revoked
	spare      string // id of an account key nobody uses (DELETE /v1/keys/{id})
	store      livebill.Store
	clock      *Clock
}

func newAuthEnv(t *testing.T, open Opener) *authEnv {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := NewClock(time.Date(2024, 10, 2, 12, 0, 0, 0, sh))
	store := open(t, clock)
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	server, url, admin := NewAPI(t, store, svc)
	e := &authEnv{server: server, url: url, admin: admin, store: store, clock: clock}
	must := func(method, path string, in, out any) {
		t.Helper()
		if err := admin.Do(ctx, method, path, in, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	for _, a := range []string{"acct-a", "acct-b"} {
		p := "/v1/accounts/" + a
		must("POST", "/v1/accounts", map[string]any{"id": a, "catalog": "trtc", "created": "2024-10-01"}, nil)
		must("POST", p+"/apps", map[string]any{"id": a + "-app"}, nil)
		must("POST", p+"/devices", map[string]any{"id": a + "-dev", "cameras": []map[string]int{{"width": 1280, "height": 720}}}, nil)
		must("POST", p+"/purchases", map[string]any{"id": a + "-p", "app": a + "-app", "plan": "rtc-engine.lite", "start": "2024-10-01"}, nil)
		must("POST", p+"/refunds", map[string]any{"purchase": a + "-p", "time": "2024-10-02"}, nil)
		must("POST", p+"/topups", map[string]any{"id": a + "-t", "amount": "10"}, nil)
		must("PUT", p+"/apps/"+a+"-app/webhook", map[string]any{"vendor": "trtc", "secret": "s-" + a}, nil)
		ev := func(id, tm, typ string) string {
			return `{"id":"` + id + `","time":"` + tm + `","type":"` + typ + `","app":"` + a + `-app","room":"r","user":"u"}`
		}
		if res, err := admin.PushEvents(ctx, []byte(ev("j", "2024-10-01T10:00:00+08:00", "room.join")+"\n"+ev("l", "2024-10-01T11:00:00+08:00", "room.leave"))); err != nil || res.Accepted != 2 {
			t.Fatalf("push %s: %+v %v", a, res, err)
		}
		clock.Set(clock.Now().Add(billing.DefaultSettleQuiet)) // the day's ingest is quiet
		must("POST", p+"/settle", nil, nil)
	}
	key := func(account string) (string, string) {
		t.Helper()
		var k lbhttp.KeyJSON
		must("POST", "/v1/keys", map[string]any{"account": account, "name": "test"}, &k)
		if !strings.HasPrefix(k.Key, livebill.KeyPrefix) || k.Account != account {
			t.Fatalf("made key %+v", k)
		}
		return k.Key, k.ID
	}
	e.keyA, _ = key("acct-a")
	e.keyB, _ = key("acct-b")
	var id string
	e.revoked, id = key("acct-a")
	must("DELETE", "/v1/keys/"+id, nil, nil)
	_, e.spare = key("acct-b")
	return e
}

// path fills a route's pattern for account acct, with the query it needs.
func (e *authEnv) path(rt lbhttp.Route, acct string) string {
	p := strings.NewReplacer("{id}", acct, "{app}", acct+"-app", "{month}", "2024-10").Replace(rt.Path)
	if strings.HasPrefix(rt.Path, "/v1/keys/") {
		p = "/v1/keys/" + e.spare
	}
	switch {
	case strings.HasSuffix(rt.Path, "/usage"), strings.HasSuffix(rt.Path, "/quote") && strings.Contains(rt.Path, "{id}"):
		p += "?from=2024-10-01&to=2024-10-02"
	}
	return e.url + p
}

// testRouteAuth walks the route table: every route that needs a key
// refuses a missing, malformed, unknown, wrongly signed or revoked key
// with 401 (and a Bearer challenge); an account key gets 403 on an
// operator route and 404 on another account's path (the answer a missing
// account gets); an account key reads its own account (200); the
// operator key is let through everywhere; the vendor webhooks are
// authenticated by their signatures only, a bearer key changes nothing.
func testRouteAuth(t *testing.T, open Opener) {
	e := newAuthEnv(t, open)
	_, unknownSecret, _ := livebill.NewKey(&livebill.CreateKeyInput{}, time.Now()) // well formed, never stored
	tampered := e.keyA[:len(e.keyA)-1] + "A"
	if tampered == e.keyA {
		tampered = e.keyA[:len(e.keyA)-1] + "B"
	}
	bad := map[string]string{
		"no key":       "",
		"not a key":    "hello",
		"unknown key":  unknownSecret,
		"wrong secret": tampered,
		"revoked key":  e.revoked,
	}
	routes := e.server.Routes()
	if len(routes) < 30 {
		t.Fatalf("the route table has %d routes", len(routes))
	}
	for _, rt := range routes {
		name := rt.Method + " " + rt.Path
		own := e.path(rt, "acct-a")
		switch rt.Access {
		case lbhttp.Public:
			if a := call(t, rt.Method, own, "", nil); a.status != http.StatusOK {
				t.Errorf("%s without a key: %d, want 200", name, a.status)
			}
			continue
		case lbhttp.Signed:
			// no signature: refused however good the bearer key
			plain := call(t, rt.Method, own, "", []byte(`{}`))
			keyed := call(t, rt.Method, own, AdminKey, []byte(`{}`))
			if plain.status < 400 || keyed.status != plain.status || plain.problem.Code != keyed.problem.Code {
				t.Errorf("%s: unsigned %d %s, with the operator key %d %s; want the same refusal", name, plain.status, plain.problem.Code, keyed.status, keyed.problem.Code)
			}
			continue
		}
		for what, key := range bad {
			a := call(t, rt.Method, own, key, nil)
			challenge := a.header.Get("WWW-Authenticate")
			if a.status != http.StatusUnauthorized || a.problem.Code != livebill.EUNAUTHORIZED || !strings.HasPrefix(challenge, "Bearer") {
				t.Errorf("%s with %s: %d %s (WWW-Authenticate %q), want 401 unauthorized", name, what, a.status, a.problem.Code, challenge)
			}
			if key != "" && !strings.Contains(challenge, "invalid_token") {
				t.Errorf("%s with %s: WWW-Authenticate %q lacks error=\"invalid_token\"", name, what, challenge)
			}
		}
		if a := call(t, rt.Method, own, AdminKey, nil); a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
			t.Errorf("%s with the operator key: %d %s", name, a.status, a.problem.Detail)
		}
		switch rt.Access {
		case lbhttp.Admin:
			if a := call(t, rt.Method, own, e.keyA, nil); a.status != http.StatusForbidden || a.problem.Code != livebill.EFORBIDDEN {
				t.Errorf("%s with an account key: %d %s, want 403 forbidden", name, a.status, a.problem.Code)
			}
		case lbhttp.Account:
			other := call(t, rt.Method, e.path(rt, "acct-b"), e.keyA, nil)
			if other.status != http.StatusNotFound || other.problem.Code != livebill.ENOTFOUND || strings.Contains(string(other.body), "acct-b-") {
				t.Errorf("%s with another account's key: %d %s, want 404 not_found", name, other.status, other.body)
			}
			// the same answer as an account that does not exist
			none := call(t, rt.Method, e.path(rt, "acct-z"), AdminKey, nil)
			if none.status != other.status || strings.ReplaceAll(string(none.body), "acct-z", "acct-b") != string(other.body) {
				t.Errorf("%s: another account's %d %s differs from a missing account's %d %s", name, other.status, other.body, none.status, none.body)
			}
			if a := call(t, rt.Method, own, e.keyA, nil); a.status != http.StatusOK {
				t.Errorf("%s: an account key reading its own account: %d %s", name, a.status, a.body)
			} else if strings.Contains(string(a.body), "acct-b") {
				t.Errorf("%s: acct-a's answer shows acct-b: %s", name, a.body)
			}
		case lbhttp.AnyKey:
			if a := call(t, rt.Method, own, e.keyA, nil); a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
				t.Errorf("%s with an account key: %d %s", name, a.status, a.problem.Detail)
			}
		}
	}
}

// testAccountKeys: what an account key reads is its own account's data;
// it pushes events only for its own apps (the others, and apps that do
// not exist, are rejected one by one as forbidden, the rest of the batch
// kept); the key list never shows a key; a revoked key stops at once.
func testAccountKeys(t *testing.T, open Opener) {
	e := newAuthEnv(t, open)
	ctx := context.Background()
	a := lbhttp.NewClient(e.url)
	a.Key = e.keyA
	var apps struct {
		Apps []livebill.App `json:"apps"`
	}
	if err := a.Do(ctx, "GET", "/v1/accounts/acct-a/apps", nil, &apps); err != nil || len(apps.Apps) != 1 || apps.Apps[0].ID != "acct-a-app" {
		t.Fatalf("acct-a's apps: %+v %v", apps, err)
	}
	bills, err := a.Bills(ctx, "acct-a")
	if err != nil || len(bills.Bills) != 2 { // the plan's purchase bill and the day's
		t.Fatalf("acct-a's bills: %+v %v", bills, err)
	}
	for _, b := range bills.Bills {
		if b.AccountID != "acct-a" {
			t.Fatalf("acct-a's bills hold %+v", b)
		}
	}
	ev := func(id, app string) string {
		return `{"id":"` + id + `","time":"2024-10-01T12:00:00+08:00","type":"room.join","app":"` + app + `","room":"r2","user":"v"}`
	}
	res, err := a.PushEvents(ctx, []byte(strings.Join([]string{ev("a1", "acct-a-app"), ev("b1", "acct-b-app"), ev("n1", "no-such-app"), ev("a2", "acct-a-app")}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 2 || len(res.Errors) != 2 {
		t.Fatalf("push with acct-a's key: %+v, want 2 accepted and 2 rejected", res)
	}
	for i, want := range []struct {
		index int
		id    string
	}{{1, "b1"}, {2, "n1"}} {
		st := res.Errors[i]
		if st.Index != want.index || st.ID != want.id || st.Code != livebill.EFORBIDDEN || !strings.Contains(st.Error, `field "app"`) {
			t.Errorf("rejection %d: %+v, want event %s forbidden on field app", i, st, want.id)
		}
	}
	reason := func(msg string) string { _, r, _ := strings.Cut(msg, `field "app": `); return r }
	if r0, r1 := reason(res.Errors[0].Error), reason(res.Errors[1].Error); r0 == "" || r0 != strings.Replace(r1, "no-such-app", "acct-b-app", 1) {
		t.Errorf("another account's app and a missing app are told apart: %q / %q", res.Errors[0].Error, res.Errors[1].Error)
	}
	for acct, want := range map[string]int64{"acct-a": 4, "acct-b": 2} {
		var rec lbhttp.AccountJSON
		if err := e.admin.Do(ctx, "GET", "/v1/accounts/"+acct, nil, &rec); err != nil {
			t.Fatal(err)
		}
		sp, _ := e.server.Store.EventSpan(ctx, acct)
		if sp.Count != want {
			t.Errorf("%s holds %d events, want %d", acct, sp.Count, want)
		}
	}

	// the key list shows ids, never keys
	ans := call(t, "GET", e.url+"/v1/keys?limit=1000", AdminKey, nil)
	for _, k := range []string{e.keyA, e.keyB, e.revoked} {
		if bytes.Contains(ans.body, []byte(k[len(k)-20:])) {
			t.Fatalf("GET /v1/keys shows a key: %s", ans.body)
		}
	}
	var keys struct {
		Keys []lbhttp.KeyJSON `json:"keys"`
	}
	json.Unmarshal(ans.body, &keys)
	revoked := 0
	for _, k := range keys.Keys {
		if k.RevokedAt != "" {
			revoked++
		}
	}
	if len(keys.Keys) != 4 || revoked != 1 {
		t.Fatalf("keys: %+v, want 4 with 1 revoked", keys.Keys)
	}

	// revoked: the next request is refused
	id, _ := livebill.KeyID(e.keyB)
	b := lbhttp.NewClient(e.url)
	b.Key = e.keyB
	if err := b.Do(ctx, "GET", "/v1/accounts/acct-b", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Do(ctx, "DELETE", "/v1/keys/"+id, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(ctx, "GET", "/v1/accounts/acct-b", nil, nil); livebill.ErrorCode(err) != livebill.EUNAUTHORIZED || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("a revoked key: %v, want unauthorized (revoked)", err)
	}
	// a key for an account that does not exist
	if err := e.admin.Do(ctx, "POST", "/v1/keys", map[string]any{"account": "nobody"}, nil); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("key of a missing account: %v", err)
	}
}
