package sqlstore

import "testing"

func TestSameJSON(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1}`, `{"a":1}`, true},
		{`{"a":1.0}`, `{"a":1}`, true},
		{`{"a":1e0,"b":[0.0025]}`, `{"b":[2.5e-3],"a":10E-1}`, true},
		{`{"a":-0}`, `{"a":0.0}`, true},
		{`{"a":"\u00e9"}`, `{"a":"é"}`, true},
		{`{"a":1}`, `{"a":1.5}`, false},
		{`{"a":1}`, `{"a":"1"}`, false},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":0.1}`, `{"a":0.1000000000000000055511151231257827}`, false}, // exact values differ
		{`{"a":1e2000}`, `{"a":10e1999}`, false},                           // beyond the exponent bound: as written only
		{`{"a":1e2000}`, `{"a":1e2000}`, true},
		{`{"a":1}`, `not json`, false},
		{`{"user":1,"w":1.0}`, `{"user":1,"w":1}`, true},
		{`{"user":1.0}`, `{"user":1}`, false}, // identifiers by their literal
		{`{"room":1}`, `{"room":"1"}`, false},
		{`{"x":{"user":1.0}}`, `{"x":{"user":1}}`, true}, // nested: a number like any other
		{`[1.0]`, `[1]`, true},
	} {
		if got := sameJSON([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("sameJSON(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
