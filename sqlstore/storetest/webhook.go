package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/webhook"
)

// testWebhookConfigs runs the per-app webhook configuration store (issue
// #8) and one signed TRTC callback through the backend: put, replace,
// find, list by vendor and key in app order (the first ones when
// limited), and a retry being a duplicate.
func testWebhookConfigs(t *testing.T, open Opener) {
	ctx := context.Background()
	now := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)
	clock := NewClock(now)
	store := open(t, clock)
	cs, ok := store.(webhook.ConfigStore)
	if !ok {
		t.Fatalf("%T keeps no webhook configurations", store)
	}
	svc := billing.New(store, clock)
	_, url, client := NewAPI(t, store, svc)
	must := func(method, path string, in any) {
		t.Helper()
		if err := client.Do(ctx, method, path, in, nil); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	must("POST", "/v1/accounts", map[string]any{"id": "wh", "catalog": "trtc", "created": "2024-10-01"})
	for _, a := range []string{"app-b", "app-a", "app-c"} {
		must("POST", "/v1/accounts/wh/apps", map[string]any{"id": a})
	}

	// unknown app: not found, nothing stored
	err := cs.PutWebhookConfig(ctx, &webhook.Config{App: "nope", Vendor: webhook.TRTC, Secret: "s"})
	if livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("put for an unknown app: %v, want ENOTFOUND", err)
	}
	if _, err := cs.FindWebhookConfig(ctx, "app-a"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("find before put: %v, want ENOTFOUND", err)
	}

	put := func(c webhook.Config) {
		t.Helper()
		c.Defaults()
		if err := cs.PutWebhookConfig(ctx, &c); err != nil {
			t.Fatalf("put %s: %v", c.App, err)
		}
	}
	put(webhook.Config{App: "app-b", Vendor: webhook.LiveKit, Key: "K1", Secret: "sb"})
	put(webhook.Config{App: "app-a", Vendor: webhook.LiveKit, Key: "K1", Secret: "sa", Main: webhook.Size{Width: 640, Height: 360}})
	put(webhook.Config{App: "app-c", Vendor: webhook.TRTC, Secret: "sc", RecordingFormats: []string{"mp4", "hls"}})

	c, err := cs.FindWebhookConfig(ctx, "app-a")
	if err != nil {
		t.Fatal(err)
	}
	// Defaults fill what was not given: subscribe all, screen 1920×1080,
	// mp4; the store stamps the clock's time.
	if c.Vendor != webhook.LiveKit || c.Key != "K1" || c.Secret != "sa" || c.Main != (webhook.Size{Width: 640, Height: 360}) ||
		c.Screen != (webhook.Size{Width: 1920, Height: 1080}) || c.Subscribe != livebill.SubscribeAll ||
		len(c.RecordingFormats) != 1 || c.RecordingFormats[0] != "mp4" || !c.UpdatedAt.Equal(now) {
		t.Fatalf("app-a round trip: %+v", c)
	}
	if c, err := cs.FindWebhookConfig(ctx, "app-c"); err != nil || len(c.RecordingFormats) != 2 || c.RecordingFormats[1] != "hls" {
		t.Fatalf("app-c round trip: %+v, %v", c, err)
	}

	apps := func(vendor, key string, limit int) []string {
		t.Helper()
		list, err := cs.ListWebhookConfigs(ctx, vendor, key, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.App)
		}
		return out
	}
	eq := func(got []string, want ...string) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := apps(webhook.LiveKit, "", 0); !eq(got, "app-a", "app-b") {
		t.Fatalf("livekit configs: %v, want [app-a app-b] (app order, not insertion order)", got)
	}
	if got := apps(webhook.LiveKit, "K1", 0); !eq(got, "app-a", "app-b") {
		t.Fatalf("livekit K1: %v", got)
	}
	if got := apps(webhook.LiveKit, "K2", 0); len(got) != 0 {
		t.Fatalf("livekit K2: %v, want none", got)
	}
	// a limit returns the first ones in app order (POST /v1/ingest/agora
	// asks for one more than it tries)
	if got := apps(webhook.LiveKit, "", 1); !eq(got, "app-a") {
		t.Fatalf("livekit configs, limit 1: %v, want [app-a]", got)
	}
	if got := apps(webhook.LiveKit, "K1", 3); !eq(got, "app-a", "app-b") {
		t.Fatalf("livekit K1, limit 3: %v, want [app-a app-b]", got)
	}

	// replacing moves app-b to another vendor and key
	clock.Set(now.Add(time.Hour))
	put(webhook.Config{App: "app-b", Vendor: webhook.Agora, Secret: "sb2"})
	if got := apps(webhook.LiveKit, "", 0); !eq(got, "app-a") {
		t.Fatalf("livekit after replace: %v, want [app-a]", got)
	}
	if got := apps(webhook.Agora, "", 0); !eq(got, "app-b") {
		t.Fatalf("agora after replace: %v, want [app-b]", got)
	}
	if c, err := cs.FindWebhookConfig(ctx, "app-b"); err != nil || c.Secret != "sb2" || c.Key != "" || !c.UpdatedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("app-b after replace: %+v, %v", c, err)
	}

	// A signed TRTC enter callback for app-c at the clock's time (the vendor's documented
	// 103 payload, SPEC §7.1 / issue #8) is stored once; Tencent's retry
	// is a duplicate; a wrong signature is refused and stores nothing.
	body := []byte(`{"EventGroupId":1,"EventType":103,"CallbackTs":1727787600100,"EventInfo":{"RoomId":12345,"EventTs":1727787600,"EventMsTs":1727787600000,"UserId":"test","Role":20,"Reason":1}}`)
	post := func(sign string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/v1/ingest/trtc/app-c", bytes.NewReader(body))
		req.Header.Set("Sign", sign)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	count := func() int64 {
		t.Helper()
		sp, err := store.EventSpan(ctx, "wh")
		if err != nil {
			t.Fatal(err)
		}
		return sp.Count
	}
	if code := post(base64.StdEncoding.EncodeToString(webhook.SignTRTC(body, "wrong"))); code != http.StatusUnauthorized || count() != 0 {
		t.Fatalf("wrong key: %d and %d events, want 401 and none", code, count())
	}
	good := base64.StdEncoding.EncodeToString(webhook.SignTRTC(body, "sc"))
	if code := post(good); code != http.StatusOK {
		t.Fatalf("signed callback: %d", code)
	}
	n := count()
	if n == 0 {
		t.Fatal("signed callback stored nothing")
	}
	if code := post(good); code != http.StatusOK || count() != n {
		t.Fatalf("retry: %d, %d events, want 200 and still %d", code, count(), n)
	}
}
