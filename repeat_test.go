package livebill

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

// An id sent again is a duplicate when its body is the one it has (the
// same bytes or the same JSON value), and a conflict otherwise, named by
// the event's id.
func TestJudgeRepeat(t *testing.T) {
	const conflict = `event id "e1" was already used by a different event`
	for _, c := range []struct {
		name          string
		stored, sent  string
		status, error string
	}{
		{"the same bytes", `{"id":"e1","w":1}`, `{"id":"e1","w":1}`, IngestDuplicate, ""},
		{"members in another order", `{"id":"e1","w":1}`, `{"w":1,"id":"e1"}`, IngestDuplicate, ""},
		{"a number written otherwise", `{"id":"e1","w":1.0}`, `{"id":"e1","w":1}`, IngestDuplicate, ""},
		{"the same bytes, not JSON", `not json`, `not json`, IngestDuplicate, ""},
		{"another value", `{"id":"e1","w":1}`, `{"id":"e1","w":2}`, IngestRejected, conflict},
		{"a member more", `{"id":"e1","w":1}`, `{"id":"e1","w":1,"x":0}`, IngestRejected, conflict},
		{"an identifier written otherwise", `{"id":"e1","user":1.0}`, `{"id":"e1","user":1}`, IngestRejected, conflict},
		{"not JSON, other bytes", `not json`, `not  json`, IngestRejected, conflict},
	} {
		st := IngestStatus{Index: 3, Line: 4, ID: "e1"}
		st.JudgeRepeat([]byte(c.stored), []byte(c.sent))
		code := ""
		if c.status == IngestRejected {
			code = ECONFLICT
		}
		if want := (IngestStatus{Index: 3, Line: 4, ID: "e1", Status: c.status, Code: code, Error: c.error}); st != want {
			t.Errorf("%s: %+v, want %+v", c.name, st, want)
		}
	}
}
