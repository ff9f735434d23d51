package billing

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

// batchCounter is a SQLite store that notes the accounts whose new events
// a settlement group read in one query (ListEventsAfterEach).
type batchCounter struct {
	*sqlstore.DB
	batched []string
}

func (b *batchCounter) ListEventsAfterEach(ctx context.Context, after map[string]int64) (map[string][]livebill.StoredEvent, error) {
	for id := range after {
		b.batched = append(b.batched, id)
	}
	return b.DB.ListEventsAfterEach(ctx, after)
}

// An account whose stored events exceed settleGroupEvents is settled in
// a group of its own, without the group's read of its new events (for
// an account never settled, every event it has, at once): its meter
// replays them a page at a time. Its bills are those the batched read
// gives. Here the 53 events of replayDay on 2024-10-01, settled on
// 2024-10-03, with a bound of 1,000,000 (batched) and of 20 (alone).
func TestSettleAloneReadsItsOwn(t *testing.T) {
	defer func(n int64, p int) { settleGroupEvents, replayPage = n, p }(settleGroupEvents, replayPage)
	replayPage = 5
	events, day := replayDay(t)
	ctx := context.Background()
	settle := func(bound int64) ([]livebill.IssuedBill, []string) {
		settleGroupEvents = bound
		// ingested a day before the settlement: its ingest is quiet
		clock := fixed(day.Add(48 * time.Hour))
		db, err := sqlite.Open(ctx, t.TempDir(), fixed(day.Add(24*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "x", Catalog: "trtc", Created: "2024-09-01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "x", ID: "1400000001", Name: "n"}); err != nil {
			t.Fatal(err)
		}
		store := &batchCounter{DB: db}
		s := New(store, clock)
		var raw []livebill.RawEvent
		for i, e := range events {
			raw = append(raw, livebill.RawEvent{Line: i + 1, Body: e.Body})
		}
		if r, err := s.Ingest(ctx, raw); err != nil || r.Accepted != len(events) {
			t.Fatalf("ingest: %+v %v", r, err)
		}
		if err := s.SettleAll(ctx); err != nil {
			t.Fatal(err)
		}
		bills, err := db.ListBills(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		return bills, store.batched
	}
	withBatch, batched := settle(1_000_000)
	alone, notBatched := settle(20)
	if len(batched) != 1 || len(notBatched) != 0 {
		t.Fatalf("accounts read in a batch: %v with the bound above its 53 events, %v with it below; want [x], none", batched, notBatched)
	}
	if len(withBatch) == 0 || withBatch[0].Total == "0" || withBatch[0].Total == "" {
		t.Fatalf("bills %+v: want the day's, not zero", withBatch)
	}
	if len(alone) != len(withBatch) {
		t.Fatalf("alone: %d bills, batched: %d", len(alone), len(withBatch))
	}
	for i := range alone {
		if alone[i].Key != withBatch[i].Key || !reflect.DeepEqual(alone[i].Lines, withBatch[i].Lines) || alone[i].Total != withBatch[i].Total {
			t.Fatalf("bill %d alone\n%+v\nbatched\n%+v", i, alone[i].Bill, withBatch[i].Bill)
		}
	}
}
