package meter_test

// The model-based property test: random, causally valid event streams —
// several apps and rooms, users in all/manual/audio mode, main (video or
// audio-only), small and screen streams, explicit subscriptions with and
// without received sizes, resolution changes, leaves that end
// subscriptions, rejoins, recording, transcoding, relay and pull-stream
// input tasks, day boundaries in the account's zone (one with a DST
// change), sessions left open past the timeout, and many events at one
// millisecond — are metered, with each instant's events shuffled, and the
// meter's milliseconds per (app, day, item), relay intervals and timed-out
// sessions must equal the reference model's (refmodel_test.go), exactly.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/scenario"
	"pgregory.net/rapid"
)

var (
	modelApps  = []string{app1, app2}
	modelRooms = []string{"r1", "r2"}
	modelUsers = []string{"A", "B", "C", "D"}
	modelTasks = []string{"t1", "t2"}
	// Sizes around the tier bounds (SPEC §1) and above the top tier.
	modelSizes = [][2]int{{320, 180}, {640, 360}, {1280, 720}, {1281, 720}, {1920, 1080}, {1921, 1080},
		{2560, 1440}, {3840, 2160}, {4096, 2160}}
	modelReceived = [][2]int{{160, 90}, {320, 180}, {640, 360}}
	modelKinds    = []string{"main", "small", "screen"}
	// Steps between events: mostly the same millisecond.
	modelSteps = []int64{0, 0, 0, 0, 0, 1, 999, 37 * sec, 4 * min, 45 * min, 3 * 60 * min}
)

// modelZone is a billing zone and a first instant two hours before one of
// its midnights.
type modelZone struct {
	name, start string
}

var modelZones = []modelZone{
	{"Asia/Shanghai", "2024-10-01 22:00"},
	{"America/New_York", "2024-11-02 22:00"}, // 2024-11-03 has 25 hours
	{"America/New_York", "2024-03-09 22:00"}, // 2024-03-10 has 23 hours
	{"UTC", "2024-12-31 22:00"},
}

// modelRun is a generated stream: the events in the order they happened,
// and how the meter is set up, advanced and closed.
type modelRun struct {
	loc     *time.Location
	timeout time.Duration // 0: the catalog's default
	events  []livebill.Event
	closeAt int64
	advance uint64 // 0: not advanced; else the seed of advanceTo
}

// advanceTo is where a meter fed events in time order advances between an
// event at prev and the next at next (prev < next), or 0 for nowhere: a
// watermark in (prev, next], drawn from seed and the two instants alone so
// that a reduced stream advances where the full one did.
func advanceTo(seed uint64, prev, next int64) int64 {
	g := rand.New(rand.NewPCG(seed, uint64(prev)^uint64(next)<<1))
	if g.IntN(3) == 0 {
		return 0
	}
	if g.IntN(2) == 0 {
		return next
	}
	return prev + 1 + g.Int64N(next-prev)
}

func loadZone(t tb, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("zone %s: %v", name, err)
	}
	return loc
}

// genModelRun draws a causally valid stream: the model, advanced to each
// instant, proposes random events and keeps those it accepts.
// rapid draws the seed and the number of steps (so a failure shrinks to a
// shorter prefix); the rest comes from the seeded generator, and reduce
// minimizes a failing list.
func genModelRun(t *rapid.T) modelRun {
	return genModelRunFrom(t, rapid.Uint64().Draw(t, "seed"), rapid.IntRange(1, 150).Draw(t, "steps"))
}

func genModelRunFrom(t tb, seed uint64, n int) modelRun {
	g := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	z := pickOf(g, modelZones)
	loc := loadZone(t, z.name)
	start, err := time.ParseInLocation("2006-01-02 15:04", z.start, loc)
	if err != nil {
		t.Fatal(err)
	}
	run := modelRun{loc: loc, timeout: pickOf(g, modelTimeouts)}
	m := newRefModel(loc, effectiveTimeout(run.timeout))
	now := start.UnixMilli()
	m.advance(now)
	var instant []livebill.Event // events so far at now
	for i := 0; i < n; i++ {
		if dt := pickOf(g, modelSteps); dt > 0 {
			now += dt
			m.advance(now)
			instant = instant[:0]
		}
		for try := 0; try < 6; try++ {
			var e livebill.Event
			if len(instant) > 0 && g.IntN(3) == 0 {
				e = followUp(g, pickOf(g, instant))
			} else {
				e = randomEvent(g, m)
			}
			e.Time = now
			if m.check(&e) == nil {
				m.apply(&e)
				run.events = append(run.events, e)
				instant = append(instant, e)
				break
			}
		}
	}
	run.closeAt = now + pickOf(g, []int64{0, 1, 10 * min, 2 * 60 * min})
	return run
}

func pickOf[T any](g *rand.Rand, xs []T) T { return xs[g.IntN(len(xs))] }

func drawSize(g *rand.Rand, sizes [][2]int) (int, int) {
	s := pickOf(g, sizes)
	return s[0], s[1]
}

func drawRefs(g *rand.Rand, max int) []livebill.StreamRef {
	var out []livebill.StreamRef
	pubs := append(append([]string{}, modelUsers...), robotID("input", "t1"))
	for i := g.IntN(max + 1); i > 0; i-- {
		out = append(out, livebill.StreamRef{User: pickOf(g, pubs), Stream: pickOf(g, modelKinds)})
	}
	return out
}

// randomEvent draws an event of any room-event type, its time unset,
// mostly about someone or something in the room (m's state) so that most
// draws are valid.
func randomEvent(g *rand.Rand, m *refModel) livebill.Event {
	e := livebill.Event{App: pickOf(g, modelApps), Room: pickOf(g, modelRooms)}
	r := m.room(e.App, e.Room)
	types := []livebill.EventType{livebill.RoomJoin, livebill.RoomJoin, livebill.RoomLeave,
		livebill.StreamStart, livebill.StreamStart, livebill.StreamUpdate, livebill.StreamStop,
		livebill.SubscribeStart, livebill.SubscribeStart, livebill.SubscribeStop,
		livebill.RecordingStart, livebill.TranscodeStart, livebill.TranscodeUpdate, livebill.RelayStart,
		livebill.InputStart, livebill.RecordingStop, livebill.TranscodeStop, livebill.RelayStop, livebill.InputStop}
	e.Type = pickOf(g, types)
	if e.Type.IsTask() {
		e.Task = pickOf(g, modelTasks)
		fill(g, &e)
		return e
	}
	var present []string
	for u := range r.users {
		present = append(present, u)
	}
	var running []refStreamKey
	for k := range r.streams {
		running = append(running, k)
	}
	sort.Strings(present) // map order is random; the seed must decide
	sort.Slice(running, func(i, j int) bool {
		return running[i].pub+running[i].kind < running[j].pub+running[j].kind
	})
	e.User = pickOf(g, modelUsers)
	if e.Type != livebill.RoomJoin && len(present) > 0 && g.IntN(5) > 0 {
		e.User = pickOf(g, present)
	}
	if e.Type == livebill.RoomJoin || e.Type == livebill.RoomLeave {
		fill(g, &e)
		return e
	}
	e.Stream = pickOf(g, modelKinds)
	if (e.Type == livebill.StreamUpdate || e.Type == livebill.StreamStop) && len(running) > 0 && g.IntN(4) > 0 {
		k := pickOf(g, running)
		e.User, e.Stream = k.pub, k.kind
	}
	fill(g, &e)
	if e.Publisher != "" && len(running) > 0 && g.IntN(3) > 0 {
		k := pickOf(g, running)
		e.Publisher, e.Stream = k.pub, k.kind
	}
	return e
}

// fill draws the fields of e's type other than who and what.
func fill(g *rand.Rand, e *livebill.Event) {
	switch e.Type {
	case livebill.RoomJoin:
		e.Subscribe = pickOf(g, []string{"", "manual", "all", "audio"})
	case livebill.StreamStart:
		e.Media = "video"
		if e.Stream == "main" && g.IntN(4) == 0 {
			e.Media = "audio"
			return
		}
		e.Width, e.Height = drawSize(g, modelSizes)
		e.NoAudio = e.Stream == "main" && g.IntN(7) == 0
	case livebill.StreamUpdate:
		e.Width, e.Height = drawSize(g, modelSizes)
	case livebill.SubscribeStart, livebill.SubscribeStop:
		pubs := append(append([]string{}, modelUsers...), robotID("input", "t1"))
		e.Publisher = pickOf(g, pubs)
		if e.Type == livebill.SubscribeStart && g.IntN(2) == 0 {
			e.Width, e.Height = drawSize(g, modelReceived)
		}
	case livebill.RecordingStart:
		e.Formats = pickOf(g, [][]string{{"mp4"}, {"mp4", "hls"}})
		if e.Streams = drawRefs(g, 3); len(e.Streams) == 0 {
			e.AllStreams = true
		}
		e.Media = pickOf(g, []string{"", "", "audio"})
		for i := g.IntN(3); i > 0; i-- {
			o := livebill.Output{Format: "mp4", Destination: pickOf(g, []string{"vod", "tencent", "third_party"})}
			if g.IntN(2) == 0 {
				o.Media = "audio"
			} else {
				o.Width, o.Height = drawSize(g, modelSizes)
			}
			e.Outputs = append(e.Outputs, o)
		}
	case livebill.TranscodeStart, livebill.TranscodeUpdate:
		e.Codec = pickOf(g, []string{"h264", "h265"})
		if g.IntN(4) == 0 {
			e.OutputAudio = true
		} else {
			w, h := drawSize(g, modelSizes)
			e.Output = livebill.Size{Width: w, Height: h}
		}
		e.Inputs = drawRefs(g, 3)
	case livebill.RelayStart:
		e.Destination = pickOf(g, []string{"tencent", "third_party"})
		e.BitrateKbps = 1 + g.Int64N(200_000)
		switch g.IntN(3) {
		case 0:
			e.AllStreams = true
		case 1:
			e.Streams = drawRefs(g, 2)
		}
	case livebill.InputStart:
		e.Media = "video"
		if g.IntN(4) == 0 {
			e.Media = "audio"
		} else {
			e.Width, e.Height = drawSize(g, modelSizes)
		}
	}
}

// followUp draws an event about the same thing as f, or its owner: the
// pairs the same-instant rules are about.
func followUp(g *rand.Rand, f livebill.Event) livebill.Event {
	e := livebill.Event{App: f.App, Room: f.Room, User: f.User, Stream: f.Stream, Publisher: f.Publisher, Task: f.Task}
	var next []livebill.EventType
	switch f.Type {
	case livebill.RoomJoin:
		next = []livebill.EventType{livebill.RoomLeave, livebill.StreamStart, livebill.SubscribeStart}
	case livebill.RoomLeave:
		next = []livebill.EventType{livebill.RoomJoin}
	case livebill.StreamStart:
		next = []livebill.EventType{livebill.StreamStop, livebill.StreamUpdate, livebill.RoomLeave}
	case livebill.StreamUpdate:
		next = []livebill.EventType{livebill.StreamStop, livebill.RoomLeave}
	case livebill.StreamStop:
		next = []livebill.EventType{livebill.StreamStart, livebill.RoomLeave}
	case livebill.SubscribeStart:
		next = []livebill.EventType{livebill.SubscribeStop, livebill.RoomLeave}
	case livebill.SubscribeStop:
		next = []livebill.EventType{livebill.SubscribeStart, livebill.RoomLeave}
	case livebill.RecordingStart:
		next = []livebill.EventType{livebill.RecordingStop}
	case livebill.RecordingStop:
		next = []livebill.EventType{livebill.RecordingStart}
	case livebill.TranscodeStart:
		next = []livebill.EventType{livebill.TranscodeStop, livebill.TranscodeUpdate}
	case livebill.TranscodeUpdate:
		next = []livebill.EventType{livebill.TranscodeStop}
	case livebill.TranscodeStop:
		next = []livebill.EventType{livebill.TranscodeStart}
	case livebill.RelayStart:
		next = []livebill.EventType{livebill.RelayStop}
	case livebill.RelayStop:
		next = []livebill.EventType{livebill.RelayStart}
	case livebill.InputStart:
		next = []livebill.EventType{livebill.InputStop}
	case livebill.InputStop:
		next = []livebill.EventType{livebill.InputStart}
	}
	e.Type = pickOf(g, next)
	if e.Type == livebill.RoomLeave || e.Type == livebill.RoomJoin {
		e.Stream, e.Publisher = "", ""
	}
	fill(g, &e)
	return e
}

// --- running the meter ---

// modelTimeouts are the session timeouts runs draw: 0 is the catalog's
// default.
var modelTimeouts = []time.Duration{0, 0, 50 * time.Minute}

// effectiveTimeout is the timeout a run's meter applies.
func effectiveTimeout(d time.Duration) time.Duration {
	if d == 0 {
		return catalog.DefaultSessionTimeout
	}
	return d
}

// catalogFor returns the trtc catalog, or an override of it with another
// session timeout.
func catalogFor(t tb, timeout time.Duration) *catalog.Catalog {
	if timeout == 0 {
		return trtc(t)
	}
	c, err := catalog.Parse([]byte("extends: trtc\nsession_timeout: "+timeout.String()+"\n"), "model")
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return c
}

// meterResult feeds the meter the events as the NDJSON lines a failure
// prints, so what fails is what is printed. With run.advance set the
// meter is also advanced at watermarks (advanceTo), as a live meter or a
// quote of a file in time order is.
func meterResult(t tb, run modelRun, es []livebill.Event) (refResult, []error) {
	m, err := meter.New(catalogFor(t, run.timeout), meter.Options{Location: run.loc})
	if err != nil {
		t.Fatal(err)
	}
	var res scenario.Result
	if run.advance == 0 {
		if err := scenario.FeedNDJSON(m, strings.NewReader(eventLines(run.loc, es)), "model", &res); err != nil {
			t.Fatal(err)
		}
	} else {
		d := eventio.NewDecoder(strings.NewReader(eventLines(run.loc, es)), "model")
		var e livebill.Event
		last := int64(math.MinInt64)
		for {
			if err := d.Next(&e); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if e.Time > last && last != math.MinInt64 {
				if w := advanceTo(run.advance, last, e.Time); w > 0 {
					m.Advance(w)
				}
			}
			last = e.Time
			m.Apply(&e)
		}
	}
	m.Close(run.closeAt)
	out := refResult{usage: map[refKey]int64{}}
	for _, r := range m.Records() {
		out.usage[refKey{r.App, time.UnixMilli(r.Window).In(run.loc).Format(time.DateOnly), r.Item}] += r.Value
	}
	for _, rl := range m.Relays() {
		out.relays = append(out.relays, fmt.Sprintf("%s %s %s %s %d %d-%d", rl.App, rl.Room, rl.Task, rl.Destination, rl.Kbps, rl.Start, rl.End))
	}
	sort.Strings(out.relays)
	for _, n := range m.Notices() {
		if n.Code != meter.NoticeSessionTimedOut {
			continue
		}
		if n.Room == "" {
			t.Fatalf("more timed-out sessions than the notices list: %s", n.Message)
		}
		at, err := time.Parse(time.RFC3339Nano, n.Time)
		if err != nil {
			t.Fatalf("notice time %q: %v", n.Time, err)
		}
		who := n.User
		if n.Task != "" {
			who = robotID(strings.TrimSuffix(strings.SplitN(n.Message, " task ", 2)[0], ""), n.Task)
		}
		out.timeouts = append(out.timeouts, fmt.Sprintf("%s %s %s %d", n.App, n.Room, who, at.UnixMilli()))
	}
	sort.Strings(out.timeouts)
	return out, append(res.Rejected, m.Errors()...)
}

// diff lists where got differs from want, one line each.
func (want refResult) diff(got refResult) []string {
	var out []string
	keys := map[refKey]bool{}
	for k := range want.usage {
		keys[k] = true
	}
	for k := range got.usage {
		keys[k] = true
	}
	for k := range keys {
		if want.usage[k] != got.usage[k] {
			out = append(out, fmt.Sprintf("%s %s %-32s model %d ms, meter %d ms", k.app, k.day, k.item, want.usage[k], got.usage[k]))
		}
	}
	sort.Strings(out)
	if strings.Join(want.relays, "\n") != strings.Join(got.relays, "\n") {
		out = append(out, fmt.Sprintf("relays: model %q, meter %q", want.relays, got.relays))
	}
	if strings.Join(want.timeouts, "\n") != strings.Join(got.timeouts, "\n") {
		out = append(out, fmt.Sprintf("timed-out sessions: model %q, meter %q", want.timeouts, got.timeouts))
	}
	return out
}

// shuffleInstants returns, for the events in causal order, an order that
// shuffles the events of each instant.
func shuffleInstants(g *rand.Rand, es []livebill.Event) []int {
	var order []int
	for i := 0; i < len(es); {
		j := i
		var group []int
		for ; j < len(es) && es[j].Time == es[i].Time; j++ {
			group = append(group, j)
		}
		g.Shuffle(len(group), func(a, b int) { group[a], group[b] = group[b], group[a] })
		order = append(order, group...)
		i = j
	}
	return order
}

func pick(es []livebill.Event, order []int) []livebill.Event {
	out := make([]livebill.Event, len(order))
	for i, k := range order {
		out[i] = es[k]
	}
	return out
}

// mismatch runs the model on the causal order and the meter on order; it
// reports what differs, or nil. ok is false when the model refuses the
// events (a reduced stream that is no longer causally valid).
func mismatch(t tb, run modelRun, es []livebill.Event, order []int) (problems []string, ok bool) {
	want, err := runRef(run.loc, effectiveTimeout(run.timeout), es, run.closeAt)
	if err != nil {
		return nil, false
	}
	got, errs := meterResult(t, run, pick(es, order))
	for _, err := range errs {
		problems = append(problems, "meter rejected: "+err.Error())
	}
	return append(problems, want.diff(got)...), true
}

// reduce removes events while the meter still disagrees with the model on
// a causally valid stream — runs of events, then single ones — until no
// event can be left out. It gives up after a few seconds.
func reduce(t tb, run modelRun, es []livebill.Event, order []int) ([]livebill.Event, []int) {
	deadline := time.Now().Add(5 * time.Second)
	for size := len(es) / 2; size >= 1 && time.Now().Before(deadline); {
		removed := false
		for i := len(es) - size; i >= 0 && time.Now().Before(deadline); i-- {
			les := append(append([]livebill.Event{}, es[:i]...), es[i+size:]...)
			var lorder []int
			for _, k := range order {
				switch {
				case k < i:
					lorder = append(lorder, k)
				case k >= i+size:
					lorder = append(lorder, k-size)
				}
			}
			if p, ok := mismatch(t, run, les, lorder); ok && len(p) > 0 {
				es, order, removed = les, lorder, true
				if i > len(es)-size {
					i = len(es) - size + 1
				}
			}
		}
		if !removed {
			size /= 2
		}
	}
	return es, order
}

// TestPropMeterMatchesModel: the meter's usage equals the reference
// model's on random causally valid streams whose same-instant events come
// in random order. The number of cases is LIVEBILL_MODEL_CHECKS (default
// modelChecks; -rapid.checks scales it too).
func TestPropMeterMatchesModel(t *testing.T) {
	rounds := modelChecks / 100
	if n, err := strconv.Atoi(os.Getenv("LIVEBILL_MODEL_CHECKS")); err == nil {
		rounds = max(1, n/100)
	}
	if testing.Short() {
		rounds = 1
	}
	for i := 0; i < rounds; i++ {
		rapid.Check(t, func(t *rapid.T) {
			run := genModelRun(t)
			order := shuffleInstants(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "order"), 1)), run.events)
			problems, ok := mismatch(t, run, run.events, order)
			if !ok {
				t.Fatalf("the generator made a stream the model refuses")
			}
			if len(problems) == 0 {
				return
			}
			es, order := reduce(t, run, run.events, order)
			problems, _ = mismatch(t, run, es, order)
			t.Fatalf("meter and model differ on these events (zone %s, session timeout %v, meter closed at %s; the order is the meter's input, the model took them as they happened: %s):\n%s\n%s",
				run.loc, effectiveTimeout(run.timeout), time.UnixMilli(run.closeAt).In(run.loc).Format(time.RFC3339Nano),
				causalOrder(order), scenarioYAML(run, pick(es, order)), strings.Join(problems, "\n"))
		})
	}
}

// TestPropAdvancedMeterMatchesModel is TestPropMeterMatchesModel with the
// meter advanced at random watermarks between instants (a live meter's
// settlement ticks, a quote reading a file in time order), rooms sweeping
// their ids at every event group: letting go of empty rooms and of the
// ids of who left changes nothing the model sees.
func TestPropAdvancedMeterMatchesModel(t *testing.T) {
	defer meter.SetMinSweep(1)()
	rounds := modelChecks / 200
	if testing.Short() {
		rounds = 1
	}
	for i := 0; i < rounds; i++ {
		rapid.Check(t, func(t *rapid.T) {
			run := genModelRun(t)
			run.advance = rapid.Uint64Min(1).Draw(t, "advance")
			order := shuffleInstants(rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "order"), 1)), run.events)
			problems, ok := mismatch(t, run, run.events, order)
			if !ok {
				t.Fatalf("the generator made a stream the model refuses")
			}
			if len(problems) == 0 {
				return
			}
			es, order := reduce(t, run, run.events, order)
			problems, _ = mismatch(t, run, es, order)
			var marks []string
			for i := 1; i < len(es); i++ {
				a, b := es[order[i-1]].Time, es[order[i]].Time
				if b > a {
					if w := advanceTo(run.advance, a, b); w > 0 {
						marks = append(marks, fmt.Sprintf("before event %d: %s", i+1, time.UnixMilli(w).In(run.loc).Format(time.RFC3339Nano)))
					}
				}
			}
			t.Fatalf("advanced meter and model differ on these events (zone %s, session timeout %v, meter closed at %s; the order is the meter's input, the model took them as they happened: %s; the meter advanced %s):\n%s\n%s",
				run.loc, effectiveTimeout(run.timeout), time.UnixMilli(run.closeAt).In(run.loc).Format(time.RFC3339Nano),
				causalOrder(order), strings.Join(marks, ", "), scenarioYAML(run, pick(es, order)), strings.Join(problems, "\n"))
		})
	}
}

// modelChecks is how many cases CI runs (in rounds of rapid's 100).
const modelChecks = 1000

// causalOrder says in which order the model took the printed events.
func causalOrder(order []int) string {
	pos := make([]int, len(order))
	for i, k := range order {
		pos[k] = i + 1
	}
	parts := make([]string, len(pos))
	for i, p := range pos {
		parts[i] = strconv.Itoa(p)
	}
	return "events " + strings.Join(parts, ", ")
}

// scenarioYAML prints events as a scenario a user can paste (calculator
// mode; the event lines are NDJSON too).
func scenarioYAML(run modelRun, es []livebill.Event) string {
	var b strings.Builder
	from := time.UnixMilli(es[0].Time).In(run.loc)
	to := time.UnixMilli(run.closeAt).In(run.loc).AddDate(0, 0, 1)
	fmt.Fprintf(&b, "mode: calculator\ncatalog: trtc\n")
	if run.timeout != 0 {
		fmt.Fprintf(&b, "# with a catalog override: extends: trtc, session_timeout: %v\n", run.timeout)
	}
	fmt.Fprintf(&b, "period: {from: %s, to: %s}\naccount: {timezone: %s}\nevents:\n", from.Format(time.DateOnly), to.Format(time.DateOnly), run.loc)
	for _, l := range strings.SplitAfter(strings.TrimSuffix(eventLines(run.loc, es), "\n"), "\n") {
		fmt.Fprintf(&b, "  - %s", l)
	}
	return b.String()
}

// eventLines writes events as SPEC §7.1 NDJSON, keys in the usual order,
// times in loc.
func eventLines(loc *time.Location, es []livebill.Event) string {
	var b bytes.Buffer
	for _, e := range es {
		var kv []string
		add := func(k string, v any) {
			j, err := json.Marshal(v)
			if err != nil {
				panic(err)
			}
			kv = append(kv, strconv.Quote(k)+":"+string(j))
		}
		add("time", time.UnixMilli(e.Time).In(loc).Format("2006-01-02T15:04:05.000Z07:00"))
		add("type", e.Type.String())
		add("app", e.App)
		add("room", e.Room)
		for _, f := range []struct {
			k, v string
		}{{"user", e.User}, {"subscribe", e.Subscribe}, {"publisher", e.Publisher}, {"stream", e.Stream},
			{"media", e.Media}, {"task", e.Task}, {"codec", e.Codec}, {"destination", e.Destination}} {
			if f.v != "" {
				add(f.k, f.v)
			}
		}
		if e.NoAudio {
			add("audio", false)
		}
		if e.Width != 0 || e.Height != 0 {
			add("width", e.Width)
			add("height", e.Height)
		}
		if len(e.Formats) > 0 {
			add("formats", e.Formats)
		}
		switch e.Type {
		case livebill.RecordingStart, livebill.RelayStart:
			if e.AllStreams {
				add("streams", "all")
			} else if len(e.Streams) > 0 {
				add("streams", e.Streams)
			}
		case livebill.TranscodeStart, livebill.TranscodeUpdate:
			if e.OutputAudio {
				add("output", "audio")
			} else {
				add("output", map[string]int{"width": e.Output.Width, "height": e.Output.Height})
			}
			add("inputs", append([]livebill.StreamRef{}, e.Inputs...))
		}
		if len(e.Outputs) > 0 {
			add("outputs", e.Outputs)
		}
		if e.BitrateKbps != 0 {
			add("bitrate_kbps", e.BitrateKbps)
		}
		b.WriteString("{" + strings.Join(kv, ",") + "}\n")
	}
	return b.String()
}

// TestModelGeneratorCoverage checks that the generator of
// TestPropMeterMatchesModel produces every case it is meant to cover —
// each kind of stream, subscription and task, day boundaries, and each
// pair of events of one thing (or of a user and its things) at one
// instant — so the property test cannot lose a case unnoticed.
func TestModelGeneratorCoverage(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(0); seed < 300; seed++ {
		run := genModelRunFrom(t, seed, 150)
		classify(run, seen)
	}
	var missing, counts []string
	for _, c := range modelCases {
		counts = append(counts, fmt.Sprintf("%s %d", c, seen[c]))
		if seen[c] == 0 {
			missing = append(missing, c)
		}
	}
	t.Logf("cases in 300 runs: %s", strings.Join(counts, ", "))
	if len(missing) > 0 {
		t.Errorf("the generator made none of: %s", strings.Join(missing, ", "))
	}
}

// modelCases are what TestModelGeneratorCoverage requires.
var modelCases = []string{
	"join all", "join manual", "join audio", "join default", "rejoin later",
	"stream main video", "stream main audio-only", "stream main audio:false", "stream small", "stream screen",
	"stream.update", "subscribe stated size", "subscribe no size", "subscribe small", "subscribe.stop",
	"subscribe robot stream", "recording all", "recording listed", "recording audio", "recording outputs",
	"transcode video output", "transcode audio output", "transcode.update", "relay", "input video", "input audio",
	"two apps", "two rooms of one app", "local midnight", "DST day", "5+ events at one ms",
	"same ms: join+leave", "same ms: leave+rejoin", "same ms: stream start+stop", "same ms: stream stop+start",
	"same ms: stream update+stop", "same ms: stream start+update", "same ms: stream update+leave",
	"same ms: stream start+leave", "same ms: subscribe start+stop", "same ms: subscribe stop+start",
	"same ms: subscribe+leave", "same ms: task start+stop", "same ms: task stop+start",
	"same ms: transcode update+stop", "same ms: stream stop+subscribe stop",
	"timed-out user", "timed-out task", "late end of a timed-out session", "late update of a timed-out session",
}

// classify counts the cases of modelCases in run.
func classify(run modelRun, seen map[string]int) {
	// the model's view: timed-out sessions and the late events about them
	m := newRefModel(run.loc, effectiveTimeout(run.timeout))
	for i := range run.events {
		e := &run.events[i]
		m.advance(e.Time)
		r := m.room(e.App, e.Room)
		late := r.users[e.User] == nil && r.timedOut[e.User]
		if e.Type.IsTask() {
			id := robotID(taskKind(e.Type), e.Task)
			late = r.tasks[id] == nil && r.timedOut[id]
		}
		switch {
		case late && isUpdate(e.Type):
			seen["late update of a timed-out session"]++
		case late && !isStart(e.Type):
			seen["late end of a timed-out session"]++
		}
		m.apply(e)
	}
	m.close(run.closeAt)
	for _, to := range m.timeouts {
		if strings.HasPrefix(to.who, "robot:") {
			seen["timed-out task"]++
		} else {
			seen["timed-out user"]++
		}
	}
	apps, rooms, days := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, e := range run.events {
		apps[e.App] = true
		rooms[e.App+"|"+e.Room] = true
		days[time.UnixMilli(e.Time).In(run.loc).Format(time.DateOnly)] = true
		switch e.Type {
		case livebill.RoomJoin:
			seen["join "+map[string]string{"": "default"}[e.Subscribe]+e.Subscribe]++
			for _, p := range run.events[:i] {
				if p.Type == livebill.RoomLeave && p.App == e.App && p.Room == e.Room && p.User == e.User && p.Time < e.Time {
					seen["rejoin later"]++
					break
				}
			}
		case livebill.StreamStart:
			switch {
			case e.Stream != "main":
				seen["stream "+e.Stream]++
			case e.Media == "audio":
				seen["stream main audio-only"]++
			case e.NoAudio:
				seen["stream main audio:false"]++
			default:
				seen["stream main video"]++
			}
		case livebill.StreamUpdate, livebill.SubscribeStop, livebill.TranscodeUpdate:
			seen[e.Type.String()]++
		case livebill.SubscribeStart:
			if e.Width > 0 {
				seen["subscribe stated size"]++
			} else {
				seen["subscribe no size"]++
			}
			if e.Stream == "small" {
				seen["subscribe small"]++
			}
			if strings.HasPrefix(e.Publisher, "robot:") {
				seen["subscribe robot stream"]++
			}
		case livebill.RecordingStart:
			switch {
			case e.Media == "audio":
				seen["recording audio"]++
			case e.AllStreams:
				seen["recording all"]++
			default:
				seen["recording listed"]++
			}
			if len(e.Outputs) > 0 {
				seen["recording outputs"]++
			}
		case livebill.TranscodeStart:
			if e.OutputAudio {
				seen["transcode audio output"]++
			} else {
				seen["transcode video output"]++
			}
		case livebill.RelayStart:
			seen["relay"]++
		case livebill.InputStart:
			seen["input "+e.Media]++
		}
	}
	if len(apps) > 1 {
		seen["two apps"]++
	}
	if len(rooms) > len(apps) {
		seen["two rooms of one app"]++
	}
	if len(days) > 1 {
		seen["local midnight"]++
		for d := range days {
			t, _ := time.ParseInLocation(time.DateOnly, d, run.loc)
			if h := t.AddDate(0, 0, 1).Sub(t); h != 24*time.Hour {
				seen["DST day"]++
			}
		}
	}
	// pairs at one instant, in the order they happened
	for i := 0; i < len(run.events); {
		j := i
		for j < len(run.events) && run.events[j].Time == run.events[i].Time {
			j++
		}
		if j-i >= 5 {
			seen["5+ events at one ms"]++
		}
		for a := i; a < j; a++ {
			for b := a + 1; b < j; b++ {
				if c := pairCase(run.events[a], run.events[b]); c != "" {
					seen["same ms: "+c]++
				}
			}
		}
		i = j
	}
}

// pairCase names the same-instant case of a before b, if they are about
// one thing, or a user and its thing.
func pairCase(a, b livebill.Event) string {
	if a.App != b.App || a.Room != b.Room {
		return ""
	}
	sameUser := a.User != "" && a.User == b.User
	sameStream := sameUser && a.Stream == b.Stream
	sameSub := sameStream && a.Publisher == b.Publisher
	sameTask := a.Task != "" && a.Task == b.Task && taskKind(a.Type) == taskKind(b.Type)
	type tt = livebill.EventType
	is := func(x, y tt) bool { return a.Type == x && b.Type == y }
	switch {
	case sameUser && is(livebill.RoomJoin, livebill.RoomLeave):
		return "join+leave"
	case sameUser && is(livebill.RoomLeave, livebill.RoomJoin):
		return "leave+rejoin"
	case sameStream && is(livebill.StreamStart, livebill.StreamStop):
		return "stream start+stop"
	case sameStream && is(livebill.StreamStop, livebill.StreamStart):
		return "stream stop+start"
	case sameStream && is(livebill.StreamUpdate, livebill.StreamStop):
		return "stream update+stop"
	case sameStream && is(livebill.StreamStart, livebill.StreamUpdate):
		return "stream start+update"
	case sameUser && is(livebill.StreamUpdate, livebill.RoomLeave):
		return "stream update+leave"
	case sameUser && is(livebill.StreamStart, livebill.RoomLeave):
		return "stream start+leave"
	case sameSub && is(livebill.SubscribeStart, livebill.SubscribeStop):
		return "subscribe start+stop"
	case sameSub && is(livebill.SubscribeStop, livebill.SubscribeStart):
		return "subscribe stop+start"
	case sameUser && is(livebill.SubscribeStart, livebill.RoomLeave):
		return "subscribe+leave"
	case sameTask && isStart(a.Type) && !isStart(b.Type) && !isUpdate(b.Type):
		return "task start+stop"
	case sameTask && isStart(b.Type) && !isStart(a.Type) && !isUpdate(a.Type):
		return "task stop+start"
	case sameTask && is(livebill.TranscodeUpdate, livebill.TranscodeStop):
		return "transcode update+stop"
	case (is(livebill.StreamStop, livebill.SubscribeStop) && b.Publisher == a.User ||
		is(livebill.SubscribeStop, livebill.StreamStop) && a.Publisher == b.User) && a.Stream == b.Stream:
		return "stream stop+subscribe stop"
	}
	return ""
}
