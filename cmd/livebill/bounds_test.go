package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

// TestBadInputsServer runs the real server and sends it the inputs that
// exhausted its memory or broke an account: a 250-byte quote with a join
// in 2024 and an event in 9999, events dated 0024 and 1970, a usage query
// over 100 years of 5-minute windows, 64 MiB of tiny events, a 1 MiB
// scenario of empty events, NUL bytes and 3,000-byte ids, path
// segments %00 and %ff, a purchase of an unknown plan, a catalog with a
// null item. Each gets a 4xx naming the field, the good events of the
// batch are kept, the account still quotes, and the server's peak
// resident memory (VmHWM) stays under 384 MiB: about 30 MiB at rest, the
// 64 MiB body read and joined (128 MiB), a 1 MiB scenario's YAML nodes
// (about 125 MiB), which may add up as freed memory goes back to the
// system lazily (the first part alone peaks near 180 MiB, the second near
// 160; a 64 MiB body once took 4.7 GB).
func TestBadInputsServer(t *testing.T) {
	badInputsServer(t, filepath.Join(t.TempDir(), "data"))
}

// TestBadInputsServerPostgres is the same on PostgreSQL.
func TestBadInputsServerPostgres(t *testing.T) {
	badInputsServer(t, freshPostgres(t, "the PostgreSQL bad-input test"))
}

func badInputsServer(t *testing.T, data string) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads the server's memory from /proc")
	}
	bin := livebillBinary(t)
	srv, url, key := startServer(t, bin, data)
	c := lbhttp.NewClient(url)
	c.Key = key
	ctx := context.Background()
	send := func(method, path, body string) (int, string) {
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := c.HTTP.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	refused := func(what, method, path, body, name string) {
		t.Helper()
		code, got := send(method, path, body)
		if code < 400 || code >= 500 || !strings.Contains(got, name) {
			t.Errorf("%s: %d %.300s, want a 4xx naming %q", what, code, got, name)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// an hour ago, in the trtc catalog's zone
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := time.Now().In(sh).Add(-time.Hour).Truncate(time.Minute)
	day := at.Format(time.DateOnly)
	must(c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-10"}, nil))
	must(c.Do(ctx, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil))

	ev := func(id string, tm time.Time, typ string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"app1","room":"r1","user":"A"}`, id, tm.Format(time.RFC3339), typ)
	}
	// the leave is at most 30 minutes after the join, and on the join's day
	leave := at.Add(30 * time.Minute)
	if leave.Day() != at.Day() {
		leave = time.Date(at.Year(), at.Month(), at.Day(), 23, 59, 0, 0, sh)
	}
	minutes := int(leave.Sub(at) / time.Minute)
	batch := strings.Join([]string{
		ev("j", at, "room.join"),
		`{"id":"y24","time":"0024-10-01T10:00:00+08:00","type":"room.join","app":"app1","room":"r1","user":"B"}`,
		`{"id":"y1970","time":"1970-01-01T00:00:01Z","type":"room.join","app":"app1","room":"r1","user":"C"}`,
		`{"id":"a\u0000b","time":"` + at.Format(time.RFC3339) + `","type":"room.join","app":"app1","room":"r1","user":"D"}`,
		ev(strings.Repeat("x", 3000), at, "room.join"),
		ev("l", leave, "room.leave"),
	}, "\n")
	res, err := c.PushEvents(ctx, []byte(batch))
	must(err)
	if res.Accepted != 2 || res.Rejected != 4 {
		t.Fatalf("batch: %+v, want the join and the leave kept, 4 rejected", res)
	}
	for _, r := range res.Errors {
		want := map[int]string{2: `field "time"`, 3: `field "time"`, 4: `field "id"`, 5: `field "id"`}[r.Line]
		if !strings.Contains(r.Error, want) {
			t.Errorf("line %d: %s, want %s", r.Line, r.Error, want)
		}
	}
	bomb := "catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\nevents:\n" +
		"  - {time: \"2024-10-01T10:00:00+08:00\", type: room.join, app: a, room: r, user: A}\n" +
		"  - {time: \"9999-12-31T10:00:00+08:00\", type: room.leave, app: a, room: r, user: A}\n"
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // at once, as a client hammering the server would
		wg.Add(1)
		go func() {
			defer wg.Done()
			refused("the quote of a join in 2024 and a leave in 9999", "POST", "/v1/quote", bomb, `field \"time\"`)
		}()
	}
	wg.Wait()
	refused("usage over 100 years in 5-minute windows", "GET", "/v1/accounts/acct/usage?from=2000-01-01&to=2100-01-01&granularity=5m", "", "to:")
	// 64 MiB of two-byte lines: refused past the 10,000th event, not split
	// whole first (4.7 GB once); a 1 MiB scenario of {} items (the most a
	// request takes): 1,000 of its 350,000 rejected events listed
	refused("a body of 33M tiny events", "POST", "/v1/events", strings.Repeat("a\n", 32<<20-64), "more than 10000 events")
	refused("a quote of 350,000 empty events", "POST", "/v1/quote", "catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\nevents: ["+strings.Repeat("{},", (1<<20-100)/3)+"{}]\n", "1000 listed")
	refused("an account id %00", "GET", "/v1/accounts/%00", "", "NUL")
	refused("an account id %ff", "GET", "/v1/accounts/%ff/bills", "", "UTF-8")
	refused("a 3,000-byte account id", "GET", "/v1/accounts/"+strings.Repeat("x", 3000)+"/usage", "", "longer than")
	refused("a purchase of an unknown plan", "POST", "/v1/accounts/acct/purchases", `{"id":"p1","app":"app1","plan":"nope","start":"2024-10-01"}`, "plan:")
	refused("a catalog with a null item", "POST", "/v1/accounts", `{"id":"c1","catalog":"mine","catalog_yaml":"extends: trtc\nitems: [null]\n","created":"2024-01-10"}`, "items[0]: null")

	// the account still quotes: A alone for the minutes between join and leave
	var q livebill.Quote
	next := at.AddDate(0, 0, 1).Format(time.DateOnly)
	must(c.Do(ctx, "GET", "/v1/accounts/acct/quote?from="+day+"&to="+next, nil, &q))
	if len(q.Usage) != 1 || q.Usage[0].Quantity != strconv.Itoa(minutes) {
		t.Errorf("quote: %+v, want %d audio minutes", q.Usage, minutes)
	}
	peak := procKB(t, srv.cmd.Process.Pid, "VmHWM")
	t.Logf("server peak resident memory: %d MiB", peak>>10)
	if peak > 384<<10 {
		t.Errorf("the server's peak resident memory is %d MiB", peak>>10)
	}
}

// procKB reads a kB field of /proc/PID/status (VmRSS, VmHWM).
func procKB(t *testing.T, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
