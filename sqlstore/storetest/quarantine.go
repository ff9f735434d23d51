package storetest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// testQuarantine stores data the API refuses straight into the store —
// as an older version, or a bug, could have — in three accounts: a
// purchase of an unknown plan, a join dated 0024-10-01, a join dated
// 1970-01-01. SettleAll settles the other accounts, reports each bad one
// once and quarantines it (GET /v1/accounts/{id} shows it, GET
// /v1/quarantine lists them), without replaying the 0024 join over two
// thousand years; the next tick skips them silently. Once the unknown
// plan is cancelled its account is tried again, settles and is released.
func testQuarantine(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newEnv(t, open, time.Date(2024, 10, 2, 1, 0, 0, 0, sh)) // an hour before the settlement: quiet by then
	ctx := context.Background()
	for _, id := range []string{"good1", "badplan", "good2", "y0024", "y1970", "good3"} {
		e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "mode": "calculator", "created": "2024-01-10"}, nil)
		e.mustDo(t, "POST", "/v1/accounts/"+id+"/apps", map[string]any{"id": "app-" + id}, nil)
	}
	for _, id := range []string{"good1", "good2", "good3", "badplan"} {
		if r := e.push(t,
			fmt.Sprintf(`{"id":"j","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"app-%s","room":"r","user":"A"}`, id),
			fmt.Sprintf(`{"id":"l","time":"2024-10-01T10:20:00+08:00","type":"room.leave","app":"app-%s","room":"r","user":"A"}`, id)); r.Accepted != 2 {
			t.Fatalf("push %s: %+v", id, r)
		}
	}
	// the bad data, past the API's checks
	if _, err := e.store.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "badplan", ID: "p-nope", App: "app-badplan", Plan: "nope", Start: "2024-10-01"}); err != nil {
		t.Fatal(err)
	}
	join := func(acct, at string) livebill.IncomingEvent {
		tm, err := time.Parse(time.RFC3339, at)
		if err != nil {
			t.Fatal(err)
		}
		app := "app-" + acct
		body := fmt.Sprintf(`{"app":%q,"id":"j","room":"r","time":%q,"type":"room.join","user":"A"}`, app, at)
		return livebill.IncomingEvent{AccountID: acct, Event: livebill.Event{ID: "j", Type: livebill.RoomJoin, Time: tm.UnixMilli(), App: app, Room: "r", User: "A"}, Body: []byte(body)}
	}
	if _, err := e.store.StoreEvents(ctx, []livebill.IncomingEvent{join("y0024", "0024-10-01T00:00:00Z"), join("y1970", "1970-01-01T00:00:01Z")}); err != nil {
		t.Fatal(err)
	}

	e.clock.Set(time.Date(2024, 10, 2, 2, 0, 0, 0, sh)) // Oct 1 closed an hour ago
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := e.svc.SettleAll(ctx)
	runtime.ReadMemStats(&after)
	// replaying the 0024 join would credit every 5-minute window of two
	// thousand years (about 2·10^8 of them); the settlement of six small
	// accounts stays far below 256 MiB
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
		t.Errorf("SettleAll allocated %d MiB", got>>20)
	}
	if err == nil {
		t.Fatal("SettleAll reported no account")
	}
	for _, want := range []string{`account badplan quarantined`, `no plan "nope"`, `account y0024 quarantined`, `0024-10-01`, `account y1970 quarantined`, `1970-01-01`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("SettleAll: %v\ndoes not say %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "quarantined"); n != 3 {
		t.Errorf("SettleAll reported %d accounts, want 3: %v", n, err)
	}
	issued := func(id string) int {
		bs, err := e.store.ListBills(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return len(bs)
	}
	for _, id := range []string{"good1", "good2", "good3"} {
		if n := issued(id); n != 1 {
			t.Errorf("account %s: %d bills issued, want Oct 1's", id, n)
		}
	}
	var a struct {
		Quarantine *livebill.Quarantine `json:"quarantine"`
	}
	e.mustDo(t, "GET", "/v1/accounts/badplan", nil, &a)
	if a.Quarantine == nil || !strings.Contains(a.Quarantine.Error, `no plan "nope"`) {
		t.Fatalf("GET badplan: quarantine %+v", a.Quarantine)
	}
	var list struct{ Accounts []livebill.Quarantine }
	e.mustDo(t, "GET", "/v1/quarantine", nil, &list)
	if len(list.Accounts) != 3 || list.Accounts[0].AccountID != "badplan" || list.Accounts[1].AccountID != "y0024" || list.Accounts[2].AccountID != "y1970" {
		t.Fatalf("GET /v1/quarantine: %+v", list.Accounts)
	}
	// a quote of the 0024 account is refused, not replayed
	e.refused(t, "a quote of the 0024 account", 409, "GET", "/v1/accounts/y0024/quote?from=2024-10-01&to=2024-10-02", "", "0024-10-01")

	// the next tick skips them: nothing reported again
	e.clock.Set(time.Date(2024, 10, 3, 2, 0, 0, 0, sh))
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatalf("second SettleAll: %v", err)
	}
	// the operator cancels the purchase made in error: the account is
	// tried again, settles, and is released
	e.mustDo(t, "POST", "/v1/accounts/badplan/purchases/p-nope/cancel", nil, nil)
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatalf("SettleAll after the cancellation: %v", err)
	}
	if n := issued("badplan"); n != 1 {
		t.Errorf("badplan: %d bills issued after the cancellation, want Oct 1's", n)
	}
	if q, err := e.store.FindQuarantine(ctx, "badplan"); err != nil || q != nil {
		t.Errorf("badplan still quarantined: %+v %v", q, err)
	}
	e.mustDo(t, "GET", "/v1/quarantine", nil, &list)
	if len(list.Accounts) != 2 {
		t.Errorf("quarantined after the cancellation: %+v", list.Accounts)
	}
}
