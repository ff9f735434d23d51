package meter

// Checkpoints: a meter's state written out at an instant, so a service
// can stop metering an account (a restart, an idle account's meter let
// go, a late event to re-meter) and later go on from there, replaying
// only the events after the instant instead of the account's history.
//
// A checkpoint is taken once every event before its instant has been
// applied and the meter advanced there (Advance), so no room holds
// events. It keeps what metering on needs — who is in each room, the
// streams and subscriptions, running tasks and relays, the month's first
// logins, the open admission sessions, the sessions the timeout closed
// (for their notices), the dissolutions, notices and rejected events — and the usage
// windows from its From instant on (the caller keeps the earlier windows
// elsewhere: billing's rollups). A room with nobody in it and nothing
// that its later events depend on is left out: events come in time order,
// and such a room meters on exactly as a new one; so is, in a room kept,
// a participant who left and whose streams nobody present names. The encoding is JSON
// with a version: Restore refuses a checkpoint of another version or
// metering model (ErrCheckpointVersion), and a caller then meters the
// account again from its events, never from a state it may misread.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// CheckpointVersion is the version of the checkpoints this meter writes
// and reads. It changes whenever the meter's state changes shape or
// meaning.
const CheckpointVersion = 2

// ErrCheckpointVersion is a checkpoint this meter cannot read: written by
// another version, or for another metering model.
var ErrCheckpointVersion = errors.New("checkpoint of another meter version")

type cpState struct {
	V        int           `json:"v"`
	Model    string        `json:"model"`
	From     int64         `json:"from"`
	Advanced int64         `json:"advanced"`
	Diss     []Dissolution `json:"diss,omitempty"`
	Apps     []cpApp       `json:"apps,omitempty"`
	Rooms    []cpRoom      `json:"rooms,omitempty"`
	Relays   []cpRelay     `json:"relays,omitempty"`
	Notices  [][2]string   `json:"notices,omitempty"`
	Errs     []cpErr       `json:"errs,omitempty"`
	Timeouts []cpTimeout   `json:"timeouts,omitempty"`
	Sessions []cpSession   `json:"sessions,omitempty"`
}

// cpTimeout is a session the timeout closed (for its notice).
type cpTimeout struct {
	App  string   `json:"app"`
	Room string   `json:"room"`
	ID   string   `json:"id"`
	Kind partKind `json:"kind,omitempty"`
	At   int64    `json:"at"`
}

// cpSession is an open admission session (session.go).
type cpSession struct {
	App     string `json:"app"`
	Session string `json:"session"`
	Item    string `json:"item"`
	Since   int64  `json:"since"`
}

type cpApp struct {
	ID     string                      `json:"id"`
	Usage  []cpWindow                  `json:"usage,omitempty"`
	Logins map[string]map[string]int64 `json:"logins,omitempty"`
}

type cpWindow struct {
	Item   string `json:"i"`
	Window int64  `json:"w"`
	Value  int64  `json:"v"`
}

type cpRelay struct {
	RelayInterval
	Room int `json:"room"` // index in the checkpoint's rooms, -1 if none
}

type cpErr struct {
	Line   int    `json:"line,omitempty"`
	ID     string `json:"id,omitempty"`
	Source string `json:"source,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	Msg    string `json:"msg,omitempty"` // an error that is not an EventError
}

type cpRoom struct {
	App      string    `json:"app"`
	ID       string    `json:"id"`
	PendT    int64     `json:"pend"`
	T        int64     `json:"t"`
	AllArea  int64     `json:"all,omitempty"`
	AboveTop bool      `json:"above,omitempty"`
	NextDiss int       `json:"diss,omitempty"`
	Gone     []string  `json:"gone,omitempty"`
	Idents   []cpIdent `json:"ids"`
	Streams  []cpKey   `json:"streams,omitempty"` // HST's slots, in the order used
	List     []cpPart  `json:"list,omitempty"`
	Relays   []int     `json:"relays,omitempty"` // indexes in the checkpoint's relays
}

type cpIdent struct {
	ID       string       `json:"id"`
	Slots    [3]*cpStream `json:"slots"`
	LeftAt   int64        `json:"left,omitempty"`
	TimedOut bool         `json:"timed_out,omitempty"`
}

type cpStream struct {
	On        bool  `json:"on,omitempty"`
	Video     bool  `json:"v,omitempty"`
	Audio     bool  `json:"a,omitempty"`
	Area      int64 `json:"area,omitempty"`
	StoppedAt int64 `json:"stopped,omitempty"`
}

type cpKey struct {
	U int   `json:"u"` // index in the room's idents
	K uint8 `json:"k"`
}

type cpCharge struct {
	Item string `json:"i"`
	Mult int64  `json:"m"`
}

type cpSub struct {
	cpKey
	Off  bool  `json:"off,omitempty"`
	Area int64 `json:"area,omitempty"`
}

type cpPart struct {
	U       int        `json:"u"`
	Kind    partKind   `json:"kind,omitempty"`
	Recv    uint8      `json:"recv,omitempty"`
	Mini    bool       `json:"mini,omitempty"`
	Since   int64      `json:"since"`
	Last    int64      `json:"last"`
	OwnArea int64      `json:"own,omitempty"`
	Subs    []cpSub    `json:"subs,omitempty"`
	Charges []cpCharge `json:"charges,omitempty"`
	Task    *cpTask    `json:"task,omitempty"`
}

type cpTask struct {
	Formats   int64      `json:"formats,omitempty"`
	AudioOnly bool       `json:"audio,omitempty"`
	All       bool       `json:"all,omitempty"`
	Refs      []cpKey    `json:"refs,omitempty"`
	Codec     string     `json:"codec,omitempty"`
	OutAudio  bool       `json:"out_audio,omitempty"`
	OutArea   int64      `json:"out_area,omitempty"`
	Relay     int        `json:"relay"` // index in the checkpoint's relays, -1 if none
	Input     cpStream   `json:"input"`
	Fixed     []cpCharge `json:"fixed,omitempty"`
}

func modelName(m model) string {
	return [...]string{"none", "trtc", "hst", "flexmatch"}[m]
}

// Checkpoint writes the meter's state out: everything needed to meter on
// from where it is, with the usage of the windows from instant from on
// (from: a window boundary), the relays running or ended after from, and
// the first logins of the months that end after from. The meter must be
// advanced past every event applied (no room holds events); it is not
// changed.
func (m *Meter) Checkpoint(from int64) ([]byte, error) {
	st := cpState{V: CheckpointVersion, Model: modelName(m.model), From: from, Advanced: m.advanced, Diss: m.diss}
	relayIdx := map[*RelayInterval]int{}
	for _, r := range m.relays {
		if r.End == 0 || r.End > from {
			relayIdx[r] = len(st.Relays)
			st.Relays = append(st.Relays, cpRelay{RelayInterval: *r, Room: -1})
		}
	}
	// rooms, in key order (the encoding is then the same for the same state)
	keys := make([]roomKey, 0, len(m.rooms))
	for k, r := range m.rooms {
		if len(r.pending) > 0 {
			return nil, fmt.Errorf("cannot checkpoint the meter: room %s holds events of %s not yet applied", r.id, fmtTime(r.pendT))
		}
		if r.holdsState() {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].app != keys[j].app {
			return keys[i].app < keys[j].app
		}
		return keys[i].room < keys[j].room
	})
	keptApps := map[string]bool{}
	for _, k := range keys {
		r := m.rooms[k]
		keptApps[r.app.ID] = true
		cr, err := m.checkpointRoom(r, relayIdx)
		if err != nil {
			return nil, err
		}
		for _, i := range cr.Relays {
			st.Relays[i].Room = len(st.Rooms)
		}
		st.Rooms = append(st.Rooms, cr)
	}
	// apps: their usage from `from` on and the logins of months not over
	apps := make([]*App, 0, len(m.apps))
	for _, a := range m.apps {
		apps = append(apps, a)
	}
	slices.SortFunc(apps, func(a, b *App) int { return strings.Compare(a.ID, b.ID) })
	for _, a := range apps {
		ca := cpApp{ID: a.ID}
		for k, b := range a.usage {
			for i, v := range b {
				w := k.day + (int64(k.block)*blockWindows+int64(i))*WindowMS
				if v != 0 && w >= from {
					ca.Usage = append(ca.Usage, cpWindow{m.items[k.item], w, v})
				}
			}
		}
		slices.SortFunc(ca.Usage, func(x, y cpWindow) int {
			if x.Window != y.Window {
				return int(x.Window - y.Window)
			}
			return strings.Compare(x.Item, y.Item)
		})
		for mon, set := range a.logins {
			if !m.monthEndsAfter(mon, from) {
				continue
			}
			if ca.Logins == nil {
				ca.Logins = map[string]map[string]int64{}
			}
			ca.Logins[mon] = set
		}
		if len(ca.Usage) > 0 || len(ca.Logins) > 0 || keptApps[a.ID] {
			st.Apps = append(st.Apps, ca)
		}
	}
	for k := range m.notices {
		st.Notices = append(st.Notices, [2]string{k.code, k.app})
	}
	slices.SortFunc(st.Notices, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	for _, t := range m.timeouts {
		if t.at >= keepTimeouts(from, m.zone.loc) {
			st.Timeouts = append(st.Timeouts, cpTimeout{App: t.app, Room: t.room, ID: t.id, Kind: t.kind, At: t.at})
		}
	}
	for k, ss := range m.sessions {
		st.Sessions = append(st.Sessions, cpSession{App: k.app, Session: k.session, Item: m.items[ss.item], Since: ss.since})
	}
	slices.SortFunc(st.Sessions, func(a, b cpSession) int { return strings.Compare(a.App+"\x00"+a.Session, b.App+"\x00"+b.Session) })
	for _, err := range m.Errors() {
		var ee *livebill.EventError
		if errors.As(err, &ee) && ee.Error() == err.Error() {
			st.Errs = append(st.Errs, cpErr{Line: ee.Line, ID: ee.ID, Source: ee.Source, Field: ee.Field, Reason: ee.Reason})
		} else {
			st.Errs = append(st.Errs, cpErr{Msg: err.Error()})
		}
	}
	return json.Marshal(&st)
}

// monthEndsAfter reports whether the month mon (YYYY-MM, billing zone)
// ends after instant t.
func (m *Meter) monthEndsAfter(mon string, t int64) bool {
	start, err := time.ParseInLocation("2006-01", mon, m.zone.loc)
	if err != nil {
		return true
	}
	return start.AddDate(0, 1, 0).UnixMilli() > t
}

func (m *Meter) checkpointRoom(r *room, relayIdx map[*RelayInterval]int) (cpRoom, error) {
	cr := cpRoom{App: r.app.ID, ID: r.id, PendT: r.pendT, T: r.t, AllArea: r.allArea, AboveTop: r.aboveTop, NextDiss: r.nextDiss}
	for g := range r.gone {
		cr.Gone = append(cr.Gone, g)
	}
	sort.Strings(cr.Gone)
	// the participants present and the publishers their subscriptions
	// and tasks name; the others (who left, their streams off) meter on
	// as new ones would, and are left out
	need := map[uid]bool{}
	for _, u := range r.ids.all() {
		if u.timedOut { // its late end is taken, and errors name its timeout
			need[u] = true
		}
	}
	for _, p := range r.list {
		need[p.id] = true
		for _, sb := range p.subs {
			need[sb.key.user] = true
		}
		if p.task != nil {
			for _, rf := range p.task.refs {
				need[rf.key.user] = true
			}
		}
	}
	ids := make([]string, 0, len(need))
	for id, u := range r.ids.all() {
		if need[u] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	index := make(map[uid]int, len(ids))
	for i, id := range ids {
		u, _ := r.ids.get(id)
		index[u] = i
		ci := cpIdent{ID: id, LeftAt: u.leftAt, TimedOut: u.timedOut}
		for k, s := range u.slots {
			if s != nil {
				ci.Slots[k] = &cpStream{On: s.on, Video: s.video, Audio: s.audio, Area: s.area, StoppedAt: s.stoppedAt}
			}
		}
		cr.Idents = append(cr.Idents, ci)
	}
	key := func(k streamKey) (cpKey, error) {
		i, ok := index[k.user]
		if !ok {
			return cpKey{}, fmt.Errorf("cannot checkpoint room %s: a stream of an unknown participant", r.id)
		}
		return cpKey{i, k.kind}, nil
	}
	for _, k := range r.streams {
		if !need[k.user] {
			continue
		}
		ck, err := key(k)
		if err != nil {
			return cr, err
		}
		cr.Streams = append(cr.Streams, ck)
	}
	charges := func(cs []charge) []cpCharge {
		out := make([]cpCharge, len(cs))
		for i, c := range cs {
			out[i] = cpCharge{m.items[c.item], c.mult}
		}
		return out
	}
	for _, p := range r.list {
		cp := cpPart{U: index[p.id], Kind: p.kind, Recv: p.recv, Mini: p.mini, Since: p.since, Last: p.last, OwnArea: p.ownArea, Charges: charges(p.charges)}
		for _, s := range p.subs {
			ck, err := key(s.key)
			if err != nil {
				return cr, err
			}
			cp.Subs = append(cp.Subs, cpSub{cpKey: ck, Off: s.off, Area: s.area})
		}
		if tk := p.task; tk != nil {
			ct := &cpTask{Formats: tk.formats, AudioOnly: tk.audioOnly, All: tk.all, Codec: tk.codec, OutAudio: tk.outAudio,
				OutArea: tk.outArea, Relay: -1, Fixed: charges(tk.fixed),
				Input: cpStream{On: tk.input.on, Video: tk.input.video, Audio: tk.input.audio, Area: tk.input.area}}
			for _, rf := range tk.refs {
				ck, err := key(rf.key)
				if err != nil {
					return cr, err
				}
				ct.Refs = append(ct.Refs, ck)
			}
			if tk.relay != nil {
				i, ok := relayIdx[tk.relay]
				if !ok {
					return cr, fmt.Errorf("cannot checkpoint room %s: task relay not among the meter's relays", r.id)
				}
				ct.Relay = i
			}
			cp.Task = ct
		}
		cr.List = append(cr.List, cp)
	}
	for _, rl := range r.relays {
		if i, ok := relayIdx[rl]; ok {
			cr.Relays = append(cr.Relays, i)
		}
	}
	return cr, nil
}

// Restore makes a meter from a checkpoint written by Checkpoint, for the
// same catalog and options, and returns it with the checkpoint's From
// instant. A checkpoint of another version or metering model is
// ErrCheckpointVersion; a damaged one another error. Options'
// Dissolutions are replaced by the checkpoint's (SetDissolutions changes
// them after).
func Restore(cat *catalog.Catalog, opt Options, data []byte) (*Meter, int64, error) {
	var head struct {
		V     int    `json:"v"`
		Model string `json:"model"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, 0, fmt.Errorf("cannot read the meter checkpoint: %w", err)
	}
	opt.Dissolutions = nil
	m, err := New(cat, opt)
	if err != nil {
		return nil, 0, err
	}
	if head.V != CheckpointVersion || head.Model != modelName(m.model) {
		return nil, 0, fmt.Errorf("%w: version %d of model %q, this meter reads version %d of %q", ErrCheckpointVersion, head.V, head.Model, CheckpointVersion, modelName(m.model))
	}
	var st cpState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, 0, fmt.Errorf("cannot read the meter checkpoint: %w", err)
	}
	if err := m.restore(&st); err != nil {
		return nil, 0, fmt.Errorf("cannot restore the meter checkpoint: %w", err)
	}
	return m, st.From, nil
}

func (m *Meter) restore(st *cpState) error {
	m.advanced = st.Advanced
	m.diss = slices.Clone(st.Diss)
	for _, n := range st.Notices {
		m.notices[noticeKey{n[0], n[1]}] = true
	}
	for _, e := range st.Errs {
		if e.Msg != "" {
			m.fail(errors.New(e.Msg))
		} else {
			m.fail(&livebill.EventError{Line: e.Line, ID: e.ID, Source: e.Source, Field: e.Field, Reason: e.Reason})
		}
	}
	for _, t := range st.Timeouts {
		if t.Kind > kindInput {
			return fmt.Errorf("timeout of %s: kind %d", t.ID, t.Kind)
		}
		m.timeouts = append(m.timeouts, sessionTimeout{app: t.App, room: t.Room, id: t.ID, kind: t.Kind, at: t.At})
	}
	for _, ss := range st.Sessions {
		if m.sessions == nil {
			m.sessions = map[sessionKey]*session{}
		}
		m.sessions[sessionKey{ss.App, ss.Session}] = &session{app: m.app(ss.App), item: m.intern(ss.Item), since: ss.Since}
	}
	relays := make([]*RelayInterval, len(st.Relays))
	for i := range st.Relays {
		r := st.Relays[i].RelayInterval
		relays[i] = &r
		m.relays = append(m.relays, relays[i])
	}
	item := func(name string) uint16 { return m.intern(name) }
	for _, ca := range st.Apps {
		a := m.app(ca.ID)
		for _, w := range ca.Usage {
			ds, de := m.zone.day(w.Window)
			if w.Window >= de {
				return fmt.Errorf("window %d outside its day", w.Window)
			}
			idx := (w.Window - ds) / WindowMS
			m.block(a, item(w.Item), ds, idx/blockWindows)[idx%blockWindows] = w.Value
		}
		if len(ca.Logins) > 0 {
			a.logins = ca.Logins
		}
	}
	usedRelay := make([]bool, len(relays))
	for ri, cr := range st.Rooms {
		a := m.app(cr.App)
		r := newRoom(m, a, cr.ID, cr.T)
		r.pendT, r.allArea, r.aboveTop, r.nextDiss = cr.PendT, cr.AllArea, cr.AboveTop, cr.NextDiss
		if cr.NextDiss < 0 || cr.NextDiss > len(m.diss) {
			return fmt.Errorf("room %s: dissolutions applied %d of %d", cr.ID, cr.NextDiss, len(m.diss))
		}
		for _, g := range cr.Gone {
			if r.gone == nil {
				r.gone = map[string]bool{}
			}
			r.gone[g] = true
		}
		us := make([]uid, len(cr.Idents))
		for i, ci := range cr.Idents {
			if _, dup := r.ids.get(ci.ID); dup {
				return fmt.Errorf("room %s: participant %s listed twice", cr.ID, ci.ID)
			}
			u := &ident{id: ci.ID, leftAt: ci.LeftAt, timedOut: ci.TimedOut}
			for k, s := range ci.Slots {
				if s != nil {
					u.slots[k] = &stream{on: s.On, video: s.Video, audio: s.Audio, area: s.Area, stoppedAt: s.StoppedAt}
				}
			}
			us[i] = u
			r.ids.add(ci.ID, u)
		}
		key := func(k cpKey) (streamKey, *stream, error) {
			if k.U < 0 || k.U >= len(us) || k.K > kScreen {
				return streamKey{}, nil, fmt.Errorf("room %s: stream %d/%d out of range", cr.ID, k.U, k.K)
			}
			sk := streamKey{us[k.U], k.K}
			return sk, r.slot(sk), nil
		}
		for _, k := range cr.Streams {
			sk, _, err := key(k)
			if err != nil {
				return err
			}
			if !slices.Contains(r.streams, sk) {
				r.streams = append(r.streams, sk)
			}
		}
		charges := func(cs []cpCharge) []charge {
			out := make([]charge, len(cs))
			for i, c := range cs {
				out[i] = charge{item(c.Item), c.Mult}
			}
			return out
		}
		for _, cp := range cr.List {
			if cp.U < 0 || cp.U >= len(us) || us[cp.U].p != nil || cp.Kind > kindInput {
				return fmt.Errorf("room %s: participant %d out of range or present twice", cr.ID, cp.U)
			}
			p := &participant{kind: cp.Kind, recv: cp.Recv, mini: cp.Mini, ownArea: cp.OwnArea, charges: charges(cp.Charges)}
			p.id = us[cp.U]
			for _, cs := range cp.Subs {
				sk, s, err := key(cs.cpKey)
				if err != nil {
					return err
				}
				p.subs = append(p.subs, sub{key: sk, st: s, off: cs.Off, area: cs.Area})
			}
			if ct := cp.Task; ct != nil {
				tk := &task{formats: ct.Formats, audioOnly: ct.AudioOnly, all: ct.All, codec: ct.Codec, outAudio: ct.OutAudio,
					outArea: ct.OutArea, fixed: charges(ct.Fixed),
					input: stream{on: ct.Input.On, video: ct.Input.Video, audio: ct.Input.Audio, area: ct.Input.Area}}
				for _, k := range ct.Refs {
					sk, s, err := key(k)
					if err != nil {
						return err
					}
					tk.refs = append(tk.refs, ref{sk, s})
				}
				if cp.Kind == kindTranscode {
					tk.tc = m.ids.tc[tk.codec]
				}
				if ct.Relay >= 0 {
					if ct.Relay >= len(relays) || usedRelay[ct.Relay] {
						return fmt.Errorf("room %s: relay %d out of range", cr.ID, ct.Relay)
					}
					usedRelay[ct.Relay] = true
					tk.relay = relays[ct.Relay]
				}
				p.task = tk
			}
			r.add(p, cp.Since)
			p.last = cp.Last
		}
		// the earliest timeout, as expire leaves it
		r.nextTimeout = math.MaxInt64
		for _, p := range r.list {
			r.nextTimeout = min(r.nextTimeout, p.last+m.timeout)
		}
		for _, i := range cr.Relays {
			if i < 0 || i >= len(relays) || st.Relays[i].Room != ri {
				return fmt.Errorf("room %s: relay %d out of range", cr.ID, i)
			}
			r.relays = append(r.relays, relays[i])
		}
		m.rooms[roomKey{cr.App, cr.ID}] = r
	}
	return nil
}

// ForgetBefore drops the usage of the windows before instant t (a local
// midnight), the relays that ended by t and the logins of months that
// ended by t: what the caller has stored elsewhere (billing's rollups),
// so a long-lived meter holds what is open, not its history. Records,
// Relays and MAU no longer report them.
func (m *Meter) ForgetBefore(t int64) {
	for _, a := range m.apps {
		for k := range a.usage {
			if k.day < t {
				delete(a.usage, k)
			}
		}
		clear(a.recent)
		for mon := range a.logins {
			if !m.monthEndsAfter(mon, t) {
				delete(a.logins, mon)
			}
		}
	}
	keep := keepTimeouts(t, m.zone.loc)
	m.timeouts = slices.DeleteFunc(m.timeouts, func(st sessionTimeout) bool { return st.at < keep })
	ended := func(r *RelayInterval) bool { return r.End != 0 && r.End <= t }
	m.relays = slices.DeleteFunc(m.relays, ended)
	for _, r := range m.rooms {
		r.relays = slices.DeleteFunc(r.relays, ended)
	}
}

// Login is a user's first login of a month in an app (MAU).
type Login struct {
	App, Month, User string // Month: YYYY-MM in the billing zone
	First            int64  // Unix ms
}

// FirstLogins lists the first logins the meter holds, by app, month and
// user.
func (m *Meter) FirstLogins() []Login {
	var out []Login
	for _, a := range m.apps {
		for mon, set := range a.logins {
			for u, t := range set {
				out = append(out, Login{a.ID, mon, u, t})
			}
		}
	}
	slices.SortFunc(out, func(x, y Login) int {
		return strings.Compare(x.App+"\x00"+x.Month+"\x00"+x.User, y.App+"\x00"+y.Month+"\x00"+y.User)
	})
	return out
}

// keepTimeouts is the earliest timed-out session a meter from instant t on
// keeps for its notices: from the first day of the month before t's, so
// quotes of this month and the last name them after a restart (older
// periods' quotes do not).
func keepTimeouts(t int64, loc *time.Location) int64 {
	y, mo, _ := time.UnixMilli(t).In(loc).Date()
	return time.Date(y, mo-1, 1, 0, 0, 0, 0, loc).UnixMilli()
}

// anyTimedOut reports whether someone of the room was closed by the
// session timeout and has not been back.
func (r *room) anyTimedOut() bool {
	for _, u := range r.ids.all() {
		if u.timedOut {
			return true
		}
	}
	return false
}
