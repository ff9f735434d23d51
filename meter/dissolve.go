package meter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/livebill/livebill"
)

// Dissolution ends, at instant At (Unix ms), everything in the rooms of an
// app (App "": of every app): every user leaves, every task stops. A
// suspended account's rooms and a disabled app's are dissolved (SPEC §4;
// seed 003: "触发停服后，立即解散全部已有房间"), so a session open then is
// not billed again when the service comes back.
//
// A dissolution comes after the room's events before At and before those
// at At or later. Rooms take their events in time order, one room at a
// time, so each room applies its dissolutions lazily: when its first event
// at or after At arrives, or when the meter advances or closes past At.
type Dissolution struct {
	App string
	At  int64
}

// SetDissolutions sets the meter's dissolutions. A live meter may be
// given more as it goes, but none before an event it has applied: a
// room past a new dissolution's instant cannot undo what it metered
// (the caller rebuilds the meter instead), and that is an error.
func (m *Meter) SetDissolutions(ds []Dissolution) error {
	ds = slices.Clone(ds)
	SortDissolutions(ds)
	// What each room applied must stay the list's prefix, and nothing new
	// may come before what the meter has metered.
	for i := range ds {
		if i < len(m.diss) && m.diss[i] == ds[i] {
			continue
		}
		if ds[i].At < m.advanced {
			return fmt.Errorf("a dissolution at %s comes before what the meter has metered (up to %s)", fmtTime(ds[i].At), fmtTime(m.advanced))
		}
		break
	}
	for _, r := range m.rooms {
		if r.nextDiss > len(ds) || !slices.Equal(m.diss[:r.nextDiss], ds[:r.nextDiss]) {
			return fmt.Errorf("cannot change the dissolutions room %s already applied", r.id)
		}
		if r.nextDiss < len(ds) && ds[r.nextDiss].At < r.pendT {
			return fmt.Errorf("a dissolution at %s comes before events room %s already took (%s)", fmtTime(ds[r.nextDiss].At), r.id, fmtTime(r.pendT))
		}
	}
	m.diss = ds
	return nil
}

// SortDissolutions sorts dissolutions as a meter keeps them: by time,
// then app.
func SortDissolutions(ds []Dissolution) {
	slices.SortStableFunc(ds, func(a, b Dissolution) int {
		if a.At != b.At {
			if a.At < b.At {
				return -1
			}
			return 1
		}
		return strings.Compare(a.App, b.App)
	})
}

// Dissolutions returns the meter's dissolutions, in the order
// SetDissolutions sorts them (time, then app); the slice is the meter's:
// read only.
func (m *Meter) Dissolutions() []Dissolution { return m.diss }

// dissolveUpTo applies the room's dissolutions at or before instant t.
func (r *room) dissolveUpTo(t int64) {
	for r.nextDiss < len(r.m.diss) && r.m.diss[r.nextDiss].At <= t {
		d := r.m.diss[r.nextDiss]
		r.nextDiss++
		if d.App != "" && d.App != r.app.ID {
			continue
		}
		r.dissolve(d.At)
	}
}

// dissolve ends everyone's presence and every task in the room at t: the
// events held (all before t) are applied first, and the sessions that
// timed out before t are closed, then a leave for each user and a stop
// for each task, as if they had arrived.
func (r *room) dissolve(t int64) {
	r.flushPending()
	r.expire(t) // sessions that timed out before t end there first
	if t > r.pendT {
		r.pendT = t
	}
	present := slices.Clone(r.list)
	for _, p := range present {
		var h heldEvent
		switch p.kind {
		case kindUser:
			h.typ, h.who = livebill.RoomLeave, p.id.id
		default:
			h.who = strings.TrimPrefix(p.id.id, "robot:"+robotNames[p.kind]+":")
			switch p.kind {
			case kindRecording:
				h.typ = livebill.RecordingStop
			case kindTranscode:
				h.typ = livebill.TranscodeStop
			case kindRelay:
				h.typ = livebill.RelayStop
			default:
				h.typ = livebill.InputStop
			}
		}
		if p.id.p == nil { // gone already (an input's stop ends nothing else, but be sure)
			continue
		}
		if err := r.apply(&h, t); err != nil {
			r.m.fail(fmt.Errorf("dissolving room %s at %s: %w", r.id, fmtTime(t), err))
			continue
		}
		if r.gone == nil {
			r.gone = map[string]bool{}
		}
		r.gone[p.id.id] = true
	}
}

// dissolved reports whether an event is about a participant a dissolution
// removed and that has not come back: its own leave, the stop of its
// stream or task, arriving after the dissolution ended them. Such events
// are dropped, not rejected: the dissolution did what they say.
func (r *room) dissolved(h *heldEvent) bool {
	if len(r.gone) == 0 {
		return false
	}
	id := h.who
	if h.typ.IsTask() {
		id = "robot:" + robotNames[taskKind(h.typ)] + ":" + h.who
	}
	return r.gone[id]
}

// back clears a participant's dissolved mark when it joins or starts
// again.
func (r *room) back(id string) {
	if len(r.gone) > 0 {
		delete(r.gone, id)
	}
}
