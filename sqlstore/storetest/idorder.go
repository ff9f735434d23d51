package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/webhook"
)

// testIDOrder: lists ordered by a text id come out in byte order on every
// backend, whatever a database's default collation. The ids mix case and
// punctuation: in bytes 'A' (0x41) < 'a' (0x61) and '-' (0x2d) < '_'
// (0x5f), so the order is A2, a-1, a_3, b; a linguistic collation (en_US)
// ignores case and punctuation first and gives a_3, a-1, A2, b instead.
func testIDOrder(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	ids := []string{"b", "a_3", "A2", "a-1"} // made in this order
	const want = "A2,a-1,a_3,b"
	for _, id := range ids {
		if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: id, Catalog: "industrial", Created: "2024-01-10"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "b", ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateDevice(ctx, &livebill.CreateDeviceInput{AccountID: "b", ID: id, Cameras: []livebill.Size{{Width: 1280, Height: 720}}}); err != nil {
			t.Fatal(err)
		}
	}
	as, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range as {
		got = append(got, a.ID)
	}
	if g := strings.Join(got, ","); g != want {
		t.Errorf("accounts in order %s, want %s", g, want)
	}
	apps, err := s.ListApps(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, a := range apps {
		got = append(got, a.ID)
	}
	if g := strings.Join(got, ","); g != want {
		t.Errorf("apps in order %s, want %s", g, want)
	}
	devs, err := s.ListDevices(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, d := range devs {
		got = append(got, d.ID)
	}
	if g := strings.Join(got, ","); g != want {
		t.Errorf("devices in order %s, want %s", g, want)
	}
	cs, ok := s.(webhook.ConfigStore)
	if !ok {
		return
	}
	for _, id := range ids {
		if err := cs.PutWebhookConfig(ctx, &webhook.Config{App: id, Vendor: "trtc"}); err != nil {
			t.Fatal(err)
		}
	}
	cfgs, err := cs.ListWebhookConfigs(ctx, "trtc", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, c := range cfgs {
		got = append(got, c.App)
	}
	if g := strings.Join(got, ","); g != want {
		t.Errorf("webhook configurations in order %s, want %s", g, want)
	}
}
