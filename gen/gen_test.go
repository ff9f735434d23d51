package gen

import (
	"bytes"
	"testing"

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
