package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// events push --import sends the file as one import: the server settles
// nothing of the account while the batches come in, even with pauses
// longer than the quiet delay between them (seven minutes of billing clock
// pass before each batch here, and the ticker runs), and the import is
// finished once the last batch is in. Then the days are settled once.
func TestEventsPushImport(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := storetest.NewClock(time.Date(2024, 10, 10, 10, 0, 0, 0, sh))
	var ts *testServer
	batches := 0
	ts = startTestServer(t, clock, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/events") {
				// the pause before each batch, with the ticker running
				clock.Set(clock.Now().Add(7 * time.Minute))
				if err := ts.svc.SettleAll(ctx); err != nil {
					t.Errorf("settle: %v", err)
				}
				if bills, _ := ts.store.ListBills(ctx, "acct"); len(bills) != 0 {
					t.Errorf("before batch %d: %d bills issued during the import", batches+1, len(bills))
				}
				batches++
			}
			api.ServeHTTP(w, r)
		})
	})
	svc, store, srv, c := ts.svc, ts.store, ts.srv, ts.client
	// U1…U3 alone 10:00–10:40 on the 1st, 2nd and 3rd; each session's
	// join and leave land in different batches of two
	var lines []string
	for d := 1; d <= 3; d++ {
		for _, e := range []struct{ typ, tm string }{{"room.join", "10:00"}, {"room.leave", "10:40"}} {
			lines = append(lines, fmt.Sprintf(`{"id":"%s%d","time":"2024-10-0%dT%s:00+08:00","type":%q,"app":"1400000001","room":"r%d","user":"U%d"}`,
				e.typ, d, d, e.tm, e.typ, d, d))
		}
	}
	lines = append([]string{lines[len(lines)-1]}, lines[:len(lines)-1]...) // the last leave first
	file := filepath.Join(t.TempDir(), "history.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, "events", "push", file, "--import", "--batch", "2", "--server", srv.URL, "--key", testAdminKey)
	if code != 0 || !strings.Contains(out, "accepted 6, duplicate 0, rejected 0") || batches != 3 {
		t.Fatalf("push: exit %d, %d batches\nstdout %s\nstderr %s", code, batches, out, errs)
	}
	id := regexp.MustCompile(`import (imp_[0-9a-f]+)`).FindStringSubmatch(errs)
	if id == nil {
		t.Fatalf("stderr names no import: %s", errs)
	}
	im, err := c.FindImport(ctx, id[1])
	if err != nil || im.State != "finished" || im.Accounts != 1 {
		t.Fatalf("import after the push: %+v %v", im, err)
	}
	clock.Set(clock.Now().Add(billing.DefaultSettleQuiet))
	if err := svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	bills, err := store.ListBills(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	// each day 40 audio minutes × 0.99/1000 = 0.0396 → 0.04, once
	var got []string
	for _, b := range bills {
		got = append(got, b.Kind+" "+b.Date+" "+b.Total)
	}
	if want := "daily 2024-10-01 0.04|daily 2024-10-02 0.04|daily 2024-10-03 0.04"; strings.Join(got, "|") != want {
		t.Fatalf("bills after the import: %q, want %s", got, want)
	}
}

// Every rejected event is listed as FILE: line N, N its line in FILE,
// whether or not the server's reason names a line: a conflicting id
// (JudgeRepeat's reason has none) in the first batch, in a later batch
// (the server counts lines from the start of its batch) and against an
// event stored by an earlier push; an invalid event of the third batch
// (the server's "line 1" made the file's).
func TestEventsPushRejectionLines(t *testing.T) {
	clock := storetest.NewClock(time.Date(2024, 10, 10, 10, 0, 0, 0, time.UTC))
	ts := startTestServer(t, clock, nil)
	ev := func(id, typ, room string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2024-10-10T09:00:00Z","type":%q,"app":"1400000001","room":%q,"user":"U1"}`, id, typ, room)
	}
	dir := t.TempDir()
	a := filepath.Join(dir, "a.ndjson")
	lines := []string{
		ev("d1", "room.join", "r1"),  // 1: accepted
		ev("d1", "room.join", "r2"),  // 2: conflict (batch 1, its line 2)
		"",                           // 3: blank, not sent
		ev("d2", "room.join", "r3"),  // 4: accepted
		ev("d2", "room.leave", "r3"), // 5: conflict (batch 2, its line 2)
		`{"id":"x1","time":"2024-10-10T09:00:00Z","type":"login","app":"1400000001"}`, // 6: invalid (batch 3, its line 1)
	}
	if err := os.WriteFile(a, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, "events", "push", a, "--batch", "2", "--quiet", "--server", ts.srv.URL, "--key", testAdminKey)
	want := a + `: line 2: event id "d1" was already used by a different event` + "\n" +
		a + `: line 5: event id "d2" was already used by a different event` + "\n" +
		a + `: line 6 (event "x1"): field "user": missing` + "\n"
	if code != 1 || out != "accepted 2, duplicate 0, rejected 3\n" || errs != want {
		t.Fatalf("push a: exit %d\nstdout %s\nstderr %s\nwant stderr %s", code, out, errs, want)
	}
	// a later file: line 1 is d1 as stored (a duplicate), line 2 reuses d1
	b := filepath.Join(dir, "b.ndjson")
	if err := os.WriteFile(b, []byte(lines[0]+"\n"+ev("d1", "room.leave", "r1")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runCLI(t, "events", "push", b, "--quiet", "--server", ts.srv.URL, "--key", testAdminKey)
	want = b + `: line 2: event id "d1" was already used by a different event` + "\n"
	if code != 1 || out != "accepted 0, duplicate 1, rejected 1\n" || errs != want {
		t.Fatalf("push b: exit %d\nstdout %s\nstderr %s\nwant stderr %s", code, out, errs, want)
	}
}

// A line longer than eventio.MaxLine (4 MiB, its newline included) is
// rejected like an invalid event, in line order with the server's
// rejections, and the push goes on: the lines after it are sent, the
// summary is printed and the import is finished. A line of exactly 4 MiB
// with its newline is sent (and the server takes it).
func TestEventsPushLongLine(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2024, 10, 10, 10, 0, 0, 0, time.UTC))
	ts := startTestServer(t, clock, nil)
	// padded fills an event (with id, or none if "") to n bytes with
	// spaces before its closing brace
	padded := func(id string, n int) string {
		e := `{"time":"2024-10-10T09:30:00Z","type":"room.leave","app":"1400000001","room":"r1","user":"U1"`
		if id != "" {
			e = fmt.Sprintf(`{"id":%q,`, id) + e[1:]
		}
		return e + strings.Repeat(" ", n-len(e)-1) + "}"
	}
	lines := []string{
		`{"id":"e1","time":"2024-10-10T09:00:00Z","type":"room.join","app":"1400000001","room":"r1","user":"U1"}`, // 1: accepted
		`{"id":"x2","time":"2024-10-10T09:00:00Z","type":"login","app":"1400000001"}`,                             // 2: rejected by the server
		padded("e3", 4<<20),   // 3: 4 MiB + its newline: rejected here
		padded("e4", 4<<20-1), // 4: 4 MiB with its newline: sent, accepted
		`{"id":"e5","time":"2024-10-10T09:40:00Z","type":"room.join","app":"1400000001","room":"r1","user":"U1"}`, // 5: accepted
	}
	if len(lines[2]) != 4194304 || len(lines[3]) != 4194303 {
		t.Fatalf("padded lines of %d and %d bytes", len(lines[2]), len(lines[3]))
	}
	file := filepath.Join(t.TempDir(), "huge.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// batches: lines 1, 2, 4 (line 3 is not sent) and line 5
	out, errs, code := runCLI(t, "events", "push", file, "--import", "--batch", "3", "--server", ts.srv.URL, "--key", testAdminKey)
	want := file + `: line 2 (event "x2"): field "user": missing` + "\n" +
		file + ": line 3: longer than 4194304 bytes\n"
	if code != 1 || out != "accepted 3, duplicate 0, rejected 2\n" || !strings.HasSuffix(errs, want) {
		t.Fatalf("push: exit %d\nstdout %s\nstderr %s\nwant stderr ending %s", code, out, errs, want)
	}
	if !strings.Contains(errs, "3 accepted, 0 duplicate, 2 rejected\n") {
		t.Fatalf("no final progress: %s", errs)
	}
	id := regexp.MustCompile(`import (imp_[0-9a-f]+)`).FindStringSubmatch(errs)
	if id == nil {
		t.Fatalf("stderr names no import: %s", errs)
	}
	if im, err := ts.client.FindImport(ctx, id[1]); err != nil || im.State != "finished" {
		t.Fatalf("import after the push: %+v %v", im, err)
	}
	// --add-ids makes a line 20 bytes longer ({"id":"ids.ndjson:1", ahead
	// of the rest): 4194290 bytes, with the id and a newline 4194311
	noID := padded("", 4194290)
	ids := filepath.Join(t.TempDir(), "ids.ndjson")
	if err := os.WriteFile(ids, []byte(noID+"\n"+lines[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runCLI(t, "events", "push", ids, "--add-ids", "--quiet", "--server", ts.srv.URL, "--key", testAdminKey)
	want = ids + ": line 1: longer than 4194304 bytes once --add-ids gives it an id\n"
	if code != 1 || out != "accepted 0, duplicate 1, rejected 1\n" || errs != want {
		t.Fatalf("push --add-ids: exit %d\nstdout %s\nstderr %s\nwant stderr %s", code, out, errs, want)
	}
}

// readLine holds at most max bytes of a line: a longer one is read to its
// end and dropped, and the next line comes whole; a last line without a
// newline counts one for it.
func TestReadLine(t *testing.T) {
	const max = 100
	in := strings.Repeat("a", 99) + "\n" + // 100 with its newline: kept
		strings.Repeat("b", 100) + "\n" + // 101: dropped
		strings.Repeat("c", 10*max) + "\n" + // dropped, never held
		"\r\n" + // kept (blank)
		strings.Repeat("d", 100) // 100, 101 with the newline it lacks: dropped
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	var buf []byte
	var got []string
	var read int64
	for {
		line, n, long, err := readLine(r, buf, max)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		read += n
		if cap(line) > 2*max {
			t.Fatalf("line %d: %d bytes held", len(got)+1, cap(line))
		}
		if long {
			got = append(got, fmt.Sprintf("long(%d)", len(line)))
		} else {
			got = append(got, fmt.Sprintf("%q", line))
		}
		buf = line
	}
	want := []string{`"` + strings.Repeat("a", 99) + `"`, "long(0)", "long(0)", `"\r"`, "long(0)"}
	if strings.Join(got, " ") != strings.Join(want, " ") || read != int64(len(in)) {
		t.Fatalf("lines %v, %d bytes read\nwant %v, %d", got, read, want, len(in))
	}
}

// A JSON array is refused before anything is sent (no import either),
// exit 2, naming the file and how to make NDJSON of it, even after blank
// lines; an NDJSON file after blank lines is pushed, its lines counted
// from the file's first.
func TestEventsPushJSONArray(t *testing.T) {
	clock := storetest.NewClock(time.Date(2024, 10, 10, 10, 0, 0, 0, time.UTC))
	requests := 0
	ts := startTestServer(t, clock, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests++
			api.ServeHTTP(w, r)
		})
	})
	requests = 0 // the account and app made
	ok := `{"id":"e1","time":"2024-10-10T09:00:00Z","type":"room.join","app":"1400000001","room":"r1","user":"U1"}`
	bad := `{"id":"x1","time":"2024-10-10T09:00:00Z","type":"login","app":"1400000001"}`
	dir := t.TempDir()
	arr := filepath.Join(dir, "events.json")
	if err := os.WriteFile(arr, []byte("\n \t\r\n  [\n"+ok+",\n"+bad+"\n]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(t, "events", "push", arr, "--import", "--server", ts.srv.URL, "--key", testAdminKey)
	want := arr + ": a JSON array, but events push reads NDJSON (one event per line): convert it with jq -c '.[]' " + arr + " > " + filepath.Join(dir, "events.ndjson")
	if code != 2 || out != "" || errs != want || requests != 0 {
		t.Fatalf("push of an array: exit %d, %d requests\nstdout %s\nstderr %s\nwant stderr %s", code, requests, out, errs, want)
	}
	nd := filepath.Join(dir, "blank.ndjson")
	if err := os.WriteFile(nd, []byte("\n \t\r\n  "+bad+"\n"+ok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runCLI(t, "events", "push", nd, "--quiet", "--server", ts.srv.URL, "--key", testAdminKey)
	want = nd + `: line 3 (event "x1"): field "user": missing` + "\n"
	if code != 1 || out != "accepted 1, duplicate 0, rejected 1\n" || errs != want {
		t.Fatalf("push after blank lines: exit %d\nstdout %s\nstderr %s\nwant stderr %s", code, out, errs, want)
	}
}

// A batch is sent before its body would pass the server's limit
// (maxPushBody, here 300 bytes), whatever --batch says: five events of
// 103 bytes and a newline each are two per request (208 bytes; a third
// would make 312), so three requests of 208, 208 and 104 bytes.
func TestEventsPushSplitsBySize(t *testing.T) {
	clock := storetest.NewClock(time.Date(2024, 10, 10, 10, 0, 0, 0, time.UTC))
	var bodies []int
	ts := startTestServer(t, clock, func(api http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/events" {
				bodies = append(bodies, int(r.ContentLength))
			}
			api.ServeHTTP(w, r)
		})
	})
	defer func(n int) { maxPushBody = n }(maxPushBody)
	maxPushBody = 300
	var lines []string
	for i := range 5 {
		e := fmt.Sprintf(`{"id":"e%d","time":"2024-10-10T09:0%d:00Z","type":"room.join","app":"1400000001","room":"r%d","user":"U1"}`, i, i, i)
		if len(e) != 103 {
			t.Fatalf("event of %d bytes", len(e))
		}
		lines = append(lines, e)
	}
	file := filepath.Join(t.TempDir(), "e.ndjson")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	out, errs, code := runCLI(t, "events", "push", file, "--quiet", "--server", ts.srv.URL, "--key", testAdminKey)
	if code != 0 || out != "accepted 5, duplicate 0, rejected 0\n" || fmt.Sprint(bodies) != "[208 208 104]" {
		t.Fatalf("exit %d, stdout %q, stderr %q, request bodies %v; want [208 208 104]", code, out, errs, bodies)
	}
}
