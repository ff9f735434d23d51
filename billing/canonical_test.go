package billing

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/livebill/livebill/gen"
)

// The scanner's canonical form is encoding/json's (canonicalStd), byte
// for byte, wherever it answers; canonical answers with one or the other
// for every valid body and fails for every invalid one.
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
		`{"a":1.0,"b":[1e0,10e-1,0.1e1,-0.0,1e21,1e-7,123.4500]}`, `{"a":1e99999999999999999999}`,
		`{"a":"é","w":1.50}`, `[1e0,"\u00e9"]`, `{"id":1.0,"user":2.50,"w":2.50,"streams":[{"user":1.0}],"room":"r"}`,
		`{"user":1.0,"é":1.0}`, `{"room":-0,"x":{"room":-0}}`, `{"user":{"a":1.0}}`, `[{"user":1.0}]`,
	} {
		cases = append(cases, []byte(s))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ { // damaged events
		c := append([]byte(nil), cases[r.IntN(5000)]...)
		c[r.IntN(len(c))] = ` {}[]",:0-e.\x`[r.IntN(14)]
		cases = append(cases, c)
	}
	scanned := 0
	for _, c := range cases {
		std, serr := canonicalStd(c)
		if got, ok := canonicalScan(c, nil); ok {
			scanned++
			if serr != nil || !bytes.Equal(got, std) {
				t.Errorf("%s:\nscan %s\nstd  %s (%v)", c, got, std, serr)
			}
		}
		got, err := canonical(c)
		if (err == nil) != (serr == nil) || !bytes.Equal(got, std) {
			t.Errorf("%s:\ncanonical %s (%v)\nstd       %s (%v)", c, got, err, std, serr)
		}
	}
	if scanned < 5000 {
		t.Errorf("scanner answered %d of %d", scanned, len(cases))
	}
}

// canonNumber: one form per value.
func TestCanonNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// integers already canonical are kept
		{"0", "0"}, {"7", "7"}, {"1280", "1280"}, {"-5", "-5"},
		// one, spelt five ways
		{"1.0", "1"}, {"1e0", "1"}, {"1E0", "1"}, {"10e-1", "1"}, {"0.1e1", "1"}, {"100E-2", "1"}, {"1.000", "1"}, {"1e+0", "1"},
		// zero has no sign
		{"-0", "0"}, {"-0.0", "0"}, {"0e10", "0"}, {"0.000", "0"}, {"-0e-5", "0"},
		// trailing zeros of the fraction go, the exponent is worked out
		{"-1.50", "-1.5"}, {"123.4500", "123.45"}, {"1.28e3", "1280"}, {"128000e-2", "1280"},
		{"2.5e-3", "0.0025"}, {"25e-4", "0.0025"}, {"0.0025", "0.0025"},
		// 21 digits of integer stay plain; 22 take an exponent (as JavaScript)
		{"1e20", "100000000000000000000"}, {"1e21", "1e+21"}, {"12.5e21", "1.25e+22"},
		{"123456789012345678901", "123456789012345678901"},
		{"1234567890123456789012", "1.234567890123456789012e+21"},
		// down to 10^-6 plain, below with an exponent
		{"1e-6", "0.000001"}, {"0.0000015", "0.0000015"}, {"1e-7", "1e-7"}, {"0.00000015", "1.5e-7"}, {"-15e-8", "-1.5e-7"},
		// exact decimal: not rounded to a float64
		{"0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827"},
		{"9007199254740993", "9007199254740993"},
		// exponents of more than 15 digits are kept as written
		{"1e9999999999999999", "1e9999999999999999"}, {"1e0000000000000000001", "10"},
	} {
		if got := string(canonNumber(nil, []byte(c.in))); got != c.want {
			t.Errorf("canonNumber(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// Bodies whose numbers are equal in value are one event, on the scanner
// path and on the encoding/json path (a non-ASCII string or an escape
// sends a body there); different values stay different.
func TestCanonicalNumbersEqualInValue(t *testing.T) {
	same := [][]string{
		{`{"id":"e1","w":1}`, `{"id":"e1","w":1.0}`, `{"w":1e0,"id":"e1"}`, `{ "id" : "e1" , "w" : 10E-1 }`},
		{`{"id":"é","w":1}`, `{"id":"\u00e9","w":1.0}`, `{"w":1e0,"id":"é"}`},
		{`{"a":[0,2.5e-3,{"b":-0.0}]}`, `{"a":[-0,0.0025,{"b":0}]}`, `{"a":[0e3,25E-4,{"b":0}],"a":[0,0.0025,{"b":0.00}]}`},
	}
	for _, group := range same {
		first, err := canonical([]byte(group[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range group[1:] {
			got, err := canonical([]byte(s))
			if err != nil || !bytes.Equal(got, first) {
				t.Errorf("%s → %s (%v), want %s as for %s", s, got, err, first, group[0])
			}
		}
	}
	if want := `{"id":"e1","w":1}`; string(mustCanon(t, `{"w":1.0,"id":"e1"}`)) != want {
		t.Errorf("scanner: %s, want %s", mustCanon(t, `{"w":1.0,"id":"e1"}`), want)
	}
	if want := `{"id":"é","w":1}`; string(mustCanon(t, `{"w":1.0,"id":"\u00e9"}`)) != want {
		t.Errorf("encoding/json path: %s, want %s", mustCanon(t, `{"w":1.0,"id":"\u00e9"}`), want)
	}
	// numbers naming something (id, app, room, user, publisher, task) are
	// identifiers by their literal, as the event parser reads them: kept
	for in, want := range map[string]string{
		`{"user":1.0,"w":1.0,"id":"e1"}`:                    `{"id":"e1","user":1.0,"w":1}`,
		`{"user":1.0,"w":1.0,"id":"\u00e9"}`:                `{"id":"é","user":1.0,"w":1}`,
		`{"room":1e3,"app":14e8,"publisher":0.0,"task":-0}`: `{"app":14e8,"publisher":0.0,"room":1e3,"task":-0}`,
		`{"x":{"user":1.0},"user":[1.0]}`:                   `{"user":[1],"x":{"user":1}}`, // only a top-level number is an identifier
	} {
		if got := string(mustCanon(t, in)); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	for _, pair := range [][2]string{
		{`{"user":1}`, `{"user":1.0}`},
		{`{"user":1,"é":1}`, `{"user":1.0,"é":1}`},
		{`{"w":1}`, `{"w":1.5}`},
		{`{"w":1}`, `{"w":"1"}`},
		{`{"w":0.1}`, `{"w":0.1000000000000000055511151231257827}`}, // one float64, two values
		{`{"w":1,"é":1}`, `{"w":1.01,"é":1}`},
	} {
		if bytes.Equal(mustCanon(t, pair[0]), mustCanon(t, pair[1])) {
			t.Errorf("%s and %s made one body", pair[0], pair[1])
		}
	}
}

func mustCanon(t *testing.T, s string) []byte {
	t.Helper()
	b, err := canonical([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return b
}
