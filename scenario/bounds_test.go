package scenario_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/scenario"
)

// A scenario's events may lie at most scenario.EventMargin (31 days)
// before period.from or after period.to: a join in 2024 and an event in
// 9999 — a scenario of a few hundred bytes that used to make the meter
// credit the room for eight millennia — are rejected as invalid events
// naming the field time, the rest is quoted, and the run stays small.
func TestScenarioEventBounds(t *testing.T) {
	doc := `catalog: trtc
mode: calculator
period: {from: 2024-10-01, to: 2024-11-01}
events:
  - {time: "2024-10-01T10:00:00+08:00", type: room.join, app: a, room: r, user: A}
  - {time: "9999-12-31T10:00:00+08:00", type: room.leave, app: a, room: r, user: A}
  - {time: "2024-08-01T10:00:00+08:00", type: room.join, app: a, room: r, user: B}
  - {time: "2024-12-02T10:00:00+08:00", type: room.join, app: a, room: r, user: C}
  - {time: "2099-06-01T10:00:00+08:00", type: room.leave, app: a, room: r, user: A}
  - {time: "2024-10-01T11:00:00+08:00", type: room.leave, app: a, room: r, user: A}
`
	f, err := scenario.Parse([]byte(doc), "bounds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// the 9999 leave (past the years accepted at all), the August join
	// (more than 31 days before period.from), the December join
	// (2024-12-02 10:00 is after 2024-11-01 + 31 days = 2024-12-02 00:00
	// in Shanghai) and the 2099 leave
	if len(res.Rejected) != 4 {
		t.Fatalf("rejected %d events, want 4: %v", len(res.Rejected), res.Rejected)
	}
	for i, line := range []int{6, 7, 8, 9} {
		var ee *livebill.EventError
		if !errors.As(res.Rejected[i], &ee) || ee.Field != "time" || ee.Line != line {
			t.Errorf("rejection %d: %v, want field time on line %d", i, res.Rejected[i], line)
		}
	}
	if !strings.Contains(res.Rejected[0].Error(), "outside the years 2000 to 2099") ||
		!strings.Contains(res.Rejected[1].Error(), "more than 31 days before period.from (2024-10-01)") ||
		!strings.Contains(res.Rejected[3].Error(), "more than 31 days after period.to (2024-11-01)") {
		t.Errorf("messages do not name the bound: %v", res.Rejected)
	}
	// A: one hour of audio, 10:00 to 11:00
	if res.Quote.Total == "" || len(res.Quote.Usage) != 1 || res.Quote.Usage[0].Quantity != "60" {
		t.Errorf("quote of the valid events: %+v", res.Quote)
	}
	// the meter ran over one month, not millennia: well under 64 MiB allocated
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("the run allocated %d MiB", got>>20)
	}
}

// A period is at most three years, and dates are within the years
// 2000–2099, naming the field.
func TestScenarioPeriodBounds(t *testing.T) {
	cases := []struct{ doc, field string }{
		{"catalog: trtc\nperiod: {from: 2024-01-01, to: 9999-01-01}\n", "period.to"},
		{"catalog: trtc\nperiod: {from: 2024-01-01, to: 2027-01-02}\n", "period.to"},
		{"catalog: trtc\nperiod: {from: 0024-10-01, to: 0024-11-01}\n", "period.from"},
		{"catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\naccount: {id: a, created: 1970-01-01}\n", "account.created"},
		{"catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\nplans: [{plan: rtc-engine.lite, app: a, start: 0024-10-01}]\n", "plans[0].start"},
	}
	for _, c := range cases {
		f, err := scenario.Parse([]byte(c.doc), "p.yaml")
		if err == nil {
			_, err = f.Run()
		}
		if err == nil || !strings.Contains(err.Error(), c.field+":") || livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("%q: %v, want an invalid error naming %s", c.doc, err, c.field)
		}
	}
	// three years exactly is accepted
	f, err := scenario.Parse([]byte("catalog: trtc\nmode: calculator\nperiod: {from: 2024-01-01, to: 2027-01-01}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Run(); err != nil {
		t.Errorf("a three-year period: %v", err)
	}
}

// An NDJSON events_file gets the same bounds.
func TestScenarioEventsFileBounds(t *testing.T) {
	dir := t.TempDir()
	events := `{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}
{"time":"9999-01-01T00:00:00Z","type":"room.leave","app":"a","room":"r","user":"A"}
`
	if err := os.WriteFile(filepath.Join(dir, "e.ndjson"), []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(path, []byte("catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents_file: e.ndjson\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := scenario.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	var ee *livebill.EventError
	if len(res.Rejected) != 1 || !errors.As(res.Rejected[0], &ee) || ee.Field != "time" || ee.Line != 2 || !strings.HasSuffix(ee.Source, "e.ndjson") {
		t.Fatalf("rejected: %v", res.Rejected)
	}
}
