package meter

import (
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// TestAdvanceTrims: Advance releases what an idle room keeps for reuse
// (the held-event buffer; the participants that left, once the room is
// empty), so that the service's live meters, one per account, keep
// little between settlement ticks; and a room used again after a trim
// meters as before.
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
	e(60_000, livebill.RoomLeave, "A")
	e(60_000, livebill.RoomLeave, "B")
	m.Advance(t0 + 120_000)
	r := m.rooms[roomKey{"a", "r"}]
	if r == nil {
		t.Fatal("no room")
	}
	if r.pending != nil || r.free != nil || r.freeTasks != nil {
		t.Fatalf("an empty room keeps %d held events (cap %d), %d free participants", len(r.pending), cap(r.pending), len(r.free))
	}
	// the room again: C for 2 minutes; audio minutes so far 1 + 1 + 2 = 4
	e(180_000, livebill.RoomJoin, "C")
	e(300_000, livebill.RoomLeave, "C")
	m.Close(t0 + 600_000)
	if errs := m.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	var ms int64
	for _, rec := range m.Records() {
		ms += rec.Value
	}
	if ms != 4*60_000 {
		t.Fatalf("%d ms metered, want 4 minutes (A 1, B 1, C 2)", ms)
	}
}
