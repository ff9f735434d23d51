package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/livebill/livebill/gen"
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
