package meter

import (
	"errors"
	"testing"

	"github.com/livebill/livebill"
)

// TestHeldEvent: a room holds an event of its current instant in the
// compact form apply reads (heldEvent): every field apply and its errors
// need is kept, decoded, and a task start or update keeps the whole event.
func TestHeldEvent(t *testing.T) {
	m, apply := releaseMeter(t, "") // room r of app a
	ev := func(line int, typ livebill.EventType) livebill.Event {
		return livebill.Event{Line: line, ID: "e" + string(rune('0'+line)), Type: typ}
	}
	join := ev(1, livebill.RoomJoin)
	join.User, join.Subscribe, join.Client = "A", livebill.SubscribeAll, "miniprogram"
	start := ev(2, livebill.StreamStart)
	start.User, start.Stream, start.Media, start.NoAudio, start.Width, start.Height = "A", livebill.StreamScreen, livebill.MediaVideo, true, 1920, 1080
	sub := ev(3, livebill.SubscribeStart)
	sub.User, sub.Publisher, sub.Stream, sub.Width, sub.Height = "B", "A", livebill.StreamSmall, 320, 180
	rec := ev(4, livebill.RecordingStart)
	rec.Task, rec.AllStreams, rec.Formats = "T", true, []string{"mp4"}
	stop := ev(5, livebill.RecordingStop)
	stop.Task = "T"
	want := []heldEvent{
		{typ: livebill.RoomJoin, recv: recvAll, mini: true, who: "A", line: 1, id: "e1"},
		{typ: livebill.StreamStart, stream: kScreen, video: true, noAudio: true, area: 1920 * 1080, who: "A", line: 2, id: "e2"},
		{typ: livebill.SubscribeStart, stream: kSmall, area: 320 * 180, who: "B", publisher: "A", line: 3, id: "e3"},
		{typ: livebill.RecordingStart, whole: 1, who: "T", line: 4, id: "e4"},
		{typ: livebill.RecordingStop, who: "T", line: 5, id: "e5"},
	}
	for _, e := range []livebill.Event{join, start, sub, rec, stop} {
		apply(0, e)
	}
	r := m.rooms[roomKey{"a", "r"}]
	if len(r.pending) != len(want) {
		t.Fatalf("%d events held, want %d", len(r.pending), len(want))
	}
	for i, h := range r.pending {
		if h != want[i] {
			t.Errorf("held event %d: %+v, want %+v", i, h, want[i])
		}
	}
	if len(r.taskEvents) != 1 || r.taskEvents[0].Task != "T" || !r.taskEvents[0].AllStreams || len(r.taskEvents[0].Formats) != 1 {
		t.Errorf("the recording's start is not kept whole: %+v", r.taskEvents)
	}
	if len(m.Errors()) > 0 {
		t.Fatal(m.Errors())
	}

	// An error names the event's line and id, its field, and the stream
	// by its name. 1 ms later the held events above are applied (B is not
	// in the room, so its subscription is rejected too).
	upd := ev(6, livebill.StreamUpdate)
	upd.User, upd.Stream, upd.Width, upd.Height = "A", livebill.StreamSmall, 320, 180
	apply(1, upd)
	m.Close(r.pendT + 1)
	errs := m.Errors()
	var got []livebill.EventError
	for _, err := range errs {
		var ee *livebill.EventError
		if !errors.As(err, &ee) {
			t.Fatalf("%v: not an event error", err)
		}
		got = append(got, *ee)
	}
	wantErrs := []livebill.EventError{
		{Line: 3, ID: "e3", Field: "user", Reason: "B is not in room r"},
		{Line: 6, ID: "e6", Field: "stream", Reason: "small stream of A is not running"},
	}
	if len(got) != len(wantErrs) {
		t.Fatalf("errors %v, want %v", got, wantErrs)
	}
	for i := range got {
		if got[i] != wantErrs[i] {
			t.Errorf("error %d: %+v, want %+v", i, got[i], wantErrs[i])
		}
	}
}
