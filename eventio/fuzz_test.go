package eventio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/gen"
)

// FuzzParse: no line panics the parsers; the fast parser and Parse agree
// (check); an event they accept is valid and within the input limits
// (every string a valid id, the time within the years accepted), and a
// refusal is an EventError. An NDJSON stream of the same bytes decodes
// without panicking, each bad line an EventError and the stream read to
// its end. Seeds: every form of the equivalence tests and a workload of
// `livebill gen`, with every event type.
func FuzzParse(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 300, Apps: 2, Seed: 7, Tasks: 1}); err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		f.Add(append([]byte(nil), sc.Bytes()...))
	}
	f.Add([]byte(`{"id":"a\u0000b","time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}`))
	f.Add([]byte(`{"time":"0024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}`))
	p := NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, p, b)
		var e livebill.Event
		err := Parse(b, &e)
		if err != nil {
			var ee *livebill.EventError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: error %v is not an EventError", b, err)
			}
			if livebill.TextProblem(ee.ID) != "" {
				t.Fatalf("%q: the error names the event by an invalid id", b)
			}
		} else {
			if verr := e.Validate(); verr != nil {
				t.Fatalf("%q: accepted, but Validate says %v", b, verr)
			}
			for _, s := range []string{e.ID, e.App, e.Room, e.User, e.Publisher, e.Task, e.Client} {
				if livebill.TextProblem(s) != "" {
					t.Fatalf("%q: accepted a field %q", b, s)
				}
			}
			if e.Time < livebill.EarliestTime.UnixMilli() || e.Time >= livebill.LatestTime.UnixMilli() {
				t.Fatalf("%q: accepted time %d", b, e.Time)
			}
		}
		d := NewDecoder(bytes.NewReader(b), "fuzz")
		for n := 0; ; n++ {
			err := d.Next(&e)
			if err == io.EOF {
				break
			}
			var ee *livebill.EventError
			if err != nil && !errors.As(err, &ee) {
				break // the stream itself failed (a line over MaxLine)
			}
			if n > len(b) {
				t.Fatalf("%q: the decoder read more events than there are bytes", b)
			}
		}
	})
}
