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
// are stopped only while running. Output is streamed, so 100M events need
// no more memory than 10k.
package gen

import (
	"bufio"
	"fmt"
	"io"
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
}

// Write writes cfg.Events events to w and returns how many it wrote.
func Write(w io.Writer, cfg Config) (int64, error) {
	cfg.defaults()
	g := &generator{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		bw:  bufio.NewWriterSize(w, 256<<10),
		now: cfg.Start.UnixMilli(),
	}
	g.apps = make([]string, cfg.Apps)
	for i := range g.apps {
		g.apps[i] = strconv.Itoa(1400000001 + i)
	}
	g.rooms = make([]*room, cfg.Rooms)
	for i := range g.rooms {
		g.rooms[i] = g.newRoom()
	}
	// Mean gap between events so the stream covers the span.
	gap := max(cfg.Span.Milliseconds()*2/max(cfg.Events, 1), 0)
	for g.n < cfg.Events {
		i := g.rng.IntN(len(g.rooms))
		r := g.rooms[i]
		if !g.step(r) {
			g.rooms[i] = g.newRoom() // closed: another one opens
			continue
		}
		if gap > 0 {
			g.now += g.rng.Int64N(gap + 1)
		}
		if err := g.flush(); err != nil {
			return g.n, err
		}
		if cfg.Progress != nil && g.n%cfg.ProgressEvery == 0 {
			cfg.Progress(g.n)
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
	cfg   Config
	rng   *rand.Rand
	bw    *bufio.Writer
	now   int64 // Unix ms; never decreases, so neither do a room's times
	n     int64
	apps  []string
	rooms []*room
	seq   int // room serial

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
}

type user struct {
	id      string
	present bool
	mode    string // subscribe mode: manual, all, audio
	streams [3]stream
	subs    []subRef // explicit subscriptions (for subscribe.stop)
}

type subRef struct {
	pub  string
	kind int
}

type task struct {
	kind string // recording, transcode, relay, input
	id   string
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
			if !c.present {
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
	r.present++
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
	r.present--
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
	if s.on {
		return false
	}
	s.on = true
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
	if !u.streams[k].on {
		return false
	}
	u.streams[k] = stream{}
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
		tk = task{"recording", "rec" + strconv.Itoa(r.taskSeq)}
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
		tk = task{"transcode", "mix" + strconv.Itoa(r.taskSeq)}
		g.transcode(r, tk.id, "transcode.start")
	case x < 9:
		tk = task{"relay", "cdn" + strconv.Itoa(r.taskSeq)}
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
		tk = task{"input", "pull" + strconv.Itoa(r.taskSeq)}
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
	r.tasks = append(r.tasks, tk)
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
	g.begin(tk.kind+".stop", r)
	g.str("task", tk.id)
	g.end()
}

// Writing: one event is built in g.buf, then copied to the buffered writer.

func (g *generator) begin(typ string, r *room) {
	b := g.buf[:0]
	b = append(b, `{"time":"`...)
	sec := g.now / 1000
	if sec != g.tsSec || g.tsText == nil {
		g.tsSec = sec
		g.tsText = time.Unix(sec, 0).In(shanghai).AppendFormat(g.tsText[:0], "2006-01-02T15:04:05")
	}
	b = append(b, g.tsText...)
	ms := g.now % 1000
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
