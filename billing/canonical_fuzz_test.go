package billing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
	"github.com/livebill/livebill/gen"
)

// FuzzCanonical: the canonical form (what ingestion stores) never panics;
// where the scanner answers it is encoding/json's form byte for byte; it
// is valid JSON and its own canonical form; and a valid event's canonical
// body replays as the same event, so what is stored is billed as what was
// sent. Seeds: a `livebill gen` workload with every event type and the
// number forms of the canonical tests.
func FuzzCanonical(f *testing.F) {
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 300, Apps: 2, Seed: 3, Tasks: 1}); err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		f.Add(append([]byte(nil), sc.Bytes()...))
	}
	for _, s := range []string{
		`{"a":1.0,"b":[1e0,10e-1,0.1e1,-0.0,1e21,1e-7,123.4500]}`, `{"a":1e99999999999999999999}`,
		`{"id":1.0,"user":2.50,"w":2.50,"streams":[{"user":1.0}],"room":"r"}`, `{"b":2,"a":1,"b":3}`,
		`{"time":"2024-10-01T10:00:00+08:00","type":"matchmaking.evaluation","app":"a","duration_us":1.5e3,"count":2E0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := canonical(b)
		if got, ok := canonicalScan(b, nil); ok {
			if err != nil || !bytes.Equal(got, out) {
				t.Fatalf("%q: scanner %q, canonical %q (%v)", b, got, out, err)
			}
		}
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q: canonical form %q is not JSON", b, out)
		}
		again, err := canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("%q: canonical %q, then %q (%v)", b, out, again, err)
		}
		var sent, stored livebill.Event
		if eventio.Parse(b, &sent) != nil {
			return
		}
		if err := eventio.Parse(out, &stored); err != nil {
			t.Fatalf("%q: valid, but its canonical form %q is not: %v", b, out, err)
		}
		if !reflect.DeepEqual(sent, stored) {
			t.Fatalf("%q: sent %+v, stored form %q replays as %+v", b, sent, out, stored)
		}
	})
}
