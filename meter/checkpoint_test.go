package meter_test

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"pgregory.net/rapid"
)

// A meter checkpointed at an instant B (every event before B applied and
// the meter advanced to B), restored, and fed the events from B on meters
// exactly as the meter that was never stopped: the same usage windows
// from B on, the same relays (those running at B or started after), MAU,
// notices and rejected events. That is what lets the service stop an
// account's live meter and resume it from its checkpoint.
func TestPropCheckpointResumes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cat := trtc(t)
		es, end := genMixed(t)
		switch rapid.IntRange(0, 2).Draw(t, "catalog") {
		case 1:
			cat = hstCatalog(t)
			g := genRoom(t, true)
			es, end = g.events, g.closeAt
		case 2: // sessions with no event for 10 minutes are closed
			c, err := catalog.Parse([]byte("extends: trtc\nsession_timeout: 10m\n"), "trtc-10m")
			if err != nil {
				t.Fatal(err)
			}
			cat = c
		}
		if len(es) == 0 {
			return
		}
		es = withPoints(t, cat, es)
		var opt meter.Options
		for range rapid.IntRange(0, 2).Draw(t, "dissolutions") {
			at := es[0].Time + rapid.Int64Range(0, end-es[0].Time).Draw(t, "dissolve")
			opt.Dissolutions = append(opt.Dissolutions, meter.Dissolution{App: rapid.SampledFrom([]string{"", app1, app2}).Draw(t, "dissApp"), At: at})
		}
		// B: a window boundary somewhere in the stream
		b := es[0].Time + rapid.Int64Range(0, end-es[0].Time).Draw(t, "cut")
		b -= b % meter.WindowMS
		whole, err := meter.New(cat, opt)
		if err != nil {
			t.Fatal(err)
		}
		live, err := meter.New(cat, opt)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ; i < len(es) && es[i].Time < b; i++ {
			e, f := es[i], es[i]
			whole.Apply(&e)
			live.Apply(&f)
		}
		live.Advance(b)
		data, err := live.Checkpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		resumed, from, err := meter.Restore(cat, meter.Options{}, data)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, data)
		}
		if from != b {
			t.Fatalf("restored from %d, checkpointed at %d", from, b)
		}
		// a checkpoint of the restored meter is the same bytes
		again, err := resumed.Checkpoint(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(data) {
			t.Fatalf("checkpoint of the restored meter differs:\n%s\n%s", data, again)
		}
		// the live meter lets go of what is before B; it meters on alike
		live.ForgetBefore(b)
		for ; i < len(es); i++ {
			e, f, g := es[i], es[i], es[i]
			whole.Apply(&e)
			resumed.Apply(&f)
			live.Apply(&g)
		}
		for _, m := range []*meter.Meter{whole, resumed, live} {
			m.Close(end)
		}
		want := snapFrom(whole, b)
		if got := snapFrom(resumed, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("resumed at %d:\n got %+v\nwant %+v\ncheckpoint %s", b, got, want, data)
		}
		if got := snapFrom(live, b); !reflect.DeepEqual(got, want) {
			t.Fatalf("after ForgetBefore(%d):\n got %+v\nwant %+v", b, got, want)
		}
	})
}

// resumedSnap is what a meter reports from instant b on.
type resumedSnap struct {
	Records []meter.Record
	Relays  []meter.RelayInterval
	MAU     map[string]map[string]int
	Notices []livebill.Notice
	Errors  []string
}

func snapFrom(m *meter.Meter, b int64) resumedSnap {
	var out resumedSnap
	for _, r := range m.Records() {
		if r.Window >= b {
			out.Records = append(out.Records, r)
		}
	}
	for _, r := range sortedRelays(m.Relays()) {
		if r.End == 0 || r.End > b {
			out.Relays = append(out.Relays, r)
		}
	}
	out.MAU = map[string]map[string]int{}
	for app, ms := range m.MAU() {
		for mon, n := range ms {
			if mon >= localDay(b)[:7] {
				if out.MAU[app] == nil {
					out.MAU[app] = map[string]int{}
				}
				out.MAU[app][mon] = n
			}
		}
	}
	out.Notices = m.Notices()
	for _, err := range m.Errors() {
		out.Errors = append(out.Errors, err.Error())
	}
	// rooms are advanced in map order: the errors of one instant in two
	// rooms come in either order
	sort.Strings(out.Errors)
	return out
}

// withPoints adds logins (and, for TRTC, screenshots) among the events,
// at the times of some of them.
func withPoints(t *rapid.T, cat *catalog.Catalog, es []livebill.Event) []livebill.Event {
	out := make([]livebill.Event, 0, len(es)+4)
	for _, e := range es {
		out = append(out, e)
		switch rapid.IntRange(0, 5).Draw(t, "point") {
		case 0:
			out = append(out, livebill.Event{Type: livebill.Login, Time: e.Time, App: e.App, User: rapid.SampledFrom(propUsers).Draw(t, "loginUser")})
		case 1:
			if cat.Metering == "trtc" {
				out = append(out, livebill.Event{Type: livebill.Screenshot, Time: e.Time, App: e.App, Count: 3})
			}
		}
	}
	return out
}

func hstCatalog(t interface{ Fatal(...any) }) *catalog.Catalog {
	c, err := catalog.Load("hst")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A checkpoint of another version, or of another metering model, is
// refused as such (the service then meters the account again from its
// events); a damaged one is an error, never a meter.
func TestRestoreRefuses(t *testing.T) {
	cat := trtc(t)
	m, err := meter.New(cat, meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []livebill.Event{join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720)} {
		m.Apply(&e)
	}
	m.Advance(at("10:05"))
	data, err := m.Checkpoint(at("10:05"))
	if err != nil {
		t.Fatal(err)
	}
	older := strings.Replace(string(data), fmt.Sprintf(`"v":%d`, meter.CheckpointVersion), `"v":1`, 1)
	if _, _, err := meter.Restore(cat, meter.Options{}, []byte(older)); !errors.Is(err, meter.ErrCheckpointVersion) {
		t.Fatalf("another version: %v, want ErrCheckpointVersion", err)
	}
	if _, _, err := meter.Restore(hstCatalog(t), meter.Options{}, data); !errors.Is(err, meter.ErrCheckpointVersion) {
		t.Fatalf("another model: %v, want ErrCheckpointVersion", err)
	}
	for _, bad := range []string{"", "{", strings.Replace(string(data), `"u":0`, `"u":7`, 1)} {
		if m, _, err := meter.Restore(cat, meter.Options{}, []byte(bad)); err == nil || errors.Is(err, meter.ErrCheckpointVersion) || m != nil {
			t.Fatalf("damaged checkpoint %q: %v", bad, err)
		}
	}
}
