package eventio

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/livebill/livebill"
)

// equivalence lines: the fast path's forms, and forms it must hand to Parse.
// plainCases are forms fast must take itself (TestFastPathTaken).
var plainCases = []string{
	`{"time": "2024-10-01T10:00:00+08:00", "type": "room.join", "app": "1400000001", "room": "r1", "user": "A", "subscribe": "all"}`,
	`{"time":"2024-10-01T10:00:00.5+08:00","type":"stream.start","app":1400000001,"room":12,"user":"B","stream":"main","media":"video","width":1280,"height":720}`,
	`{"time":"2024-10-01T10:00:00.123456789Z","type":"stream.start","app":"a","room":"r","user":"B","stream":"main","media":"video","width":1280,"height":720,"audio":false}`,
	`{"time":"2024-10-01T10:00:00.12-05:30","type":"stream.update","app":"a","room":"r","user":"B","stream":"small","width":320,"height":180}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"subscribe.start","app":"a","room":"r","user":"B","publisher":"A","stream":"small","width":320,"height":180}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"subscribe.stop","app":"a","room":"r","user":"B","publisher":7,"stream":"screen"}`,
	`{"id":"e1","time":"2024-10-01T10:00:00+08:00","type":"recording.start","app":"a","room":"r","task":"t1","formats":["mp4","hls"],"streams":"all","outputs":[{"format":"mp4","destination":"tencent","width":1280,"height":720},{"format":"hls","destination":"vod","media":"audio"}]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"recording.start","app":"a","room":"r","task":"t1","formats":["mp4"],"streams":[{"user":"A","stream":"main"},{"stream":"screen","user":"B"}],"media":"audio"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"transcode.start","app":"a","room":"r","task":"t2","codec":"h265","output":{"width":1920,"height":1080},"inputs":[{"user":"A","stream":"main"}]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"transcode.update","app":"a","room":"r","task":"t2","codec":"h264","output":"audio","inputs":[]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"relay.start","app":"a","room":"r","task":"t3","destination":"third_party","bitrate_kbps":500}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"relay.start","app":"a","room":"r","task":"t3","destination":"tencent","bitrate_kbps":500,"streams":[]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"input.start","app":"a","room":"r","task":"t4","media":"video","width":640,"height":360}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"matchmaking.evaluation","app":"a","duration_us":1500}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"matchmaking.evaluation","app":"a","duration_us":1500,"count":0}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"screenshot","app":"a","count":12}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"login","app":"a","user":"u"}`,
	`  {"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A"}  `,
	// fast's lane of literal keys: stopping at spaces, other orders, repeats
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join" ,"app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app": "a","room":"r","user":"A","subscribe":"audio"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","room":"r","app":"a","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A","subscribe":"all","client":"miniprogram"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","width":640,"media":"video","height":360}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":640}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"subscribe.start","app":"a","room":"r","user":"B","publisher":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"relay.stop","app":"a","room":"r","task":7}`,
}

// unusualCases are errors and unusual forms: fast may hand them to Parse,
// which decides.
var unusualCases = []string{
	`{"time":"2024-10-01T10:00:00+08:00"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A","time":"2024-10-01T10:00:01+08:00"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A","app":"b"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.stop","app":"a","room":"r","user":"A","stream":"main","stream":"small"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":640,"height":360,"width":1}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A","subscribe":"all","subscribe":"audio"}`,
	`{"time":1,"type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"relay.stop","app":"a","room":"r","task":"t","task":"u"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"relay.stop","app":"a","room":"r","task":"t","user":"A","task":"u"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A"} {}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A","user":"B"}`,
	`{"time":"2024-10-01T10:00:00+08:00","Type":"room.leave","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"\u0041"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"Zoë"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.leave","app":"a","room":"r","user":null}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":1280.0,"height":720}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":-1,"height":720}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":"1280","height":720}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":01280,"height":720}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":1.5e3,"room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A","extra":1}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"nope","app":"a"}`,
	`{"time":"2024-10-01 10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-02-30T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T24:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+24:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00,5+08:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00","type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"type":"room.join","app":"a","room":"r","user":"A"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A","subscribe":"some"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"recording.start","app":"a","room":"r","task":"t","formats":["mp4"],"streams":"some"}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"recording.start","app":"a","room":"r","task":"t","formats":["mp4"],"streams":[{"user":"A","stream":"main","x":1}]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"transcode.start","app":"a","room":"r","task":"t","codec":"h264","output":{"width":1,"height":2,"depth":3},"inputs":[]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"transcode.start","app":"a","room":"r","task":"t","codec":"h264","output":"video","inputs":[]}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A",}`,
	`{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"`,
	`[]`, `{}`, `null`, `"x"`, ``,
}

// fastCases are all the forms checked against Parse.
var fastCases = append(append([]string(nil), plainCases...), unusualCases...)

// check asserts the fast parser and Parse agree on b: same event, same
// error text.
func check(t *testing.T, p *Parser, b []byte) {
	t.Helper()
	var fe, se = new(livebill.Event), new(livebill.Event)
	ferr := p.Parse(b, fe)
	serr := Parse(b, se)
	if fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("%s\nfast error: %v\nslow error: %v", b, ferr, serr)
	}
	if !reflect.DeepEqual(fe, se) {
		t.Fatalf("%s\nfast: %+v\nslow: %+v", b, *fe, *se)
	}
}

func TestFastEqualsParse(t *testing.T) {
	p := NewParser()
	for _, c := range fastCases {
		check(t, p, []byte(c))
		check(t, p, []byte(c)) // interned the second time
	}
}

// TestFastPathTaken guards the speed: the plain forms must not fall back.
func TestFastPathTaken(t *testing.T) {
	p := NewParser()
	for _, c := range plainCases {
		var e livebill.Event
		if !p.fast([]byte(c), &e) {
			t.Errorf("fell back to Parse: %s", c)
		}
	}
}

func TestFastTime(t *testing.T) {
	for _, s := range []string{
		"2024-10-01T10:00:00+08:00", "2024-10-01T10:00:00Z", "1970-01-01T00:00:00Z",
		"1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "2000-02-29T12:00:00.1-11:45",
		"2100-02-28T23:59:59.123456789+14:00", "2024-12-31T16:00:00.000+00:00",
	} {
		got, ok := fastTime([]byte(s))
		want, wok := parseTimeSlow(s)
		if !ok || !wok || got != want {
			t.Errorf("%s: fast %d %v, time.Parse %d %v", s, got, ok, want, wok)
		}
	}
}

// TestParserTime checks the parser's remembered date: each time read
// after each other gives fastTime's answer.
func TestParserTime(t *testing.T) {
	times := []string{
		"2024-10-01T10:00:00+08:00", "2024-10-01T23:59:59.999-01:00", "2024-10-01X10:00:00+08:00",
		"2024-10-01T10:00:00", "2024-10-01T1:00:00Z", "2024-10-01T25:00:00Z", "2024-10-02T00:00:00Z",
		"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.001Z", "2024-02-30T00:00:00Z", "2024-10-01",
	}
	for _, a := range times {
		for _, b := range times {
			p := NewParser()
			p.time([]byte(a))
			got, ok := p.time([]byte(b))
			want, wok := fastTime([]byte(b))
			if got != want || ok != wok {
				t.Errorf("%s after %s: %d %v, fastTime %d %v", b, a, got, ok, want, wok)
			}
		}
	}
}

func TestParserAllocs(t *testing.T) {
	p := NewParser()
	b := []byte(fastCases[1])
	var e livebill.Event
	_ = p.Parse(b, &e)
	if n := testing.AllocsPerRun(100, func() { _ = p.Parse(b, &e) }); n != 0 {
		t.Errorf("%v allocations per event, want 0", n)
	}
}

func FuzzFastEqualsParse(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, p, b)
	})
}

func FuzzFastTime(f *testing.F) {
	for _, s := range []string{"2024-10-01T10:00:00+08:00", "2024-10-01T10:00:00.5Z", "2024-02-29T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := fastTime([]byte(s))
		if !ok {
			return // time.Parse decides
		}
		want, wok := parseTimeSlow(s)
		if !wok || got != want {
			t.Fatalf("%q: fast %d, time.Parse %d (ok %v)", s, got, want, wok)
		}
		p := NewParser()
		p.time([]byte("2024-10-01T10:00:00+08:00"))
		p.time([]byte(s))
		if got2, ok2 := p.time([]byte(s)); got2 != got || !ok2 {
			t.Fatalf("%q: remembered date gives %d %v, want %d", s, got2, ok2, got)
		}
	})
}

// TestSpecial checks the word-at-a-time scan against the byte rule: the
// lowest marked byte is the first quote, backslash, control character or
// non-ASCII byte, for every byte value at every position after every mix
// of plain, special and borrow-prone bytes before and after it.
func TestSpecial(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	fills := []byte{'a', '0', 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x20, 0x01, 0x00, '"', '\\', 0x1f, 0x80, 0xff}
	var w [8]byte
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			for _, before := range fills[:7] { // plain bytes only before pos
				for _, after := range fills {
					for i := range w {
						switch {
						case i < pos:
							w[i] = before
						case i == pos:
							w[i] = byte(c)
						default:
							w[i] = after
						}
					}
					want := 8
					for i, b := range w {
						if isSpecial(b) {
							want = i
							break
						}
					}
					got := 8
					if m := special(binary.LittleEndian.Uint64(w[:])); m != 0 {
						got = bits.TrailingZeros64(m) / 8
					}
					if got != want {
						t.Fatalf("% x: first special at %d, want %d", w, got, want)
					}
				}
			}
		}
	}
}

// TestStrWords checks the words str keeps for intern against the string
// it read, at every distance from the end of the line (where str reads a
// byte at a time).
func TestStrWords(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for pad := 0; pad <= 20; pad++ {
			id := strings.Repeat("x", n/3) + strings.Repeat("7", n-n/3)
			line := []byte(`"` + id + `"` + strings.Repeat(" ", pad))
			s := scanner{b: line, ok: true}
			got := s.str()
			w0, w1 := words(got)
			if !s.ok || string(got) != id || s.w0 != w0 || s.w1 != w1 {
				t.Fatalf("%q: read %q (ok %v), words %x %x, want %x %x", line, got, s.ok, s.w0, s.w1, w0, w1)
			}
		}
	}
}

// TestEventType checks the fast path's type names against livebill's.
func TestEventType(t *testing.T) {
	n := 0
	for typ := livebill.RoomJoin; typ.String() != "unknown"; typ++ {
		if got := eventType([]byte(typ.String())); got != typ {
			t.Errorf("%s: %v", typ, got)
		}
		n++
	}
	for _, s := range []string{"", "unknown", "room.Join", "room.join ", "login2"} {
		if got := eventType([]byte(s)); got != livebill.EventUnknown {
			t.Errorf("%q: %v, want unknown", s, got)
		}
	}
	if n != 23 {
		t.Errorf("%d event types; the switch has 23", n)
	}
}

// The intern table grows while many of its lookups push an id out — more
// ids in use than it holds, as with many rooms open at once — up to
// internMax; it keeps its ids when it grows, and then gives the ids it
// holds back as the same strings, without allocating. A stream of few ids
// leaves it at internMin.
func TestInternGrows(t *testing.T) {
	ids := make([][]byte, 3*internMin) // more than the smallest table holds
	for i := range ids {
		ids[i] = []byte(fmt.Sprintf("user-%07d-with-a-long-suffix", i)) // past 16 bytes: the whole id is hashed
	}
	interner := func(p *Parser) func([]byte) string {
		return func(b []byte) string { w0, w1 := words(b); return p.intern(b, w0, w1) }
	}
	p := NewParser()
	intern := interner(p)
	for round := 0; round < 8; round++ {
		for _, b := range ids {
			if s := intern(b); s != string(b) {
				t.Fatalf("interned %q as %q", b, s)
			}
		}
	}
	if len(p.strs) <= internMin || len(p.strs) > internMax {
		t.Fatalf("table of %d entries after %d lookups of %d ids, want grown past %d, at most %d", len(p.strs), 8*len(ids), len(ids), internMin, internMax)
	}
	last := map[int]string{}
	for i, b := range ids {
		if s := intern(b); i%100 == 0 {
			last[i] = s
		}
	}
	held := 0
	for i, s := range last {
		if unsafe.StringData(intern(ids[i])) == unsafe.StringData(s) {
			held++
		}
	}
	t.Logf("table of %d entries for %d ids: %d of %d held", len(p.strs), len(ids), held, len(last))
	// most: walking the ids in a cycle is the worst case of a 2-way
	// table (a set that three ids share misses each of them every round)
	if held < len(last)*3/4 {
		t.Errorf("of %d ids the grown table had, %d were held one round later", len(last), held)
	}
	if n := testing.AllocsPerRun(10, func() {
		for _, b := range ids[:1000] {
			intern(b)
		}
	}); n != 0 {
		t.Errorf("%v allocations interning ids the table holds, want 0", n)
	}

	// growing keeps the ids
	q := NewParser()
	before := make([]string, 1000)
	for i := range before {
		before[i] = interner(q)(ids[i])
	}
	q.misses = internWindow
	q.checkGrowth()
	if len(q.strs) != 2*internMin {
		t.Fatalf("table of %d entries after growing, want %d", len(q.strs), 2*internMin)
	}
	for i, s := range before {
		if got := interner(q)(ids[i]); unsafe.StringData(got) != unsafe.StringData(s) {
			t.Fatalf("%s was interned again after the table grew", s)
		}
	}

	few := NewParser()
	for round := 0; round < 50; round++ {
		for _, b := range ids[:internMin/8] {
			interner(few)(b)
		}
	}
	if len(few.strs) != internMin {
		t.Errorf("a stream of %d ids grew the table to %d entries", internMin/8, len(few.strs))
	}
}
