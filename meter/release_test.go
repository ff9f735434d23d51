package meter

import (
	"fmt"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// releaseMeter is a trtc meter and an event helper for room "r" of app
// "a", times in ms after 2024-10-01T00:00:00Z.
func releaseMeter(t *testing.T, catYAML string) (*Meter, func(ms int64, e livebill.Event)) {
	t.Helper()
	cat, err := catalog.Load("trtc")
	if catYAML != "" {
		cat, err = catalog.Parse([]byte(catYAML), "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1727740800000)
	return m, func(ms int64, e livebill.Event) {
		e.Time, e.App, e.Room = t0+ms, "a", "r"
		m.Apply(&e)
	}
}

func usageOf(m *Meter) map[string]int64 {
	out := map[string]int64{}
	for _, r := range m.Records() {
		out[r.Item] += r.Value
	}
	return out
}

// A room that lives long with people coming and going keeps the ids of
// who is in it and of who they subscribe to, not of everyone who was ever
// in it; and a manual subscription to a publisher who left outlives the
// sweeps: it receives the stream again when the publisher rejoins
// (docs/decisions.md, "Manual subscriptions").
func TestRoomForgetsWhoLeft(t *testing.T) {
	m, e := releaseMeter(t, "")
	const s = int64(1000)
	e(0, livebill.Event{Type: livebill.RoomJoin, User: "S"})
	e(0, livebill.Event{Type: livebill.RoomJoin, User: "P"})
	e(0, livebill.Event{Type: livebill.StreamStart, User: "P", Stream: "main", Media: "video", Width: 1280, Height: 720})
	e(0, livebill.Event{Type: livebill.SubscribeStart, User: "S", Publisher: "P", Stream: "main"})
	e(60*s, livebill.Event{Type: livebill.RoomLeave, User: "P"})
	// 1,000 users come and go, one second each, one after the other
	most := 0
	for i := range 1000 {
		u := fmt.Sprintf("u%d", i)
		at := 100*s + int64(i)*2*s
		e(at, livebill.Event{Type: livebill.RoomJoin, User: u})
		e(at+s, livebill.Event{Type: livebill.RoomLeave, User: u})
		most = max(most, m.rooms[roomKey{"a", "r"}].ids.len())
	}
	// S, P and those who left since the last sweep: a room sweeps when
	// its ids reach 8, or half again what the last sweep kept (S and P), so
	// never more than 8 here; far fewer than the 1,002 ids seen
	if most > 8 {
		t.Errorf("the room held up to %d ids with 2 or 3 people in it", most)
	}
	// P is back: S receives its main stream again without a new subscription
	const back = 3000 * s
	e(back, livebill.Event{Type: livebill.RoomJoin, User: "P"})
	e(back, livebill.Event{Type: livebill.StreamStart, User: "P", Stream: "main", Media: "video", Width: 1280, Height: 720})
	e(back+60*s, livebill.Event{Type: livebill.RoomLeave, User: "P"})
	e(back+60*s, livebill.Event{Type: livebill.RoomLeave, User: "S"})
	m.Close(back + 120*s)
	if errs := m.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	// S: HD (921,600 px) while P published, 60 s + 60 s; audio the rest
	// of its 3,060 s. P: audio 60 s + 60 s (no one to receive). The users:
	// audio 1 s each.
	want := map[string]int64{"trtc.av.hd": 120 * s, "trtc.av.audio": (3060-120)*s + 120*s + 1000*s}
	if got := usageOf(m); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("usage %v, want %v", got, want)
	}
}

// Advance lets go of empty rooms, but keeps a room whose session timed
// out without its end (the late leave is accepted and changes nothing,
// docs/decisions.md "Open sessions") until that end comes.
func TestAdvanceKeepsTimedOutRooms(t *testing.T) {
	m, e := releaseMeter(t, "extends: trtc\nsession_timeout: 10m\n")
	const min = int64(60_000)
	e(0, livebill.Event{Type: livebill.RoomJoin, User: "A"})
	e(0, livebill.Event{Type: livebill.RoomJoin, User: "B"})
	e(5*min, livebill.Event{Type: livebill.RoomLeave, User: "B"})
	const t0 = int64(1727740800000)
	m.Advance(t0 + 20*min) // A timed out at 10 min
	if m.rooms[roomKey{"a", "r"}] == nil {
		t.Fatal("the room of a timed-out session was let go before its late end")
	}
	e(30*min, livebill.Event{Type: livebill.RoomLeave, User: "A"}) // late: accepted
	m.Advance(t0 + 40*min)
	if m.rooms[roomKey{"a", "r"}] != nil {
		t.Fatal("an empty room is kept after the late end came")
	}
	e(50*min, livebill.Event{Type: livebill.RoomLeave, User: "A"}) // a leave without join
	m.Close(t0 + 60*min)
	if errs := m.Errors(); len(errs) != 1 {
		t.Fatalf("errors %v, want the second leave of A only", errs)
	}
	// A 10 min (to its timeout), B 5 min
	if got := usageOf(m)["trtc.av.audio"]; got != 15*min {
		t.Errorf("audio %d ms, want 15 min", got)
	}
}
