package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// testHoldsStore: the store's record of what holds settlement, directly.
func testHoldsStore(t *testing.T, open Opener) {
	ctx := context.Background()
	t0 := time.Date(2024, 10, 3, 2, 0, 0, 0, time.UTC)
	clock := NewClock(t0)
	s := open(t, clock)
	for _, id := range []string{"a1", "a2"} {
		if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: id, Catalog: "trtc", Created: "2024-09-01"}); err != nil {
			t.Fatal(err)
		}
	}
	quiet := 5 * time.Minute
	holds := func(want map[string]livebill.SettleHold) {
		t.Helper()
		got, err := s.FindSettleHolds(ctx, []string{"a1", "a2", "nobody"}, clock.Now().Add(-quiet))
		if err != nil {
			t.Fatal(err)
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Fatalf("at %s: holds %s, want %s", clock.Now().Format(time.TimeOnly), gj, wj)
		}
	}
	ev := func(id, day, imp string) livebill.IncomingEvent {
		return livebill.IncomingEvent{AccountID: "a1", Event: livebill.Event{ID: id, Time: 1, App: "x"}, Body: []byte(`{"id":"` + id + `"}`), Day: day, Import: imp}
	}
	store := func(evs ...livebill.IncomingEvent) error {
		_, err := s.StoreEvents(ctx, evs)
		return err
	}
	holds(map[string]livebill.SettleHold{})
	if err := store(ev("e1", "2024-10-02", ""), ev("e2", "2024-10-01", "")); err != nil {
		t.Fatal(err)
	}
	// the first day not quiet, and when it last got events
	holds(map[string]livebill.SettleHold{"a1": {Day: "2024-10-01", LastIngest: t0}})
	// ten minutes later a re-sent (duplicate) event is no activity; a new
	// one for the 3rd is
	clock.Set(t0.Add(10 * time.Minute))
	if err := store(ev("e2", "2024-10-01", "")); err != nil {
		t.Fatal(err)
	}
	holds(map[string]livebill.SettleHold{})
	if err := store(ev("e3", "2024-10-03", "")); err != nil {
		t.Fatal(err)
	}
	t10 := t0.Add(10 * time.Minute)
	holds(map[string]livebill.SettleHold{"a1": {Day: "2024-10-03", LastIngest: t10}})
	// a purchase holds its day; a refund at an instant the day before its
	// UTC date (the store does not know the zone: the earliest day)
	if _, err := s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a2", ID: "p1", Plan: "rtc-engine.lite", Start: "2024-10-05"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: "a2", Purchase: "p1", Time: "2024-10-04T01:00:00+08:00"}); err != nil {
		t.Fatal(err)
	}
	holds(map[string]livebill.SettleHold{"a1": {Day: "2024-10-03", LastIngest: t10}, "a2": {Day: "2024-10-02", LastIngest: t10}})

	// imports: a batch renews the expiry and holds its accounts
	if _, err := s.CreateImport(ctx, &livebill.CreateImportInput{ID: "imp1", Timeout: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateImport(ctx, &livebill.CreateImportInput{ID: "imp1", Timeout: 10 * time.Minute}); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("import id reused: %v", err)
	}
	clock.Set(t0.Add(20 * time.Minute))
	if err := store(ev("e4", "", "imp1"), ev("e1", "", "imp1")); err != nil { // a new event and a duplicate
		t.Fatal(err)
	}
	t20 := t0.Add(20 * time.Minute)
	holds(map[string]livebill.SettleHold{"a1": {Import: "imp1", ImportExpires: t20.Add(10 * time.Minute)}})
	if im, err := s.FindImport(ctx, "imp1"); err != nil || im.State != livebill.ImportOpen || im.Accounts != 1 || !im.ExpiresAt.Equal(t20.Add(10*time.Minute)) {
		t.Fatalf("import: %+v %v", im, err)
	}
	// a batch naming an unknown import is refused whole
	sp, _ := s.EventSpan(ctx, "a1")
	if err := store(ev("e5", "2024-10-03", "nope")); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("unknown import: %v", err)
	}
	if sp2, _ := s.EventSpan(ctx, "a1"); sp2.Count != sp.Count {
		t.Fatalf("events stored from a refused batch: %d, was %d", sp2.Count, sp.Count)
	}
	// finished: it holds nothing and refuses batches
	if im, err := s.FinishImport(ctx, "imp1"); err != nil || im.State != livebill.ImportFinished || !im.FinishedAt.Equal(t20) {
		t.Fatalf("finish: %+v %v", im, err)
	}
	if err := store(ev("e5", "", "imp1")); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("batch to a finished import: %v", err)
	}
	if _, err := s.FinishImport(ctx, "nope"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("finish unknown: %v", err)
	}
	holds(map[string]livebill.SettleHold{})
	// expired: it holds nothing once its timeout passed without a batch
	if _, err := s.CreateImport(ctx, &livebill.CreateImportInput{ID: "imp2", Account: "a1", Timeout: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := store(ev("e6", "", "imp2")); err != nil {
		t.Fatal(err)
	}
	clock.Set(t20.Add(10 * time.Minute))
	holds(map[string]livebill.SettleHold{})
	if im, err := s.FindImport(ctx, "imp2"); err != nil || im.State != livebill.ImportExpired || im.Account != "a1" {
		t.Fatalf("lapsed import: %+v %v", im, err)
	}
	// pruning forgets activity and ended imports before the cutoff
	clock.Set(t0.Add(time.Hour))
	if err := s.PruneHolds(ctx, t20.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	all, err := s.FindSettleHolds(ctx, []string{"a1", "a2"}, time.UnixMilli(0))
	if err != nil || len(all) != 0 {
		t.Fatalf("after pruning: %+v %v", all, err)
	}
	if _, err := s.FindImport(ctx, "imp1"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("pruned import: %v", err)
	}
	if _, err := s.FindImport(ctx, "imp2"); err != nil {
		t.Fatalf("an import expired after the cutoff is kept: %v", err)
	}
}
