package webhook

import (
	"fmt"
	"sort"
	"strings"

	"github.com/livebill/livebill"
)

// Normalizer sits between an account's stored events, replayed in time
// order, and the meter. Events from webhooks (ids starting with IDPrefix)
// say what the vendor saw, callback by callback; the normalizer keeps the
// state of their rooms and hands the meter a consistent stream:
//
//   - a room.leave of Everyone (a dismissed room) leaves every user present;
//   - an enter of a user already present, an exit of a user not present,
//     a start of something running and a stop of something not running are
//     dropped (vendors repeat and reorder: a room's dismissal and the
//     users' own exits both end a presence);
//   - TRTC's separate audio and video of the main stream become one main
//     stream: video while the camera is on, audio-only while only the
//     microphone is;
//   - an Agora event whose clientSeq is below one already seen for the
//     user is stale and dropped.
//
// Events of one instant are taken in the meter's canonical order (ends,
// leaves, joins, starts, then the ends that found nothing, retried), so
// callbacks arriving in any order give the same result. Other events pass
// through untouched.
type Normalizer struct {
	apply func(*livebill.Event)
	t     int64
	buf   []livebill.Event
	rooms map[[2]string]*nroom
	seen  map[string]map[string]bool // app → vendors
}

type nroom struct {
	users map[string]*nuser
	tasks map[string]bool
	seq   map[string]int64 // user → highest Agora clientSeq seen
}

type nuser struct{ audio, video, screen bool }

// NewNormalizer returns a normalizer feeding apply.
func NewNormalizer(apply func(*livebill.Event)) *Normalizer {
	return &Normalizer{apply: apply, rooms: map[[2]string]*nroom{}, seen: map[string]map[string]bool{}}
}

// Apply takes the next event (in time order); e may be reused after.
func (n *Normalizer) Apply(e *livebill.Event) {
	if len(n.buf) > 0 && e.Time != n.t {
		n.flush()
	}
	n.t = e.Time
	c := *e
	// the caller may reuse e and its slices (a pooled parser): keep copies
	c.Formats = append([]string(nil), e.Formats...)
	c.Streams = append([]livebill.StreamRef(nil), e.Streams...)
	c.Outputs = append([]livebill.Output(nil), e.Outputs...)
	c.Inputs = append([]livebill.StreamRef(nil), e.Inputs...)
	n.buf = append(n.buf, c)
}

// Close hands over what is buffered.
func (n *Normalizer) Close() { n.flush() }

// Notices returns one estimated_subscriptions notice per app that had
// webhook events.
func (n *Normalizer) Notices() []livebill.Notice {
	var apps []string
	for a := range n.seen {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	var out []livebill.Notice
	for _, a := range apps {
		var vs []string
		for v := range n.seen[a] {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		out = append(out, livebill.Notice{Code: NoticeEstimated, App: a, Message: fmt.Sprintf(
			"usage from %s webhooks: presence and publishing are measured; who received which stream, and resolutions the vendor does not report, are the app's configured assumption (webhook config: subscribe, main, screen), not measurements",
			strings.Join(vs, ", "))})
	}
	return out
}

func vendorOf(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, IDPrefix)
	if !ok {
		return "", false
	}
	v, _, _ := strings.Cut(rest, ":")
	return v, true
}

func (n *Normalizer) room(e *livebill.Event) *nroom {
	k := [2]string{e.App, e.Room}
	r := n.rooms[k]
	if r == nil {
		r = &nroom{users: map[string]*nuser{}, tasks: map[string]bool{}, seq: map[string]int64{}}
		n.rooms[k] = r
	}
	return r
}

func phase(t livebill.EventType) int {
	switch t {
	case livebill.StreamStop, livebill.RecordingStop:
		return 0
	case livebill.RoomLeave:
		return 1
	case livebill.RoomJoin:
		return 2
	}
	return 3
}

func (n *Normalizer) flush() {
	buf := n.buf
	n.buf = n.buf[:0:0]
	var wh []*livebill.Event
	for i := range buf {
		e := &buf[i]
		v, ok := vendorOf(e.ID)
		if !ok {
			n.apply(e)
			continue
		}
		if n.seen[e.App] == nil {
			n.seen[e.App] = map[string]bool{}
		}
		n.seen[e.App][v] = true
		wh = append(wh, e)
	}
	// stale Agora events: a lower clientSeq than one already seen
	kept := wh[:0]
	type uk struct{ app, room, user string }
	max := map[uk]int64{}
	for _, e := range wh {
		if s := agoraSeq(e.ID); s > 0 {
			r := n.room(e)
			if s < r.seq[e.User] {
				continue
			}
			k := uk{e.App, e.Room, e.User}
			if s > max[k] {
				max[k] = s
			}
		}
		kept = append(kept, e)
	}
	for k, s := range max {
		n.rooms[[2]string{k.app, k.room}].seq[k.user] = s
	}
	sort.SliceStable(kept, func(i, j int) bool { return phase(kept[i].Type) < phase(kept[j].Type) })
	var retry []*livebill.Event
	for _, e := range kept {
		if phase(e.Type) <= 1 {
			if !n.end(e) {
				retry = append(retry, e)
			}
			continue
		}
		n.start(e)
	}
	for _, e := range retry {
		n.end(e)
	}
}

// end applies a stop or a leave; false when it found nothing to end.
func (n *Normalizer) end(e *livebill.Event) bool {
	r := n.room(e)
	switch e.Type {
	case livebill.RoomLeave:
		if e.User == Everyone {
			var us []string
			for u := range r.users {
				us = append(us, u)
			}
			sort.Strings(us)
			for _, u := range us {
				l := *e
				l.User = u
				n.apply(&l)
			}
			r.users = map[string]*nuser{}
			return true
		}
		if r.users[e.User] == nil {
			return false
		}
		delete(r.users, e.User)
		n.apply(e)
		return true
	case livebill.RecordingStop:
		if !r.tasks[e.Task] {
			return false
		}
		delete(r.tasks, e.Task)
		n.apply(e)
		return true
	case livebill.StreamStop:
		u := r.users[e.User]
		if u == nil {
			return false
		}
		media := e.Media
		out := *e
		out.Media = ""
		switch e.Stream {
		case livebill.StreamScreen:
			if !u.screen {
				return false
			}
			u.screen = false
			n.apply(&out)
		case livebill.StreamMain:
			switch {
			case media == livebill.MediaVideo && u.video:
				u.video = false
				n.apply(&out)
				if u.audio { // the microphone stays on: audio-only from now
					n.apply(n.mainAudio(e))
				}
			case media == livebill.MediaAudio && u.audio:
				u.audio = false
				if !u.video {
					n.apply(&out)
				}
			case media == "" && (u.audio || u.video):
				u.audio, u.video = false, false
				n.apply(&out)
			default:
				return false
			}
		default:
			n.apply(e)
		}
		return true
	}
	n.apply(e)
	return true
}

func (n *Normalizer) mainAudio(e *livebill.Event) *livebill.Event {
	return &livebill.Event{ID: e.ID + "~audio", Type: livebill.StreamStart, Time: e.Time, App: e.App, Room: e.Room,
		User: e.User, Stream: livebill.StreamMain, Media: livebill.MediaAudio}
}

// start applies a join or a start; repeats and starts of users not
// present are dropped.
func (n *Normalizer) start(e *livebill.Event) {
	r := n.room(e)
	switch e.Type {
	case livebill.RoomJoin:
		if r.users[e.User] != nil {
			return
		}
		r.users[e.User] = &nuser{}
		n.apply(e)
	case livebill.RecordingStart:
		if r.tasks[e.Task] {
			return
		}
		r.tasks[e.Task] = true
		n.apply(e)
	case livebill.StreamStart:
		u := r.users[e.User]
		if u == nil {
			return
		}
		switch {
		case e.Stream == livebill.StreamScreen:
			if u.screen {
				return
			}
			u.screen = true
			n.apply(e)
		case e.Stream == livebill.StreamMain && e.Media == livebill.MediaVideo:
			if u.video {
				return
			}
			if u.audio { // audio-only main becomes a video main
				stop := livebill.Event{ID: e.ID + "~stop", Type: livebill.StreamStop, Time: e.Time, App: e.App, Room: e.Room,
					User: e.User, Stream: livebill.StreamMain}
				n.apply(&stop)
			}
			u.video = true
			n.apply(e)
		case e.Stream == livebill.StreamMain && e.Media == livebill.MediaAudio:
			if u.audio {
				return
			}
			u.audio = true
			if !u.video {
				n.apply(e)
			}
		default:
			n.apply(e)
		}
	default:
		n.apply(e)
	}
}
