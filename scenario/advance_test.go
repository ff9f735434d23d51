package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/meter"
)

// withAdvanceEvery sets advanceEvery for one test.
func withAdvanceEvery(t *testing.T, n int) {
	old := advanceEvery
	advanceEvery = n
	t.Cleanup(func() { advanceEvery = old })
}

// quoteFile writes events to a file beside a calculator scenario of the
// given period and loads it.
func quoteFile(t *testing.T, events []byte, from, to string) *File {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.ndjson"), events, 0o644); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf("mode: calculator\ncatalog: trtc\nperiod: {from: %s, to: %s}\nevents_file: events.ndjson\n", from, to)
	f, err := Parse([]byte(doc), filepath.Join(dir, "q.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A quote of a file in time order advances its meter as it reads (so it
// holds only the open rooms) and reports exactly what it reports without
// advancing: the same quote, and the same usage windows, relays and
// notices from the meter.
func TestQuoteAdvancesAsItReads(t *testing.T) {
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 30_000, Apps: 3, Seed: 5, Tasks: 0.5}); err != nil {
		t.Fatal(err)
	}
	f := quoteFile(t, buf.Bytes(), "2024-10-01", "2024-10-05")
	run := func(every int) (string, []meter.Record, []meter.RelayInterval) {
		withAdvanceEvery(t, every)
		res, err := f.Run()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("rejected: %v", res.Rejected[0])
		}
		q, err := json.Marshal(res.Quote)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := catalog.Load("trtc")
		if err != nil {
			t.Fatal(err)
		}
		m, err := meter.New(cat, meter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		to := time.Date(2024, 10, 5, 0, 0, 0, 0, cat.Location()).UnixMilli()
		if err := f.feed(m, &Result{}, to); err != nil {
			t.Fatal(err)
		}
		m.Close(to)
		return string(q), m.Records(), m.Relays()
	}
	q1, recs1, relays1 := run(1 << 40) // never advances
	q2, recs2, relays2 := run(100)
	if q1 != q2 {
		t.Errorf("quote advanced every 100 events:\n%s\nnot advanced:\n%s", q2, q1)
	}
	if !reflect.DeepEqual(recs1, recs2) || !reflect.DeepEqual(relays1, relays2) {
		t.Errorf("advanced every 100 events: %d records, %d relays, unlike %d and %d", len(recs2), len(relays2), len(recs1), len(relays1))
	}
	if len(relays1) == 0 {
		t.Error("no relays to compare")
	}
}

// Rooms may interleave out of time order (docs/decisions.md, "Event
// order"): a file whose event comes after the meter advanced past its
// time is metered again from its start without advancing, so every
// session is billed as it ran.
func TestQuoteOutOfOrderFile(t *testing.T) {
	withAdvanceEvery(t, 2)
	lines := []string{
		`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"1400000001","room":"r1","user":"A"}`,
		`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"1400000001","room":"r2","user":"B"}`, // advanced to 10:00
		`{"time":"2024-10-01T11:30:00+08:00","type":"room.leave","app":"1400000001","room":"r2","user":"B"}`,
		`{"time":"2024-10-01T11:30:00+08:00","type":"room.join","app":"1400000001","room":"r3","user":"C"}`,  // advanced to 11:30
		`{"time":"2024-10-01T11:00:00+08:00","type":"room.leave","app":"1400000001","room":"r1","user":"A"}`, // before 11:30
		`{"time":"2024-10-01T12:00:00+08:00","type":"room.leave","app":"1400000001","room":"r3","user":"C"}`,
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	res, err := quoteFile(t, b.Bytes(), "2024-10-01", "2024-10-02").Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 || res.Events != len(lines) {
		t.Fatalf("%d events, rejected %v", res.Events, res.Rejected)
	}
	// A 60 min, B 90 min, C 30 min of audio (SPEC §2: in the room,
	// receiving nothing). Had A been credited to the 11:30 advance, 210.
	for _, u := range res.Quote.Usage {
		if u.Item == "trtc.av.audio" {
			if u.Quantity != "180" {
				t.Errorf("audio %s minutes, want 180", u.Quantity)
			}
			return
		}
	}
	t.Errorf("no audio usage: %+v", res.Quote.Usage)
}
