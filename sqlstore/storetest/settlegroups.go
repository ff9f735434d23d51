package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/scenario"
)

// testSettleGroups (issue #7, grouped settlement): SettleAll settles
// accounts in groups — their inputs read in batches, computed in
// parallel, their bills written in one transaction — and must issue
// exactly the bills and settlements that settling each account alone
// issues. Two stores get the same accounts: every scenario of the
// equivalence test (every catalog, account documents, zones, devices,
// purchases and refunds, apps renamed per account), an account in New
// York, one that receives a late event (an adjustment) and one whose
// catalog document is broken. One is settled by SettleAll in groups of
// three, the other account by account with Settle, twice: before and
// after the late event.
func testSettleGroups(t *testing.T, open Opener) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	t1 := time.Date(2024, 10, 3, 2, 0, 0, 0, sh)
	// the events arrive an hour before each settlement (their ingest is
	// quiet by then)
	grouped, alone := newEnv(t, open, t1.Add(-time.Hour)), newEnv(t, open, t1.Add(-time.Hour))
	grouped.svc.SettleGroup = 3
	grouped.anyTime()
	alone.anyTime()
	var ids []string
	for _, e := range []*env{grouped, alone} {
		ids = setupSettleGroups(t, e)
		e.clock.Set(t1)
	}
	const broken = "zz-broken"
	// The broken account is reported once, quarantined, and skipped by
	// the next settlements (its data does not change).
	compare := func(step string, reported bool) {
		t.Helper()
		err := grouped.svc.SettleAll(ctx)
		if reported {
			if err == nil || !strings.Contains(err.Error(), "account "+broken+" quarantined") {
				t.Fatalf("%s: SettleAll: %v, want the error of account %s", step, err, broken)
			}
			if n := strings.Count(err.Error(), "account "); n != 1 {
				t.Fatalf("%s: SettleAll reports %d accounts' errors, want 1: %v", step, n, err)
			}
		} else if err != nil {
			t.Fatalf("%s: SettleAll: %v, want no error (account %s is quarantined)", step, err, broken)
		}
		if q, err := grouped.store.FindQuarantine(ctx, broken); err != nil || q == nil || !strings.Contains(q.Error, "catalog mine") {
			t.Fatalf("%s: quarantine of %s: %+v %v", step, broken, q, err)
		}
		for _, id := range ids {
			_, err := alone.svc.Settle(ctx, id)
			if (err != nil) != (id == broken) {
				t.Fatalf("%s: Settle(%s): %v", step, id, err)
			}
		}
		for _, id := range ids {
			g, err := grouped.store.ListBills(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			a, err := alone.store.ListBills(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, bs := range [][]livebill.IssuedBill{g, a} {
				for i := range bs {
					bs[i].Seq = 0 // store-wide order
				}
			}
			gj, _ := json.MarshalIndent(g, "", " ")
			aj, _ := json.MarshalIndent(a, "", " ")
			if string(gj) != string(aj) {
				t.Fatalf("%s: account %s: SettleAll issued\n%s\nSettle alone issued\n%s", step, id, gj, aj)
			}
			gs, err := grouped.store.FindSettlement(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			as, err := alone.store.FindSettlement(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if *gs != *as {
				t.Fatalf("%s: account %s: settlement %+v after SettleAll, %+v alone", step, id, gs, as)
			}
		}
	}
	compare("first settlement", true)

	// a late session on the 2nd (already settled) for account "late",
	// and the next day's usage
	t2 := t1.Add(24 * time.Hour)
	for _, e := range []*env{grouped, alone} {
		e.clock.Set(t2.Add(-time.Hour))
		if r := e.push(t, lateEvt("L1j", "2024-10-02T20:00:00+08:00", "room.join", "L"), lateEvt("L1l", "2024-10-02T20:45:00+08:00", "room.leave", "L"),
			lateEvt("D3j", "2024-10-03T09:00:00+08:00", "room.join", "A"), lateEvt("D3l", "2024-10-03T09:20:00+08:00", "room.leave", "A")); r.Accepted != 4 {
			t.Fatalf("push: %+v", r)
		}
		e.clock.Set(t2)
	}
	compare("after a late event", false)
	checkSettleReads(t, grouped.store, ids)
	bills, err := grouped.store.ListBills(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	adjusted := false
	for _, b := range bills {
		adjusted = adjusted || (b.Kind == livebill.BillAdjustment && b.Adjusts == "daily|2024-10-02")
	}
	if !adjusted {
		t.Fatalf("the late event issued no adjustment of 2024-10-02: %+v", bills)
	}
	// grouping changes nothing once everything is settled
	if err := grouped.svc.SettleAll(ctx); err != nil {
		t.Fatalf("third SettleAll: %v", err)
	}
	again, _ := grouped.store.ListBills(ctx, "late")
	if len(again) != len(bills) {
		t.Fatalf("a settlement with nothing new issued %d bills", len(again)-len(bills))
	}
}

func lateEvt(id, tm, typ, user string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"late-app","room":"r1","user":%q}`, id, tm, typ, user)
}

// setupSettleGroups makes the accounts of testSettleGroups in e and pushes
// their events; it returns their ids.
func setupSettleGroups(t *testing.T, e *env) []string {
	ctx := context.Background()
	var ids []string
	var lines []string
	// the late-event account: list prices (so late minutes change a bill),
	// a purchase, usage on the 1st and 2nd
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "late", "catalog": "trtc", "mode": "calculator", "created": "2024-09-10", "timezone": "Asia/Shanghai"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/late/apps", map[string]any{"id": "late-app"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/late/purchases", map[string]any{"id": "p1", "app": "late-app", "plan": "rtc-engine.lite", "start": "2024-10-01"}, nil)
	lines = append(lines, lateEvt("a1j", "2024-10-01T10:00:00+08:00", "room.join", "A"), lateEvt("a1l", "2024-10-01T11:00:00+08:00", "room.leave", "A"),
		lateEvt("a2j", "2024-10-02T10:00:00+08:00", "room.join", "A"), lateEvt("a2l", "2024-10-02T10:40:00+08:00", "room.leave", "A"))
	ids = append(ids, "late")
	// New York, list prices; a session across its midnight
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "ny", "catalog": "trtc", "mode": "calculator", "created": "2024-09-01", "timezone": "America/New_York"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/ny/apps", map[string]any{"id": "ny-app"}, nil)
	lines = append(lines, fmt.Sprintf(`{"id":"n1","time":"2024-10-01T23:30:00-04:00","type":"room.join","app":"ny-app","room":"r","user":"A","subscribe":"all"}`),
		`{"id":"n2","time":"2024-10-01T23:30:00-04:00","type":"stream.start","app":"ny-app","room":"r","user":"A","stream":"main","media":"video","width":1280,"height":720}`,
		`{"id":"n3","time":"2024-10-01T23:35:00-04:00","type":"room.join","app":"ny-app","room":"r","user":"B","subscribe":"all"}`,
		`{"id":"n4","time":"2024-10-02T00:40:00-04:00","type":"room.leave","app":"ny-app","room":"r","user":"A"}`,
		`{"id":"n5","time":"2024-10-02T00:41:00-04:00","type":"room.leave","app":"ny-app","room":"r","user":"B"}`)
	ids = append(ids, "ny")
	// every scenario, as account sNN
	files, _ := filepath.Glob(filepath.Join(ScenarioDir(t), "*.yaml"))
	own, _ := filepath.Glob(filepath.Join(ModuleRoot(t), "testdata", "scenarios", "*.yaml"))
	for i, path := range append(files, own...) {
		id := fmt.Sprintf("s%02d", i)
		lines = append(lines, setupScenarioAccount(t, e, path, id, "", func(a string) string { return id + "-" + a })...)
		ids = append(ids, id)
	}
	// a broken catalog document (the API refuses one; the store keeps what
	// it is given), with an event so that it is due
	if _, err := e.store.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "zz-broken", Catalog: "mine", CatalogYAML: "extends: [trtc\n", Created: "2024-09-01"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "zz-broken", ID: "broken-app"}); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, `{"id":"b1","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"broken-app","room":"r","user":"A"}`)
	ids = append(ids, "zz-broken")
	if r := e.push(t, lines...); r.Accepted != len(lines) {
		t.Fatalf("pushed %d events: %+v", len(lines), r)
	}
	return ids
}

// setupScenarioAccount makes account id from the scenario at path through
// the API: account, devices, apps, purchases and refunds. It returns the
// scenario's events to push. opening, when not "", is the account's
// opening balance (else the scenario's, or EnoughMoney). rename, when not
// nil, renames the apps (app ids are global, so several scenarios in one
// store need their own).
func setupScenarioAccount(t *testing.T, e *env, path, id, opening string, rename func(string) string) []string {
	f, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	app := func(a string) string {
		if a == "" || rename == nil {
			return a
		}
		return rename(a)
	}
	acct := map[string]any{"id": id, "catalog": f.Catalog, "mode": f.Mode, "created": f.Period.From}
	if billing.CheckCatalog(f.Catalog) != nil {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), f.Catalog))
		if err != nil {
			t.Fatal(err)
		}
		acct["catalog"], acct["catalog_yaml"] = filepath.Base(f.Catalog), string(b)
	}
	// A scenario without a balance quotes no arrears: the account has
	// money enough.
	acct["balance"] = EnoughMoney
	if a := f.Account; a != nil {
		acct["created"], acct["activated"], acct["timezone"] = a.Created, a.Activated, a.Timezone
		if a.Balance != "" {
			acct["balance"] = a.Balance
		}
	}
	if opening != "" {
		acct["balance"] = opening
	}
	e.mustDo(t, "POST", "/v1/accounts", acct, nil)
	base := "/v1/accounts/" + id
	for _, d := range f.Devices {
		e.mustDo(t, "POST", base+"/devices", d, nil)
	}
	apps := map[string]bool{}
	for _, a := range f.Apps {
		apps[app(a)] = true
	}
	var lines []string
	for _, l := range scenarioEvents(t, f, path) {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		a := fmt.Sprint(m["app"])
		if rename != nil {
			a = rename(a)
			m["app"] = a
			b, _ := json.Marshal(m)
			l = string(b)
		}
		apps[a] = true
		lines = append(lines, l)
	}
	for _, p := range f.Plans {
		if p.App != "" {
			apps[app(p.App)] = true
		}
	}
	for a := range apps {
		e.mustDo(t, "POST", base+"/apps", map[string]any{"id": a}, nil)
	}
	for i, p := range f.Plans {
		pid := p.ID
		if pid == "" {
			pid = fmt.Sprintf("plan-%d", i+1)
		}
		e.mustDo(t, "POST", base+"/purchases", livebill.CreatePurchaseInput{ID: pid, App: app(p.App), Plan: p.Plan, Count: p.Count,
			Region: p.Region, Device: p.Device, Start: p.Start, AutoRenew: p.AutoRenew}, nil)
	}
	for _, r := range f.Refunds {
		e.mustDo(t, "POST", base+"/refunds", livebill.CreateRefundInput{Purchase: r.Plan, Count: r.Count, Time: r.Time}, nil)
	}
	return lines
}
