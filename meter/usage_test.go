package meter

import (
	"math/rand/v2"
	"testing"

	"github.com/livebill/livebill/catalog"
)

// TestAddSpansBlocksAtHand: crediting spans of many hours from different
// starts, in an order where consecutive credits go to different blocks
// (an Advance of a meter with many rooms), adds each span's share to
// every 5-minute window it overlaps, whichever blocks the app keeps at
// hand (recentBlocks) and whichever it looks up in its map.
func TestAddSpansBlocksAtHand(t *testing.T) {
	cat, err := catalog.Load("trtc") // Asia/Shanghai: windows are 5 minutes from the Unix epoch
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	app := m.app("a")
	x, y := m.intern("test.x"), m.intern("test.y")
	cs := []charge{{x, 1}, {y, 3}}
	const t0 = int64(1727740800000) // 2024-10-01T00:00:00Z
	want := map[uint16]map[int64]int64{x: {}, y: {}}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		// spans of up to 30 hours within 3 days, starting anywhere
		a := t0 + rng.Int64N(3*24*3_600_000)
		b := a + rng.Int64N(30*3_600_000)
		m.addSpans(app, cs, a, b)
		for w := a - a%WindowMS; w < b; w += WindowMS { // the expected share, window by window
			share := min(b, w+WindowMS) - max(a, w)
			want[x][w] += share
			want[y][w] += 3 * share
		}
	}
	got := map[string]map[int64]int64{"test.x": {}, "test.y": {}}
	for _, r := range m.records() {
		got[r.Item][r.Window] = r.Value
	}
	for item, name := range map[uint16]string{x: "test.x", y: "test.y"} {
		if len(got[name]) != len(want[item]) {
			t.Fatalf("%s: %d windows, want %d", name, len(got[name]), len(want[item]))
		}
		for w, v := range want[item] {
			if got[name][w] != v {
				t.Fatalf("%s: window %d has %d ms, want %d", name, w, got[name][w], v)
			}
		}
	}
}
