package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/livebill/livebill"
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
