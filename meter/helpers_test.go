package meter_test

// Test helpers: event builders, a meter harness and priced quotes through
// the scenario package. Expected values in the tests are computed by hand
// from SPEC §1–§3; these helpers only sum what the meter recorded.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
	"github.com/livebill/livebill/scenario"
)

const (
	app1 = "1400000001"
	app2 = "1400000002"
	room = "r1"

	sec = int64(1000)
	min = 60 * sec
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// at returns 2024-10-01 at a local Asia/Shanghai clock time ("10:00" or
// "10:00:30") as Unix ms.
func at(clock string) int64 { return atDay("2024-10-01", clock) }

// atDay returns a local Asia/Shanghai date and clock time as Unix ms.
func atDay(day, clock string) int64 {
	layout := "2006-01-02 15:04"
	if strings.Count(clock, ":") == 2 {
		layout = "2006-01-02 15:04:05"
	}
	t, err := time.ParseInLocation(layout, day+" "+clock, shanghai)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// localDay is the Asia/Shanghai date of an instant.
func localDay(ms int64) string { return time.UnixMilli(ms).In(shanghai).Format(time.DateOnly) }

var (
	catOnce sync.Once
	trtcCat *catalog.Catalog
	catErr  error
)

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
}

func trtc(t tb) *catalog.Catalog {
	t.Helper()
	catOnce.Do(func() { trtcCat, catErr = catalog.Load("trtc") })
	if catErr != nil {
		t.Fatalf("load trtc catalog: %v", catErr)
	}
	return trtcCat
}

// --- event builders (app1, room r1 unless changed with on/inRoom) ---

func ev(t int64, typ livebill.EventType) livebill.Event {
	return livebill.Event{Type: typ, Time: t, App: app1, Room: room}
}

func join(t int64, user, mode string) livebill.Event {
	e := ev(t, livebill.RoomJoin)
	e.User, e.Subscribe = user, mode
	return e
}

func leave(t int64, user string) livebill.Event {
	e := ev(t, livebill.RoomLeave)
	e.User = user
	return e
}

// pub starts a stream: video at w×h, or an audio-only main stream when w
// is 0.
func pub(t int64, user, stream string, w, h int) livebill.Event {
	e := ev(t, livebill.StreamStart)
	e.User, e.Stream, e.Media = user, stream, livebill.MediaVideo
	e.Width, e.Height = w, h
	if w == 0 {
		e.Media = livebill.MediaAudio
	}
	return e
}

func update(t int64, user, stream string, w, h int) livebill.Event {
	e := ev(t, livebill.StreamUpdate)
	e.User, e.Stream, e.Width, e.Height = user, stream, w, h
	return e
}

func unpub(t int64, user, stream string) livebill.Event {
	e := ev(t, livebill.StreamStop)
	e.User, e.Stream = user, stream
	return e
}

// sub subscribes user to publisher's stream; w×h is the size actually
// received (0: not stated).
func sub(t int64, user, publisher, stream string, w, h int) livebill.Event {
	e := ev(t, livebill.SubscribeStart)
	e.User, e.Publisher, e.Stream, e.Width, e.Height = user, publisher, stream, w, h
	return e
}

func unsub(t int64, user, publisher, stream string) livebill.Event {
	e := ev(t, livebill.SubscribeStop)
	e.User, e.Publisher, e.Stream = user, publisher, stream
	return e
}

func ref(user, stream string) livebill.StreamRef {
	return livebill.StreamRef{User: user, Stream: stream}
}

// recStart starts a recording task; no refs means streams: "all".
func recStart(t int64, task string, formats []string, media string, outputs []livebill.Output, refs ...livebill.StreamRef) livebill.Event {
	e := ev(t, livebill.RecordingStart)
	e.Task, e.Formats, e.Media, e.Outputs = task, formats, media, outputs
	e.Streams = refs
	e.AllStreams = len(refs) == 0
	return e
}

func recStop(t int64, task string) livebill.Event {
	e := ev(t, livebill.RecordingStop)
	e.Task = task
	return e
}

// tcStart starts a transcoding task with a video output w×h (audio output
// when w is 0).
func tcStart(t int64, task, codec string, w, h int, inputs ...livebill.StreamRef) livebill.Event {
	e := ev(t, livebill.TranscodeStart)
	e.Task, e.Codec, e.Inputs = task, codec, inputs
	if w == 0 {
		e.OutputAudio = true
	} else {
		e.Output = livebill.Size{Width: w, Height: h}
	}
	return e
}

func tcUpdate(t int64, task, codec string, w, h int, inputs ...livebill.StreamRef) livebill.Event {
	e := tcStart(t, task, codec, w, h, inputs...)
	e.Type = livebill.TranscodeUpdate
	return e
}

func tcStop(t int64, task string) livebill.Event {
	e := ev(t, livebill.TranscodeStop)
	e.Task = task
	return e
}

// relayStart starts a relay of every stream in the room (the default).
func relayStart(t int64, task, dest string, kbps int64) livebill.Event {
	e := ev(t, livebill.RelayStart)
	e.Task, e.Destination, e.BitrateKbps, e.AllStreams = task, dest, kbps, true
	return e
}

func relayStop(t int64, task string) livebill.Event {
	e := ev(t, livebill.RelayStop)
	e.Task = task
	return e
}

// inputStart pulls an external stream into the room: video w×h, or audio
// when w is 0.
func inputStart(t int64, task string, w, h int) livebill.Event {
	e := ev(t, livebill.InputStart)
	e.Task, e.Media, e.Width, e.Height = task, livebill.MediaVideo, w, h
	if w == 0 {
		e.Media = livebill.MediaAudio
	}
	return e
}

func inputStop(t int64, task string) livebill.Event {
	e := ev(t, livebill.InputStop)
	e.Task = task
	return e
}

// on moves events to another app; inRoom to another room.
func on(app string, es ...livebill.Event) []livebill.Event {
	for i := range es {
		es[i].App = app
	}
	return es
}

func inRoom(r string, es ...livebill.Event) []livebill.Event {
	for i := range es {
		es[i].Room = r
	}
	return es
}

func cat(groups ...[]livebill.Event) []livebill.Event {
	var out []livebill.Event
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// --- the meter harness ---

type metered struct {
	m    *meter.Meter
	recs []meter.Record
}

// runMeter applies the events in order, closes the meter at closeAt and
// fails the test on any rejected event.
func runMeter(t tb, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	res := applyAll(t, closeAt, es...)
	if errs := res.m.Errors(); len(errs) > 0 {
		t.Fatalf("events rejected: %v", errs)
	}
	return res
}

// applyAll is runMeter without the check on rejected events.
func applyAll(t tb, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	return applyOn(t, trtc(t), meter.Options{}, closeAt, es...)
}

// applyWith is applyAll on a meter with options.
func applyWith(t tb, opt meter.Options, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	return applyOn(t, trtc(t), opt, closeAt, es...)
}

// applyAllWith is applyAll with another catalog.
func applyAllWith(t tb, cat *catalog.Catalog, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	return applyOn(t, cat, meter.Options{}, closeAt, es...)
}

// applyOn applies the events to a meter of cat with options and closes it
// at closeAt.
func applyOn(t tb, cat *catalog.Catalog, opt meter.Options, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	m, err := meter.New(cat, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		e := es[i]
		m.Apply(&e)
	}
	m.Close(closeAt)
	return &metered{m: m, recs: m.Records()}
}

// totals sums the recorded values per item over every app and window.
func (r *metered) totals() map[string]int64 {
	out := map[string]int64{}
	for _, rec := range r.recs {
		out[rec.Item] += rec.Value
	}
	return out
}

// byDay sums per "app day item".
func (r *metered) byDay() map[string]int64 {
	out := map[string]int64{}
	for _, rec := range r.recs {
		out[rec.App+" "+localDay(rec.Window)+" "+rec.Item] += rec.Value
	}
	return out
}

func (r *metered) hasNotice(code string) bool {
	for _, n := range r.m.Notices() {
		if n.Code == code {
			return true
		}
	}
	return false
}

// expectTotals checks the per-item totals exactly: every item in want with
// its value, and nothing else recorded.
func expectTotals(t testing.TB, r *metered, want map[string]int64) {
	t.Helper()
	expectMap(t, r.totals(), want)
}

func expectMap(t testing.TB, got, want map[string]int64) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var bad []string
	for k := range keys {
		if got[k] != want[k] {
			bad = append(bad, fmt.Sprintf("  %-36s want %s, got %s", k, fmtMS(want[k]), fmtMS(got[k])))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Errorf("metered usage differs:\n%s", strings.Join(bad, "\n"))
	}
}

func fmtMS(v int64) string {
	if v%min == 0 {
		return fmt.Sprintf("%d min", v/min)
	}
	return fmt.Sprintf("%d ms", v)
}

// --- priced quotes through a scenario ---

// quoteYAML runs a scenario document and fails on errors or rejected
// events.
func quoteYAML(t testing.TB, doc string) *livebill.Quote {
	t.Helper()
	f, err := scenario.Parse([]byte(doc), t.Name()+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("events rejected: %v", res.Rejected)
	}
	return res.Quote
}

// calcYAML builds a calculator-mode TRTC scenario over a period with the
// given event lines (YAML flow mappings, one per line).
func calcYAML(from, to string, events ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode: calculator\ncatalog: trtc\nperiod: {from: %s, to: %s}\nevents:\n", from, to)
	for _, e := range events {
		fmt.Fprintf(&b, "  - %s\n", e)
	}
	return b.String()
}

func decEqual(a, b string) bool {
	x, err1 := money.Parse(a)
	y, err2 := money.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return x.Equal(y)
}

// expectLine checks a quote line's quantity and amount numerically; an
// empty want amount is not checked.
func expectLine(t testing.TB, q *livebill.Quote, item, quantity, amount string) {
	t.Helper()
	for _, l := range q.Lines {
		if l.Item != item {
			continue
		}
		if !decEqual(l.Quantity, quantity) {
			t.Errorf("%s quantity: want %s, got %s", item, quantity, l.Quantity)
		}
		if amount != "" && !decEqual(l.Amount, amount) {
			t.Errorf("%s amount: want %s, got %s", item, amount, l.Amount)
		}
		return
	}
	t.Errorf("%s: no line (want quantity %s amount %s)", item, quantity, amount)
}

// expectNoLine checks the quote has no line for item, or only a zero one.
func expectNoLine(t testing.TB, q *livebill.Quote, item string) {
	t.Helper()
	for _, l := range q.Lines {
		if l.Item == item && !(decEqual(l.Quantity, "0") && decEqual(l.Amount, "0")) {
			t.Errorf("%s: want no line, got quantity %s amount %s", item, l.Quantity, l.Amount)
		}
	}
}

func expectTotal(t testing.TB, q *livebill.Quote, want string) {
	t.Helper()
	if !decEqual(q.Total, want) {
		t.Errorf("total: want %s, got %s", want, q.Total)
	}
}

func quoteHasNotice(q *livebill.Quote, code string) bool {
	for _, n := range q.Notices {
		if n.Code == code {
			return true
		}
	}
	return false
}

// expectPrefix checks the totals of the items whose id starts with prefix,
// exactly (items of other families are not checked).
func expectPrefix(t testing.TB, r *metered, prefix string, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for k, v := range r.totals() {
		if strings.HasPrefix(k, prefix) {
			got[k] = v
		}
	}
	for k := range want {
		if !strings.HasPrefix(k, prefix) {
			t.Fatalf("expectPrefix %q: item %s is outside the prefix", prefix, k)
		}
	}
	expectMap(t, got, want)
}
