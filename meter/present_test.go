package meter_test

import (
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
)

// Present counts who is in the rooms as the applied events leave them:
// users between their join and leave, robots between their task's start
// and stop (SPEC §7.1), in every room and app; Advance leaves it as it is.
func TestPresent(t *testing.T) {
	m, err := meter.New(trtc(t), meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		es   []livebill.Event
		want int
	}{
		{[]livebill.Event{join(at("10:00"), "u1", "all"), join(at("10:00"), "u2", "all")}, 2},
		// the recording robot of task rec1 joins room r1
		{[]livebill.Event{recStart(at("10:01"), "rec1", []string{"mp4"}, "", nil, ref("u1", "main"))}, 3},
		// u3 in another room, u4 in another app
		{inRoom("r2", join(at("10:02"), "u3", "all")), 4},
		{on(app2, join(at("10:02"), "u4", "all")), 5},
		{[]livebill.Event{leave(at("10:03"), "u2")}, 4},
		{[]livebill.Event{recStop(at("10:04"), "rec1")}, 3},
		{inRoom("r2", leave(at("10:05"), "u3")), 2},
	}
	for i, st := range steps {
		for k := range st.es {
			m.Apply(&st.es[k])
		}
		m.Advance(st.es[0].Time + 1) // every event of a step is at one instant
		if errs := m.Errors(); len(errs) > 0 {
			t.Fatalf("step %d: events rejected: %v", i, errs)
		}
		if got := m.Present(); got != st.want {
			t.Errorf("step %d: Present() = %d, want %d", i, got, st.want)
		}
	}
}
