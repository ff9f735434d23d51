package meter

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/livebill/livebill"
)

// Participant kinds: a user, or the robot of a task.
type partKind uint8

const (
	kindUser partKind = iota
	kindRecording
	kindTranscode
	kindRelay
	kindInput
)

var robotNames = [...]string{"", "recording", "transcode", "relay", "input"}

// Receive modes.
const (
	recvManual uint8 = iota
	recvAll
	recvAudio
)

// Stream kinds, as small integers for map keys.
const (
	kMain uint8 = iota
	kSmall
	kScreen
)

func streamKind(s string) uint8 {
	switch s {
	case livebill.StreamSmall:
		return kSmall
	case livebill.StreamScreen:
		return kScreen
	}
	return kMain
}

// ident is a participant id interned per room (a user, or
// robot:<kind>:<task>): it points at the participant while present and at
// the slots of the streams it publishes, so the hot path of applying events
// and recomputing charges follows pointers instead of probing maps.
type ident struct {
	id    string
	p     *participant // nil while absent
	slots [3]*stream   // by stream kind; nil until first used
	// leftAt is the instant it last left (Unix ms; 0: never): the events
	// of a user that leaves at an instant without rejoining, found after
	// its leave in the canonical order, happened before it (see apply).
	leftAt int64
	// timedOut: the session timeout closed it and it has not been back
	// (rejoined, restarted) nor ended since: its late ends are accepted.
	timedOut bool
	// named is the room's last sweep that found a present participant
	// naming one of its streams (see sweep).
	named uint32
}

type uid = *ident

type streamKey struct {
	user uid
	kind uint8
}

// stream is the slot of one publisher's stream kind in a room. Slots are
// kept while the room lives (a stopped stream is off, a restart turns it
// on again), so subscriptions and task inputs hold a pointer to their slot
// and recomputing charges needs no map lookup.
type stream struct {
	on           bool
	video, audio bool
	area         int64
	stoppedAt    int64 // the instant it last stopped (Unix ms; 0: never)
}

// ref is a stream named by a task (recording streams, transcoding inputs).
type ref struct {
	key streamKey
	st  *stream
}

// sub is an explicit subscription; off marks a stream a receive-all
// participant unsubscribed from. A participant has few, so they are kept in
// a small slice (subList): iterating it is far cheaper than a map.
type sub struct {
	key  streamKey
	st   *stream
	off  bool
	area int64 // the size actually received (small streams), 0 if not stated
}

// participant is laid out for the cache: what re-rating scans for every
// participant of a room (recv, subs, charges) fills the first 64 bytes,
// and the padding to 128 bytes keeps each participant on two whole lines
// (at 96 bytes every other one straddled three).
type participant struct {
	id      uid
	subs    subList
	charges []charge // in one while there is one (newParticipant)
	kind    partKind
	recv    uint8
	mini    bool // HST mini-program endpoint
	task    *task
	since   int64
	ownArea int64 // area of its own running main and screen video
	idx     int   // position in room.list
	last    int64 // its last own event: the session timeout runs from it
	// one holds the charges of a participant that accrues one item, as
	// users do: they need no allocation, and comparing them when it is
	// re-rated reads the line of since and ownArea, not one more.
	one [1]charge
	_   [8]byte
}

// task is what a robot does besides receiving.
type task struct {
	formats   int64
	audioOnly bool // recording media: audio
	all       bool // recording/relay streams: "all"
	refs      []ref
	codec     string
	tc        []uint16 // the codec's transcoding items, by tier
	outAudio  bool
	outArea   int64
	relay     *RelayInterval
	input     stream   // pull-stream input: the stream it publishes
	fixed     []charge // charges that do not change while it runs (taskCharges)
}

// room is laid out for the cache: in a meter of thousands of rooms a
// room has left the cache by its next event, and every line of it an
// event reads is a miss. The fields every event reads fill the first two
// lines, those of most events the third; the size (296 bytes, allocated
// as 320, a multiple of 64) keeps the lines whole.
type room struct {
	// enqueue
	pendT    int64 // instant of the held events
	pending  []heldEvent
	m        *Meter
	nextDiss int // the meter's dissolutions before this one are applied
	// flushPending and apply
	// nextTimeout is at most the earliest instant a participant's session
	// times out (expire): events only move deadlines later, so it is
	// updated when someone is added and recomputed when it has passed.
	nextTimeout int64
	t           int64   // time of the last applied event group
	ids         idTable // interned ids: who is in the room, and who was lately (sweep)
	sweepAt     int     // sweep when ids has this many
	// taskEvents are the held task starts and updates, whole (heldEvent)
	taskEvents []livebill.Event

	// most events
	list []*participant // present participants
	app  *App
	// allArea is the summed area of running main and screen video streams:
	// what a receive-all participant gets, less its own.
	allArea int64
	// free holds participants that left, for reuse by later joins and
	// tasks: rooms churn, and allocating every participant anew costs.
	free []*participant

	// gone: participants a dissolution removed, until they come back
	// (dissolve.go)
	gone      map[string]bool
	id        string
	sweeps    uint32      // sweeps done, to mark what the last one kept
	aboveTop  bool        // the above-top-tier notice was given for its app
	streams   []streamKey // every stream slot ever used, for iteration (HST)
	relays    []*RelayInterval
	freeTasks []*task
}

func newRoom(m *Meter, app *App, id string, t int64) *room {
	return &room{m: m, app: app, id: id, t: t, pendT: t, nextTimeout: math.MaxInt64,
		sweepAt: minSweep}
}

// minSweep is the fewest ids a room sweeps: small rooms keep theirs.
var minSweep = 8

// sweep forgets the ids of participants that are gone and that nothing in
// the room refers to, so that a room that lives long keeps the ids of who
// is in it, not of everyone who ever was. An absent participant's id is
// kept while a present participant's subscription or task names one of
// its streams (which it receives again if the stream restarts:
// docs/decisions.md, "Manual subscriptions"), while its session is timed
// out (its late end is accepted), and at the instant it left (its other
// events of that instant are read as before its leave). A forgotten id
// that comes back is a new one, as it was before it first came. Called
// between event groups; a room sweeps again when its ids have grown by
// half what it kept, so the cost per event stays constant and absent ids
// are at most a third of those held.
func (r *room) sweep() {
	r.sweeps++
	for _, p := range r.list {
		for _, sb := range p.subs {
			sb.key.user.named = r.sweeps
		}
		if p.task != nil {
			for _, rf := range p.task.refs {
				rf.key.user.named = r.sweeps
			}
		}
	}
	r.ids.keep(func(u uid) bool {
		return u.p != nil || u.named == r.sweeps || u.timedOut || u.leftAt >= r.pendT
	})
	if len(r.streams) > 0 { // HST's list of slots: those of ids kept
		r.streams = slices.DeleteFunc(r.streams, func(k streamKey) bool {
			u, _ := r.ids.get(k.user.id)
			return u != k.user
		})
	}
	r.sweepAt = max(minSweep, r.ids.len()+r.ids.len()/2)
}

// roomCacheEntry caches a room by the strings of its app and id.
type roomCacheEntry struct {
	app, id string
	r       *room
}

// room returns the event's room, creating it. The decoder interns ids, so
// a room's events usually carry the same app and room strings: a cache
// keyed by their addresses skips hashing two strings into the
// rooms map. It is 2-way set-associative (direct-mapped, a thousand rooms
// collided in a tenth of the lookups) and grows with the number of rooms,
// up to 32,768 entries.
func (m *Meter) room(e *livebill.Event) *room {
	a, id := unsafe.StringData(e.App), unsafe.StringData(e.Room)
	h := (uint64(uintptr(unsafe.Pointer(id))) ^ uint64(uintptr(unsafe.Pointer(a)))>>4) * 0x9E3779B97F4A7C15
	var set []roomCacheEntry
	if len(m.roomC) > 0 {
		set = m.roomC[(h>>(65-bits.TrailingZeros(uint(len(m.roomC)))))*2:][:2]
		if c := &set[0]; unsafe.StringData(c.id) == id && unsafe.StringData(c.app) == a &&
			len(c.id) == len(e.Room) && len(c.app) == len(e.App) {
			return c.r
		}
		if c := &set[1]; unsafe.StringData(c.id) == id && unsafe.StringData(c.app) == a &&
			len(c.id) == len(e.Room) && len(c.app) == len(e.App) {
			set[0], set[1] = set[1], set[0] // most recent first
			return set[0].r
		}
	}
	k := roomKey{e.App, e.Room}
	r := m.rooms[k]
	if r == nil {
		r = newRoom(m, m.app(e.App), e.Room, e.Time)
		m.rooms[k] = r
		if n := len(m.roomC); n < 32768 && 2*len(m.rooms) > n {
			m.roomC = make([]roomCacheEntry, max(8, 2*n))
			return r
		}
	}
	if set != nil {
		set[1], set[0] = set[0], roomCacheEntry{e.App, e.Room, r}
	}
	return r
}

// uid interns a participant id (a user, or robot:<kind>:<task>) per room,
// so the table stays small and in cache.
func (r *room) uid(id string) uid {
	if u, ok := r.ids.intern(id); ok {
		return u
	}
	u := &ident{id: id}
	r.ids.add(id, u)
	return u
}

// errNothingToEnd is a subscription stop that found nothing to end.
var errNothingToEnd = errors.New("nothing to end")

// rank orders events of one instant: ends first (so a stop and a restart
// at the same instant leave the thing running), then joins, publications,
// subscriptions, task starts and task updates. An end that finds nothing to
// end is retried after the instant's starts: a start and a stop at one
// instant are a zero-length session, not a stop without a start. The
// rules, pair by pair, are in docs/decisions.md ("Events at the same
// instant").
func rank(t livebill.EventType) int {
	switch t {
	case livebill.SubscribeStop, livebill.StreamStop, livebill.RecordingStop,
		livebill.TranscodeStop, livebill.RelayStop, livebill.InputStop:
		return 0
	case livebill.RoomLeave:
		return 1
	case livebill.RoomJoin:
		return 2
	case livebill.InputStart:
		return 3
	case livebill.StreamStart:
		return 4
	case livebill.StreamUpdate:
		return 5
	case livebill.SubscribeStart:
		return 6
	case livebill.TranscodeUpdate:
		return 8
	}
	return 7 // task starts
}

// heldEvent is an event a room holds until its instant is over (see
// enqueue), in the form apply reads: the fields of a room event, decoded.
// A room reads its held events back at its next instant, when in a meter
// of thousands of rooms they have left the CPU's caches, so the form is
// small: 80 bytes where a livebill.Event is 432. Fields that do not apply
// to the event's type are zero or unused.
type heldEvent struct {
	typ     livebill.EventType
	stream  uint8 // stream kind (stream and subscription events)
	recv    uint8 // join: receive mode
	video   bool  // stream.start: media video
	noAudio bool  // stream.start: main video without audio
	mini    bool  // join: HST mini-program endpoint
	// whole is, for a task's start or update, 1 + the index of the whole
	// event in room.taskEvents (apply reads many of its fields).
	whole     int32
	area      int64  // width × height
	who       string // the user, or a task event's task
	publisher string
	line      int // the event's line and id, for errors
	id        string
}

// streamNames are the stream kinds' names in events.
var streamNames = [...]string{kMain: livebill.StreamMain, kSmall: livebill.StreamSmall, kScreen: livebill.StreamScreen}

// recvMode is the receive mode a join's subscribe field asks for.
func recvMode(subscribe string) uint8 {
	switch subscribe {
	case livebill.SubscribeAll:
		return recvAll
	case livebill.SubscribeAudio:
		return recvAudio
	}
	return recvManual
}

// bad is an error about the held event, as badEvent.
func (h *heldEvent) bad(field, reason string) error {
	return &livebill.EventError{Line: h.line, ID: h.id, Field: field, Reason: reason}
}

// enqueue holds an event until the room's clock moves past its instant.
func (r *room) enqueue(e *livebill.Event) {
	if e.Time < r.pendT {
		r.m.fail(badEvent(e, "time", fmt.Sprintf("earlier than the previous event of room %s (%s)",
			r.id, fmtTime(r.pendT))))
		return
	}
	if r.nextDiss < len(r.m.diss) && e.Time >= r.m.diss[r.nextDiss].At {
		r.dissolveUpTo(e.Time)
	}
	if e.Time > r.pendT {
		r.flushPending()
		r.pendT = e.Time
	}
	h := heldEvent{typ: e.Type, stream: streamKind(e.Stream), recv: recvMode(e.Subscribe),
		video: e.Media == livebill.MediaVideo, noAudio: e.NoAudio, mini: e.Client == "miniprogram",
		area: e.Size().Area(), who: e.User, publisher: e.Publisher, line: e.Line, id: e.ID}
	if e.Type.IsTask() {
		h.who = e.Task
		if rank(e.Type) != 0 { // not a stop
			r.taskEvents = append(r.taskEvents, *e)
			h.whole = int32(len(r.taskEvents))
		}
	}
	r.pending = append(r.pending, h)
}

// flushPending applies the held events of one instant in canonical order,
// after closing the sessions that timed out before it.
func (r *room) flushPending() {
	r.expire(r.pendT)
	if r.ids.len() >= r.sweepAt {
		r.sweep()
	}
	p := r.pending
	// Insertion sort: groups are small and the sort must be stable.
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && rank(p[j].typ) < rank(p[j-1].typ); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	var retry []int
	for i := range p {
		if err := r.apply(&p[i], r.pendT); err != nil {
			if rank(p[i].typ) <= 1 {
				retry = append(retry, i)
				continue
			}
			if !r.dissolved(&p[i]) {
				r.m.fail(err)
			}
		}
	}
	for _, i := range retry {
		if err := r.apply(&p[i], r.pendT); err != nil && err != errNothingToEnd && !r.dissolved(&p[i]) {
			r.m.fail(err)
		}
	}
	// The held events' strings are ids the room keeps anyway, or event
	// ids; the whole task events let go of their lists.
	clear(r.taskEvents)
	r.taskEvents = r.taskEvents[:0]
	r.pending = p[:0]
}

// trim releases what an idle room keeps for reuse: its buffer of held
// events and, when nobody is in it, the participants and task states
// that left. A live meter (billing) advances every account's meter each
// settlement tick and lives as long as the server: kept buffers would be
// most of an account's memory.
func (r *room) trim() {
	if len(r.pending) == 0 {
		r.pending, r.taskEvents = nil, nil
	}
	if len(r.list) == 0 {
		r.free, r.freeTasks = nil, nil
	}
}

// releasable reports whether the meter may let the room go once every
// event before t is applied: it holds no events and no state its later
// events (all at t or after) depend on. Such a room meters on exactly as
// a new one would.
func (r *room) releasable(t int64) bool {
	return len(r.pending) == 0 && r.pendT < t && !r.holdsState()
}

// holdsState reports whether the room holds what its later events depend
// on: someone in it, a session timed out without its end, a participant a
// dissolution removed. A room that does not is neither kept by the meter
// (releasable) nor written in a checkpoint.
func (r *room) holdsState() bool {
	return len(r.list) > 0 || len(r.gone) > 0 || r.anyTimedOut()
}

// apply applies a held event of instant t.
func (r *room) apply(h *heldEvent, t int64) error {
	r.t = t
	if h.typ.IsTask() {
		return r.applyTask(h, t)
	}
	user := r.uid(h.who)
	switch h.typ {
	case livebill.RoomJoin:
		if user.p != nil {
			return h.bad("user", fmt.Sprintf("%s is already in room %s", h.who, r.id))
		}
		user.timedOut = false
		r.back(h.who)
		p := r.newParticipant()
		p.id, p.kind, p.recv, p.mini = user, kindUser, h.recv, h.mini
		r.add(p, t)
		r.recompute(p, t)
	case livebill.RoomLeave:
		p := user.p
		if p == nil && user.timedOut {
			// the late leave of a session the timeout closed: it ends
			// it now, so the user's other events at this instant are
			// accepted as before it
			user.timedOut, user.leftAt = false, t
			return nil
		}
		if p == nil || p.kind != kindUser {
			return h.bad("user", fmt.Sprintf("leave without join: %s is not in room %s%s", h.who, r.id, r.timedOutAt(user)))
		}
		r.leave(p, t)
	case livebill.StreamStart:
		if user.p == nil {
			if user.leftAt == t {
				return nil // started and ended by its publisher's leave at this instant
			}
			return h.bad("user", fmt.Sprintf("%s publishes in room %s without joining it%s", h.who, r.id, r.timedOutAt(user)))
		}
		k := streamKey{user, h.stream}
		if r.running(k) != nil {
			return h.bad("stream", fmt.Sprintf("%s stream of %s is already running (use stream.update)", streamNames[h.stream], h.who))
		}
		user.p.last = t
		s := stream{video: h.video}
		s.audio = k.kind == kMain && (!s.video || !h.noAudio)
		if s.video {
			s.area = h.area
		}
		all := r.allArea
		r.startStream(k, s)
		r.recomputeStream(k, all, t)
	case livebill.StreamUpdate:
		s := r.running(streamKey{user, h.stream})
		if s == nil {
			switch {
			case user.p == nil && (user.leftAt == t || user.timedOut):
				return nil // before its publisher's leave at this instant, or late
			case user.p != nil:
				if sl := user.slots[h.stream]; sl != nil && sl.stoppedAt == t {
					user.p.last = t
					return nil // changed, then stopped at this instant
				}
			}
			return h.bad("stream", fmt.Sprintf("%s stream of %s is not running", streamNames[h.stream], h.who))
		}
		user.p.last = t
		k := streamKey{user, h.stream}
		all := r.allArea
		if s.video {
			r.allAreaAdjust(k, -s.area)
		}
		s.video = true
		s.area = h.area
		r.allAreaAdjust(k, s.area)
		r.recomputeStream(k, all, t)
	case livebill.StreamStop:
		k := streamKey{user, h.stream}
		all := r.allArea
		if !r.stopStream(k) {
			if user.p == nil && (user.leftAt == t || user.timedOut) {
				return nil // started at this instant before its publisher's leave, or late
			}
			return h.bad("stream", fmt.Sprintf("%s stream of %s is not running", streamNames[h.stream], h.who))
		}
		user.p.last = t
		r.recomputeStream(k, all, t)
	case livebill.SubscribeStart, livebill.SubscribeStop:
		p := user.p
		if p == nil {
			if user.leftAt == t || h.typ == livebill.SubscribeStop && user.timedOut {
				return nil // before its leave at this instant (which ends it), or late
			}
			return h.bad("user", fmt.Sprintf("%s is not in room %s%s", h.who, r.id, r.timedOutAt(user)))
		}
		p.last = t
		k := streamKey{r.uid(h.publisher), h.stream}
		autoReceived := p.recv == recvAll && k.kind != kSmall
		if h.typ == livebill.SubscribeStart {
			if autoReceived {
				p.subs.remove(k)
			} else {
				p.subs.set(sub{key: k, st: r.slot(k), area: h.area})
			}
		} else {
			// A stop that finds nothing to end is retried after the
			// instant's starts, like the other ends, and then ignored:
			// unsubscribing from what one does not receive is harmless.
			sb, explicit := p.subs.get(k)
			if autoReceived && explicit && sb.off || !autoReceived && !explicit {
				return errNothingToEnd
			}
			if autoReceived {
				p.subs.set(sub{key: k, st: r.slot(k), off: true})
			} else {
				p.subs.remove(k)
			}
		}
		r.recompute(p, t)
	}
	return nil
}

// applyTask applies a held task event of instant t.
func (r *room) applyTask(h *heldEvent, t int64) error {
	var e *livebill.Event // a start or update: the whole event
	if h.whole > 0 {
		e = &r.taskEvents[h.whole-1]
	}
	switch h.typ {
	case livebill.RecordingStart, livebill.TranscodeStart, livebill.RelayStart, livebill.InputStart:
		return r.startTask(e, t)
	case livebill.TranscodeUpdate:
		id := r.robot(kindTranscode, h.who)
		p := id.p
		if p == nil {
			if id.leftAt == t || id.timedOut {
				return nil // changed, then stopped at this instant; or late
			}
			return h.bad("task", fmt.Sprintf("transcode task %s is not running", h.who))
		}
		p.last = t
		tk := p.task
		tk.codec, tk.outAudio, tk.outArea = e.Codec, e.OutputAudio, e.Output.Area()
		tk.refs = r.refs(tk.refs[:0], e.Inputs)
		p.subs = subsOf(p.subs[:0], tk.refs)
		r.m.taskCharges(r, kindTranscode, tk, nil)
		r.recompute(p, t)
	case livebill.RecordingStop, livebill.TranscodeStop, livebill.RelayStop, livebill.InputStop:
		kind := taskKind(h.typ)
		id := r.robot(kind, h.who)
		if id.p == nil && id.timedOut {
			id.timedOut, id.leftAt = false, t // the late stop of a task the timeout closed (see RoomLeave)
			return nil
		}
		if id.p == nil {
			return h.bad("task", fmt.Sprintf("%s task %s is not running in room %s", robotNames[kind], h.who, r.id))
		}
		r.stopRobot(id.p, t)
	}
	return nil
}

// leave takes user p out of the room at t: its streams stop and its
// subscriptions end.
func (r *room) leave(p *participant, t int64) {
	user := p.id
	r.remove(p, t)
	all := r.allArea
	var stopped [3]*stream
	for k := kMain; k <= kScreen; k++ {
		if r.stopStream(streamKey{user, k}) {
			stopped[k] = user.slots[k]
		}
	}
	if stopped != [3]*stream{} {
		r.recomputeStreams(stopped[:], all, t)
	}
}

// stopRobot ends robot p's task at t.
func (r *room) stopRobot(p *participant, t int64) {
	r.remove(p, t)
	if p.task.relay != nil {
		p.task.relay.End = t
	}
	if p.kind == kindInput && r.stopStream(streamKey{p.id, kMain}) {
		r.recomputeAll(t)
	}
}

// expire closes the sessions whose last own event is more than the
// session timeout before upTo, each at its last event plus the timeout,
// earliest first (a leave, or a task's stop), and notes them for the
// notice session_timed_out.
func (r *room) expire(upTo int64) {
	if r.nextTimeout >= upTo {
		return
	}
	timeout := r.m.timeout
	for {
		var first *participant
		for _, p := range r.list {
			if p.last+timeout < upTo && (first == nil || p.last < first.last) {
				first = p
			}
		}
		if first == nil {
			break
		}
		at := first.last + timeout
		r.t = at
		first.id.timedOut = true
		r.m.timeouts = append(r.m.timeouts, sessionTimeout{app: r.app.ID, room: r.id, id: first.id.id, kind: first.kind, at: at})
		if first.kind == kindUser {
			r.leave(first, at)
		} else {
			r.stopRobot(first, at)
		}
	}
	r.nextTimeout = math.MaxInt64
	for _, p := range r.list {
		r.nextTimeout = min(r.nextTimeout, p.last+timeout)
	}
}

// timedOutAt explains, for an error, that an absent user's session was
// closed by the timeout.
func (r *room) timedOutAt(u uid) string {
	if !u.timedOut {
		return ""
	}
	return fmt.Sprintf(" (its session timed out at %s)", r.m.fmtLocal(u.leftAt))
}

// taskKind is the kind of robot a task event is about.
func taskKind(t livebill.EventType) partKind {
	switch t {
	case livebill.RecordingStart, livebill.RecordingStop:
		return kindRecording
	case livebill.TranscodeStart, livebill.TranscodeUpdate, livebill.TranscodeStop:
		return kindTranscode
	case livebill.RelayStart, livebill.RelayStop:
		return kindRelay
	}
	return kindInput
}

// robot interns the id of a task's robot, robot:<kind>:<task>. The id is
// built in a scratch buffer: looking up a known robot allocates nothing.
func (r *room) robot(k partKind, task string) uid {
	b := append(r.m.robotBuf[:0], "robot:"...)
	b = append(b, robotNames[k]...)
	b = append(b, ':')
	b = append(b, task...)
	r.m.robotBuf = b
	if u, ok := r.ids.get(unsafe.String(&b[0], len(b))); ok { // no copy to look it up
		return u
	}
	return r.uid(string(b))
}

// refs appends the stream slots named by in to out, each once: a stream
// listed twice is recorded or transcoded once.
func (r *room) refs(out []ref, in []livebill.StreamRef) []ref {
next:
	for _, s := range in {
		k := streamKey{r.uid(s.User), streamKind(s.Stream)}
		for _, rf := range out {
			if rf.key == k {
				continue next
			}
		}
		out = append(out, ref{k, r.slot(k)})
	}
	return out
}

// subsOf adds subscriptions to the streams rs to l.
func subsOf(l subList, rs []ref) subList {
	for _, rf := range rs {
		l.set(sub{key: rf.key, st: rf.st})
	}
	return l
}

type subList []sub

// get returns the subscription to k, if any.
func (l subList) get(k streamKey) (sub, bool) {
	for _, s := range l {
		if s.key == k {
			return s, true
		}
	}
	return sub{}, false
}

// holdsAny reports whether one of the subscriptions is to one of the
// stream slots sts (nil entries match nothing).
func (l subList) holdsAny(sts []*stream) bool {
	for _, s := range l {
		for _, st := range sts {
			if s.st == st {
				return true
			}
		}
	}
	return false
}

// set adds or replaces the subscription to s.key.
func (l *subList) set(s sub) {
	for i := range *l {
		if (*l)[i].key == s.key {
			(*l)[i] = s
			return
		}
	}
	*l = append(*l, s)
}

// remove drops the subscription to k.
func (l *subList) remove(k streamKey) {
	for i, s := range *l {
		if s.key == k {
			last := len(*l) - 1
			(*l)[i] = (*l)[last]
			(*l)[last] = sub{} // let go of its stream
			*l = (*l)[:last]
			return
		}
	}
}

// minSubCap is the most capacity of subscriptions a participant reused
// for a later join keeps.
const minSubCap = 4

func (r *room) startTask(e *livebill.Event, t int64) error {
	kind := taskKind(e.Type)
	id := r.robot(kind, e.Task)
	if id.p != nil {
		return badEvent(e, "task", fmt.Sprintf("%s task %s is already running in room %s", robotNames[kind], e.Task, r.id))
	}
	id.timedOut = false
	r.back(id.id)
	tk := r.newTask()
	p := r.newParticipant()
	p.id, p.kind, p.recv, p.task = id, kind, recvManual, tk
	switch kind {
	case kindRecording:
		tk.formats = int64(len(e.Formats))
		tk.audioOnly = e.Media == livebill.MediaAudio
		tk.all = e.AllStreams
		tk.refs = r.refs(tk.refs, e.Streams)
	case kindTranscode:
		tk.codec, tk.outAudio, tk.outArea = e.Codec, e.OutputAudio, e.Output.Area()
		tk.refs = r.refs(tk.refs, e.Inputs)
	case kindRelay:
		tk.all = e.AllStreams || len(e.Streams) == 0
		tk.refs = r.refs(tk.refs, e.Streams)
		tk.relay = &RelayInterval{App: r.app.ID, Room: r.id, Task: e.Task,
			Destination: e.Destination, Kbps: e.BitrateKbps, Start: t}
		r.relays = append(r.relays, tk.relay)
		r.m.relays = append(r.m.relays, tk.relay)
	case kindInput:
		p.recv = recvAudio
		tk.input = stream{on: true, video: e.Media == livebill.MediaVideo, audio: true}
		if tk.input.video {
			tk.input.area = e.Size().Area()
		}
	}
	switch {
	case tk.audioOnly:
		p.recv = recvAudio
	case tk.all:
		p.recv = recvAll
	case kind != kindInput:
		p.subs = subsOf(p.subs, tk.refs)
	}
	r.m.taskCharges(r, kind, tk, e.Outputs)
	r.add(p, t)
	if kind == kindInput {
		r.startStream(streamKey{id, kMain}, tk.input)
		r.recomputeAll(t)
		return nil
	}
	r.recompute(p, t)
	return nil
}

// newParticipant returns a zeroed participant, reusing one that left (and
// the capacity of its slices).
func (r *room) newParticipant() *participant {
	n := len(r.free)
	if n == 0 {
		p := &participant{}
		p.charges = p.one[:0]
		return p
	}
	p := r.free[n-1]
	r.free[n-1] = nil
	r.free = r.free[:n-1]
	if p.task != nil {
		r.freeTasks = append(r.freeTasks, p.task)
	}
	subs := p.subs[:0]
	if cap(subs) > minSubCap {
		subs = nil // sized for whoever had it
	}
	*p = participant{subs: subs, charges: p.charges[:0]}
	return p
}

// newTask returns a zeroed task, reusing one whose robot left (and the
// capacity of its slices; its relay interval stays with the meter).
func (r *room) newTask() *task {
	n := len(r.freeTasks)
	if n == 0 {
		return &task{}
	}
	tk := r.freeTasks[n-1]
	r.freeTasks[n-1] = nil
	r.freeTasks = r.freeTasks[:n-1]
	*tk = task{refs: tk.refs[:0], fixed: tk.fixed[:0]}
	return tk
}

func (r *room) add(p *participant, t int64) {
	p.since, p.last = t, t
	r.nextTimeout = min(r.nextTimeout, t+r.m.timeout)
	p.idx = len(r.list)
	p.id.p = p
	r.list = append(r.list, p)
}

// remove credits a participant up to t and takes it out of the room. The
// caller may still read p (its task); it is reused only by a later join.
func (r *room) remove(p *participant, t int64) {
	r.credit(p, t)
	p.id.leftAt = t
	p.charges = p.charges[:0]
	last := r.list[len(r.list)-1]
	r.list[p.idx] = last
	last.idx = p.idx
	r.list = r.list[:len(r.list)-1]
	p.id.p = nil
	if len(r.free) < maxFree {
		r.free = append(r.free, p)
	}
}

// maxFree is the most participants a room keeps for reuse: enough for
// joins and leaves that alternate, not a copy of everyone who left a room
// that emptied slowly.
const maxFree = 4

// allAreaAdjust keeps the room's receive-all area and the publisher's own
// published area in step with a main or screen stream's change.
func (r *room) allAreaAdjust(k streamKey, d int64) {
	if k.kind == kSmall {
		return
	}
	r.allArea += d
	if p := k.user.p; p != nil {
		p.ownArea += d
	}
}

// slot returns the stream slot of k, creating an off one.
func (r *room) slot(k streamKey) *stream {
	s := k.user.slots[k.kind]
	if s == nil {
		s = &stream{}
		k.user.slots[k.kind] = s
		if r.m.model == modelHST { // only HST rating iterates them
			r.streams = append(r.streams, k)
		}
	}
	return s
}

// running returns the stream k if it is on.
func (r *room) running(k streamKey) *stream {
	if s := k.user.slots[k.kind]; s != nil && s.on {
		return s
	}
	return nil
}

func (r *room) startStream(k streamKey, s stream) {
	sl := r.slot(k)
	*sl = s
	sl.on = true
	if s.video {
		r.allAreaAdjust(k, s.area)
	}
}

func (r *room) stopStream(k streamKey) bool {
	s := r.running(k)
	if s == nil {
		return false
	}
	if s.video {
		r.allAreaAdjust(k, -s.area)
	}
	s.on = false
	s.stoppedAt = r.t
	return true
}

// credit adds the participant's charges for [since, t).
func (r *room) credit(p *participant, t int64) {
	if t > p.since && len(p.charges) > 0 {
		r.m.addSpans(r.app, p.charges, p.since, t)
	}
	p.since = t
}

// recompute re-rates one participant at t; if its charges changed it is
// credited for the time before.
func (r *room) recompute(p *participant, t int64) {
	next := r.m.chargesOf(r, p, r.m.newCharg[:0])
	r.m.newCharg = next
	if sameCharges(p.charges, next) {
		return
	}
	r.credit(p, t)
	p.charges = append(p.charges[:0], next...)
}

// recomputeStream re-rates the participants a change of stream k can
// affect; the room's receive-all area was all before the change.
func (r *room) recomputeStream(k streamKey, all int64, t int64) {
	r.recomputeStreams([]*stream{k.user.slots[k.kind]}, all, t)
}

// recomputeStreams re-rates the participants a change of the stream slots
// sts (nil entries ignored) can affect; the room's receive-all area was all
// before the change. Under TRTC that is whoever subscribed to one of them
// (robots' stream lists are subscriptions too), and whoever receives every
// stream if the receive-all area changed: such a participant gets that
// area less its own streams (which change it alike), corrected by its
// explicit subscriptions, and a recording of all streams records it. So a
// small stream or an audio-only stream re-rates only its subscribers.
// Under HST every participant hears every publisher, so everyone.
func (r *room) recomputeStreams(sts []*stream, all int64, t int64) {
	if r.m.model != modelTRTC {
		r.recomputeAll(t)
		return
	}
	allChanged := r.allArea != all
	for _, p := range r.list {
		if allChanged && p.recv == recvAll || p.subs.holdsAny(sts) {
			r.recompute(p, t)
		}
	}
}

func (r *room) recomputeAll(t int64) {
	for _, p := range r.list {
		r.recompute(p, t)
	}
}

func sameCharges(a, b []charge) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
