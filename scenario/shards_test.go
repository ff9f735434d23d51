package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/meter"
)

// withFeedShards sets how many meters a quote's file is split among.
func withFeedShards(t *testing.T, n int) {
	old := feedShards
	feedShards = func() int { return n }
	t.Cleanup(func() { feedShards = old })
}

// A file's rooms split among several meters give the quote one meter
// gives: the same bills, usage and notices, and the same rejected events
// in the same (line) order. The file is `livebill gen`'s, with tasks and
// sessions left open at its end (2024-10-03 01:49, billed up to the
// close on 2024-10-04), advanced every 500 events; every 97th line is
// followed by the leave of a user who never joined its room (a meter's
// error, reported when the room's instant is applied, not in line order)
// and every 5,000th by a line that is not JSON (the decoder's).
func TestQuoteSplitsRooms(t *testing.T) {
	withAdvanceEvery(t, 500)
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 30_000, Apps: 3, Seed: 7, Tasks: 0.5, LeaveOpen: true}); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	sc := bufio.NewScanner(&buf)
	ghosts := 0
	for n := 1; sc.Scan(); n++ {
		in.Write(sc.Bytes())
		in.WriteByte('\n')
		var e struct{ Time, App, Room string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if n%97 == 0 && e.Room != "" {
			fmt.Fprintf(&in, `{"time":%q,"type":"room.leave","app":%q,"room":%q,"user":"ghost"}`+"\n", e.Time, e.App, e.Room)
			ghosts++
		}
		if n%5000 == 0 {
			in.WriteString("not json\n")
		}
	}
	f := quoteFile(t, in.Bytes(), "2024-10-01", "2024-10-04")
	run := func(meters int) (string, []string) {
		withFeedShards(t, meters)
		res, err := f.Run()
		if err != nil {
			t.Fatal(err)
		}
		q, err := json.Marshal(res.Quote)
		if err != nil {
			t.Fatal(err)
		}
		var rejected []string
		for _, err := range res.Rejected {
			rejected = append(rejected, err.Error())
		}
		return string(q), rejected
	}
	q1, rej1 := run(1)
	if want := ghosts + 6; len(rej1) != want {
		t.Fatalf("one meter: %d rejected, want %d ghosts' leaves and 6 bad lines: %v", len(rej1), want, rej1)
	}
	for _, n := range []int{2, 3} {
		q, rej := run(n)
		if q != q1 {
			t.Errorf("%d meters' quote:\n%s\none meter's:\n%s", n, q, q1)
		}
		if fmt.Sprint(rej) != fmt.Sprint(rej1) {
			t.Errorf("%d meters rejected:\n%v\none meter:\n%v", n, rej, rej1)
		}
	}
}

// Past the meter's 1,000 errors, a quote lists the rejected events of the
// 1,000 lowest lines, however many meters metered the file. A room's
// events are applied at its next instant or at the close: room a has one
// ghost leave on line 1, applied only at the close; room b has 1,001,
// lines 2..1002, each applied at b's next instant. Had a meter kept the
// first 1,000 errors it met, one meter would list lines 2..1001 and two
// meters (a and b apart) lines 1..1000; both list lines 1..1000.
func TestQuoteRejectedPastTheLimit(t *testing.T) {
	// a on the second meter (absorbed, so closed first), b on the first
	roomA, roomB := "", ""
	ev := func(room string) *livebill.Event {
		return &livebill.Event{Type: livebill.RoomLeave, App: "1400000001", Room: room}
	}
	for i := range 100 {
		r := fmt.Sprintf("r%d", i)
		switch k := meter.ShardOf(ev(r), 2); {
		case k == 1 && roomA == "":
			roomA = r
		case k == 0 && roomB == "":
			roomB = r
		}
	}
	if roomA == "" || roomB == "" {
		t.Fatal("no rooms on both meters")
	}
	var in bytes.Buffer
	t0 := time.Date(2024, 10, 1, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	line := func(at time.Time, room string) {
		fmt.Fprintf(&in, `{"time":%q,"type":"room.leave","app":"1400000001","room":%q,"user":"ghost"}`+"\n", at.Format(time.RFC3339), room)
	}
	line(t0, roomA)
	for i := 1; i <= 1001; i++ {
		line(t0.Add(time.Duration(i)*time.Second), roomB)
	}
	f := quoteFile(t, in.Bytes(), "2024-10-01", "2024-10-02")
	run := func(n int) []livebill.EventError {
		withFeedShards(t, n)
		res, err := f.Run()
		if err != nil {
			t.Fatal(err)
		}
		var out []livebill.EventError
		for _, err := range res.Rejected {
			out = append(out, *err.(*livebill.EventError))
		}
		return out
	}
	for _, n := range []int{1, 2} {
		got := run(n)
		if len(got) != 1000 || got[0].Line != 1 || got[999].Line != 1000 {
			t.Fatalf("%d meters rejected %d events, lines %d..%d; want 1000, lines 1..1000", n, len(got), got[0].Line, got[len(got)-1].Line)
		}
		for i, e := range got {
			if e.Line != i+1 {
				t.Fatalf("%d meters: rejection %d is of line %d, not %d", n, i, e.Line, i+1)
			}
		}
	}
}

// Quotes in account mode are the same whatever the number of meters:
// a balance, apps disabled and enabled (their rooms dissolved, usage
// blocked, service stopped), sessions timed out (idle above the 24 h
// timeout), logins and screenshots, and a file out of time order after
// an advance (read again by one meter), whose leaves before their joins
// are rejected.
func TestQuoteSplitsRoomsLifecycle(t *testing.T) {
	withAdvanceEvery(t, 300)
	timedOut, rejected := false, false
	for _, tc := range []struct {
		seed      uint64
		unordered bool
	}{{1, false}, {2, false}, {3, true}, {4, false}} {
		var buf bytes.Buffer
		if _, err := gen.Write(&buf, gen.Config{Events: 20_000, Apps: 3, Seed: tc.seed, Tasks: 0.6, LeaveOpen: tc.seed%2 == 0,
			MaxIdle: 30 * time.Hour, Span: 40 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		var lines [][]byte
		sc := bufio.NewScanner(&buf)
		for n := 0; sc.Scan(); n++ {
			lines = append(lines, append([]byte(nil), sc.Bytes()...))
			var e struct{ Time, App, User string }
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if n%50 == 0 && e.User != "" {
				lines = append(lines, fmt.Appendf(nil, `{"time":%q,"type":"login","app":%q,"user":%q}`, e.Time, e.App, e.User))
				lines = append(lines, fmt.Appendf(nil, `{"time":%q,"type":"screenshot","app":%q,"room":"r1","count":2}`, e.Time, e.App))
			}
		}
		if tc.unordered {
			lines[len(lines)-10], lines[len(lines)/2] = lines[len(lines)/2], lines[len(lines)-10]
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "events.ndjson"), append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		doc := `mode: account
catalog: trtc
period: {from: 2024-10-01, to: 2024-10-06}
account: {id: "100001", created: 2024-03-01, balance: "500"}
app_actions:
  - {app: "1400000001", action: disable, time: "2024-10-02T10:30:00+08:00"}
  - {app: "1400000001", action: enable, time: "2024-10-02T11:00:00+08:00"}
  - {app: "1400000002", action: disable, time: "2024-10-02T23:00:00+08:00"}
events_file: events.ndjson
`
		f, err := Parse([]byte(doc), filepath.Join(dir, "q.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		run := func(n int) (string, string) {
			withFeedShards(t, n)
			res, err := f.Run()
			if err != nil {
				t.Fatal(err)
			}
			q, _ := json.Marshal(res.Quote)
			return string(q), fmt.Sprint(res.Events, res.Rejected)
		}
		q1, r1 := run(1)
		for _, want := range []string{"service_stopped", "blocked"} {
			if !strings.Contains(q1, want) {
				t.Errorf("seed %d: the quote has no %s to compare", tc.seed, want)
			}
		}
		timedOut = timedOut || strings.Contains(q1, "session_timed_out")
		rejected = rejected || strings.Contains(r1, "leave without join")
		for _, n := range []int{2, 3, 5} {
			q, r := run(n)
			if q != q1 || r != r1 {
				t.Errorf("seed %d, %d meters differ from one (quote equal: %v, rejected equal: %v)", tc.seed, n, q == q1, r == r1)
			}
		}
	}
	if !timedOut || !rejected {
		t.Errorf("no quote with a timed-out session (%v) or a rejected leave (%v) to compare", timedOut, rejected)
	}
}

// failAfter is a reader that fails after n bytes.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk gone")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// Every way a feed of several meters ends stops its goroutines: the
// end of the file, a stream failing in its middle or at once, and an
// event out of time order after an advance.
func TestFeedShardsEnd(t *testing.T) {
	withAdvanceEvery(t, 100)
	withFeedShards(t, 4)
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: 20_000, Apps: 3, Seed: 9, Tasks: 0.5}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	unordered := append(append([]byte(nil), data[len(data)/2:]...), data[:len(data)/2]...)
	cat, err := catalog.Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	for i, tc := range []struct {
		r    io.Reader
		want error
	}{
		{bytes.NewReader(data), nil},
		{&failAfter{bytes.NewReader(data), len(data) / 3}, errors.New("any")},
		{bytes.NewReader(unordered), errUnordered},
		{&failAfter{bytes.NewReader(data), 10}, errors.New("any")},
	} {
		m, err := meter.New(cat, meter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = feedNDJSON(m, tc.r, "f", &Result{}, nil, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
		if (err == nil) != (tc.want == nil) || tc.want == errUnordered && err != errUnordered {
			t.Errorf("case %d: err %v, want %v", i, err, tc.want)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines left, %d before", n, base)
	}
}
