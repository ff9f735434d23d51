package webhook

import (
	"reflect"
	"testing"

	"github.com/livebill/livebill"
)

// A normalizer checkpointed between any two instants and restored hands
// the meter the same events and notices as one that ran through.
func TestNormalizerCheckpoint(t *testing.T) {
	evs := []livebill.Event{
		ev("wh:trtc:1", 1000, "room.join", "A"),
		ev("wh:trtc:3", 2000, "stream.start", "A", stream("main", "audio")),
		ev("wh:trtc:4", 3000, "stream.start", "A", stream("main", "video")),
		ev("wh:trtc:5", 4000, "stream.stop", "A", stream("main", "video")),
		ev("wh:agora:s5:x/0", 4500, "room.join", "7"),
		ev("wh:trtc:8", 6000, "room.join", "B"),
		ev("wh:agora:s9:y/0", 6500, "room.leave", "7"),
		ev("wh:agora:s8:z/0", 6600, "room.join", "7"), // stale
		ev("wh:trtc:9", 7000, "room.leave", Everyone),
		ev("wh:trtc:10", 7001, "room.leave", "A"),
	}
	var whole rec
	n := NewNormalizer(whole.apply)
	for _, e := range evs {
		n.Apply(&e)
	}
	n.Close()
	for cut := range evs {
		var r rec
		a := NewNormalizer(r.apply)
		for _, e := range evs[:cut] {
			a.Apply(&e)
		}
		a.Close()
		data, err := a.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		b, err := RestoreNormalizer(r.apply, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs[cut:] {
			b.Apply(&e)
		}
		b.Close()
		if !reflect.DeepEqual(r.evs, whole.evs) || !reflect.DeepEqual(b.Notices(), n.Notices()) {
			t.Fatalf("cut at %d: got %q %+v\nwant %q %+v", cut, r.evs, b.Notices(), whole.evs, n.Notices())
		}
	}
	if _, err := RestoreNormalizer(nil, []byte(`{"v":0}`)); err == nil {
		t.Fatal("a checkpoint of another version was read")
	}
}
