package admission

import (
	"time"

	"github.com/livebill/livebill"
)

// Rooms is the live occupancy of one app's rooms: who is in each room and
// who publishes, from the stored room.join/leave and stream.start/stop
// events, plus short reservations for the joins and publishes admission
// allowed whose events have not arrived yet.
//
// Events are read in the order they were stored, which need not be time
// order (webhooks and batches arrive late). Each (room, user) and (room,
// user, stream) keeps the time of the latest event applied to it, and an
// older event does not change it: the state converges to what the latest
// events say, whatever the arrival order. A leave stops the streams the
// user started before it. A left user's leave time is kept for a while
// (Prune's keep) so that a late join older than the leave cannot bring a
// ghost back.
//
// Counts are kept as events apply, so a decision reads them in constant
// time; reservations, few and short, are counted when read. Robots
// (recording, transcoding, relay tasks) are not users and do not count.
// Rooms is not safe for concurrent use.
type Rooms struct {
	rooms  map[string]*room
	active int // rooms with a user in them (by events)
	// reserving: rooms holding reservations, which may make an empty room
	// active
	reserving map[string]*room
}

type room struct {
	users map[string]*member
	in    int // users in the room by events
	pub   int // users with a running stream by events
	// reserved: users with a join or publish reservation
	reserved map[string]*member
}

// member is a user's state in a room.
type member struct {
	at      int64            // Unix ms of the latest join or leave applied
	in      bool             // joined at at, not left since
	streams map[string]int64 // stream kind → start (≥ 0: running) or -stop (< 0: stopped then)
	running int              // streams running
	// reservations: counted until then (Unix ms) unless the event came
	joinUntil, pubUntil int64
}

// NewRooms returns empty occupancy.
func NewRooms() *Rooms { return &Rooms{rooms: map[string]*room{}, reserving: map[string]*room{}} }

func (rs *Rooms) member(roomID, user string) (*room, *member) {
	r := rs.rooms[roomID]
	if r == nil {
		r = &room{users: map[string]*member{}}
		rs.rooms[roomID] = r
	}
	m := r.users[user]
	if m == nil {
		m = &member{}
		r.users[user] = m
	}
	return r, m
}

// Apply applies one stored event (events of other types are ignored).
func (rs *Rooms) Apply(e *livebill.Event) {
	switch e.Type {
	case livebill.RoomJoin, livebill.RoomLeave, livebill.StreamStart, livebill.StreamStop:
	default:
		return
	}
	if e.Room == "" || e.User == "" {
		return
	}
	r, m := rs.member(e.Room, e.User)
	wasIn, wasPub := m.in, m.running > 0
	t := e.Time
	switch e.Type {
	case livebill.RoomJoin:
		if t >= m.at {
			m.at, m.in, m.joinUntil = t, true, 0
		}
	case livebill.RoomLeave:
		if t >= m.at {
			m.at, m.in, m.joinUntil, m.pubUntil = t, false, 0, 0
			for k, s := range m.streams {
				if s >= 0 && s <= t {
					m.streams[k] = -t
					m.running--
				}
			}
		}
	case livebill.StreamStart:
		if m.streams == nil {
			m.streams = map[string]int64{}
		}
		s, ok := m.streams[e.Stream]
		if !ok || t >= abs(s) {
			if !ok || s < 0 {
				m.running++
			}
			m.streams[e.Stream] = t
			m.pubUntil = 0
		}
	case livebill.StreamStop:
		if s, ok := m.streams[e.Stream]; ok && t >= abs(s) {
			if s >= 0 {
				m.running--
			}
			m.streams[e.Stream] = -t
		}
	}
	rs.count(r, wasIn, m.in, wasPub, m.running > 0)
}

// count moves the counts for a member that changed.
func (rs *Rooms) count(r *room, wasIn, isIn, wasPub, isPub bool) {
	if wasIn != isIn {
		if isIn {
			r.in++
			if r.in == 1 {
				rs.active++
			}
		} else {
			r.in--
			if r.in == 0 {
				rs.active--
			}
		}
	}
	if wasPub != isPub {
		if isPub {
			r.pub++
		} else {
			r.pub--
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Users returns how many users are in the room at now (by events, or
// reserved).
func (rs *Rooms) Users(roomID string, now int64) int {
	r := rs.rooms[roomID]
	if r == nil {
		return 0
	}
	n := r.in
	for _, m := range r.reserved {
		if !m.in && m.joinUntil > now {
			n++
		}
	}
	return n
}

// Publishers returns how many users publish in the room at now.
func (rs *Rooms) Publishers(roomID string, now int64) int {
	r := rs.rooms[roomID]
	if r == nil {
		return 0
	}
	n := r.pub
	for _, m := range r.reserved {
		if m.running == 0 && m.pubUntil > now {
			n++
		}
	}
	return n
}

// Present reports whether a user is in the room (or reserved) at now.
func (rs *Rooms) Present(roomID, user string, now int64) bool {
	if r := rs.rooms[roomID]; r != nil {
		if m := r.users[user]; m != nil {
			return m.in || m.joinUntil > now
		}
	}
	return false
}

// Publishing reports whether a user publishes in the room at now.
func (rs *Rooms) Publishing(roomID, user string, now int64) bool {
	if r := rs.rooms[roomID]; r != nil {
		if m := r.users[user]; m != nil {
			return m.running > 0 || m.pubUntil > now
		}
	}
	return false
}

// ActiveRooms returns how many rooms have a user in them at now.
func (rs *Rooms) ActiveRooms(now int64) int {
	n := rs.active
	for _, r := range rs.reserving {
		if r.in > 0 {
			continue
		}
		for _, m := range r.reserved {
			if m.joinUntil > now {
				n++
				break
			}
		}
	}
	return n
}

// ReserveJoin counts a user as in the room until until (Unix ms), unless
// its join event arrives first: two joins admission allows at once cannot
// both take the last place.
func (rs *Rooms) ReserveJoin(roomID, user string, until int64) {
	r, m := rs.member(roomID, user)
	if m.in {
		return
	}
	m.joinUntil = max(m.joinUntil, until)
	rs.reserve(roomID, r, user, m)
}

// ReservePublish counts a user as publishing (and in the room) until
// until, unless a stream.start event arrives first.
func (rs *Rooms) ReservePublish(roomID, user string, until int64) {
	r, m := rs.member(roomID, user)
	if m.running > 0 {
		return
	}
	m.pubUntil = max(m.pubUntil, until)
	if !m.in {
		m.joinUntil = max(m.joinUntil, until)
	}
	rs.reserve(roomID, r, user, m)
}

func (rs *Rooms) reserve(roomID string, r *room, user string, m *member) {
	if r.reserved == nil {
		r.reserved = map[string]*member{}
	}
	r.reserved[user] = m
	rs.reserving[roomID] = r
}

// Prune drops lapsed reservations, and forgets users who left more than
// keep before now and rooms left empty.
func (rs *Rooms) Prune(now int64, keep time.Duration) {
	cut := now - keep.Milliseconds()
	rs.PruneReservations(now)
	for id, r := range rs.rooms {
		for u, m := range r.users {
			if !m.in && m.running == 0 && m.at < cut && m.joinUntil == 0 && m.pubUntil == 0 && latestStream(m) < cut {
				delete(r.users, u)
			}
		}
		if len(r.users) == 0 {
			delete(rs.rooms, id)
		}
	}
}

// PruneReservations drops lapsed reservations, and the users only they
// kept (never joined).
func (rs *Rooms) PruneReservations(now int64) {
	for id, r := range rs.reserving {
		for u, m := range r.reserved {
			if m.joinUntil <= now && m.pubUntil <= now {
				m.joinUntil, m.pubUntil = 0, 0
				delete(r.reserved, u)
				if m.at == 0 && m.streams == nil { // known by its reservation only
					delete(r.users, u)
				}
			}
		}
		if len(r.reserved) == 0 {
			delete(rs.reserving, id)
		}
		if len(r.users) == 0 {
			delete(rs.rooms, id)
		}
	}
}

// latestStream is the time of the member's latest stream event.
func latestStream(m *member) int64 {
	var t int64
	for _, s := range m.streams {
		t = max(t, abs(s))
	}
	return t
}

// Len returns how many rooms and users are kept (for stats and tests).
func (rs *Rooms) Len() (rooms, users int) {
	for _, r := range rs.rooms {
		users += len(r.users)
	}
	return len(rs.rooms), users
}

// Tombstone is how long Prune keeps a left user (so events arriving up to
// this late are still ordered against the leave).
const Tombstone = 10 * time.Minute
