package meter

import (
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// TestAdvanceTrims: Advance releases what an idle room keeps for reuse
// (the held-event buffer; the participants that left, once the room is
// empty) and lets an empty room go, so that the service's live meters,
// one per account, keep little between settlement ticks; and a room used
// again after that meters as before.
func TestAdvanceTrims(t *testing.T) {
	cat, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1727740800000) // 2024-10-01T00:00:00Z
	e := func(ms int64, typ livebill.EventType, user string) {
		m.Apply(&livebill.Event{Type: typ, Time: t0 + ms, App: "a", Room: "r", User: user, Subscribe: "all"})
	}
	e(0, livebill.RoomJoin, "A")
	e(0, livebill.RoomJoin, "B")
	e(60_000, livebill.RoomJoin, "D")
	e(60_000, livebill.RoomLeave, "A")
	m.Advance(t0 + 90_000)
	r := m.rooms[roomKey{"a", "r"}]
	if r == nil {
		t.Fatal("the room was let go with B and D in it")
	}
	if r.pending != nil {
		t.Fatalf("an idle room keeps %d held events (cap %d)", len(r.pending), cap(r.pending))
	}
	e(100_000, livebill.RoomLeave, "B")
	e(110_000, livebill.RoomLeave, "D")
	m.Advance(t0 + 110_000) // D's leave is held: the room stays
	if m.rooms[roomKey{"a", "r"}] == nil {
		t.Fatal("the room was let go while it held D's leave")
	}
	m.Advance(t0 + 120_000)
	if r := m.rooms[roomKey{"a", "r"}]; r != nil {
		t.Fatalf("an empty room is kept: %d held events, %d free participants", len(r.pending), len(r.free))
	}
	// the room again: C for 2 minutes, and A, who left it before; audio
	// so far A 1 min, B 100 s, D 50 s; then C 2 min, A 1 min:
	// 60 + 100 + 50 + 120 + 60 s = 390 s
	e(180_000, livebill.RoomJoin, "C")
	e(180_000, livebill.RoomJoin, "A")
	e(240_000, livebill.RoomLeave, "A")
	e(300_000, livebill.RoomLeave, "C")
	m.Close(t0 + 600_000)
	if errs := m.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	var ms int64
	for _, rec := range m.Records() {
		ms += rec.Value
	}
	if ms != 390_000 {
		t.Fatalf("%d ms metered, want 390 s (A 1 + 1 min, B 100 s, D 50 s, C 2 min)", ms)
	}
}
