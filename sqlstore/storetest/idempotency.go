package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
)

// testIdempotencyKeys walks the routes that create something: each sent
// twice with the same Idempotency-Key answers the same status and body
// the second time (marked Idempotent-Replayed) and creates one thing; the
// key with another body is 409 conflict; another principal's same key is
// a request of its own. A refund, which has no id of its own, is the
// case where the key is all that stops a second one. A new API key is
// replayed without its secret, which is stored nowhere.
func testIdempotencyKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(time.Date(2024, 10, 2, 0, 0, 0, 0, time.UTC))
	store := open(t, clock)
	server, url, admin := NewAPI(t, store, billing.New(store, clock))
	bodies := map[string]string{
		"POST /v1/accounts":                `{"id":"idem","catalog":"cloudgaming","created":"2024-10-01"}`,
		"POST /v1/accounts/{id}/apps":      `{"id":"idem-app"}`,
		"POST /v1/accounts/{id}/devices":   `{"id":"dev","cameras":[{"width":1280,"height":720}]}`,
		"POST /v1/accounts/{id}/purchases": `{"id":"p","plan":"cloudgaming.desktop.s1.standard","count":10,"region":"ap-shanghai","start":"2024-10-01"}`,
		"POST /v1/accounts/{id}/refunds":   `{"purchase":"p","count":1,"time":"2024-10-02"}`,
		"POST /v1/accounts/{id}/topups":    `{"id":"t","amount":"5"}`,
		"POST /v1/keys":                    `{"account":"idem","name":"k"}`,
		"POST /v1/webhook-endpoints":       `{"url":"http://127.0.0.1:9/hooks","account":"idem"}`,
		"POST /v1/imports":                 `{"name":"history"}`,
	}
	lists := map[string]string{
		"POST /v1/accounts/{id}/apps":      "/v1/accounts/idem/apps",
		"POST /v1/accounts/{id}/devices":   "/v1/accounts/idem/devices",
		"POST /v1/accounts/{id}/purchases": "/v1/accounts/idem/purchases",
		"POST /v1/accounts/{id}/refunds":   "/v1/accounts/idem/refunds",
		"POST /v1/accounts/{id}/topups":    "/v1/accounts/idem/topups",
		"POST /v1/keys":                    "/v1/keys",
		"POST /v1/webhook-endpoints":       "/v1/webhook-endpoints",
	}
	count := func(list string) int {
		t.Helper()
		var page map[string]json.RawMessage
		if err := admin.Do(ctx, "GET", list, nil, &page); err != nil {
			t.Fatal(err)
		}
		for k, v := range page {
			if k != "next" {
				var items []any
				json.Unmarshal(v, &items)
				return len(items)
			}
		}
		return -1
	}
	n := 0
	keyOf := map[string]string{}
	// the table lists accounts first, then the account's own things in an
	// order that makes each one's prerequisites first
	for _, rt := range server.Routes() {
		if !rt.Creates {
			continue
		}
		name := rt.Method + " " + rt.Path
		body, ok := bodies[name]
		if !ok {
			t.Errorf("%s creates: give the test a body for it", name)
			continue
		}
		n++
		path := url + strings.ReplaceAll(rt.Path, "{id}", "idem")
		key := "key-" + fmt.Sprint(n)
		keyOf[name] = key
		first := call(t, "POST", path, AdminKey, []byte(body), "Idempotency-Key", key)
		if first.status >= 300 {
			t.Fatalf("%s: %d %s", name, first.status, first.body)
		}
		again := call(t, "POST", path, AdminKey, []byte(body), "Idempotency-Key", key)
		if again.header.Get("Idempotent-Replayed") != "true" || again.status != first.status {
			t.Errorf("%s again: %d (replayed %q), want the first answer %d replayed", name, again.status, again.header.Get("Idempotent-Replayed"), first.status)
		}
		if name == "POST /v1/keys" {
			var k1, k2 lbhttp.KeyJSON
			json.Unmarshal(first.body, &k1)
			json.Unmarshal(again.body, &k2)
			if k1.Key == "" || k2.Key != "" || k2.ID != k1.ID {
				t.Errorf("key replay: first %+v, again %+v; want the same key, its secret only the first time", k1, k2)
			}
		} else if name == "POST /v1/webhook-endpoints" {
			var e1, e2 livebill.Endpoint
			json.Unmarshal(first.body, &e1)
			json.Unmarshal(again.body, &e2)
			if e1.Secret == "" || e2.Secret != "" || e2.ID != e1.ID {
				t.Errorf("endpoint replay: first %+v, again %+v; want the same endpoint, its secret only the first time", e1, e2)
			}
		} else if string(again.body) != string(first.body) {
			t.Errorf("%s again: body\n%s\nwant\n%s", name, again.body, first.body)
		}
		if list, ok := lists[name]; ok {
			if got := count(list); got != 1 {
				t.Errorf("%s twice with one key: %d in %s, want 1", name, got, list)
			}
		}
		other := call(t, "POST", path, AdminKey, []byte(strings.Replace(body, `"`, `"x`, 2)), "Idempotency-Key", key)
		if other.status != 409 || other.problem.Code != livebill.ECONFLICT || !strings.Contains(other.problem.Detail, "Idempotency-Key") {
			t.Errorf("%s with the key and another body: %d %s, want 409 conflict", name, other.status, other.body)
		}
	}
	if n != len(bodies) {
		t.Errorf("%d creating routes tried, the test knows %d", n, len(bodies))
	}

	// a refund sent twice without a key is two refunds
	for i := 0; i < 2; i++ {
		if a := call(t, "POST", url+"/v1/accounts/idem/refunds", AdminKey, []byte(bodies["POST /v1/accounts/{id}/refunds"])); a.status != 201 {
			t.Fatalf("refund: %d %s", a.status, a.body)
		}
	}
	if got := count("/v1/accounts/idem/refunds"); got != 3 {
		t.Errorf("refunds: %d, want 3 (one under the key, two without)", got)
	}

	// another principal's key of the same name is its own request: run, not replayed
	var k lbhttp.KeyJSON
	if err := admin.Do(ctx, "POST", "/v1/keys", map[string]any{"name": "second operator"}, &k); err != nil {
		t.Fatal(err)
	}
	a := call(t, "POST", url+"/v1/accounts/idem/topups", k.Key, []byte(`{"id":"t2","amount":"7"}`), "Idempotency-Key", keyOf["POST /v1/accounts/{id}/topups"])
	if a.status != 201 || a.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another principal's key of the same name: %d replayed %q %s", a.status, a.header.Get("Idempotent-Replayed"), a.body)
	}
	// errors are answers too: replayed while the key lives
	bad := call(t, "POST", url+"/v1/accounts/idem/apps", AdminKey, []byte(`{"id":""}`), "Idempotency-Key", "bad")
	badAgain := call(t, "POST", url+"/v1/accounts/idem/apps", AdminKey, []byte(`{"id":""}`), "Idempotency-Key", "bad")
	if bad.status != 400 || badAgain.status != 400 || badAgain.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a 400 under a key: %d, then %d replayed %q", bad.status, badAgain.status, badAgain.header.Get("Idempotent-Replayed"))
	}
	// a day later the key is free again
	clock.Set(clock.Now().Add(livebill.IdempotencyTTL + time.Minute))
	late := call(t, "POST", url+"/v1/accounts/idem/refunds", AdminKey, []byte(bodies["POST /v1/accounts/{id}/refunds"]), "Idempotency-Key", keyOf["POST /v1/accounts/{id}/refunds"])
	if late.status != 201 || late.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after the key expired: %d replayed %q", late.status, late.header.Get("Idempotent-Replayed"))
	}
	if bad := call(t, "POST", url+"/v1/accounts", AdminKey, []byte(bodies["POST /v1/accounts"]), "Idempotency-Key", strings.Repeat("k", 256)); bad.status != 400 {
		t.Errorf("a 256-byte key: %d", bad.status)
	}
}
