package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// gen --rooms sets how many rooms are open at once: the first events
// open that many distinct rooms (each draw picks a room slot at random, so
// a few hundred events reach them all), and the default is one per 1,000
// events, at least 4.
func TestGenRooms(t *testing.T) {
	rooms := func(args ...string) int {
		t.Helper()
		out, errs, code := runCLI(t, append([]string{"gen", "--seed", "3"}, args...)...)
		if code != 0 {
			t.Fatalf("gen %v: exit %d: %s", args, code, errs)
		}
		seen := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[:1000] {
			var e struct{ App, Room string }
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			seen[e.App+"/"+e.Room] = true
		}
		return len(seen)
	}
	if n := rooms("--events", "5000", "--rooms", "40"); n < 40 {
		t.Errorf("--rooms 40: %d rooms in the first 1,000 events", n)
	}
	if n := rooms("--events", "5000"); n > 10 {
		t.Errorf("default for 5,000 events: %d rooms in the first 1,000 events, want about 5", n)
	}
	if _, errs, code := runCLI(t, "gen", "--rooms", "100001"); code != 2 || !strings.Contains(errs, "--rooms") {
		t.Errorf("--rooms 100001: exit %d, %s", code, errs)
	}
}
