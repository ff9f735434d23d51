package http

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

// The usage answer, written a point a line, is the JSON writeJSON writes
// (the same value once decoded), with and without points, and a string
// that needs escaping stays escaped.
func TestWriteUsageIsTheJSONAnswer(t *testing.T) {
	for _, pts := range [][]livebill.UsagePoint{
		{},
		{{App: "1400000001", Item: "trtc.av.hd", Start: "2024-10-01T10:00:00+08:00", Measure: "duration_ms", Value: 3600000}},
		{{App: "a", Item: "trtc.av.audio", Start: "2024-10-01T10:00:00+08:00", Measure: "duration_ms", Value: 1},
			{App: `quote"d\app`, Item: "trtc.av.audio", Start: "2024-10-01T10:05:00+08:00", Measure: "duration_ms", Value: 2}},
	} {
		want := httptest.NewRecorder()
		writeJSON(want, 200, map[string]any{"granularity": "5m", "usage": pts})
		got := httptest.NewRecorder()
		writeUsage(got, "5m", pts)
		var w, g any
		if err := json.Unmarshal(want.Body.Bytes(), &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got.Body.Bytes(), &g); err != nil {
			t.Fatalf("%v:\n%s", err, got.Body)
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("writeUsage wrote\n%s\nwriteJSON\n%s", got.Body, want.Body)
		}
		if n := strings.Count(got.Body.String(), "\n"); n != len(pts)+4+min(len(pts), 1) {
			t.Errorf("%d lines for %d points:\n%s", n, len(pts), got.Body)
		}
		if ct := got.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}
