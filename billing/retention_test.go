package billing

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/archive"
)

// pagedStore serves an account's events for retention and counts the
// pages it is asked for; the rest of livebill.Store is not there (a call
// to it panics).
type pagedStore struct {
	livebill.Store
	events []livebill.StoredEvent // in ListEvents' order: time, then seq
	cp     livebill.Checkpoint
	pages  []int // the limit of each ListEventsPage call
	whole  int   // ListEvents calls
	purged [3]int64
}

func (p *pagedStore) FindCheckpointMade(_ context.Context, _ string, made int64) (*livebill.Checkpoint, error) {
	return &p.cp, nil
}

func (p *pagedStore) EarliestAfter(context.Context, string, int64) (int64, bool, error) {
	return 0, false, nil
}

func (p *pagedStore) ListEvents(_ context.Context, _ string, from, to int64) ([]livebill.StoredEvent, error) {
	p.whole++
	var out []livebill.StoredEvent
	for _, e := range p.events {
		if e.Time >= from && e.Time < to {
			out = append(out, e)
		}
	}
	return out, nil
}

func (p *pagedStore) ListEventsPage(_ context.Context, _ string, from, to int64, after *livebill.StoredEvent, limit int) ([]livebill.StoredEvent, error) {
	p.pages = append(p.pages, limit)
	if to == 0 {
		to = math.MaxInt64
	}
	var out []livebill.StoredEvent
	for _, e := range p.events {
		past := after == nil || e.Time > after.Time || (e.Time == after.Time && e.Seq > after.Seq)
		if e.Time >= from && e.Time < to && past && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (p *pagedStore) PurgeEvents(_ context.Context, _ string, before, boundary, anchor int64) (int64, error) {
	p.purged = [3]int64{before, boundary, anchor}
	return 0, nil
}

// Retention archives a month a page of ArchivePage events at a time
// (never the month at once), and the archive holds every event of the
// month in order, ties in time included; an idle month takes one read.
func TestRetainArchivesByPage(t *testing.T) {
	june := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	store := &pagedStore{cp: livebill.Checkpoint{At: time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), Seq: 100}}
	var want []string
	for i := range 23 { // 23 events of June, three to an instant
		at := june.Add(time.Duration(i/3) * time.Hour).UnixMilli()
		body := fmt.Sprintf(`{"id":"e%d","n":%d}`, i, i)
		store.events = append(store.events, livebill.StoredEvent{Seq: int64(i + 1), ID: fmt.Sprintf("e%d", i), Time: at, App: "x", Body: []byte(body)})
		want = append(want, body)
	}
	dir := archive.Dir(t.TempDir())
	s := New(store, fixed(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	s.Retention, s.Archive, s.ArchivePage = 30*24*time.Hour, dir, 4
	rec := &livebill.AccountRecord{Account: livebill.Account{ID: "acct", Timezone: "UTC"}, Catalog: "trtc",
		Events: livebill.EventSpan{Count: 23, First: store.events[0].Time, Last: store.events[22].Time}}
	if err := s.retainAccount(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	// June: 23 events in pages of 4, the sixth (3) short and the last;
	// July: one empty page
	if store.whole != 0 || !slices.Equal(store.pages, []int{4, 4, 4, 4, 4, 4, 4}) {
		t.Fatalf("read the month whole %d times, in pages of %v; want pages of 4: 6 for June, 1 for July", store.whole, store.pages)
	}
	var got []string
	if err := archive.Read(dir.Path("acct", "2024-06"), func(l []byte) error { got = append(got, string(l)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("June's archive\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := archive.Read(dir.Path("acct", "2024-07"), func(l []byte) error { return fmt.Errorf("July holds %s", l) }); err != nil {
		t.Fatal(err)
	}
	if store.purged != [3]int64{store.cp.At, store.cp.At, 100} {
		t.Fatalf("purged %v, want before and boundary August 1st, anchor seq 100", store.purged)
	}
}

// fixed is a clock stopped at an instant.
type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }
