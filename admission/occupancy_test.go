package admission

import (
	"testing"
	"time"

	"github.com/livebill/livebill"
)

func ev(typ livebill.EventType, sec int, room, user string) *livebill.Event {
	return &livebill.Event{Type: typ, Time: t0.Add(time.Duration(sec) * time.Second).UnixMilli(), App: "app", Room: room, User: user, Stream: "main", Media: "video", Width: 640, Height: 360}
}

// Occupancy converges to what the latest events say, whatever order they
// arrive in (webhooks and batches arrive late): a leave older than the
// join it follows in arrival order changes nothing, a join older than a
// leave brings no ghost back.
func TestRoomsOutOfOrder(t *testing.T) {
	now := t0.Add(time.Hour).UnixMilli()
	rs := NewRooms()
	rs.Apply(ev(livebill.RoomLeave, 10, "r", "a")) // a's leave arrives first
	rs.Apply(ev(livebill.RoomJoin, 5, "r", "a"))
	if rs.Present("r", "a", now) || rs.Users("r", now) != 0 || rs.ActiveRooms(now) != 0 {
		t.Fatalf("a joined at 5 s and left at 10 s, but counts as present")
	}
	rs.Apply(ev(livebill.RoomJoin, 20, "r", "a")) // a rejoins
	rs.Apply(ev(livebill.RoomJoin, 1, "r", "b"))
	rs.Apply(ev(livebill.StreamStart, 21, "r", "a"))
	if rs.Users("r", now) != 2 || rs.Publishers("r", now) != 1 || rs.ActiveRooms(now) != 1 {
		t.Fatalf("users %d publishers %d active %d, want 2 1 1", rs.Users("r", now), rs.Publishers("r", now), rs.ActiveRooms(now))
	}
	rs.Apply(ev(livebill.StreamStop, 15, "r", "a")) // older than the start: ignored
	if rs.Publishers("r", now) != 1 {
		t.Fatal("a stop older than the start stopped the stream")
	}
	rs.Apply(ev(livebill.RoomLeave, 30, "r", "a")) // the leave stops a's stream
	if rs.Publishers("r", now) != 0 || rs.Users("r", now) != 1 {
		t.Fatalf("after a's leave: publishers %d users %d, want 0 1", rs.Publishers("r", now), rs.Users("r", now))
	}
	rs.Apply(ev(livebill.RoomLeave, 2, "r", "b"))
	if rs.ActiveRooms(now) != 0 || rs.Users("r", now) != 0 {
		t.Fatalf("everyone left: active %d users %d", rs.ActiveRooms(now), rs.Users("r", now))
	}
	// a's state is kept for Tombstone, so a late join older than its leave
	// stays ignored; then it is forgotten
	rs.Prune(t0.Add(40*time.Second).UnixMilli(), Tombstone)
	rs.Apply(ev(livebill.RoomJoin, 25, "r", "a"))
	if rs.Present("r", "a", now) {
		t.Fatal("a join older than the leave brought a back")
	}
	rs.Prune(t0.Add(Tombstone+time.Minute).UnixMilli(), Tombstone)
	if n, u := rs.Len(); n != 0 || u != 0 {
		t.Fatalf("after the tombstone: %d rooms %d users kept", n, u)
	}
}

// A reservation counts a user admitted before its join event arrives, so
// two joins racing for the last place cannot both pass; the event takes
// its place (counted once), and an unused reservation lapses.
func TestRoomsReservations(t *testing.T) {
	rs := roomWith(nil, "r", 2, 0)
	at := t0.UnixMilli()
	rs.ReserveJoin("r", "c", at+10_000)
	rs.ReserveJoin("new-room", "d", at+10_000)
	if rs.Users("r", at) != 3 || !rs.Present("r", "c", at) || rs.ActiveRooms(at) != 2 {
		t.Fatalf("with reservations: users %d active %d, want 3 2", rs.Users("r", at), rs.ActiveRooms(at))
	}
	rs.ReserveJoin("r", "u0", at+10_000) // already in: no reservation
	rs.Apply(&livebill.Event{Type: livebill.RoomJoin, Time: at + 500, App: "app", Room: "r", User: "c"})
	if rs.Users("r", at+1000) != 3 {
		t.Fatalf("c's join after its reservation: %d users, want 3 (counted once)", rs.Users("r", at+1000))
	}
	if rs.Users("r", at+10_000) != 3 || rs.ActiveRooms(at+10_000) != 1 || rs.Present("new-room", "d", at+10_000) {
		t.Fatalf("at the reservations' end: users %d active %d", rs.Users("r", at+10_000), rs.ActiveRooms(at+10_000))
	}
	rs.ReservePublish("r", "u1", at+5000)
	if rs.Publishers("r", at) != 1 || !rs.Publishing("r", "u1", at) {
		t.Fatal("a publish reservation is not counted")
	}
	if rs.Publishers("r", at+5000) != 0 {
		t.Fatal("a lapsed publish reservation is counted")
	}
	rs.PruneReservations(at + 10_000) // d's reservation (until +10 s) was the last
	if len(rs.reserving) != 0 {
		t.Fatalf("lapsed reservations kept: %d", len(rs.reserving))
	}
	// d, known only by its reservation, is forgotten with its room; the
	// users of r stay
	if rooms, users := rs.Len(); rooms != 1 || users != 3 {
		t.Fatalf("after the reservations lapsed: %d rooms, %d users; want r with u0, u1, c", rooms, users)
	}
}
