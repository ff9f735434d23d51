// Package meter turns usage events into metered quantities: per app, item
// and 5-minute window, the milliseconds of A/V, recording, delivery and
// transcoding time, the counts of point events, the relay bandwidth
// intervals and the monthly logins.
//
// A room is a set of participants — users and robots — and the streams they
// publish. Whenever a room changes, each participant's charges (which items
// it is accruing, and how many times over) are recomputed by the rules in
// charges.go; a participant whose charges changed is credited for the time
// since its last change. Robots (recording, transcoding, relay, pull-stream
// input tasks) are participants like users, so they pay A/V minutes too.
//
// Events of one room must arrive in time order. Events of a room that share
// a timestamp are applied in a canonical order (ends before starts; see
// rank), so their order in the input does not change the result
// (docs/decisions.md, "Events at the same instant", lists the pairs).
package meter

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// Meter meters a stream of events for one account.
type Meter struct {
	cat   *catalog.Catalog
	model model
	zone  zoneCache

	items   []string          // interned item ids: the model's, then the meter's own
	base    map[string]uint16 // the model's items → index, shared by the catalog's meters (read-only)
	itemIdx map[string]uint16 // the meter's own further items → index
	ids     modelItems

	apps    map[string]*App
	rooms   map[roomKey]*room
	roomC   []roomCacheEntry // see room
	relays  []*RelayInterval
	timeout int64 // session timeout, ms
	// timeouts are the sessions the timeout closed, for their notices.
	timeouts []sessionTimeout
	notices  map[noticeKey]bool
	errs     []keptErr // errors.go
	errSeq   int
	maxErrs  int
	diss     []Dissolution // in time order (dissolve.go)
	// advanced is the instant the meter was last advanced to (Advance).
	advanced int64

	// sessions are the open sessions (a session.start without its stop)
	sessions map[sessionKey]*session

	newCharg []charge // scratch for a participant's charges (recompute)
	robotBuf []byte   // scratch for robot ids (robot)
}

type roomKey struct{ app, room string }
type noticeKey struct{ code, app string }

// App is the usage of one application.
type App struct {
	ID     string
	usage  map[blockKey]*block
	recent []blockRef                  // by item, recentBlocks each: blocks written lately, to skip the map
	logins map[string]map[string]int64 // month (YYYY-MM) → user → first login (Unix ms)
}

// RelayInterval is the time a relay task ran and its bandwidth.
type RelayInterval struct {
	App, Room, Task string
	Destination     string
	Kbps            int64
	Start, End      int64 // Unix ms; End 0 while running
}

// Options configure a meter.
type Options struct {
	// Location is the billing zone; defaults to the catalog's.
	Location *time.Location
	// MaxErrors stops collecting errors past this many (0: 1000).
	MaxErrors int
	// Dissolutions end what runs in the rooms of an app at given instants
	// (dissolve.go).
	Dissolutions []Dissolution
}

// New returns a meter for the catalog's metering model.
func New(cat *catalog.Catalog, opt Options) (*Meter, error) {
	loc := opt.Location
	if loc == nil {
		loc = cat.Location()
	}
	m := &Meter{
		cat:     cat,
		zone:    zoneCache{loc: loc},
		apps:    map[string]*App{},
		rooms:   map[roomKey]*room{},
		notices: map[noticeKey]bool{},
		maxErrs: opt.MaxErrors,
		timeout: cat.SessionTimeoutDuration().Milliseconds(),
	}
	if m.maxErrs == 0 {
		m.maxErrs = 1000
	}
	if err := m.SetDissolutions(opt.Dissolutions); err != nil {
		return nil, err
	}
	switch cat.Metering {
	case "trtc":
		m.model = modelTRTC
	case "hst":
		m.model = modelHST
	case "flexmatch":
		m.model = modelFlexMatch
	default:
		m.model = modelNone
	}
	// The model's items are interned once per catalog, not per meter: a
	// service keeps a meter per account.
	t := cat.Memo(modelKey{}, func() any {
		b := &Meter{cat: cat, model: m.model, itemIdx: map[string]uint16{}}
		ids := b.internModel()
		return &modelTemplate{items: b.items, idx: b.itemIdx, ids: ids}
	}).(*modelTemplate)
	m.items = t.items[:len(t.items):len(t.items)] // an append copies
	m.base, m.ids = t.idx, t.ids
	return m, nil
}

// Reset empties the meter: it is as New made it, for the same catalog,
// zone and dissolutions, with no event applied (to meter a stream again
// from its start).
func (m *Meter) Reset() {
	fresh, err := New(m.cat, Options{Location: m.zone.loc, MaxErrors: m.maxErrs, Dissolutions: m.diss})
	if err != nil {
		// m.diss passed the same checks when the meter took them
		panic(fmt.Sprintf("meter: cannot reset: %v", err))
	}
	*m = *fresh // a new meter holds no pointer to itself
}

// modelKey is the key of a catalog's modelTemplate in catalog.Memo.
type modelKey struct{}

// modelTemplate is the metering model's items interned for one catalog.
type modelTemplate struct {
	items []string
	idx   map[string]uint16
	ids   modelItems
}

func (m *Meter) intern(id string) uint16 {
	if i, ok := m.ItemIndex(id); ok {
		return i
	}
	if m.itemIdx == nil {
		m.itemIdx = map[string]uint16{}
	}
	i := uint16(len(m.items))
	m.items = append(m.items, id)
	m.itemIdx[id] = i
	return i
}

// ItemIndex returns the interned index of an item id, if the meter knows it.
func (m *Meter) ItemIndex(id string) (uint16, bool) {
	if i, ok := m.base[id]; ok {
		return i, true
	}
	i, ok := m.itemIdx[id]
	return i, ok
}

func (m *Meter) app(id string) *App {
	a := m.apps[id]
	if a == nil {
		a = &App{ID: id, usage: map[blockKey]*block{}}
		m.apps[id] = a
	}
	return a
}

func (m *Meter) notice(code, app string) {
	m.notices[noticeKey{code, app}] = true
}

// Apply meters one event. An invalid event is recorded in Errors and leaves
// the state unchanged; nothing accepted before is lost.
func (m *Meter) Apply(e *livebill.Event) {
	if err := e.Validate(); err != nil {
		m.fail(err)
		return
	}
	m.ApplyValid(e)
}

// ApplyValid is Apply for an event that passed Validate, as every event
// eventio's parser and decoder return has: a file's events are not
// checked twice.
func (m *Meter) ApplyValid(e *livebill.Event) {
	if e.Type.IsRoomEvent() {
		if m.model != modelTRTC && m.model != modelHST {
			m.fail(badEvent(e, "type", fmt.Sprintf("catalog %s does not meter rooms", m.cat.Name)))
			return
		}
		if m.model == modelHST && e.Type.IsTask() {
			m.fail(badEvent(e, "type", fmt.Sprintf("catalog %s has no %s tasks", m.cat.Name, e.Type)))
			return
		}
		m.room(e).enqueue(e)
		return
	}
	if e.Type == livebill.SessionStart || e.Type == livebill.SessionStop {
		m.applySession(e)
		return
	}
	m.applyPoint(e)
}

// applyPoint meters events that are counted, not timed.
func (m *Meter) applyPoint(e *livebill.Event) {
	var item string
	n := e.Count
	switch e.Type {
	case livebill.Screenshot:
		item = "trtc.screenshot"
	case livebill.Signal:
		item = "hst.signal"
	case livebill.Login:
		a := m.app(e.App)
		if a.logins == nil {
			a.logins = map[string]map[string]int64{}
		}
		mon := time.UnixMilli(e.Time).In(m.zone.loc).Format("2006-01")
		set := a.logins[mon]
		if set == nil {
			set = map[string]int64{}
			a.logins[mon] = set
		}
		if first, ok := set[e.User]; !ok || e.Time < first {
			set[e.User] = e.Time
		}
		return
	case livebill.MatchmakingRequest:
		item, n = "flexmatch.player_packs", e.Players
	case livebill.MatchmakingEvaluation:
		if n == 0 {
			n = 1
		}
		item, n = "flexmatch.matchmaking_hours", e.DurationUS*n
	}
	if _, ok := m.cat.Item(item); !ok {
		m.fail(badEvent(e, "type", fmt.Sprintf("catalog %s does not bill %s events", m.cat.Name, e.Type)))
		return
	}
	m.addPoint(m.app(e.App), m.intern(item), e.Time, n)
}

// Close ends the stream at instant at: pending same-instant events are
// applied, sessions that time out before at are closed at their timeout,
// and everyone still in a room, every task and relay still running is
// credited up to at (or its room's last event, if later).
func (m *Meter) Close(at int64) {
	keys := make([]roomKey, 0, len(m.rooms))
	for k := range m.rooms {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].app != keys[j].app {
			return keys[i].app < keys[j].app
		}
		return keys[i].room < keys[j].room
	})
	for _, k := range keys {
		r := m.rooms[k]
		r.dissolveUpTo(at - 1)
		r.flushPending()
		end := at
		if r.t > end {
			end = r.t
		}
		r.expire(end)
		for _, p := range r.list {
			r.credit(p, end)
		}
		if len(r.list) > 0 {
			m.notice(NoticeOpenAtClose, r.app.ID)
		}
		for _, rl := range r.relays {
			if rl.End == 0 {
				rl.End = end
			}
		}
	}
	m.closeSessions(at)
}

// NoticeOpenAtClose: participants still in a room when the meter closed.
const NoticeOpenAtClose = "open_at_period_end"

// Record is one item's usage in one window of an app: ms for durations,
// µs for matchmaking time, a count for counted items.
type Record struct {
	App    string
	Item   string
	Window int64 // Unix ms of the 5-minute window's start
	Value  int64
}

// Records returns the metered usage sorted by app, item, window.
func (m *Meter) Records() []Record { return m.records() }

// Relays returns every relay interval, by start, app, room, task and end:
// the order does not depend on when the meter applied held events, which
// varies with how it was fed and advanced.
func (m *Meter) Relays() []RelayInterval {
	out := make([]RelayInterval, len(m.relays))
	for i, r := range m.relays {
		out[i] = *r
	}
	slices.SortStableFunc(out, func(a, b RelayInterval) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), strings.Compare(a.App, b.App), strings.Compare(a.Room, b.Room),
			strings.Compare(a.Task, b.Task), cmp.Compare(a.End, b.End))
	})
	return out
}

// Present counts the participants present in the meter's rooms: users
// and robots (recording, transcoding, relay and input tasks) that joined
// or started and have not left or stopped, as of the events applied.
func (m *Meter) Present() int {
	n := 0
	for _, r := range m.rooms {
		n += len(r.list)
	}
	return n
}

// MAU returns, per app and month (YYYY-MM), the distinct users who logged in.
func (m *Meter) MAU() map[string]map[string]int { return m.MAUBefore(1<<63 - 1) }

// MAUBefore is MAU counting only logins before instant t (Unix ms): what a
// meter fed the events before t would report.
func (m *Meter) MAUBefore(t int64) map[string]map[string]int {
	out := map[string]map[string]int{}
	for id, a := range m.apps {
		for mon, set := range a.logins {
			n := 0
			for _, first := range set {
				if first < t {
					n++
				}
			}
			if n == 0 {
				continue
			}
			if out[id] == nil {
				out[id] = map[string]int{}
			}
			out[id][mon] = n
		}
	}
	return out
}

// Notices returns what the meter noticed, sorted by code and app (an app's
// timed-out sessions in time order).
func (m *Meter) Notices() []livebill.Notice { return m.NoticesIn(math.MinInt64, math.MaxInt64) }

// NoticesIn is Notices with only the sessions timed out in [from, to)
// (Unix ms): for a quote of that period, which a meter fed the events
// before to and closed at to reports the same.
func (m *Meter) NoticesIn(from, to int64) []livebill.Notice {
	out := m.timeoutNotices(from, to)
	for k := range m.notices {
		n := livebill.Notice{Code: k.code, App: k.app}
		switch k.code {
		case NoticeOpenAtClose:
			n.Message = "users or tasks still in a room when the events ended were billed up to the period's end"
		case livebill.NoticeAboveTopTier:
			n.Message = fmt.Sprintf("an aggregate resolution above %d px was billed at the top tier", m.cat.TopTierArea)
		}
		out = append(out, n)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Code != out[j].Code {
			return out[i].Code < out[j].Code
		}
		return out[i].App < out[j].App
	})
	return out
}

// NoticeSessionTimedOut: a participant or task with no event of its own
// for longer than the catalog's session timeout was closed at its last
// event plus the timeout.
const NoticeSessionTimedOut = "session_timed_out"

// maxTimeoutNotices is how many timed-out sessions an app's notices name;
// one more notice counts the rest (a feed that never closes sessions
// would otherwise give one per session).
const maxTimeoutNotices = 100

// sessionTimeout is a session the timeout closed.
type sessionTimeout struct {
	app, room, id string // id: the user, or robot:<kind>:<task>
	kind          partKind
	at            int64
}

// timeoutNotices lists the sessions timed out in [from, to), per app in
// time order, at most maxTimeoutNotices per app.
func (m *Meter) timeoutNotices(from, to int64) []livebill.Notice {
	var ts []sessionTimeout
	for _, st := range m.timeouts {
		if from <= st.at && st.at < to {
			ts = append(ts, st)
		}
	}
	sort.Slice(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		switch {
		case a.app != b.app:
			return a.app < b.app
		case a.at != b.at:
			return a.at < b.at
		case a.room != b.room:
			return a.room < b.room
		}
		return a.id < b.id
	})
	limit := time.Duration(m.timeout) * time.Millisecond
	var out []livebill.Notice
	for i := 0; i < len(ts); {
		j := i
		for j < len(ts) && ts[j].app == ts[i].app {
			j++
		}
		for k, to := range ts[i:j] {
			if k == maxTimeoutNotices {
				out = append(out, livebill.Notice{Code: NoticeSessionTimedOut, App: to.app,
					Message: fmt.Sprintf("%d more sessions had no event for %v and were closed at their last event plus that timeout", j-i-k, limit)})
				break
			}
			n := livebill.Notice{Code: NoticeSessionTimedOut, App: to.app, Room: to.room, Time: m.fmtLocal(to.at)}
			who := "user " + to.id
			if to.kind == kindUser {
				n.User = to.id
			} else {
				n.Task = strings.TrimPrefix(to.id, "robot:"+robotNames[to.kind]+":")
				who = robotNames[to.kind] + " task " + n.Task
			}
			n.Message = fmt.Sprintf("%s in room %s had no event for %v: closed at its last event plus that timeout", who, to.room, limit)
			out = append(out, n)
		}
		i = j
	}
	return out
}

// fmtLocal formats an instant in the billing zone, to the millisecond.
func (m *Meter) fmtLocal(ms int64) string {
	return time.UnixMilli(ms).In(m.zone.loc).Format(time.RFC3339Nano)
}

func badEvent(e *livebill.Event, field, reason string) error {
	return &livebill.EventError{Line: e.Line, ID: e.ID, Field: field, Reason: reason}
}

func fmtTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// Open reports whether anyone is in a room or any task runs: usage that
// accrues without further events.
func (m *Meter) Open() bool {
	for _, r := range m.rooms {
		if len(r.list) > 0 || len(r.pending) > 0 {
			return true
		}
	}
	return false
}

// Advance tells the meter that every event before instant t (Unix ms) has
// been applied, and that no event before t will come: the live meter's
// watermark. Rooms apply their held events of instants before t, and
// everyone present is credited up to t, so Records is complete for the
// windows before t. Unlike Close it ends only the sessions that timed out
// before t: later events go on from where the state is. A room nobody is
// in any more is let go (see releasable), so the meter holds the open
// sessions, not every room it has seen.
func (m *Meter) Advance(t int64) {
	m.advanced = max(m.advanced, t)
	let := false
	for k, r := range m.rooms {
		r.dissolveUpTo(t - 1)
		if len(r.pending) > 0 && r.pendT < t {
			r.flushPending()
		}
		r.expire(t)
		for _, p := range r.list {
			if p.since < t {
				r.credit(p, t)
			}
		}
		r.trim()
		if r.releasable(t) {
			delete(m.rooms, k)
			let = true
		}
	}
	if let {
		clear(m.roomC) // it may hold rooms let go
	}
	m.advanceSessions(t)
}
