package meter_test

// refModel is a reference implementation of the A/V and robot rules (SPEC
// §1 tiers and days, §2 A/V minutes, §3 recording, delivery, transcoding,
// relay and pull-stream input) and of docs/decisions.md's metering core,
// written to be checked by reading, not to be fast: it takes the events
// of every room in the order they happened (one pass, time order, and
// within an instant the order of a causally valid sequence), keeps the
// rooms in plain maps, and at every instant works out every participant's
// charges from scratch. It shares no code with package meter.
//
// It also checks that a sequence is in the form docs/decisions.md
// ("Events at the same instant") reads unambiguously: the property test
// shuffles the events of each instant before the meter sees them, and the
// meter must give the result of the order the model was given.

import (
	"fmt"
	"sort"
	"time"

	"github.com/livebill/livebill"
)

// refKey addresses the usage the property test compares: (app, local day,
// item).
type refKey struct{ app, day, item string }

// refStreamKey is a publisher's stream: a user, or robot:input:<task>.
type refStreamKey struct{ pub, kind string }

type refStream struct {
	video, audio bool
	area         int64
}

type refUser struct {
	mode string                 // manual, all, audio
	subs map[refStreamKey]int64 // explicit subscriptions → stated area (0: none stated)
	off  map[refStreamKey]bool  // receive-all: main/screen streams turned off
	last int64                  // its last own event
}

type refTask struct {
	kind      string // recording, transcode, relay, input
	id        string // robot:<kind>:<task>
	formats   int64
	audioOnly bool // recording media: audio
	all       bool // recording/relay streams: all
	refs      []refStreamKey
	outputs   []livebill.Output
	codec     string
	outAudio  bool
	outArea   int64
	relay     *refRelay
	last      int64
}

type refRelay struct {
	app, room, task, dest string
	kbps                  int64
	start, end            int64 // end 0 while running
}

type refRoom struct {
	app, id string
	users   map[string]*refUser
	streams map[refStreamKey]refStream // running
	tasks   map[string]*refTask        // by robot id
	// timedOut holds participants closed by the session timeout and not
	// back since: their late ends are accepted and change nothing.
	timedOut map[string]bool
}

// refTimeout is a session closed by the timeout.
type refTimeout struct {
	app, room, who string
	at             int64
}

type refModel struct {
	loc      *time.Location
	timeout  int64 // ms; 0: none
	now      int64 // everything before now is credited
	rooms    map[[2]string]*refRoom
	usage    map[refKey]int64
	relays   []*refRelay
	timeouts []refTimeout
	inst     refInstant
}

func newRefModel(loc *time.Location, timeout time.Duration) *refModel {
	return &refModel{loc: loc, timeout: timeout.Milliseconds(), rooms: map[[2]string]*refRoom{},
		usage: map[refKey]int64{}}
}

func (m *refModel) room(app, id string) *refRoom {
	k := [2]string{app, id}
	r := m.rooms[k]
	if r == nil {
		r = &refRoom{app: app, id: id, users: map[string]*refUser{}, streams: map[refStreamKey]refStream{},
			tasks: map[string]*refTask{}, timedOut: map[string]bool{}}
		m.rooms[k] = r
	}
	return r
}

// SPEC §1 tiers.
func refTier(area int64) string {
	switch {
	case area <= 921_600:
		return "hd"
	case area <= 2_073_600:
		return "fhd"
	case area <= 3_686_400:
		return "2k"
	}
	return "4k"
}

func robotID(kind, task string) string { return "robot:" + kind + ":" + task }

// userArea is what user u receives (SPEC §2): every running video stream
// of another publisher it receives — main and screen by receive-all
// unless turned off, or by explicit subscription; small only by explicit
// subscription, at the stated size if any — summed; nothing in audio mode.
func (r *refRoom) userArea(id string, u *refUser) int64 {
	if u.mode == "audio" {
		return 0
	}
	var area int64
	for k, s := range r.streams {
		if k.pub == id || !s.video {
			continue
		}
		stated, explicit := u.subs[k]
		recv := explicit
		if u.mode == "all" && k.kind != "small" {
			recv = !u.off[k]
		}
		if !recv {
			continue
		}
		if k.kind == "small" && stated > 0 {
			area += stated
		} else {
			area += s.area
		}
	}
	return area
}

// allVideo is the area of every running main and screen video stream in
// the room: what a recording or relay of all streams takes in.
func (r *refRoom) allVideo() int64 {
	var area int64
	for k, s := range r.streams {
		if k.kind != "small" && s.video {
			area += s.area
		}
	}
	return area
}

// refsVideo is the area of the running video streams among refs, each
// stream counted once however often it is listed.
func (r *refRoom) refsVideo(refs []refStreamKey) int64 {
	var area int64
	for _, k := range dedupRefs(refs) {
		if s, ok := r.streams[k]; ok && s.video {
			area += s.area
		}
	}
	return area
}

func dedupRefs(refs []refStreamKey) []refStreamKey {
	seen := map[refStreamKey]bool{}
	var out []refStreamKey
	for _, k := range refs {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// av is the A/V item of a receiver of area.
func av(area int64) string {
	if area == 0 {
		return "trtc.av.audio"
	}
	return "trtc.av." + refTier(area)
}

// charges lists what every participant of the room accrues now, item →
// times over (SPEC §2, §3).
func (r *refRoom) charges() map[string]int64 {
	out := map[string]int64{}
	for id, u := range r.users {
		out[av(r.userArea(id, u))]++
	}
	for _, tk := range r.tasks {
		switch tk.kind {
		case "recording":
			area := int64(0)
			if !tk.audioOnly {
				if tk.all {
					area = r.allVideo()
				} else {
					area = r.refsVideo(tk.refs)
				}
			}
			out[av(area)]++ // the robot receives what it records
			rec := "trtc.recording.audio"
			if area > 0 {
				rec = "trtc.recording." + refTier(area)
			}
			out[rec] += tk.formats
			for _, o := range tk.outputs {
				switch {
				case o.Destination == "vod":
				case o.Media == "audio" || o.Width == 0 || o.Height == 0:
					out["trtc.delivery."+o.Destination+".audio"]++
				default:
					out["trtc.delivery."+o.Destination+"."+refTier(int64(o.Width)*int64(o.Height))]++
				}
			}
		case "transcode":
			var video, audioOnly int64
			for _, k := range dedupRefs(tk.refs) {
				s, ok := r.streams[k]
				switch {
				case !ok:
				case s.video:
					video += s.area
				case s.audio:
					audioOnly++
				}
			}
			out[av(video)]++ // the robot receives its inputs
			real := video > 0
			billed := video
			if !tk.outAudio {
				if !real {
					billed = tk.outArea // black frame
				} else if tk.outArea > 2*video {
					billed += tk.outArea
				}
			}
			if billed > 0 {
				out["trtc.transcode."+tk.codec+"."+refTier(billed)]++
			}
			switch {
			case audioOnly == 0:
			case real:
				out["trtc.transcode.audio"] += audioOnly
			default:
				out["trtc.transcode.audio"]++
			}
		case "relay":
			if tk.all {
				out[av(r.allVideo())]++
			} else {
				out[av(r.refsVideo(tk.refs))]++
			}
		case "input":
			out["trtc.av.audio"]++
			s := r.streams[refStreamKey{tk.id, "main"}]
			if s.video {
				out["trtc.transcode.h264."+refTier(s.area)]++
			} else {
				out["trtc.transcode.audio"]++
			}
		}
	}
	return out
}

// credit bills every room's charges for [m.now, to), split at the billing
// zone's midnights.
func (m *refModel) credit(to int64) {
	if m.now == 0 { // the first event: nobody is in a room yet
		m.now = to
		return
	}
	for a := m.now; a < to; {
		t := time.UnixMilli(a).In(m.loc)
		y, mo, d := t.Date()
		next := time.Date(y, mo, d+1, 0, 0, 0, 0, m.loc).UnixMilli()
		b := next
		if to < b {
			b = to
		}
		day := t.Format(time.DateOnly)
		for _, r := range m.rooms {
			for item, n := range r.charges() {
				m.usage[refKey{r.app, day, item}] += n * (b - a)
			}
		}
		a = b
	}
	if to > m.now {
		m.now = to
	}
}

// advance bills up to instant to, closing on the way every session whose
// last own event is more than the timeout before to (at that event plus
// the timeout), earliest first.
func (m *refModel) advance(to int64) {
	for m.timeout > 0 {
		var first *refTimeout
		for _, r := range m.rooms {
			for id, u := range r.users {
				if d := u.last + m.timeout; d < to && (first == nil || d < first.at) {
					first = &refTimeout{r.app, r.id, id, d}
				}
			}
			for id, tk := range r.tasks {
				if d := tk.last + m.timeout; d < to && (first == nil || d < first.at) {
					first = &refTimeout{r.app, r.id, id, d}
				}
			}
		}
		if first == nil {
			break
		}
		m.credit(first.at)
		r := m.room(first.app, first.room)
		if r.users[first.who] != nil {
			r.leave(first.who)
		} else {
			m.stopTask(r, r.tasks[first.who], first.at)
		}
		r.timedOut[first.who] = true
		m.timeouts = append(m.timeouts, *first)
	}
	m.credit(to)
}

// leave takes a user out: its streams stop, its subscriptions end.
func (r *refRoom) leave(id string) {
	delete(r.users, id)
	for k := range r.streams {
		if k.pub == id {
			delete(r.streams, k)
		}
	}
}

func (m *refModel) stopTask(r *refRoom, tk *refTask, t int64) {
	delete(r.tasks, tk.id)
	if tk.relay != nil {
		tk.relay.end = t
	}
	if tk.kind == "input" {
		delete(r.streams, refStreamKey{tk.id, "main"})
	}
}

// close bills everyone still present up to at; relays still running end
// there.
func (m *refModel) close(at int64) {
	m.advance(at)
	for _, rl := range m.relays {
		if rl.end == 0 {
			rl.end = at
		}
	}
}

// taskKind names the robot kind of a task event.
func taskKind(t livebill.EventType) string {
	switch t {
	case livebill.RecordingStart, livebill.RecordingStop:
		return "recording"
	case livebill.TranscodeStart, livebill.TranscodeUpdate, livebill.TranscodeStop:
		return "transcode"
	case livebill.RelayStart, livebill.RelayStop:
		return "relay"
	}
	return "input"
}

func refsOf(in []livebill.StreamRef) []refStreamKey {
	var out []refStreamKey
	for _, s := range in {
		out = append(out, refStreamKey{s.User, s.Stream})
	}
	return out
}

// apply plays one event (after check accepted it): SPEC §7.1 in sequence.
func (m *refModel) apply(e *livebill.Event) {
	m.advance(e.Time)
	m.inst.record(m, e)
	r := m.room(e.App, e.Room)
	t := e.Time
	u := r.users[e.User]
	sk := refStreamKey{e.User, e.Stream}
	switch e.Type {
	case livebill.RoomJoin:
		mode := e.Subscribe
		if mode == "" {
			mode = "manual"
		}
		r.users[e.User] = &refUser{mode: mode, subs: map[refStreamKey]int64{}, off: map[refStreamKey]bool{}, last: t}
		delete(r.timedOut, e.User)
	case livebill.RoomLeave:
		if u == nil { // the late leave of a timed-out session
			delete(r.timedOut, e.User)
			return
		}
		r.leave(e.User)
	case livebill.StreamStart:
		u.last = t
		s := refStream{video: e.Media == "video"}
		s.audio = e.Stream == "main" && (!s.video || !e.NoAudio)
		if s.video {
			s.area = int64(e.Width) * int64(e.Height)
		}
		r.streams[sk] = s
	case livebill.StreamUpdate:
		if u == nil {
			return // a timed-out session's stream
		}
		u.last = t
		s := r.streams[sk]
		s.video, s.area = true, int64(e.Width)*int64(e.Height)
		r.streams[sk] = s
	case livebill.StreamStop:
		if u == nil {
			return
		}
		u.last = t
		delete(r.streams, sk)
	case livebill.SubscribeStart, livebill.SubscribeStop:
		if u == nil {
			return
		}
		u.last = t
		k := refStreamKey{e.Publisher, e.Stream}
		auto := u.mode == "all" && e.Stream != "small"
		switch {
		case e.Type == livebill.SubscribeStart && auto:
			delete(u.off, k)
		case e.Type == livebill.SubscribeStart:
			u.subs[k] = int64(e.Width) * int64(e.Height)
		case auto:
			u.off[k] = true
		default:
			delete(u.subs, k)
		}
	case livebill.RecordingStart, livebill.TranscodeStart, livebill.RelayStart, livebill.InputStart:
		kind := taskKind(e.Type)
		tk := &refTask{kind: kind, id: robotID(kind, e.Task), last: t}
		delete(r.timedOut, tk.id)
		switch kind {
		case "recording":
			tk.formats, tk.audioOnly, tk.all = int64(len(e.Formats)), e.Media == "audio", e.AllStreams
			tk.refs, tk.outputs = refsOf(e.Streams), e.Outputs
		case "transcode":
			tk.codec, tk.outAudio, tk.outArea = e.Codec, e.OutputAudio, int64(e.Output.Width)*int64(e.Output.Height)
			tk.refs = refsOf(e.Inputs)
		case "relay":
			tk.all, tk.refs = e.AllStreams || len(e.Streams) == 0, refsOf(e.Streams)
			tk.relay = &refRelay{r.app, r.id, e.Task, e.Destination, e.BitrateKbps, t, 0}
			m.relays = append(m.relays, tk.relay)
		case "input":
			s := refStream{video: e.Media == "video", audio: true}
			if s.video {
				s.area = int64(e.Width) * int64(e.Height)
			}
			r.streams[refStreamKey{tk.id, "main"}] = s
		}
		r.tasks[tk.id] = tk
	case livebill.TranscodeUpdate:
		tk := r.tasks[robotID("transcode", e.Task)]
		if tk == nil {
			return // a timed-out task
		}
		tk.last = t
		tk.codec, tk.outAudio, tk.outArea = e.Codec, e.OutputAudio, int64(e.Output.Width)*int64(e.Output.Height)
		tk.refs = refsOf(e.Inputs)
	case livebill.RecordingStop, livebill.TranscodeStop, livebill.RelayStop, livebill.InputStop:
		id := robotID(taskKind(e.Type), e.Task)
		if tk := r.tasks[id]; tk != nil {
			m.stopTask(r, tk, t)
		} else {
			delete(r.timedOut, id)
		}
	}
}

// check tells whether e may come next: it is valid in sequence (SPEC §7.1,
// with the late ends of timed-out sessions accepted), and the instant's
// events so far stay in the form the same-instant rules read as they
// happened. The model must have been advanced to e's instant (sessions
// that time out before e change what is valid). It changes nothing.
func (m *refModel) check(e *livebill.Event) error {
	if e.Time != m.now {
		return fmt.Errorf("the model is at %d, not at the event's instant", m.now)
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if err := m.valid(e); err != nil {
		return err
	}
	return m.inst.canonical(m, e)
}

// valid is SPEC §7.1's validity in sequence.
func (m *refModel) valid(e *livebill.Event) error {
	r := m.room(e.App, e.Room)
	u := r.users[e.User]
	sk := refStreamKey{e.User, e.Stream}
	_, running := r.streams[sk]
	late := r.timedOut[e.User]
	switch e.Type {
	case livebill.RoomJoin:
		if u != nil {
			return fmt.Errorf("already in the room")
		}
		if r.tasks[e.User] != nil {
			return fmt.Errorf("a robot's id")
		}
	case livebill.RoomLeave:
		if u == nil && !late {
			return fmt.Errorf("leave without join")
		}
	case livebill.StreamStart:
		if u == nil {
			return fmt.Errorf("not in the room")
		}
		if running {
			return fmt.Errorf("already running")
		}
	case livebill.StreamUpdate, livebill.StreamStop:
		if !running && !(u == nil && late) {
			return fmt.Errorf("not running")
		}
	case livebill.SubscribeStart:
		if u == nil {
			return fmt.Errorf("not in the room")
		}
	case livebill.SubscribeStop:
		if u == nil && !late {
			return fmt.Errorf("not in the room")
		}
	case livebill.RecordingStart, livebill.TranscodeStart, livebill.RelayStart, livebill.InputStart:
		id := robotID(taskKind(e.Type), e.Task)
		if r.tasks[id] != nil || r.users[id] != nil {
			return fmt.Errorf("already running")
		}
	case livebill.TranscodeUpdate, livebill.RecordingStop, livebill.TranscodeStop, livebill.RelayStop, livebill.InputStop:
		id := robotID(taskKind(e.Type), e.Task)
		if r.tasks[id] == nil && !r.timedOut[id] {
			return fmt.Errorf("not running")
		}
	}
	return nil
}

// --- the same-instant rules as constraints on the order of an instant ---

// A thing is what a start begins and a stop ends: a user's presence, a
// stream, a subscription, a task. Its owner is the user whose leave ends
// it too (streams and subscriptions; "" for the others).
type refThing struct {
	key, owner string
}

// refOwner is a user as it was when the instant began, kept from its first
// join or leave at the instant: what its streams and subscriptions were.
type refOwner struct {
	user     *refUser // nil when absent
	timedOut bool
	streams  map[string]bool // running stream kinds
}

// refInstant is the bookkeeping of the current instant: per thing whether
// it could be ended when the instant began (running, or closed by the
// timeout and not back), and how many starts, ends and updates it has had
// at this instant, in order.
type refInstant struct {
	t        int64
	endable  map[string]bool
	owners   map[string]refOwner // per room|user
	starts   map[string]int
	ends     map[string]int
	updates  map[string]int
	joins    map[string]int  // per room|user
	leaves   map[string]int  // per room|user
	early    map[string]bool // per room|user: a start, or an end of something not endable, before its leave
	lateEnds map[string]bool // per room|user: an end of something not endable, before any join
	lateUpd  map[string]bool // per room|user: an update of a timed-out session's stream
}

func (in *refInstant) reset(t int64) {
	*in = refInstant{t: t, endable: map[string]bool{}, owners: map[string]refOwner{}, starts: map[string]int{},
		ends: map[string]int{}, updates: map[string]int{}, joins: map[string]int{}, leaves: map[string]int{},
		early: map[string]bool{}, lateEnds: map[string]bool{}, lateUpd: map[string]bool{}}
}

// subOn says whether user u receives or explicitly subscribes to k: what a
// subscribe.stop would end.
func subOn(u *refUser, k refStreamKey) bool {
	if u.mode == "all" && k.kind != "small" {
		return !u.off[k]
	}
	_, on := u.subs[k]
	return on
}

// thing names what e starts, ends or updates, and whether it could be
// ended when the instant began.
func (m *refModel) thing(r *refRoom, e *livebill.Event) (refThing, bool) {
	rk := r.app + "|" + r.id + "|"
	uk := rk + e.User
	var th refThing
	switch e.Type {
	case livebill.RoomJoin, livebill.RoomLeave:
		th = refThing{rk + "u|" + e.User, ""}
	case livebill.StreamStart, livebill.StreamUpdate, livebill.StreamStop:
		th = refThing{rk + "s|" + e.User + "|" + e.Stream, uk}
	case livebill.SubscribeStart, livebill.SubscribeStop:
		th = refThing{rk + "b|" + e.User + "|" + e.Publisher + "|" + e.Stream, uk}
	default:
		th = refThing{rk + "t|" + robotID(taskKind(e.Type), e.Task), ""}
	}
	if v, ok := m.inst.endable[th.key]; ok && m.inst.t == e.Time {
		return th, v
	}
	// Not touched yet at this instant: as it is now, or, if its owner
	// joined or left at the instant, as it was before that.
	o, ok := m.inst.owners[uk]
	if !ok || m.inst.t != e.Time {
		o = refOwner{user: r.users[e.User], timedOut: r.timedOut[e.User], streams: map[string]bool{}}
		for k := range r.streams {
			if k.pub == e.User {
				o.streams[k.kind] = true
			}
		}
	}
	switch e.Type {
	case livebill.RoomJoin, livebill.RoomLeave:
		return th, o.user != nil || o.timedOut
	case livebill.StreamStart, livebill.StreamUpdate, livebill.StreamStop:
		return th, o.streams[e.Stream] || o.user == nil && o.timedOut
	case livebill.SubscribeStart, livebill.SubscribeStop:
		if o.user == nil {
			return th, o.timedOut
		}
		return th, subOn(o.user, refStreamKey{e.Publisher, e.Stream})
	}
	id := robotID(taskKind(e.Type), e.Task)
	return th, r.tasks[id] != nil || r.timedOut[id]
}

func isStart(t livebill.EventType) bool {
	switch t {
	case livebill.RoomJoin, livebill.StreamStart, livebill.SubscribeStart, livebill.RecordingStart,
		livebill.TranscodeStart, livebill.RelayStart, livebill.InputStart:
		return true
	}
	return false
}

func isUpdate(t livebill.EventType) bool {
	return t == livebill.StreamUpdate || t == livebill.TranscodeUpdate
}

// canonical checks e against the rules of docs/decisions.md for events of
// one instant, given what came before it at this instant:
//
//  1. at most one start, one end and one update of a thing per instant;
//  2. an end of a thing that could be ended when the instant began
//     (running, or timed out) ends that one: it comes before the thing's
//     start and before its owner's leave or join; an end of a thing that
//     was not running ends what starts at the instant: it comes after that
//     start and after its owner's join;
//  3. an update comes after the thing's start at the instant, if any;
//  4. a user that leaves and rejoins at the instant has no start, and no
//     end of something that was not running, before its leave: its events
//     at the instant belong to the new session; likewise a timed-out
//     user's late update comes after its rejoin.
func (in *refInstant) canonical(m *refModel, e *livebill.Event) error {
	if e.Time != in.t {
		return nil // a new instant: nothing before it
	}
	r := m.room(e.App, e.Room)
	th, pre := m.thing(r, e)
	uk := r.app + "|" + r.id + "|" + e.User
	switch {
	case e.Type == livebill.RoomJoin:
		if in.starts[th.key] > 0 {
			return fmt.Errorf("rule 1: a second join at one instant")
		}
		if in.leaves[uk] > 0 && in.early[uk] {
			return fmt.Errorf("rule 4: a rejoining user's events before its leave")
		}
		if in.lateEnds[uk] {
			return fmt.Errorf("rule 2: an end of something not running before its owner's join")
		}
		if in.lateUpd[uk] {
			return fmt.Errorf("rule 4: a timed-out session's update before the user's rejoin")
		}
	case e.Type == livebill.RoomLeave:
		if in.ends[th.key] > 0 {
			return fmt.Errorf("rule 1: a second leave at one instant")
		}
		if pre && in.starts[th.key] > 0 {
			return fmt.Errorf("rule 2: the leave of a present (or timed-out) user after its join")
		}
	case isStart(e.Type):
		if in.starts[th.key] > 0 {
			return fmt.Errorf("rule 1: a second start of one thing at one instant")
		}
		if !pre && in.ends[th.key] > 0 {
			return fmt.Errorf("rule 2: an end before the start of a thing that was not running")
		}
		if in.updates[th.key] > 0 {
			return fmt.Errorf("rule 3: an update before the start")
		}
	case isUpdate(e.Type):
		if in.updates[th.key] > 0 {
			return fmt.Errorf("rule 1: a second update at one instant")
		}
	default: // an end
		if in.ends[th.key] > 0 {
			return fmt.Errorf("rule 1: a second end of one thing at one instant")
		}
		if pre && in.starts[th.key] > 0 {
			return fmt.Errorf("rule 2: a running thing's end after its start")
		}
		if pre && th.owner != "" && (in.leaves[th.owner] > 0 || in.joins[th.owner] > 0) {
			return fmt.Errorf("rule 2: a running thing's end after its owner's leave or join")
		}
	}
	return nil
}

// record notes e (checked, about to apply) in the instant's bookkeeping.
func (in *refInstant) record(m *refModel, e *livebill.Event) {
	if e.Time != in.t || in.endable == nil {
		in.reset(e.Time)
	}
	r := m.room(e.App, e.Room)
	th, pre := m.thing(r, e)
	in.endable[th.key] = pre
	uk := r.app + "|" + r.id + "|" + e.User
	switch {
	case e.Type == livebill.RoomJoin || e.Type == livebill.RoomLeave:
		if _, ok := in.owners[uk]; !ok {
			o := refOwner{user: r.users[e.User], timedOut: r.timedOut[e.User], streams: map[string]bool{}}
			for k := range r.streams {
				if k.pub == e.User {
					o.streams[k.kind] = true
				}
			}
			in.owners[uk] = o
		}
		if e.Type == livebill.RoomJoin {
			in.joins[uk]++
			in.starts[th.key]++
		} else {
			in.leaves[uk]++
			in.ends[th.key]++
		}
	case isStart(e.Type):
		in.starts[th.key]++
		if th.owner != "" && in.leaves[th.owner] == 0 {
			in.early[th.owner] = true
		}
	case isUpdate(e.Type):
		in.updates[th.key]++
		if th.owner != "" && r.users[e.User] == nil {
			in.lateUpd[th.owner] = true
		}
	default:
		in.ends[th.key]++
		if !pre && th.owner != "" {
			if in.leaves[th.owner] == 0 {
				in.early[th.owner] = true
			}
			if in.joins[th.owner] == 0 {
				in.lateEnds[th.owner] = true
			}
		}
	}
}

// --- running a whole sequence ---

// refResult is what the property test compares.
type refResult struct {
	usage    map[refKey]int64
	relays   []string
	timeouts []string
}

// runRef plays events (in the order they happened) and closes at closeAt;
// an event the model refuses is an error naming it.
func runRef(loc *time.Location, timeout time.Duration, es []livebill.Event, closeAt int64) (refResult, error) {
	m := newRefModel(loc, timeout)
	for i := range es {
		e := &es[i]
		m.advance(e.Time)
		if err := m.check(e); err != nil {
			return refResult{}, fmt.Errorf("event %d (%s %s): %v", i, e.Type, e.User+e.Task, err)
		}
		m.apply(e)
	}
	m.close(closeAt)
	return m.result(), nil
}

func (m *refModel) result() refResult {
	res := refResult{usage: map[refKey]int64{}}
	for k, v := range m.usage {
		if v != 0 {
			res.usage[k] = v
		}
	}
	for _, rl := range m.relays {
		res.relays = append(res.relays, fmt.Sprintf("%s %s %s %s %d %d-%d", rl.app, rl.room, rl.task, rl.dest, rl.kbps, rl.start, rl.end))
	}
	sort.Strings(res.relays)
	for _, to := range m.timeouts {
		res.timeouts = append(res.timeouts, fmt.Sprintf("%s %s %s %d", to.app, to.room, to.who, to.at))
	}
	sort.Strings(res.timeouts)
	return res
}
