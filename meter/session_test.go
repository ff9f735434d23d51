package meter_test

import (
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
)

// A catalog item with `sessions: <kind>` meters the time each session of
// that kind runs: start to stop, split at 5-minute windows and days; a
// session still running is credited by Advance and Close. Without such an
// item the events are refused, as any event the catalog does not bill.
func TestSessions(t *testing.T) {
	cat, err := catalog.Parse([]byte(`extends: cloudgaming
items:
  - {id: cg.time, name: "Session time", unit: minute, price: "0.05", measure: duration_ms, sessions: cloudgaming.session}
`), "test")
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.New(cat, meter.Options{Location: shanghai})
	if err != nil {
		t.Fatal(err)
	}
	ev := func(typ livebill.EventType, ms int64, session string) *livebill.Event {
		return &livebill.Event{ID: session + typ.String(), Type: typ, Time: ms, App: app1, Session: session, Kind: livebill.SessionCloudGaming}
	}
	m.Apply(ev(livebill.SessionStart, at("10:03"), "a"))
	m.Apply(ev(livebill.SessionStop, at("10:07:30"), "a")) // 4.5 min: 2 min in 10:00–10:05, 2.5 min in 10:05–10:10
	m.Apply(ev(livebill.SessionStart, at("23:58"), "b"))   // runs past midnight
	m.Advance(atDay("2024-10-02", "00:01"))
	m.Apply(ev(livebill.SessionStop, atDay("2024-10-02", "00:01"), "b"))
	m.Apply(ev(livebill.SessionStart, atDay("2024-10-02", "10:00"), "c")) // still running at the close
	m.Close(atDay("2024-10-02", "10:01"))
	got := map[int64]int64{}
	for _, r := range m.Records() {
		if r.Item != "cg.time" || r.App != app1 {
			t.Errorf("record %+v", r)
		}
		got[r.Window] = r.Value
	}
	want := map[int64]int64{
		at("10:00"): 2 * min, at("10:05"): 2*min + 30*sec,
		at("23:55"): 2 * min, atDay("2024-10-02", "00:00"): 1 * min,
		atDay("2024-10-02", "10:00"): 1 * min,
	}
	if len(got) != len(want) {
		t.Errorf("windows %v, want %v", got, want)
	}
	for w, v := range want {
		if got[w] != v {
			t.Errorf("window %s: %d ms, want %d", localDay(w), got[w], v)
		}
	}
	if errs := m.Errors(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	// a stop without its start, a start twice, a kind the catalog does not bill
	m.Apply(ev(livebill.SessionStop, at("12:00"), "zz"))
	m.Apply(ev(livebill.SessionStart, at("12:00"), "d"))
	m.Apply(ev(livebill.SessionStart, at("12:01"), "d"))
	push := ev(livebill.SessionStart, at("12:00"), "p")
	push.Kind = livebill.SessionLivePush
	m.Apply(push)
	errs := m.Errors()
	if len(errs) != 3 || !strings.Contains(errs[0].Error(), "not running") || !strings.Contains(errs[1].Error(), "already running") ||
		!strings.Contains(errs[2].Error(), "does not bill cloudgaming.push sessions") {
		t.Errorf("errors %v", errs)
	}
}
