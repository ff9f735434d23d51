package gen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/scenario"
)

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	cfg := Config{Events: 5000, Apps: 3, Seed: 7, Tasks: 0.5}
	if _, err := Write(&a, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different output")
	}
	cfg.Seed = 8
	var c bytes.Buffer
	if _, err := Write(&c, cfg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds, same output")
	}
}

// TestMetersCleanly: a generated stream is valid, every event accepted.
func TestMetersCleanly(t *testing.T) {
	cat, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tasks := range []float64{0, 0.5} {
		var buf bytes.Buffer
		const n = 50_000
		got, err := Write(&buf, Config{Events: n, Apps: 5, Seed: 42, Tasks: tasks})
		if err != nil || got != n {
			t.Fatalf("wrote %d events: %v", got, err)
		}
		if lines := bytes.Count(buf.Bytes(), []byte("\n")); lines != n {
			t.Fatalf("%d lines, want %d", lines, n)
		}
		m, err := meter.New(cat, meter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var res scenario.Result
		if err := scenario.FeedNDJSON(m, &buf, "gen", &res); err != nil {
			t.Fatal(err)
		}
		m.Close(DefaultStart.Add(31 * 3600e9).UnixMilli())
		for _, e := range append(res.Rejected, m.Errors()...) {
			t.Errorf("tasks %v: %v", tasks, e)
		}
		recs := m.Records()
		items, days := map[string]bool{}, map[int64]bool{}
		for _, r := range recs {
			items[r.Item] = true
			days[(r.Window+8*3600e3)/86400e3] = true
		}
		t.Logf("tasks %v: %d records, items %d, days %d", tasks, len(recs), len(items), len(days))
		if len(days) < 2 {
			t.Errorf("usage on %d local days, want a midnight crossed", len(days))
		}
		if tasks > 0 && !items["trtc.recording.audio"] && !items["trtc.recording.hd"] && !items["trtc.recording.fhd"] {
			t.Errorf("no recording usage with tasks: %v", items)
		}
	}
}

// quote prices a generated NDJSON file as `livebill quote` does (a
// calculator scenario over the days the events cover, without
// --skip-invalid), and returns the quote's notice codes; any rejected
// event fails the test.
func quote(t *testing.T, data []byte, cfg Config) map[string]int {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.ndjson"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	from := cfg.Start.Format(time.DateOnly)
	to := cfg.Start.Add(cfg.Span).AddDate(0, 0, 3).Format(time.DateOnly)
	doc := fmt.Sprintf("mode: calculator\ncatalog: trtc\nperiod: {from: %s, to: %s}\nevents_file: events.ndjson\n", from, to)
	f, err := scenario.Parse([]byte(doc), filepath.Join(dir, "gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range res.Rejected {
		if i == 5 {
			t.Errorf("… %d rejected in all", len(res.Rejected))
			break
		}
		t.Errorf("rejected: %v", e)
	}
	codes := map[string]int{}
	for _, n := range res.Quote.Notices {
		codes[n.Code]++
	}
	return codes
}

// Every generated workload — several seeds, sizes and densities (30 hours,
// ten minutes, ten seconds: up to ~50 events per millisecond), with and
// without tasks — is quoted without a rejected event, has exactly the
// events asked for, in time order, and closes every session it opens.
func TestQuotesCleanly(t *testing.T) {
	sizes := []int64{2, 3, 57, 2_000, 30_000}
	if testing.Short() {
		sizes = sizes[:4]
	}
	for _, seed := range []uint64{1, 2, 3} {
		for _, n := range sizes {
			for _, span := range []time.Duration{30 * time.Hour, 10 * time.Minute, 10 * time.Second} {
				for _, tasks := range []float64{0, 0.5} {
					cfg := Config{Events: n, Apps: 3, Seed: seed, Tasks: tasks, Span: span}
					cfg.defaults()
					var buf bytes.Buffer
					got, err := Write(&buf, cfg)
					if err != nil || got != n {
						t.Fatalf("%+v: wrote %d events: %v", cfg, got, err)
					}
					if same := checkLines(t, buf.Bytes(), n); n == 30_000 && span == 10*time.Second && same < n/5 {
						t.Errorf("seed %d: only %d of %d events share their millisecond with the one before", seed, same, n)
					}
					codes := quote(t, buf.Bytes(), cfg)
					if codes["open_at_period_end"] > 0 || codes["session_timed_out"] > 0 {
						t.Errorf("seed %d, %d events over %v, tasks %v: sessions left open: %v", seed, n, span, tasks, codes)
					}
				}
			}
		}
	}
}

// checkLines checks the count and that times never go back; it returns
// how many events have the time of the one before.
func checkLines(t *testing.T, data []byte, n int64) (same int64) {
	t.Helper()
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if int64(len(lines)) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	prev := ""
	for i, l := range lines {
		var e struct{ Time string }
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		// same zone and layout on every line: the text orders as the time
		if e.Time < prev {
			t.Fatalf("line %d: time %s before %s", i+1, e.Time, prev)
		}
		if e.Time == prev {
			same++
		}
		prev = e.Time
	}
	return same
}

// With few events over a long span, users and tasks would sit idle for
// days: each leaves or stops after MaxIdle (12 h) of silence, so the
// meter's 24-hour session timeout never closes one.
func TestIdleSessionsEnd(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		cfg := Config{Events: 300, Apps: 2, Seed: seed, Tasks: 0.5, Span: 20 * 24 * time.Hour}
		cfg.defaults()
		var buf bytes.Buffer
		if _, err := Write(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		checkLines(t, buf.Bytes(), cfg.Events)
		if codes := quote(t, buf.Bytes(), cfg); codes["session_timed_out"] > 0 || codes["open_at_period_end"] > 0 {
			t.Errorf("seed %d: %v", seed, codes)
		}
	}
}

// LeaveOpen keeps the sessions open at the end: the quote bills them to
// the period's end (or the timeout) and says so. One event cannot be
// closed: it needs LeaveOpen.
func TestLeaveOpen(t *testing.T) {
	cfg := Config{Events: 5_000, Apps: 3, Seed: 1, Tasks: 0.3, LeaveOpen: true}
	cfg.defaults()
	var buf bytes.Buffer
	if _, err := Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	if codes := quote(t, buf.Bytes(), cfg); codes["open_at_period_end"]+codes["session_timed_out"] == 0 {
		t.Errorf("no open session reported: %v", codes)
	}
	if _, err := Write(io.Discard, Config{Events: 1}); !errors.Is(err, ErrTooFewEvents) {
		t.Errorf("1 event, closed: err %v, want ErrTooFewEvents", err)
	}
	if n, err := Write(io.Discard, Config{Events: 1, LeaveOpen: true}); n != 1 || err != nil {
		t.Errorf("1 event, left open: %d, %v", n, err)
	}
}

// No user or task goes longer than MaxIdle without an event of its own
// (docs/decisions.md, "Open sessions": its join, stream and subscription
// events; a task's start and updates), up to its leave or stop — also
// while the last events close thousands of sessions — and every session
// ends (sessions to and from a leave, read from the NDJSON).
func TestNoSessionIdlesPastMaxIdle(t *testing.T) {
	for _, cfg := range []Config{
		{Events: 20_000, Rooms: 2_000, Apps: 3, Seed: 1, Tasks: 0.5, MaxIdle: 10 * time.Minute},
		{Events: 300, Apps: 2, Seed: 2, Tasks: 0.5, Span: 20 * 24 * time.Hour},
		{Events: 50_000, Apps: 3, Seed: 3, Tasks: 0.3, Span: 10 * time.Second, MaxIdle: time.Second},
	} {
		cfg.defaults()
		var buf bytes.Buffer
		if _, err := Write(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		last := map[string]time.Time{} // open session → its last own event
		var worst time.Duration
		for i, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
			var e struct{ Time, Type, App, Room, User, Task string }
			if err := json.Unmarshal(l, &e); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			at, err := time.Parse(time.RFC3339Nano, e.Time)
			if err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			key := e.App + "|" + e.Room + "|" + e.User
			if e.Task != "" {
				key = e.App + "|" + e.Room + "|task " + e.Task
			}
			if prev, ok := last[key]; ok {
				worst = max(worst, at.Sub(prev))
			}
			switch {
			case e.Type == "room.leave" || strings.HasSuffix(e.Type, ".stop") && e.Task != "":
				delete(last, key)
			default:
				last[key] = at
			}
		}
		if worst > cfg.MaxIdle+time.Minute {
			t.Errorf("%+v: a session went %v without an event (MaxIdle %v)", cfg, worst, cfg.MaxIdle)
		}
		if len(last) > 0 {
			t.Errorf("%+v: %d sessions never ended", cfg, len(last))
		}
		t.Logf("%d events, %d rooms: longest silence %v", cfg.Events, cfg.Rooms, worst)
	}
}
