package meter_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
	"pgregory.net/rapid"
)

// A stream's rooms split among several meters (ShardOf), each closed at
// the same instant and absorbed into the first, report what one meter fed
// the whole stream reports: the same usage, relays, MAU, notices and
// errors (those of the lowest lines, in line order). The stream is several generated room streams with
// rooms of their own, merged in time order, with logins, screenshots and
// leaves of users who never joined (errors) among them; every meter is
// advanced at the same instants, as a quote's feed does.
func TestPropShardsAbsorb(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cat := trtc(t)
		var es []livebill.Event
		closeAt := int64(0)
		for k := range rapid.IntRange(1, 4).Draw(t, "streams") {
			part, end := genMixed(t)
			for i := range part {
				part[i].Room += "." + string(rune('a'+k))
			}
			es = append(es, part...)
			closeAt = max(closeAt, end)
		}
		slices.SortStableFunc(es, func(a, b livebill.Event) int { return int(a.Time - b.Time) })
		es = withPoints(t, cat, es)
		for i := range es {
			if rapid.IntRange(0, 15).Draw(t, "ghost?") == 0 {
				ghost := livebill.Event{Type: livebill.RoomLeave, Time: es[i].Time, App: es[i].App, Room: es[i].Room, User: "ghost"}
				if ghost.Room == "" {
					ghost.Room = "r1.a"
				}
				es = slices.Insert(es, i, ghost)
			}
		}
		for i := range es {
			es[i].Line = i + 1
		}
		advance := map[int]bool{}
		for i := range es {
			advance[i] = i > 0 && es[i].Time > es[i-1].Time && rapid.IntRange(0, 9).Draw(t, "advance?") == 0
		}

		// at most 1,000 errors, or as few as 1 or 3: the lowest lines kept
		opt := meter.Options{MaxErrors: rapid.SampledFrom([]int{1000, 1, 3}).Draw(t, "maxErrors")}
		one, err := meter.New(cat, opt)
		if err != nil {
			t.Fatal(err)
		}
		n := rapid.IntRange(2, 4).Draw(t, "meters")
		meters := []*meter.Meter{one.Sibling()}
		for len(meters) < n {
			meters = append(meters, meters[0].Sibling())
		}
		for i := range es {
			if advance[i] {
				one.Advance(es[i].Time)
				for _, m := range meters {
					m.Advance(es[i].Time)
				}
			}
			e := es[i]
			one.Apply(&e)
			e = es[i]
			meters[meter.ShardOf(&e, n)].Apply(&e)
		}
		for _, m := range meters[1:] {
			m.Close(closeAt)
			meters[0].Absorb(m)
		}
		meters[0].Close(closeAt)
		one.Close(closeAt)

		want, got := shardSnap(one), shardSnap(meters[0])
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d meters absorbed differ from one:\n got %+v\nwant %+v", n, got, want)
		}
	})
}

// ShardOf sends a room's events to one meter, and what is not a room's to
// the first.
func TestShardOf(t *testing.T) {
	seen := map[int]bool{}
	for _, room := range []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"} {
		join := livebill.Event{Type: livebill.RoomJoin, App: app1, Room: room, User: "u"}
		stop := livebill.Event{Type: livebill.RecordingStop, App: app1, Room: room, Task: "t"}
		k := meter.ShardOf(&join, 3)
		if k < 0 || k >= 3 || meter.ShardOf(&stop, 3) != k {
			t.Fatalf("room %s: join to meter %d, recording stop to %d", room, k, meter.ShardOf(&stop, 3))
		}
		seen[k] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 rooms all went to one of 3 meters: %v", seen)
	}
	for _, e := range []livebill.Event{
		{Type: livebill.Login, App: app1, User: "u"},
		{Type: livebill.Screenshot, App: app1, Count: 1},
		{Type: livebill.SessionStart, App: app1, Session: "s"},
	} {
		if k := meter.ShardOf(&e, 3); k != 0 {
			t.Errorf("%s went to meter %d, not 0", e.Type, k)
		}
	}
}

type shardSnapshot struct {
	Records []meter.Record
	Relays  []meter.RelayInterval
	MAU     map[string]map[string]int
	Notices []livebill.Notice
	Errors  []string
}

func shardSnap(m *meter.Meter) shardSnapshot {
	var msgs []string
	for _, err := range m.Errors() {
		msgs = append(msgs, err.Error())
	}
	return shardSnapshot{m.Records(), sortedRelays(m.Relays()), m.MAU(), m.Notices(), msgs}
}

// Absorbing keeps the sessions each meter closed at the timeout: the
// notices name both rooms' users, as one meter fed both rooms does.
func TestAbsorbTimedOutSessions(t *testing.T) {
	cat := trtc(t)
	closeAt := at("10:00") + cat.SessionTimeoutDuration().Milliseconds() + 3_600_000 // an hour past u's and v's timeouts
	x := inRoom("x", join(at("10:00"), "u", "all"))
	y := inRoom("y", join(at("10:00"), "v", "all"))
	one := applyAll(t, closeAt, append(slices.Clone(x), y...)...).m
	a, b := applyAll(t, closeAt, x...).m, applyAll(t, closeAt, y...).m
	a.Absorb(b)
	if got, want := a.Notices(), one.Notices(); !reflect.DeepEqual(got, want) {
		t.Fatalf("notices:\n got %+v\nwant %+v", got, want)
	}
	if n := len(one.Notices()); n != 2 {
		t.Fatalf("one meter: %d notices, want u's and v's timeouts: %+v", n, one.Notices())
	}
}

// Absorbed errors come in the order of their events' lines, the first
// MaxErrors of them: meter a failed lines 1 and 5, meter b lines 2 and 3;
// with MaxErrors 3 the absorbed meter keeps lines 1, 2, 3.
func TestAbsorbErrorsInLineOrder(t *testing.T) {
	ghost := func(line int, room string, clock string) livebill.Event {
		e := inRoom(room, leave(at(clock), "ghost"))[0]
		e.Line = line
		return e
	}
	opt := meter.Options{MaxErrors: 3}
	a := applyWith(t, opt, at("12:00"), ghost(1, "x", "10:00"), ghost(5, "x", "10:04")).m
	b := applyWith(t, opt, at("12:00"), ghost(2, "y", "10:01"), ghost(3, "y", "10:02")).m
	if len(a.Errors()) != 2 || len(b.Errors()) != 2 {
		t.Fatalf("a ghost's leave is an error: a has %v, b %v", a.Errors(), b.Errors())
	}
	a.Absorb(b)
	var lines []int
	for _, err := range a.Errors() {
		var ee *livebill.EventError
		if !errors.As(err, &ee) {
			t.Fatalf("%v names no event", err)
		}
		lines = append(lines, ee.Line)
	}
	if want := []int{1, 2, 3}; !slices.Equal(lines, want) {
		t.Fatalf("absorbed errors' lines %v, want %v", lines, want)
	}
}
