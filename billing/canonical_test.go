package billing

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/livebill/livebill/gen"
)

// The fast canonical form is the slow one, byte for byte, wherever it
// answers; where it does not, canonical falls back to the slow one.
func TestCanonicalFastAgrees(t *testing.T) {
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 5000, Seed: 7, Tasks: 0.5}); err != nil {
		t.Fatal(err)
	}
	cases := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	for _, s := range []string{
		`{}`, `[]`, ` { "b" : 1 , "a" : [ 1 , 2.5e-3 , -0 , true , false , null , {} , [] ] } `,
		`{"a":1,"a":2}`, `{"z":{"y":1,"x":{"w":"v","u":"t"}},"a":"b"}`, `{"a":"\u00e9"}`, `{"a":"é"}`,
		`{"a":"x\ny"}`, `{"a":"<&>"}`, `{"a":01}`, `{"a":1.}`, `{"a":1e}`, `{"a":-}`, `{"a":1} x`, `{"a":1}{}`,
		`{"a":1,}`, `{"a" 1}`, `{"a":tru}`, `{"a":"\u2028"}`, `{"a":1E+5}`, `"s"`, `12`, `{"b":2,"a":1,"b":3}`,
	} {
		cases = append(cases, []byte(s))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ { // damaged events
		c := append([]byte(nil), cases[r.IntN(5000)]...)
		c[r.IntN(len(c))] = ` {}[]",:0-e.\x`[r.IntN(14)]
		cases = append(cases, c)
	}
	fast := 0
	for _, c := range cases {
		slow, serr := canonicalSlow(c)
		got, ok := canonicalFast(c, nil)
		if !ok {
			continue
		}
		fast++
		if serr != nil || !bytes.Equal(got, slow) {
			t.Errorf("%s:\nfast %s\nslow %s (%v)", c, got, slow, serr)
		}
	}
	if fast < 5000 {
		t.Errorf("fast path answered %d of %d", fast, len(cases))
	}
}
