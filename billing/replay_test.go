package billing

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
)

// replayStore is pagedStore for an account with one checkpoint or none, with the reads a live meter makes: by seq, and the last
// seq, which answers lasts in turn (events committing while a meter is
// made again), then the greatest seq.
type replayStore struct {
	pagedStore
	lasts []int64
	check *livebill.Checkpoint // the account's one checkpoint, if any
}

func (p *replayStore) FindCheckpoint(_ context.Context, _ string, at int64, _ bool) (*livebill.Checkpoint, error) {
	if p.check == nil || p.check.At > at {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "no checkpoint")
	}
	return p.check, nil
}

func (p *replayStore) LastEventSeq(context.Context, string) (int64, error) {
	if len(p.lasts) > 0 {
		l := p.lasts[0]
		p.lasts = p.lasts[1:]
		return l, nil
	}
	var l int64
	for _, e := range p.events {
		l = max(l, e.Seq)
	}
	return l, nil
}

func (p *replayStore) EarliestAfter(_ context.Context, _ string, seq int64) (int64, bool, error) {
	t, any := int64(math.MaxInt64), false
	for _, e := range p.events {
		if e.Seq > seq {
			t, any = min(t, e.Time), true
		}
	}
	return t, any, nil
}

func (p *replayStore) ListEventsAfter(_ context.Context, _ string, after int64, limit int) ([]livebill.StoredEvent, error) {
	var out []livebill.StoredEvent
	for _, e := range p.events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y livebill.StoredEvent) int { return int(x.Seq - y.Seq) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// replayDay is a day of one room: six users join two by two (a pair
// per instant), publish 720p video, receive all, and leave, 48 events in
// time order, seq 1..48; then five events arrive last: three (seq
// 49..51) for early instants, a seventh user who joins at 00:30,
// publishes video from 00:40 and leaves at 01:00, and two (seq 52, 53)
// later, the seventh user back from 11:00 to 11:30.
func replayDay(t *testing.T) (events []livebill.StoredEvent, day time.Time) {
	day = time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	add := func(at time.Duration, typ, user, extra string) {
		id := fmt.Sprintf("e%d", len(events)+1)
		line := fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"1400000001","room":"r1","user":%q%s}`,
			id, day.Add(at).Format(time.RFC3339), typ, user, extra)
		events = append(events, livebill.StoredEvent{Seq: int64(len(events) + 1), ID: id, Time: day.Add(at).UnixMilli(), App: "1400000001", Body: []byte(line)})
	}
	video := `,"stream":"main","media":"video","width":1280,"height":720`
	for i := range 6 {
		u := fmt.Sprint("u", i)
		at := time.Duration(i/2) * 10 * time.Minute
		add(at, "room.join", u, `,"subscribe":"all"`)
		add(at+time.Minute, "stream.start", u, video)
	}
	for i := range 6 {
		u := fmt.Sprint("u", i)
		at := 2*time.Hour + time.Duration(i/2)*20*time.Minute
		add(at, "stream.stop", u, video)
		add(at+time.Minute, "room.leave", u, "")
	}
	for i := range 6 { // a second visit, without video
		u := fmt.Sprint("u", i)
		at := 5*time.Hour + time.Duration(i/2)*15*time.Minute
		add(at, "room.join", u, `,"subscribe":"all"`)
		add(at+time.Hour, "room.leave", u, "")
	}
	for i := range 6 { // a third, to have pages enough
		u := fmt.Sprint("u", i)
		at := 9*time.Hour + time.Duration(i/2)*5*time.Minute
		add(at, "room.join", u, `,"subscribe":"all"`)
		add(at+30*time.Minute, "room.leave", u, "")
	}
	add(30*time.Minute, "room.join", "u6", `,"subscribe":"all"`)
	add(40*time.Minute, "stream.start", "u6", video)
	add(time.Hour, "room.leave", "u6", "")
	add(11*time.Hour, "room.join", "u6", `,"subscribe":"all"`)
	add(11*time.Hour+30*time.Minute, "room.leave", "u6", "")
	return events, day
}

// sortedByTime is ListEvents' order: time, then seq.
func sortedByTime(evs []livebill.StoredEvent) []livebill.StoredEvent {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(x, y livebill.StoredEvent) int {
		if x.Time != y.Time {
			return int(x.Time - y.Time)
		}
		return int(x.Seq - y.Seq)
	})
	return out
}

// replayedRecords meters evs (in time order) as a replay of the whole
// history does, to instant to.
func replayedRecords(t *testing.T, a *account, evs []livebill.StoredEvent, to int64) []meter.Record {
	m, err := meter.New(a.cat, meter.Options{Location: a.loc})
	if err != nil {
		t.Fatal(err)
	}
	for _, se := range evs {
		var e livebill.Event
		if err := eventio.Parse(se.Body, &e); err != nil {
			t.Fatal(err)
		}
		m.Apply(&e)
	}
	m.Advance(to)
	return recordsBefore(m.Records(), to)
}

// A meter made again (here from the first event: the account was never
// settled) applies its events a page at a time as it reads them: it
// holds at most a page of them, not the account's history, and meters
// what a replay of every event gives.
func TestReplayHoldsAPage(t *testing.T) {
	defer func(n int) { replayPage = n }(replayPage)
	replayPage = 5
	all, day := replayDay(t)
	events := sortedByTime(all[:48]) // none late
	a := a0(t)
	store := &replayStore{pagedStore: pagedStore{events: events}}
	s := New(store, fixed(day.Add(24*time.Hour)))
	to := day.Add(12 * time.Hour).UnixMilli()

	// asked for 03:00, as a quote of a period ending then: the meter is
	// applied up to the service's cut all the same (day+24h less the
	// lateness), where live meters are kept
	lm, err := s.resume(context.Background(), a, nil, math.MaxInt64, day.Add(3*time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	// 48 events in pages of 5: 10 pages, the last with 3 (u3's leave at
	// 09:35, u4's and u5's at 09:40). After each full page the events
	// before its last instant are applied: the ninth ends with u2's leave
	// at 09:35, which waits with the last page's 3. 4 held, not 48.
	if len(lm.pending) != 4 || len(store.pages) != 10 {
		t.Fatalf("after the replay: %d events held, %d pages read; want 4 held, 10 pages", len(lm.pending), len(store.pages))
	}
	if lm.lastSeq != 48 {
		t.Fatalf("lastSeq %d, want 48", lm.lastSeq)
	}
	if err := lm.advance(to); err != nil {
		t.Fatal(err)
	}
	got, want := recordsBefore(lm.m.Records(), to), replayedRecords(t, a, events, to)
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed a page at a time\n%+v\nall at once\n%+v", got, want)
	}
}

// Events that commit while a meter is made again (seq after the last
// one when it began) are not taken by the replay, whatever their time:
// the read after it takes them once, and one for an instant the replay
// has applied makes the meter again. Of the last five (seq 49..53),
// three are for 00:30–01:00, before the replay's watermark, and two for
// 11:00–11:30, after it: the service meters all 53 as a replay of them
// in time order does, after one rebuild if the early three committed
// during the replay, else none.
func TestReplayLeavesLaterSeqsToRead(t *testing.T) {
	defer func(n int) { replayPage = n }(replayPage)
	replayPage = 5
	events, day := replayDay(t)
	to := day.Add(12 * time.Hour)
	want := replayedRecords(t, a0(t), sortedByTime(events), to.UnixMilli())
	if reflect.DeepEqual(want, replayedRecords(t, a0(t), events[:48], to.UnixMilli())) {
		t.Fatal("the five last events change nothing: the test proves nothing")
	}
	for _, c := range []struct {
		last     int64 // the last seq when the replay begins
		rebuilds int64
	}{{48, 1}, {51, 0}} {
		a := a0(t)
		store := &replayStore{pagedStore: pagedStore{events: sortedByTime(events)}, lasts: []int64{c.last}}
		s := New(store, fixed(day.Add(24*time.Hour)))
		lm, err := s.live(context.Background(), s.slot("x"), a, to)
		if err != nil {
			t.Fatal(err)
		}
		if s.Rebuilds != c.rebuilds || lm.lastSeq != 53 {
			t.Fatalf("after seq %d: %d rebuilds, last seq %d; want %d, 53", c.last, s.Rebuilds, lm.lastSeq, c.rebuilds)
		}
		if errs := lm.errorsOf(); len(errs) > 0 { // an event applied twice is one
			t.Fatalf("after seq %d: %v", c.last, errs)
		}
		if got := recordsBefore(lm.m.Records(), to.UnixMilli()); !reflect.DeepEqual(got, want) {
			t.Fatalf("after seq %d: live meter\n%+v\nreplay of all 53\n%+v", c.last, got, want)
		}
	}
}

// a0 is an account on the TRTC catalog, in UTC.
func a0(t *testing.T) *account {
	a, err := build(&livebill.AccountRecord{Account: livebill.Account{ID: "x"}, Catalog: "trtc"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A live meter that reads more than maxHeld new events at once (an
// import) does not hold them: it lets them go and reads them again a
// page at a time in time order, from its watermark when none is before
// it, else made again from before the earliest (as for a late event).
// Here a meter advanced to 00:00 (or 01:00) with nothing stored then
// reads the day's 53 events, from 00:00 (u0's and u1's joins), in
// batches of 4, at most 10 held: after three batches (12 held) it stops
// and holds none; caught up to 12:00 it meters all 53 as a replay does,
// without a rebuild from 00:00, with one from 01:00.
func TestReadOverflowReplays(t *testing.T) {
	defer func(p, b, h int) { replayPage, liveBatch, maxHeld = p, b, h }(replayPage, liveBatch, maxHeld)
	replayPage, liveBatch, maxHeld = 5, 4, 10
	events, day := replayDay(t)
	a := a0(t)
	to := day.Add(12 * time.Hour)
	want := replayedRecords(t, a, sortedByTime(events), to.UnixMilli())
	for _, c := range []struct {
		advanced     time.Duration // the meter's watermark, after 00:00
		late, reread bool
		rebuilds     int64
	}{{0, false, true, 0}, {time.Hour, true, false, 1}} {
		store := &replayStore{}
		s := New(store, fixed(day.Add(24*time.Hour)))
		sl := s.slot("x")
		ctx := context.Background()
		if _, err := s.live(ctx, sl, a, day.Add(c.advanced)); err != nil {
			t.Fatal(err)
		}
		store.events = sortedByTime(events)
		lm := sl.lm
		if err := lm.read(ctx, store, "x"); err != nil {
			t.Fatal(err)
		}
		if len(lm.pending) != 0 || lm.late != c.late || lm.reread != c.reread || (c.late && lm.dirty != day.UnixMilli()) || lm.lastSeq != 53 {
			t.Fatalf("advanced %v, after reading an import: %d held, late %v (from %d), reread %v, last seq %d; want 0, late %v (from %d), reread %v, 53",
				c.advanced, len(lm.pending), lm.late, lm.dirty, lm.reread, lm.lastSeq, c.late, day.UnixMilli(), c.reread)
		}
		lm, err := s.catchUp(ctx, sl, a, to)
		if err != nil {
			t.Fatal(err)
		}
		if errs := lm.errorsOf(); len(errs) > 0 || s.Rebuilds != c.rebuilds {
			t.Fatalf("advanced %v: %d rebuilds, errors %v; want %d, none", c.advanced, s.Rebuilds, errs, c.rebuilds)
		}
		if got := recordsBefore(lm.m.Records(), to.UnixMilli()); len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("advanced %v: live meter\n%+v\nreplay of all 53\n%+v", c.advanced, got, want)
		}
	}
}

// A checkpoint stored after the replay read the last seq (by another
// server) has seen the events up to its own seq: the replay takes those
// too. Here the checkpoint is at 00:00 with seq 53 (its meter empty: no
// event before midnight) and the last seq read before it is 10: the
// replay from it still meters all 53 events.
func TestReplayFromANewerCheckpoint(t *testing.T) {
	defer func(n int) { replayPage = n }(replayPage)
	replayPage = 5
	events, day := replayDay(t)
	a := a0(t)
	empty, err := newLiveMeter(a)
	if err != nil {
		t.Fatal(err)
	}
	data, err := empty.snapshot(day.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	store := &replayStore{pagedStore: pagedStore{events: sortedByTime(events)}, lasts: []int64{10},
		check: &livebill.Checkpoint{At: day.UnixMilli(), Seq: 53, Meter: data}}
	s := New(store, fixed(day.Add(24*time.Hour)))
	to := day.Add(12 * time.Hour)
	lm, err := s.live(context.Background(), s.slot("x"), a, to)
	if err != nil {
		t.Fatal(err)
	}
	want := replayedRecords(t, a, sortedByTime(events), to.UnixMilli())
	if got := recordsBefore(lm.m.Records(), to.UnixMilli()); len(want) == 0 || !reflect.DeepEqual(got, want) || lm.lastSeq != 53 {
		t.Fatalf("from a checkpoint of seq 53, last seq read 10: last seq %d, records\n%+v\nwant\n%+v", lm.lastSeq, got, want)
	}
}
