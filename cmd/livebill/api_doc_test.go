package main

import (
	"context"
	"testing"

	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/webhook"
)

const apiDoc = "../../docs/api.md"

// TestAPIDoc runs the commands of docs/api.md against a server that has
// the README's account 100001 (and another, so a page of one has a
// next), and checks the outputs shown: the 401 problem document, a page
// with its cursor, an Idempotency-Key replay, a batch with a rejected
// event, the vendor webhook configurations, a TRTC callback signed as
// Tencent signs (stored) and one that is not (401), a notification
// endpoint with its secret, and two admission decisions. Then it checks what the commands did: one
// top-up for the two POSTs of one key, and the three vendor
// configurations stored.
func TestAPIDoc(t *testing.T) {
	d := newDocRun(t, apiDoc)
	const key = "api-doc-operator-key-0123456789abcdef0123"
	p := startServe(t, livebillBinary(t), []string{"LIVEBILL_ADMIN_KEY=" + key}, "--db", d.dir+"/data")
	d.addr = p.url[len("http://"):]
	c := lbhttp.NewClient(p.url)
	c.Key = key
	ctx := context.Background()
	for _, id := range []string{"100001", "100002"} {
		if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "created": "2024-01-10"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Do(ctx, "POST", "/v1/accounts/100001/apps", map[string]any{"id": "1400000001"}, nil); err != nil {
		t.Fatal(err)
	}

	d.rewrite = []string{"lbk_…", key}
	steps := []string{"env", "unauthorized", "page", "idempotency", "events", "webhooks", "trtc-callback", "endpoint", "authorize"}
	outs := d.session(steps, nil)
	for _, l := range steps[1:] {
		d.matches(l+"-output", outs[l])
	}

	var topups struct {
		TopUps []struct{ ID string } `json:"topups"`
	}
	if err := c.Do(ctx, "GET", "/v1/accounts/100001/topups", nil, &topups); err != nil || len(topups.TopUps) != 1 {
		t.Errorf("top-ups after two POSTs with one Idempotency-Key: %+v %v", topups, err)
	}
	var cfg webhook.Config
	for _, app := range []string{"1400000001", "lk-prod", "ag-prod"} {
		if err := c.Do(ctx, "GET", "/v1/accounts/100001/apps/"+app+"/webhook", nil, &cfg); err != nil {
			t.Errorf("the webhook configuration of %s: %v", app, err)
		}
	}
	d.allUsed()
}
