package meter_test

// Property tests (pgregory.net/rapid) for the A/V meter:
//   (a) every in-room millisecond of a user is counted exactly once, as
//       audio or as the one video tier SPEC §2 gives it — checked against
//       an independent model of the room;
//   (b) splitting an NDJSON stream at any line and replaying both halves
//       into the same meter gives the same records;
//   (c) the order of events that share a timestamp does not change the
//       records.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/scenario"
	"pgregory.net/rapid"
)

var (
	propUsers = []string{"A", "B", "C", "D"}
	propKinds = []string{"main", "small", "screen"}
	propSizes = [][2]int{{320, 180}, {640, 360}, {640, 480}, {960, 720}, {1280, 720}, {1920, 1080}, {2560, 1440}, {4096, 2160}}
)

// SPEC §1 tiers, written out independently of the catalog.
func specTier(area int64) string {
	switch {
	case area == 0:
		return avAudio
	case area <= 921_600:
		return avHD
	case area <= 2_073_600:
		return avFHD
	case area <= 3_686_400:
		return av2K
	}
	return av4K
}

type skey struct{ user, kind string }

// roomModel is an independent model of one room's users (SPEC §2, §7.1).
type roomModel struct {
	mode    map[string]string         // present users → subscribe mode
	streams map[skey]int64            // running streams → video area (0: audio only)
	subs    map[string]map[skey]int64 // explicit subscriptions → stated size (0: none)
	off     map[string]map[skey]bool  // receive-all users' unsubscribed main/screen
	// last is the instant an entity (user, stream, subscription, task)
	// was last touched. Two events on one entity at one instant are not
	// generated here, except a stop then a restart (and a leave then a
	// rejoin): this model credits as it goes and cannot read an instant
	// as a whole. TestPropMeterMatchesModel (model_prop_test.go) covers
	// every same-instant pair against the reference model.
	last map[string]int64
}

func (m *roomModel) fresh(key string, now int64) bool {
	t, ok := m.last[key]
	return !ok || t != now
}

func (m *roomModel) touch(now int64, keys ...string) {
	for _, k := range keys {
		m.last[k] = now
	}
}

func newRoomModel() *roomModel {
	return &roomModel{mode: map[string]string{}, streams: map[skey]int64{},
		subs: map[string]map[skey]int64{}, off: map[string]map[skey]bool{}, last: map[string]int64{}}
}

// area is what user u receives now (SPEC §2): main and screen at the
// publisher's size, small at the stated size (else its own), nothing of
// its own, nothing in audio mode.
func (m *roomModel) area(u string) int64 {
	mode := m.mode[u]
	if mode == "audio" {
		return 0
	}
	var a int64
	for k, v := range m.streams {
		if k.user == u || v == 0 {
			continue
		}
		stated, explicit := m.subs[u][k]
		recv := explicit
		if mode == "all" && k.kind != "small" {
			recv = !m.off[u][k]
		}
		if !recv {
			continue
		}
		if k.kind == "small" && stated > 0 {
			a += stated
		} else {
			a += v
		}
	}
	return a
}

// genStream holds a generated event stream and the model's expectation.
type genStream struct {
	events  []livebill.Event
	closeAt int64
	want    map[string]int64 // expected trtc.av.* ms (users only)
	inRoom  int64            // Σ users' in-room ms
}

// genRoom generates a valid event stream for one room of users (no
// robots). With ties, several events may share an instant; without, every
// event has its own instant (then the model's expectation is exact).
func genRoom(t *rapid.T, ties bool) genStream {
	m := newRoomModel()
	g := genStream{want: map[string]int64{}}
	now := at("10:00")
	n := rapid.IntRange(1, 60).Draw(t, "n")
	for i := 0; i < n; i++ {
		var dt int64
		if ties {
			dt = rapid.SampledFrom([]int64{0, 0, 1 * sec, 37 * sec, 5 * min}).Draw(t, "dt")
		} else {
			dt = rapid.Int64Range(1, 20*min).Draw(t, "dt")
		}
		if i == 0 {
			dt = 0
		}
		// Credit the model for [now, now+dt).
		for u := range m.mode {
			g.want[specTier(m.area(u))] += dt
			g.inRoom += dt
		}
		now += dt
		if e, ok := genStep(t, m, now, ties); ok {
			g.events = append(g.events, e)
		}
	}
	tail := rapid.Int64Range(0, 10*min).Draw(t, "tail")
	for u := range m.mode {
		g.want[specTier(m.area(u))] += tail
		g.inRoom += tail
	}
	g.closeAt = now + tail
	for k, v := range g.want {
		if v == 0 {
			delete(g.want, k)
		}
	}
	return g
}

// genStep draws one valid event at instant now and applies it to the
// model. ok is false when the drawn action does not apply.
func genStep(t *rapid.T, m *roomModel, now int64, ties bool) (livebill.Event, bool) {
	u := rapid.SampledFrom(propUsers).Draw(t, "user")
	mode, present := m.mode[u]
	if !present {
		mode = rapid.SampledFrom([]string{"manual", "all", "audio"}).Draw(t, "mode")
		m.mode[u] = mode
		m.touch(now, "user:"+u)
		return join(now, u, mode), true
	}
	_ = mode
	switch rapid.IntRange(0, 9).Draw(t, "action") {
	case 0: // leave: ends u's subscriptions and stops its streams
		if !m.fresh("user:"+u, now) {
			return livebill.Event{}, false
		}
		m.touch(now, "user:"+u)
		delete(m.mode, u)
		delete(m.subs, u)
		delete(m.off, u)
		for k := range m.streams {
			if k.user == u {
				delete(m.streams, k)
			}
		}
		return leave(now, u), true
	case 1, 2: // start or stop a stream
		kind := rapid.SampledFrom(propKinds).Draw(t, "kind")
		k := skey{u, kind}
		sk := "stream:" + u + ":" + kind
		if _, running := m.streams[k]; running {
			if !m.fresh(sk, now) {
				return livebill.Event{}, false
			}
			delete(m.streams, k)
			m.touch(now, sk, "user:"+u)
			return unpub(now, u, kind), true
		}
		m.touch(now, sk, "user:"+u)
		if kind == "main" && rapid.Bool().Draw(t, "audioOnly") {
			m.streams[k] = 0
			return pub(now, u, kind, 0, 0), true
		}
		sz := rapid.SampledFrom(propSizes).Draw(t, "size")
		m.streams[k] = int64(sz[0]) * int64(sz[1])
		return pub(now, u, kind, sz[0], sz[1]), true
	case 3: // update a running stream
		kind := rapid.SampledFrom(propKinds).Draw(t, "kind")
		k := skey{u, kind}
		sk := "update:" + u + ":" + kind
		if _, running := m.streams[k]; !running || !m.fresh(sk, now) {
			return livebill.Event{}, false
		}
		sz := rapid.SampledFrom(propSizes).Draw(t, "size")
		m.streams[k] = int64(sz[0]) * int64(sz[1])
		m.touch(now, sk, "stream:"+u+":"+kind, "user:"+u)
		return update(now, u, kind, sz[0], sz[1]), true
	default: // subscribe to or unsubscribe from another user's stream
		p := rapid.SampledFrom(propUsers).Draw(t, "publisher")
		kind := rapid.SampledFrom(propKinds).Draw(t, "kind")
		k := skey{p, kind}
		start := rapid.Bool().Draw(t, "subscribe")
		subk := "sub:" + u + ":" + p + ":" + kind
		if !m.fresh(subk, now) {
			return livebill.Event{}, false
		}
		m.touch(now, subk, "user:"+u)
		if m.subs[u] == nil {
			m.subs[u], m.off[u] = map[skey]int64{}, map[skey]bool{}
		}
		auto := m.mode[u] == "all" && kind != "small"
		if start {
			var w, h int
			if rapid.Bool().Draw(t, "stated") {
				sz := rapid.SampledFrom(propSizes[:4]).Draw(t, "received")
				w, h = sz[0], sz[1]
			}
			if auto {
				delete(m.off[u], k)
			} else {
				m.subs[u][k] = int64(w) * int64(h)
			}
			return sub(now, u, p, kind, w, h), true
		}
		if auto {
			m.off[u][k] = true
		} else {
			delete(m.subs[u], k)
		}
		return unsub(now, u, p, kind), true
	}
}

func avTotals(recs []meter.Record) map[string]int64 {
	out := map[string]int64{}
	for _, r := range recs {
		if strings.HasPrefix(r.Item, "trtc.av.") {
			out[r.Item] += r.Value
		}
	}
	return out
}

// (a) With one event per instant, the meter's A/V ms per item equal the
// model's: each user's in-room time is billed once, at the tier of what it
// receives, audio when it receives no video.
func TestPropAVMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genRoom(t, false)
		r := applyAll(t, g.closeAt, g.events...)
		if errs := r.m.Errors(); len(errs) > 0 {
			t.Fatalf("valid stream rejected: %v", errs)
		}
		got := avTotals(r.recs)
		if !reflect.DeepEqual(got, g.want) {
			t.Fatalf("A/V ms per item: want %v, got %v", g.want, got)
		}
	})
}

// (a) Every in-room millisecond is counted exactly once, also when events
// share instants (leave and rejoin at once, publish and subscribe at
// once): Σ trtc.av.* = Σ users' in-room time.
func TestPropAVEveryMillisecondOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genRoom(t, true)
		r := applyAll(t, g.closeAt, g.events...)
		var sum int64
		for _, v := range avTotals(r.recs) {
			sum += v
		}
		if sum != g.inRoom {
			t.Fatalf("Σ A/V ms = %d, Σ in-room ms = %d (errors: %v)", sum, g.inRoom, r.m.Errors())
		}
	})
}

// --- streams with robots, for (b) and (c) ---

// genMixed generates a stream over two rooms and two apps with users and
// tasks (recording, transcoding, relay, pull-stream input), events often
// sharing an instant.
func genMixed(t *rapid.T) ([]livebill.Event, int64) {
	type rs struct {
		app, room string
		m         *roomModel
		tasks     map[string]livebill.EventType // running task → its start type
	}
	rooms := []*rs{
		{app1, "r1", newRoomModel(), map[string]livebill.EventType{}},
		{app2, "r2", newRoomModel(), map[string]livebill.EventType{}},
	}
	var out []livebill.Event
	now := at("23:40") // crosses midnight
	n := rapid.IntRange(1, 80).Draw(t, "n")
	for i := 0; i < n; i++ {
		now += rapid.SampledFrom([]int64{0, 0, 0, 1, 999, 30 * sec, 4 * min}).Draw(t, "dt")
		r := rapid.SampledFrom(rooms).Draw(t, "room")
		var e livebill.Event
		ok := false
		if rapid.IntRange(0, 3).Draw(t, "robot?") > 0 {
			e, ok = genStep(t, r.m, now, true)
		} else {
			task := rapid.SampledFrom([]string{"t1", "t2"}).Draw(t, "task")
			kind := rapid.SampledFrom([]livebill.EventType{livebill.RecordingStart, livebill.TranscodeStart,
				livebill.RelayStart, livebill.InputStart}).Draw(t, "kind")
			key := kind.String() + ":" + task
			var inputs []livebill.StreamRef
			for _, u := range propUsers[:rapid.IntRange(0, 3).Draw(t, "ninputs")] {
				inputs = append(inputs, ref(u, rapid.SampledFrom(propKinds).Draw(t, "inkind")))
			}
			_, running := r.tasks[key]
			tk := "task:" + key
			if running && !r.m.fresh(tk, now) {
				continue // no stop or update at the instant of a start or update
			}
			r.m.touch(now, tk)
			switch {
			case running && kind == livebill.TranscodeStart && rapid.Bool().Draw(t, "update"):
				e = tcUpdate(now, task, rapid.SampledFrom([]string{"h264", "h265"}).Draw(t, "codec"), 1920, 1080, inputs...)
			case running:
				delete(r.tasks, key)
				switch kind {
				case livebill.RecordingStart:
					e = recStop(now, task)
				case livebill.TranscodeStart:
					e = tcStop(now, task)
				case livebill.RelayStart:
					e = relayStop(now, task)
				default:
					e = inputStop(now, task)
				}
			default:
				r.tasks[key] = kind
				switch kind {
				case livebill.RecordingStart:
					media := rapid.SampledFrom([]string{"", "audio"}).Draw(t, "recmedia")
					outs := []livebill.Output{{Format: "mp4", Destination: "tencent", Width: 1280, Height: 720},
						{Format: "hls", Destination: "third_party", Media: "audio"}}
					e = recStart(now, task, []string{"mp4", "hls"}, media, outs, inputs...)
				case livebill.TranscodeStart:
					w := rapid.SampledFrom([]int{0, 640, 1920}).Draw(t, "outw")
					e = tcStart(now, task, "h264", w, w*9/16, inputs...)
				case livebill.RelayStart:
					e = relayStart(now, task, rapid.SampledFrom([]string{"tencent", "third_party"}).Draw(t, "dest"),
						rapid.Int64Range(1, 200_000).Draw(t, "kbps"))
				default:
					e = inputStart(now, task, 1280, 720)
				}
			}
			ok = true
		}
		if ok {
			e.App, e.Room = r.app, r.room
			out = append(out, e)
		}
	}
	return out, now + rapid.Int64Range(0, 10*min).Draw(t, "tail")
}

// ndjson writes events as SPEC §7.1 JSON lines, times with +08:00.
func ndjson(es []livebill.Event) [][]byte {
	var lines [][]byte
	for _, e := range es {
		o := map[string]any{
			"type": e.Type.String(),
			"time": time.UnixMilli(e.Time).In(shanghai).Format("2006-01-02T15:04:05.000Z07:00"),
			"app":  e.App,
		}
		set := func(k string, v any, keep bool) {
			if keep {
				o[k] = v
			}
		}
		set("room", e.Room, e.Room != "")
		set("user", e.User, e.User != "")
		set("subscribe", e.Subscribe, e.Subscribe != "")
		set("stream", e.Stream, e.Stream != "")
		set("media", e.Media, e.Media != "")
		set("width", e.Width, e.Width != 0)
		set("height", e.Height, e.Height != 0)
		set("publisher", e.Publisher, e.Publisher != "")
		set("task", e.Task, e.Task != "")
		set("formats", e.Formats, len(e.Formats) > 0)
		set("outputs", e.Outputs, len(e.Outputs) > 0)
		set("codec", e.Codec, e.Codec != "")
		set("destination", e.Destination, e.Destination != "")
		set("bitrate_kbps", e.BitrateKbps, e.BitrateKbps != 0)
		switch e.Type {
		case livebill.RecordingStart, livebill.RelayStart:
			if e.AllStreams {
				o["streams"] = "all"
			} else {
				o["streams"] = e.Streams
			}
		case livebill.TranscodeStart, livebill.TranscodeUpdate:
			o["inputs"] = e.Inputs
			if e.Inputs == nil {
				o["inputs"] = []livebill.StreamRef{}
			}
			if e.OutputAudio {
				o["output"] = "audio"
			} else {
				o["output"] = map[string]int{"width": e.Output.Width, "height": e.Output.Height}
			}
		}
		b, err := json.Marshal(o)
		if err != nil {
			panic(err)
		}
		lines = append(lines, append(b, '\n'))
	}
	return lines
}

type snapshot struct {
	Records []meter.Record
	Relays  []meter.RelayInterval
	Notices []livebill.Notice
	Errors  int
}

func feedNDJSON(t *rapid.T, closeAt int64, parts ...[]byte) snapshot {
	m, err := meter.New(trtc(t), meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := &scenario.Result{}
	for i, p := range parts {
		if err := scenario.FeedNDJSON(m, bytes.NewReader(p), fmt.Sprintf("part%d", i), res); err != nil {
			t.Fatal(err)
		}
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("decoder rejected generated lines: %v", res.Rejected)
	}
	m.Close(closeAt)
	return snapshot{m.Records(), sortedRelays(m.Relays()), m.Notices(), len(m.Errors())}
}

func snap(t *rapid.T, closeAt int64, es []livebill.Event) snapshot {
	return snapWith(t, trtc(t), closeAt, es)
}

func snapWith(t *rapid.T, cat *catalog.Catalog, closeAt int64, es []livebill.Event) snapshot {
	m := applyAllWith(t, cat, closeAt, es...).m
	return snapshot{m.Records(), sortedRelays(m.Relays()), m.Notices(), len(m.Errors())}
}

// sortedRelays orders relay intervals (the meter lists them in the order
// they started, which among relays starting at one instant is input order).
func sortedRelays(rs []meter.RelayInterval) []meter.RelayInterval {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.App+a.Room+a.Task != b.App+b.Room+b.Task {
			return a.App+"\x00"+a.Room+"\x00"+a.Task < b.App+"\x00"+b.Room+"\x00"+b.Task
		}
		return a.Start < b.Start
	})
	return rs
}

// (b) Splitting an NDJSON stream at any line and replaying both halves
// into the same meter gives the same usage as the whole stream, and the
// same as applying the events directly.
func TestPropSplitNDJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		es, closeAt := genMixed(t)
		lines := ndjson(es)
		cut := rapid.IntRange(0, len(lines)).Draw(t, "cut")
		whole := bytes.Join(lines, nil)
		a, b := bytes.Join(lines[:cut], nil), bytes.Join(lines[cut:], nil)
		one := feedNDJSON(t, closeAt, whole)
		two := feedNDJSON(t, closeAt, a, b)
		if !reflect.DeepEqual(one, two) {
			t.Fatalf("split at line %d changes the result:\nwhole: %+v\nsplit: %+v", cut, one, two)
		}
		direct := snap(t, closeAt, es)
		if !reflect.DeepEqual(one, direct) {
			t.Fatalf("NDJSON and direct Apply differ:\nndjson: %+v\ndirect: %+v", one, direct)
		}
	})
}

// (c) Shuffling the events that share a timestamp does not change the
// records (nor the relays, notices or number of rejected events).
func TestPropSameInstantOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		es, closeAt := genMixed(t)
		shuffled := make([]livebill.Event, 0, len(es))
		for i := 0; i < len(es); {
			j := i
			for j < len(es) && es[j].Time == es[i].Time {
				j++
			}
			shuffled = append(shuffled, rapid.Permutation(es[i:j]).Draw(t, "group")...)
			i = j
		}
		a, b := snap(t, closeAt, es), snap(t, closeAt, shuffled)
		if !reflect.DeepEqual(a.Records, b.Records) || !reflect.DeepEqual(a.Relays, b.Relays) ||
			!reflect.DeepEqual(a.Notices, b.Notices) || a.Errors != b.Errors {
			t.Fatalf("same-instant order changes the result:\ninput:    %+v\nshuffled: %+v", a, b)
		}
	})
}
