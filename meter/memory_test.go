package meter_test

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/meter"
)

// TestMemoryFollowsOpenSessions: a meter fed a long stream with a
// constant number of rooms open at once, and advanced as it goes (as a
// live meter at its watermarks, or a quote of a file in time order), keeps
// a live heap that does not grow with the stream's length: rooms that
// closed and the ids of who left are let go. The stream is generated as it
// is read (one hour of 100 rooms at once, so the usage windows are few and
// the same at every length) and the heap, after a collection, is read at
// a quarter of it and at nine tenths (the last events close every
// session).
func TestMemoryFollowsOpenSessions(t *testing.T) {
	const events, rooms = 800_000, 100
	cat, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := gen.Write(pw, gen.Config{Events: events, Rooms: rooms, Apps: 5, Seed: 1, Tasks: 0.3, Span: time.Hour})
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	m, err := meter.New(cat, meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := eventio.NewDecoder(pr, "gen")
	var e livebill.Event
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var quarter, late uint64
	n := 0
	for {
		err := d.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n++; n%10_000 == 0 {
			m.Advance(e.Time) // gen writes events in time order
		}
		switch n {
		case events / 4:
			quarter = heap()
		case events * 9 / 10:
			late = heap()
		}
		m.Apply(&e)
	}
	if n != events || len(m.Errors()) > 0 {
		t.Fatalf("%d events, errors %v", n, m.Errors())
	}
	runtime.KeepAlive(m)
	t.Logf("live heap: %d KiB at %d events, %d KiB at %d", quarter>>10, events/4, late>>10, events*9/10)
	// The open rooms vary a little (who is in them, their usage windows
	// so far): a tenth and 256 KiB of slack. A meter that kept every room
	// and id grew from 9.2 to 20 MiB.
	if late > quarter+quarter/10+256<<10 {
		t.Errorf("the live heap grew from %d KiB to %d KiB between %d and %d events", quarter>>10, late>>10, events/4, events*9/10)
	}
}
