package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// eventsStore opens a store with accounts a1 and a2, and gives events of
// theirs (app x) whose body holds their id.
func eventsStore(t *testing.T, open Opener) (livebill.Store, func(acct, id string, ms int64) livebill.IncomingEvent) {
	s := open(t, NewClock(time.Now()))
	for _, id := range []string{"a1", "a2"} {
		if _, err := s.CreateAccount(context.Background(), &livebill.CreateAccountInput{ID: id, Catalog: "trtc", Created: "2024-01-10"}); err != nil {
			t.Fatal(err)
		}
	}
	return s, func(acct, id string, ms int64) livebill.IncomingEvent {
		return livebill.IncomingEvent{AccountID: acct, Event: livebill.Event{ID: id, Time: ms, App: "x"}, Body: []byte(`{"id":"` + id + `"}`)}
	}
}

// testEventsPage: ListEventsPage, read on from the last event of each
// page, gives what ListEvents gives, in its order (time, then arrival),
// ties in time included, whatever the page size; within [from, to) and
// the account's events only.
func testEventsPage(t *testing.T, open Opener) {
	ctx := context.Background()
	s, ev := eventsStore(t, open)
	// three batches: five events at time 20 arrive in two of them, apart
	// (their seqs interleave with other times), a2's in between
	batches := [][]livebill.IncomingEvent{
		{ev("a1", "t20a", 20), ev("a1", "t40", 40), ev("a2", "o20", 20), ev("a1", "t20b", 20), ev("a1", "t5", 5)},
		{ev("a1", "t30", 30), ev("a1", "t20c", 20), ev("a2", "o21", 21), ev("a1", "t10", 10)},
		{ev("a1", "t20d", 20), ev("a1", "t50", 50), ev("a1", "t20e", 20), ev("a1", "t0", 0)},
	}
	for _, b := range batches {
		if _, err := s.StoreEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(evs []livebill.StoredEvent) string {
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return strings.Join(out, ",")
	}
	for _, w := range []struct {
		from, to int64
		want     string
	}{
		{0, 0, "t0,t5,t10,t20a,t20b,t20c,t20d,t20e,t30,t40,t50"},
		{10, 40, "t10,t20a,t20b,t20c,t20d,t20e,t30"},
		{20, 21, "t20a,t20b,t20c,t20d,t20e"},
		{60, 0, ""},
	} {
		if all, err := s.ListEvents(ctx, "a1", w.from, w.to); err != nil || ids(all) != w.want {
			t.Fatalf("ListEvents [%d, %d): %s (%v), want %s", w.from, w.to, ids(all), err, w.want)
		}
		for _, size := range []int{1, 2, 3, 5, 100} {
			var got []livebill.StoredEvent
			var after *livebill.StoredEvent
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("[%d, %d) in pages of %d: no end", w.from, w.to, size)
				}
				page, err := s.ListEventsPage(ctx, "a1", w.from, w.to, after, size)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > size {
					t.Fatalf("a page of %d events, limit %d", len(page), size)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = &page[len(page)-1]
			}
			if ids(got) != w.want {
				t.Fatalf("[%d, %d) in pages of %d: %s, want %s", w.from, w.to, size, ids(got), w.want)
			}
		}
	}
	if _, err := s.ListEventsPage(ctx, "a1", 0, 0, nil, 0); livebill.ErrorCode(err) != livebill.EINVALID {
		t.Fatalf("limit 0: %v, want EINVALID", err)
	}
}

// testEventsAfter: ListEventsAfter returns one account's events after a
// seq in seq (arrival) order, not time order, honours its limit and never
// returns another account's events or a re-sent duplicate twice;
// LastEventSeq is the last of them.
func testEventsAfter(t *testing.T, open Opener) {
	ctx := context.Background()
	s, ev := eventsStore(t, open)
	if _, err := s.StoreEvents(ctx, []livebill.IncomingEvent{ev("a1", "e1", 30), ev("a2", "o1", 1), ev("a1", "e2", 10), ev("a1", "e3", 20)}); err != nil {
		t.Fatal(err)
	}
	// e1 again is a duplicate: not stored a second time
	if _, err := s.StoreEvents(ctx, []livebill.IncomingEvent{ev("a1", "e4", 5), ev("a1", "e1", 30), ev("a2", "o2", 2)}); err != nil {
		t.Fatal(err)
	}
	ids := func(evs []livebill.StoredEvent) string {
		var out []string
		for i, e := range evs {
			if i > 0 && e.Seq <= evs[i-1].Seq {
				t.Errorf("seq %d after %d: not increasing", e.Seq, evs[i-1].Seq)
			}
			out = append(out, e.ID)
		}
		return strings.Join(out, ",")
	}
	all, err := s.ListEventsAfter(ctx, "a1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// arrival order, whatever the event times (30, 10, 20, 5)
	if got := ids(all); got != "e1,e2,e3,e4" {
		t.Fatalf("after 0: %s, want e1,e2,e3,e4", got)
	}
	if string(all[0].Body) != `{"id":"e1"}` || all[0].Time != 30 || all[0].App != "x" {
		t.Fatalf("first event %+v", all[0])
	}
	if got, _ := s.ListEventsAfter(ctx, "a1", all[1].Seq, 0); ids(got) != "e3,e4" {
		t.Fatalf("after e2's seq: %s, want e3,e4", ids(got))
	}
	if got, _ := s.ListEventsAfter(ctx, "a1", 0, 2); ids(got) != "e1,e2" {
		t.Fatalf("limit 2: %s, want e1,e2", ids(got))
	}
	// between e1 and e2 lies a2's o1, which must not take a place of the limit
	if got, _ := s.ListEventsAfter(ctx, "a1", all[0].Seq, 1); ids(got) != "e2" {
		t.Fatalf("after e1, limit 1: %s, want e2", ids(got))
	}
	if got, err := s.ListEventsAfter(ctx, "a1", all[3].Seq, 0); err != nil || len(got) != 0 {
		t.Fatalf("after the last seq: %v %v, want nothing", ids(got), err)
	}
	if got, _ := s.ListEventsAfter(ctx, "a2", 0, 0); ids(got) != "o1,o2" {
		t.Fatalf("a2: %s, want o1,o2", ids(got))
	}
	if got, err := s.ListEventsAfter(ctx, "nobody", 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("unknown account: %v %v", got, err)
	}
	// the last seq is e4's (a2's o2 came after it), whatever the times
	for acct, want := range map[string]int64{"a1": all[3].Seq, "nobody": 0} {
		if last, err := s.LastEventSeq(ctx, acct); err != nil || last != want {
			t.Fatalf("LastEventSeq(%s): %d %v, want %d", acct, last, err, want)
		}
	}
	if _, err := s.ListEventsAfter(ctx, "a1", 0, -1); livebill.ErrorCode(err) != livebill.EINVALID {
		t.Fatalf("negative limit: %v, want EINVALID", err)
	}
}

// testEventsAfterConcurrent: writers ingest into one account at once while
// a reader follows it with ListEventsAfter from the last seq it saw. Seq
// order must be commit order: the reader ends having seen every stored
// event exactly once, seqs always increasing. (On PostgreSQL, without the
// account lock taken before the inserts, a batch that drew lower seqs but
// committed later would be skipped.)
func testEventsAfterConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Now()))
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	const writers, batches, size = 4, 25, 40
	var wg sync.WaitGroup
	var done atomic.Bool
	werr := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				batch := make([]livebill.IncomingEvent, size)
				for i := range batch {
					id := fmt.Sprintf("w%d-b%d-e%d", w, b, i)
					batch[i] = livebill.IncomingEvent{AccountID: "a1", Event: livebill.Event{ID: id, Time: int64(i), App: "x"}, Body: []byte(`{"id":"` + id + `"}`)}
				}
				st, err := s.StoreEvents(ctx, batch)
				if err != nil {
					werr[w] = err
					return
				}
				for _, x := range st {
					if x.Status != livebill.IngestAccepted {
						werr[w] = fmt.Errorf("%s: %s %s", x.ID, x.Status, x.Error)
						return
					}
				}
			}
		}(w)
	}
	seen := map[string]int{}
	var last int64
	reads := 0
	read := func() {
		evs, err := s.ListEventsAfter(ctx, "a1", last, 0)
		if err != nil {
			t.Fatalf("read after %d: %v", last, err)
		}
		reads++
		for _, e := range evs {
			if e.Seq <= last {
				t.Fatalf("seq %d after %d", e.Seq, last)
			}
			last = e.Seq
			seen[e.ID]++
		}
	}
	go func() { wg.Wait(); done.Store(true) }()
	for !done.Load() {
		read()
	}
	read() // everything is committed now
	for w, err := range werr {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", id, n)
		}
	}
	if len(seen) != writers*batches*size {
		t.Fatalf("reader saw %d distinct events, want %d (every event stored, %d reads)", len(seen), writers*batches*size, reads)
	}
	t.Logf("%d events followed in %d reads", len(seen), reads)
}
