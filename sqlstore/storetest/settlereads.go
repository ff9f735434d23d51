package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/livebill/livebill"
)

// checkSettleReads checks the SettleStore batch reads against the
// one-account reads they replace, for ids (each listed twice, plus an
// unknown account): every account gets exactly its own rows, once, in
// the one-account read's order. (PostgreSQL reads each account through
// a LATERAL join, SQLite through IN; either could repeat or drop rows.)
func checkSettleReads(t *testing.T, store livebill.Store, ids []string) {
	t.Helper()
	ctx := context.Background()
	ss, ok := store.(livebill.SettleStore)
	if !ok {
		t.Fatalf("%T is not a SettleStore", store)
	}
	asked := append(append([]string{"nobody"}, ids...), ids...)
	same := func(what, id string, batch, alone any) {
		t.Helper()
		b, _ := json.Marshal(batch)
		a, _ := json.Marshal(alone)
		if string(b) != string(a) {
			t.Fatalf("%s of %s: batch read %s, alone %s", what, id, b, a)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accts, err := ss.FindAccounts(ctx, asked)
	must(err)
	sets, err := ss.FindSettlements(ctx, asked)
	must(err)
	ps, err := ss.ListPurchasesOf(ctx, asked)
	must(err)
	ds, err := ss.ListDevicesOf(ctx, asked)
	must(err)
	rs, err := ss.ListRefundsOf(ctx, asked)
	must(err)
	bs, err := ss.ListBillsOf(ctx, asked, nil)
	must(err)
	after := map[string]int64{"nobody": 0}
	for _, id := range ids {
		after[id] = 0
	}
	evs, err := ss.ListEventsAfterEach(ctx, after)
	must(err)
	if accts["nobody"] != nil || len(ps["nobody"])+len(ds["nobody"])+len(rs["nobody"])+len(bs["nobody"])+len(evs["nobody"]) != 0 {
		t.Fatalf("an unknown account has rows")
	}
	events := 0
	for _, id := range ids {
		a, err := store.FindAccount(ctx, id)
		must(err)
		same("account", id, accts[id], a)
		st, err := store.FindSettlement(ctx, id)
		must(err)
		same("settlement", id, sets[id], st)
		p, err := store.ListPurchases(ctx, id)
		must(err)
		same("purchases", id, ps[id], p)
		d, err := store.ListDevices(ctx, id)
		must(err)
		same("devices", id, ds[id], d)
		r, err := store.ListRefunds(ctx, id)
		must(err)
		same("refunds", id, rs[id], r)
		b, err := store.ListBills(ctx, id)
		must(err)
		same("bills", id, bs[id], b)
		sp, err := store.EventSpan(ctx, id)
		must(err)
		same("event span", id, accts[id].Events, sp)
		ev, err := store.ListEventsAfter(ctx, id, 0, 0)
		must(err)
		same("events", id, evs[id], ev)
		// the span kept by ingestion is the stored events'
		var want livebill.EventSpan
		for i, e := range ev {
			if i == 0 || e.Time < want.First {
				want.First = e.Time
			}
			if i == 0 || e.Time > want.Last {
				want.Last = e.Time
			}
			want.Count++
		}
		same("event span kept", id, sp, want)
		events += len(ev)
	}
	if events == 0 {
		t.Fatal("no events to compare")
	}
}
