// Package gen writes seeded, realistic TRTC usage workloads as NDJSON
// (SPEC §7.1): apps with many rooms; users who join, leave and rejoin,
// publish main, small and screen streams, change resolution, and receive in
// manual, all or audio mode with explicit subscriptions; recording,
// transcoding, relay and pull-stream input tasks; over a span that crosses
// midnight in Asia/Shanghai.
//
// The same Config (seed included) always gives the same bytes. Every stream
// is valid for the meter: per room, times never go back, a user leaves only
// after joining, streams are updated and stopped only while running, tasks
// are stopped only while running; events of one millisecond stay in the
// forms the meter reads as written (no rejoin at the instant of a leave,
// one start and one stop of a stream per instant). Sessions end: a user or
// task with no event of its own for MaxIdle leaves or stops, and at the
// end every open session is closed (unless LeaveOpen). Output is
// streamed, so 100M events need no more memory than 10k.
package gen

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config describes a workload.
type Config struct {
	Events int64   // events to write
	Apps   int     // applications (default 10)
	Seed   uint64  // random seed
	Tasks  float64 // share of rooms that run recording/transcoding/relay/input tasks, 0..1
	// Rooms is the number of rooms open at once (default Events/1000, at
	// least 4, at most 100,000).
	Rooms int
	// Start is the first instant (default 2024-10-01T20:00:00+08:00); Span
	// the time the events cover (default 30h, crossing a local midnight).
	Start time.Time
	Span  time.Duration
	// LeaveOpen leaves the sessions still open at the end open: no final
	// leaves and task stops (to try the meter's session timeout and
	// open_at_period_end). By default the last events close them, within
	// Events.
	LeaveOpen bool
	// MaxIdle: a user or task with no event of its own for this long
	// leaves or stops then (default 12h, below the meter's default session
	// timeout of 24h).
	MaxIdle time.Duration
	// Progress, if set, is called every ProgressEvery events and at the end.
	Progress      func(written int64)
	ProgressEvery int64
}

// shanghai is Asia/Shanghai's offset: fixed at +08:00 since 1991, so no
// zone database is needed.
var shanghai = time.FixedZone("CST", 8*3600)

// DefaultStart is the default first instant.
var DefaultStart = time.Date(2024, 10, 1, 20, 0, 0, 0, shanghai)

func (c *Config) defaults() {
	if c.Apps <= 0 {
		c.Apps = 10
	}
	if c.Rooms <= 0 {
		c.Rooms = int(min(max(c.Events/1000, 4), 100_000))
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Span <= 0 {
		c.Span = 30 * time.Hour
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 1_000_000
	}
	if c.MaxIdle <= 0 {
		c.MaxIdle = 12 * time.Hour
	}
}

// ErrTooFewEvents: closing every session needs at least a join and a
// leave.
var ErrTooFewEvents = errors.New("a workload that closes its sessions needs at least 2 events (or leave them open)")

// Write writes cfg.Events events to w and returns how many it wrote.
func Write(w io.Writer, cfg Config) (int64, error) {
	cfg.defaults()
	if !cfg.LeaveOpen && cfg.Events == 1 {
		return 0, ErrTooFewEvents
	}
	g := &generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		bw:      bufio.NewWriterSize(w, 256<<10),
		now:     cfg.Start.UnixMilli(),
		maxIdle: cfg.MaxIdle.Milliseconds(),
	}
	g.apps = make([]string, cfg.Apps)
	for i := range g.apps {
		g.apps[i] = strconv.Itoa(1400000001 + i)
	}
	g.rooms = make([]*room, cfg.Rooms)
	g.idle = make(idleHeap, cfg.Rooms)
	for i := range g.rooms {
		g.rooms[i] = g.newRoom()
		g.idle[i] = g.rooms[i]
		g.rooms[i].hidx = i
	}
	heap.Init(&g.idle)
	// Mean gap between events so the stream covers the span.
	gap := max(cfg.Span.Milliseconds()*2/max(cfg.Events, 1), 0)
	for g.n < cfg.Events {
		if !cfg.LeaveOpen && cfg.Events-g.n <= g.open+3 {
			if err := g.closeAll(); err != nil {
				return g.n, err
			}
			break
		}
		// Sessions idle for MaxIdle end at that instant, before the
		// next event: at the latest at g.now, never before the last
		// event written.
		if r := g.idle[0]; r.deadline < g.now {
			g.t = r.deadline
			g.closeIdle(r)
			if err := g.next(); err != nil {
				return g.n, err
			}
			continue
		}
		g.t = g.now
		i := g.rng.IntN(len(g.rooms))
		r := g.rooms[i]
		if !g.step(r) {
			g.replace(i) // closed: another one opens
			continue
		}
		g.touched(r)
		if gap > 0 {
			g.now += g.rng.Int64N(gap + 1)
		}
		if err := g.next(); err != nil {
			return g.n, err
		}
	}
	if err := g.bw.Flush(); err != nil {
		return g.n, fmt.Errorf("cannot write events: %w", err)
	}
	if cfg.Progress != nil && g.n%cfg.ProgressEvery != 0 {
		cfg.Progress(g.n)
	}
	return g.n, nil
}

type generator struct {
	cfg     Config
	rng     *rand.Rand
	bw      *bufio.Writer
	now     int64 // Unix ms; never decreases, so neither do a room's times
	t       int64 // the time of the event being written (now, or an idle session's end)
	n       int64
	apps    []string
	rooms   []*room
	seq     int      // room serial
	open    int64    // present users and running tasks: the events closing them takes
	idle    idleHeap // rooms by their earliest idle deadline
	maxIdle int64    // ms

	buf     []byte
	tsSec   int64 // second whose text is in tsText
	tsText  []byte
	written bool
}

// Stream kinds, as in the schema.
var kinds = [3]string{"main", "small", "screen"}

type stream struct {
	on, video bool
	w, h      int
	// the instants it last started and stopped: the meter takes one
	// start and one stop of a stream per instant
	startedAt, stoppedAt int64
}

type user struct {
	id      string
	present bool
	mode    string // subscribe mode: manual, all, audio
	streams [3]stream
	subs    []subRef // explicit subscriptions (for subscribe.stop)
	last    int64    // its last event: it leaves when idle for MaxIdle
	leftAt  int64    // a user does not rejoin at the instant it left
}

type subRef struct {
	pub  string
	kind int
}

type task struct {
	kind string // recording, transcode, relay, input
	id   string
	last int64 // its start or last update: it stops when idle for MaxIdle
}

type room struct {
	app, id   string
	users     []*user // present and gone (they may rejoin)
	present   int
	maxUsers  int
	budget    int // events before the room winds down
	withTasks bool
	tasks     []task
	taskSeq   int
	hidx      int   // index in generator.idle
	deadline  int64 // the earliest last event + MaxIdle of its users and tasks
}

func (g *generator) newRoom() *room {
	g.seq++
	// A few big apps and a long tail.
	a := int(float64(len(g.apps)) * g.rng.Float64() * g.rng.Float64())
	r := &room{
		app:       g.apps[a],
		id:        "r" + strconv.Itoa(g.seq),
		maxUsers:  2 + g.rng.IntN(11),
		budget:    20 + g.rng.IntN(1500),
		withTasks: g.rng.Float64() < g.cfg.Tasks,
		deadline:  math.MaxInt64,
	}
	if g.rng.IntN(20) == 0 { // an occasional large room
		r.maxUsers = 30 + g.rng.IntN(40)
	}
	return r
}

// Video sizes, weighted towards the common ones.
var mainSizes = [][2]int{{640, 360}, {640, 360}, {960, 540}, {1280, 720}, {1280, 720}, {1280, 720},
	{1920, 1080}, {1920, 1080}, {2560, 1440}, {3840, 2160}}
var smallSizes = [][2]int{{320, 180}, {480, 270}}
var screenSizes = [][2]int{{1280, 720}, {1920, 1080}, {2560, 1440}}

// step writes one event of room r; false when the room has closed.
func (g *generator) step(r *room) bool {
	if r.budget <= 0 {
		return g.wind(r)
	}
	r.budget--
	for try := 0; try < 8; try++ {
		if g.action(r) {
			return true
		}
	}
	// Always possible: join someone, or have someone leave.
	if r.present < r.maxUsers {
		g.join(r)
	} else {
		g.leave(r, g.presentUser(r))
	}
	return true
}

// wind closes the room down: tasks stop, then everyone leaves.
func (g *generator) wind(r *room) bool {
	if n := len(r.tasks); n > 0 {
		g.stopTask(r, n-1)
		return true
	}
	if r.present > 0 {
		g.leave(r, g.presentUser(r))
		return true
	}
	return false
}

// action tries one random action; false if it does not apply now.
func (g *generator) action(r *room) bool {
	x := g.rng.IntN(100)
	switch {
	case r.present == 0 || (r.present < 2 && x < 50):
		return g.join(r)
	case x < 8:
		if r.present >= r.maxUsers {
			return false
		}
		return g.join(r)
	case x < 14:
		if r.present <= 1 && r.budget > 10 {
			return false
		}
		g.leave(r, g.presentUser(r))
		return true
	case x < 34:
		return g.streamStart(r, g.presentUser(r))
	case x < 44:
		return g.streamUpdate(r, g.presentUser(r))
	case x < 52:
		return g.streamStop(r, g.presentUser(r))
	case x < 80:
		return g.subscribeStart(r, g.presentUser(r))
	case x < 92:
		return g.subscribeStop(r, g.presentUser(r))
	default:
		if !r.withTasks {
			return false
		}
		if len(r.tasks) > 0 && g.rng.IntN(3) == 0 {
			i := g.rng.IntN(len(r.tasks))
			if r.tasks[i].kind == "transcode" && g.rng.IntN(2) == 0 {
				r.tasks[i].last = g.t
				g.transcode(r, r.tasks[i].id, "transcode.update")
				return true
			}
			g.stopTask(r, i)
			return true
		}
		if len(r.tasks) >= 4 {
			return false
		}
		return g.startTask(r)
	}
}

func (g *generator) presentUser(r *room) *user {
	k := g.rng.IntN(r.present)
	for _, u := range r.users {
		if u.present {
			if k == 0 {
				return u
			}
			k--
		}
	}
	panic("gen: present count out of step")
}

func (g *generator) join(r *room) bool {
	if r.present >= r.maxUsers {
		return false
	}
	var u *user
	if len(r.users) > r.present && g.rng.IntN(3) == 0 { // a rejoin
		for _, c := range r.users {
			if !c.present && c.leftAt != g.t {
				u = c
				break
			}
		}
	}
	if u == nil {
		u = &user{id: g.userID(r)}
		r.users = append(r.users, u)
	}
	u.present = true
	u.last = g.t
	r.present++
	g.open++
	switch x := g.rng.IntN(10); {
	case x < 5:
		u.mode = "all"
	case x < 8:
		u.mode = "manual"
	default:
		u.mode = "audio"
	}
	g.begin("room.join", r)
	g.str("user", u.id)
	if u.mode != "manual" || g.rng.IntN(2) == 0 {
		g.str("subscribe", u.mode)
	}
	g.end()
	return true
}

// userID draws an id from the app's user pool that is new to the room.
func (g *generator) userID(r *room) string {
	pool := 50_000 + 5*len(g.rooms)
again:
	id := "u" + strconv.Itoa(1+g.rng.IntN(pool))
	for _, u := range r.users {
		if u.id == id {
			goto again
		}
	}
	return id
}

// leave ends the user's streams and subscriptions, as the meter does.
func (g *generator) leave(r *room, u *user) {
	u.present = false
	u.leftAt = g.t
	r.present--
	g.open--
	u.streams = [3]stream{}
	u.subs = u.subs[:0]
	g.begin("room.leave", r)
	g.str("user", u.id)
	g.end()
}

func (g *generator) streamStart(r *room, u *user) bool {
	k := 0
	switch x := g.rng.IntN(10); {
	case x < 2:
		k = 1
	case x < 3:
		k = 2
	}
	s := &u.streams[k]
	if s.on || s.startedAt == g.t {
		return false
	}
	s.on, s.startedAt = true, g.t
	u.last = g.t
	s.video = k != 0 || g.rng.IntN(8) != 0
	sizes := [][][2]int{mainSizes, smallSizes, screenSizes}[k]
	sz := sizes[g.rng.IntN(len(sizes))]
	s.w, s.h = sz[0], sz[1]
	g.begin("stream.start", r)
	g.str("user", u.id)
	g.str("stream", kinds[k])
	if !s.video {
		g.str("media", "audio")
	} else {
		g.str("media", "video")
		g.num("width", int64(s.w))
		g.num("height", int64(s.h))
		if k == 0 && g.rng.IntN(20) == 0 {
			g.raw("audio", "false")
		}
	}
	g.end()
	return true
}

// streamUpdate changes a running stream's resolution (an audio-only main
// stream turns video, as stream.update allows).
func (g *generator) streamUpdate(r *room, u *user) bool {
	k := g.rng.IntN(3)
	s := &u.streams[k]
	if !s.on {
		return false
	}
	sizes := [][][2]int{mainSizes, smallSizes, screenSizes}[k]
	sz := sizes[g.rng.IntN(len(sizes))]
	s.video, s.w, s.h = true, sz[0], sz[1]
	u.last = g.t
	g.begin("stream.update", r)
	g.str("user", u.id)
	g.str("stream", kinds[k])
	g.num("width", int64(s.w))
	g.num("height", int64(s.h))
	g.end()
	return true
}

func (g *generator) streamStop(r *room, u *user) bool {
	k := g.rng.IntN(3)
	if !u.streams[k].on || u.streams[k].stoppedAt == g.t {
		return false
	}
	u.streams[k] = stream{startedAt: u.streams[k].startedAt, stoppedAt: g.t}
	u.last = g.t
	g.begin("stream.stop", r)
	g.str("user", u.id)
	g.str("stream", kinds[k])
	g.end()
	return true
}

// subscribeStart subscribes u to another present user's running stream.
func (g *generator) subscribeStart(r *room, u *user) bool {
	if u.mode == "audio" || r.present < 2 {
		return false
	}
	pub := g.presentUser(r)
	if pub == u {
		return false
	}
	k := g.rng.IntN(3)
	if u.mode == "all" && k != 1 && g.rng.IntN(4) != 0 {
		k = 1 // receive-all users subscribe explicitly mostly to small streams
	}
	s := pub.streams[k]
	if !s.on {
		return false
	}
	u.subs = append(u.subs, subRef{pub.id, k})
	u.last = g.t
	g.begin("subscribe.start", r)
	g.str("user", u.id)
	g.str("publisher", pub.id)
	g.str("stream", kinds[k])
	if k == 1 && s.video && g.rng.IntN(2) == 0 {
		g.num("width", int64(s.w))
		g.num("height", int64(s.h))
	}
	g.end()
	return true
}

// subscribeStop ends one of u's explicit subscriptions; a receive-all user
// may also turn off an automatically received stream.
func (g *generator) subscribeStop(r *room, u *user) bool {
	if len(u.subs) == 0 {
		if u.mode != "all" || r.present < 2 {
			return false
		}
		pub := g.presentUser(r)
		if pub == u || !pub.streams[0].on {
			return false
		}
		u.subs = append(u.subs, subRef{pub.id, 0}) // turned off; a later stop just removes it
		g.subEvent(r, "subscribe.stop", u, subRef{pub.id, 0})
		return true
	}
	i := g.rng.IntN(len(u.subs))
	s := u.subs[i]
	u.subs[i] = u.subs[len(u.subs)-1]
	u.subs = u.subs[:len(u.subs)-1]
	g.subEvent(r, "subscribe.stop", u, s)
	return true
}

func (g *generator) subEvent(r *room, typ string, u *user, s subRef) {
	u.last = g.t
	g.begin(typ, r)
	g.str("user", u.id)
	g.str("publisher", s.pub)
	g.str("stream", kinds[s.kind])
	g.end()
}

// running lists up to n {user, stream} references of running streams.
func (g *generator) running(r *room, n int) [][2]string {
	var out [][2]string
	for _, u := range r.users {
		if !u.present {
			continue
		}
		for k, s := range u.streams {
			if s.on && len(out) < n {
				out = append(out, [2]string{u.id, kinds[k]})
			}
		}
	}
	return out
}

func (g *generator) startTask(r *room) bool {
	r.taskSeq++
	var tk task
	switch x := g.rng.IntN(10); {
	case x < 4:
		tk = task{kind: "recording", id: "rec" + strconv.Itoa(r.taskSeq)}
		g.begin("recording.start", r)
		g.str("task", tk.id)
		if g.rng.IntN(3) == 0 {
			g.raw("formats", `["mp4","hls"]`)
		} else {
			g.raw("formats", `["mp4"]`)
		}
		if refs := g.running(r, 3); len(refs) > 0 && g.rng.IntN(2) == 0 {
			g.refs("streams", refs)
		} else {
			g.str("streams", "all")
		}
		if g.rng.IntN(6) == 0 {
			g.str("media", "audio")
		}
		switch g.rng.IntN(3) {
		case 0:
			g.raw("outputs", `[{"format":"mp4","destination":"vod","width":1280,"height":720}]`)
		case 1:
			g.raw("outputs", `[{"format":"mp4","destination":"tencent","width":1920,"height":1080}]`)
		}
		g.end()
	case x < 7:
		tk = task{kind: "transcode", id: "mix" + strconv.Itoa(r.taskSeq)}
		g.transcode(r, tk.id, "transcode.start")
	case x < 9:
		tk = task{kind: "relay", id: "cdn" + strconv.Itoa(r.taskSeq)}
		g.begin("relay.start", r)
		g.str("task", tk.id)
		if g.rng.IntN(2) == 0 {
			g.str("destination", "tencent")
		} else {
			g.str("destination", "third_party")
		}
		g.num("bitrate_kbps", int64(500+g.rng.IntN(8)*250))
		g.end()
	default:
		tk = task{kind: "input", id: "pull" + strconv.Itoa(r.taskSeq)}
		g.begin("input.start", r)
		g.str("task", tk.id)
		if g.rng.IntN(4) == 0 {
			g.str("media", "audio")
		} else {
			g.str("media", "video")
			g.num("width", 1280)
			g.num("height", 720)
		}
		g.end()
	}
	tk.last = g.t
	r.tasks = append(r.tasks, tk)
	g.open++
	return true
}

func (g *generator) transcode(r *room, id, typ string) {
	g.begin(typ, r)
	g.str("task", id)
	if g.rng.IntN(4) == 0 {
		g.str("codec", "h265")
	} else {
		g.str("codec", "h264")
	}
	if g.rng.IntN(5) == 0 {
		g.str("output", "audio")
	} else {
		g.raw("output", `{"width":1280,"height":720}`)
	}
	g.refs("inputs", g.running(r, 4))
	g.end()
}

func (g *generator) stopTask(r *room, i int) {
	tk := r.tasks[i]
	r.tasks = append(r.tasks[:i], r.tasks[i+1:]...)
	g.open--
	g.begin(tk.kind+".stop", r)
	g.str("task", tk.id)
	g.end()
}

// --- ending sessions ---

// idleHeap orders the rooms by their earliest idle deadline.
type idleHeap []*room

func (h idleHeap) Len() int           { return len(h) }
func (h idleHeap) Less(i, j int) bool { return h[i].deadline < h[j].deadline }
func (h idleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *idleHeap) Push(any) { panic("gen: the idle heap has one entry per room slot") }
func (h *idleHeap) Pop() any { panic("gen: the idle heap has one entry per room slot") }

// touched updates r's idle deadline after an event of r.
func (g *generator) touched(r *room) {
	d := int64(math.MaxInt64)
	for _, u := range r.users {
		if u.present {
			d = min(d, u.last+g.maxIdle)
		}
	}
	for _, tk := range r.tasks {
		d = min(d, tk.last+g.maxIdle)
	}
	if d != r.deadline {
		r.deadline = d
		heap.Fix(&g.idle, r.hidx)
	}
}

// replace opens a new room in the slot of room i, which has closed.
func (g *generator) replace(i int) {
	old := g.rooms[i]
	r := g.newRoom()
	r.hidx = old.hidx
	g.rooms[i], g.idle[r.hidx] = r, r
	heap.Fix(&g.idle, r.hidx)
}

// closeIdle ends r's session idle the longest: the user leaves, or the
// task stops, at g.t (its deadline).
func (g *generator) closeIdle(r *room) {
	var who *user
	task := -1
	d := int64(math.MaxInt64)
	for _, u := range r.users {
		if u.present && u.last+g.maxIdle < d {
			who, d = u, u.last+g.maxIdle
		}
	}
	for i, tk := range r.tasks {
		if tk.last+g.maxIdle < d {
			who, task, d = nil, i, tk.last+g.maxIdle
		}
	}
	if task >= 0 {
		g.stopTask(r, task)
	} else {
		g.leave(r, who)
	}
	g.touched(r)
}

// closeAll spends the last events: first events that open nothing (so
// that exactly Events are written), then a task stop or a leave for every
// open session, one millisecond apart (100,000 rooms close in minutes, so
// no session idles much past MaxIdle).
func (g *generator) closeAll() error {
	write := func(r *room) error {
		g.touched(r)
		if err := g.next(); err != nil {
			return err
		}
		g.now++
		return nil
	}
	for g.cfg.Events-g.n > g.open {
		g.t = g.now
		r, u := g.anyPresent()
		if u != nil {
			g.neutral(r, u)
		} else {
			// nobody present (only tasks, or nothing): a join opens one
			// session and takes one event to close, so at least two
			// events remain here (see Write)
			r = g.roomWithSpace()
			g.join(r)
		}
		if err := write(r); err != nil {
			return err
		}
	}
	for _, r := range g.rooms {
		for len(r.tasks) > 0 {
			g.t = g.now
			g.stopTask(r, len(r.tasks)-1)
			if err := write(r); err != nil {
				return err
			}
		}
		for r.present > 0 {
			g.t = g.now
			g.leave(r, g.presentUser(r))
			if err := write(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *generator) anyPresent() (*room, *user) {
	for _, r := range g.rooms {
		for _, u := range r.users {
			if u.present {
				return r, u
			}
		}
	}
	return nil, nil
}

func (g *generator) roomWithSpace() *room {
	for _, r := range g.rooms {
		if r.present < r.maxUsers {
			return r
		}
	}
	r := g.rooms[0]
	r.maxUsers++
	return r
}

// neutral writes an event of u that opens nothing: the start of a stream
// it is not publishing, or else an update of its main stream.
func (g *generator) neutral(r *room, u *user) {
	for k := range u.streams {
		if s := &u.streams[k]; !s.on && s.startedAt != g.t {
			*s = stream{on: true, video: true, w: 640, h: 360, startedAt: g.t}
			if k == 1 {
				s.w, s.h = 320, 180
			}
			u.last = g.t
			g.begin("stream.start", r)
			g.str("user", u.id)
			g.str("stream", kinds[k])
			g.str("media", "video")
			g.num("width", int64(s.w))
			g.num("height", int64(s.h))
			g.end()
			return
		}
	}
	s := &u.streams[0]
	s.video, s.w, s.h = true, 1280, 720
	u.last = g.t
	g.begin("stream.update", r)
	g.str("user", u.id)
	g.str("stream", kinds[0])
	g.num("width", int64(s.w))
	g.num("height", int64(s.h))
	g.end()
}

// next moves the event written to the writer and reports progress.
func (g *generator) next() error {
	if err := g.flush(); err != nil {
		return err
	}
	if g.cfg.Progress != nil && g.n%g.cfg.ProgressEvery == 0 {
		g.cfg.Progress(g.n)
	}
	return nil
}

// Writing: one event is built in g.buf, then copied to the buffered writer.

func (g *generator) begin(typ string, r *room) {
	b := g.buf[:0]
	b = append(b, `{"time":"`...)
	sec := g.t / 1000
	if sec != g.tsSec || g.tsText == nil {
		g.tsSec = sec
		g.tsText = time.Unix(sec, 0).In(shanghai).AppendFormat(g.tsText[:0], "2006-01-02T15:04:05")
	}
	b = append(b, g.tsText...)
	ms := g.t % 1000
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	b = append(b, `+08:00","type":"`...)
	b = append(b, typ...)
	b = append(b, `","app":"`...)
	b = append(b, r.app...)
	b = append(b, `","room":"`...)
	b = append(b, r.id...)
	b = append(b, '"')
	g.buf = b
}

func (g *generator) str(k, v string) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, k...)
	g.buf = append(g.buf, `":"`...)
	g.buf = append(g.buf, v...)
	g.buf = append(g.buf, '"')
}

func (g *generator) num(k string, v int64) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, k...)
	g.buf = append(g.buf, `":`...)
	g.buf = strconv.AppendInt(g.buf, v, 10)
}

func (g *generator) raw(k, v string) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, k...)
	g.buf = append(g.buf, `":`...)
	g.buf = append(g.buf, v...)
}

func (g *generator) refs(k string, refs [][2]string) {
	g.buf = append(g.buf, `,"`...)
	g.buf = append(g.buf, k...)
	g.buf = append(g.buf, `":[`...)
	for i, rf := range refs {
		if i > 0 {
			g.buf = append(g.buf, ',')
		}
		g.buf = append(g.buf, `{"user":"`...)
		g.buf = append(g.buf, rf[0]...)
		g.buf = append(g.buf, `","stream":"`...)
		g.buf = append(g.buf, rf[1]...)
		g.buf = append(g.buf, `"}`...)
	}
	g.buf = append(g.buf, ']')
}

func (g *generator) end() {
	g.buf = append(g.buf, "}\n"...)
	g.written = true
}

// flush moves the finished event to the writer.
func (g *generator) flush() error {
	if !g.written {
		return nil
	}
	g.written = false
	g.n++
	if _, err := g.bw.Write(g.buf); err != nil {
		return fmt.Errorf("cannot write events: %w", err)
	}
	return nil
}
