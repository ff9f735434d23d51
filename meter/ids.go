package meter

import (
	"hash/maphash"
	"iter"
)

// idTable holds a room's interned ids (see ident). A room holds the ids of
// who is in it and of who was lately (sweep), a few dozen at most in
// nearly every room, so the table is a slice searched in order: at that
// size it is faster than a map, and ten thousand rooms' tables stay a
// fraction of a map's size, which is what keeps a busy meter in the CPU's
// caches. Past maxListedIDs the slice becomes a map, and a sweep that
// shrinks it to half that makes it a slice again.
type idTable struct {
	list []idEntry      // while the room has at most maxListedIDs ids
	byID map[string]uid // otherwise (list is then nil)
}

// idEntry is an id in the list, known by its hash: a search compares the
// hashes, 4 to a cache line, and reads an id itself (in its ident) only
// when its hash matches. Comparing the ids' bytes instead read a line for
// every id of the same length (in a meter of thousands of rooms, none of
// them in the cache): the ids of a room's users (u0007, u0012) mostly
// are.
type idEntry struct {
	hash uint64
	u    uid
}

// idSeed seeds the hashes of ids; they are compared, never stored.
var idSeed = maphash.MakeSeed()

func idHash(id string) uint64 { return maphash.String(idSeed, id) }

// maxListedIDs is the most ids a room keeps in its slice.
const maxListedIDs = 48

// get returns the ident of id, if the room has it.
func (t *idTable) get(id string) (uid, bool) {
	if t.byID != nil {
		u, ok := t.byID[id]
		return u, ok
	}
	if i := t.find(id); i >= 0 {
		return t.list[i].u, true
	}
	return nil, false
}

// intern is get that also makes id the ident's string: the decoder interns
// ids, but a busy file can make it intern one anew, and comparing the
// ident's string with the events' is then a comparison of addresses
// again, not of bytes. id must not change later (a scratch buffer's bytes
// may not be passed).
func (t *idTable) intern(id string) (uid, bool) {
	u, ok := t.get(id)
	if ok {
		u.id = id
	}
	return u, ok
}

// find returns the index of id in the list, or -1.
func (t *idTable) find(id string) int {
	h := idHash(id)
	for i := range t.list {
		if e := &t.list[i]; e.hash == h && e.u.id == id {
			return i
		}
	}
	return -1
}

// add stores an id the room does not have, and its ident (whose id it is).
func (t *idTable) add(id string, u uid) {
	if t.byID != nil {
		t.byID[id] = u
		return
	}
	if len(t.list) < maxListedIDs {
		t.list = append(t.list, idEntry{idHash(id), u})
		return
	}
	t.byID = make(map[string]uid, 2*maxListedIDs)
	for _, e := range t.list {
		t.byID[e.u.id] = e.u
	}
	t.byID[id] = u
	t.list = nil
}

// keep forgets the ids for which keep is false.
func (t *idTable) keep(keep func(uid) bool) {
	if t.byID == nil {
		n := 0
		for _, e := range t.list {
			if keep(e.u) {
				t.list[n] = e
				n++
			}
		}
		clear(t.list[n:]) // let go of the forgotten idents
		t.list = t.list[:n]
		return
	}
	for id, u := range t.byID {
		if !keep(u) {
			delete(t.byID, id)
		}
	}
	if len(t.byID) <= maxListedIDs/2 {
		t.list = make([]idEntry, 0, maxListedIDs)
		for id, u := range t.byID {
			t.list = append(t.list, idEntry{idHash(id), u})
		}
		t.byID = nil
	}
}

// len returns how many ids the room has.
func (t *idTable) len() int {
	if t.byID != nil {
		return len(t.byID)
	}
	return len(t.list)
}

// all yields the room's ids and their idents, in no particular order.
func (t *idTable) all() iter.Seq2[string, uid] {
	return func(yield func(string, uid) bool) {
		if t.byID != nil {
			for id, u := range t.byID {
				if !yield(id, u) {
					return
				}
			}
			return
		}
		for _, e := range t.list {
			if !yield(e.u.id, e.u) {
				return
			}
		}
	}
}
