package eventio

import (
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

// SPEC §5: each matchmaking evaluation is rounded up to 1 µs.
func TestEvaluationRoundsUpToMicrosecond(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"0.4", 1}, {"50000", 50000}, {"50000.0001", 50001}, {"0", 0}} {
		var e livebill.Event
		line := `{"time":"2024-10-10T00:00:00Z","type":"matchmaking.evaluation","app":"g","duration_us":` + c.in + `}`
		if err := Parse([]byte(line), &e); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if e.DurationUS != c.want || e.Count != 1 {
			t.Errorf("duration_us %s → %d µs × %d, want %d × 1", c.in, e.DurationUS, e.Count, c.want)
		}
	}
	var e livebill.Event
	err := Parse([]byte(`{"time":"2024-10-10T00:00:00Z","type":"matchmaking.evaluation","app":"g","duration_us":-1}`), &e)
	if err == nil || !strings.Contains(err.Error(), "duration_us") {
		t.Fatalf("negative duration: err %v, want one naming duration_us", err)
	}
}
