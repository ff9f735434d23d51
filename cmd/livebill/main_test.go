package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sharedScenarios = "../../../shared/scenarios"

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(args, &out, &errb)
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		errb.WriteString(ee.Error())
	default:
		code = 2
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func needShared(t *testing.T) {
	if _, err := os.Stat(sharedScenarios); err != nil {
		t.Skip("../shared/scenarios not present")
	}
}

// The quote JSON follows SPEC §7.3: currency, total, lines with item,
// quantity, unit, unit_price, per, amount; usage; bills; notices.
func TestQuoteJSONContract(t *testing.T) {
	needShared(t)
	out, errs, code := runCLI(t, "quote", filepath.Join(sharedScenarios, "trtc-av-example1.yaml"), "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var q struct {
		Currency string `json:"currency"`
		Total    string `json:"total"`
		Lines    []map[string]string
		Usage    []map[string]string
		Bills    []struct {
			Kind, Date, Total string
			Lines             []map[string]string
		}
		Notices []map[string]string
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&q); err != nil {
		t.Fatal(err)
	}
	// Seed 003 example 1: 60 HD + 240 2K + 60 audio minutes = 4.1364 → 4.14 USD.
	if q.Currency != "USD" || q.Total != "4.14" {
		t.Fatalf("currency %s total %s, want USD 4.14", q.Currency, q.Total)
	}
	var got2k map[string]string
	for _, l := range q.Lines {
		for _, k := range []string{"item", "quantity", "unit", "unit_price", "per", "amount"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %v lacks %q", l, k)
			}
		}
		if l["item"] == "trtc.av.2k" {
			got2k = l
		}
	}
	want := map[string]string{"item": "trtc.av.2k", "quantity": "240", "unit": "minute", "unit_price": "15.99", "per": "1000", "amount": "3.8376"}
	for k, v := range want {
		if got2k[k] != v {
			t.Errorf("trtc.av.2k %s = %q, want %q", k, got2k[k], v)
		}
	}
	if len(q.Bills) != 1 || q.Bills[0].Kind != "daily" || q.Bills[0].Date != "2024-10-01" || q.Bills[0].Total != "4.14" {
		t.Errorf("bills = %+v, want one daily bill of 2024-10-01 totalling 4.14", q.Bills)
	}
	if len(q.Usage) != 3 {
		t.Errorf("usage has %d items, want 3 (audio, hd, 2k)", len(q.Usage))
	}
}

func TestQuoteTableShowsTotal(t *testing.T) {
	needShared(t)
	out, errs, code := runCLI(t, "quote", filepath.Join(sharedScenarios, "trtc-av-example1.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "TOTAL 4.14 USD") || !strings.Contains(out, "daily bill 2024-10-01") {
		t.Fatalf("table lacks the bill or the total:\n%s", out)
	}
}

// A malformed event file exits 2 and names the line and the field.
func TestQuoteMalformedEventsExit2(t *testing.T) {
	dir := t.TempDir()
	nd := `{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"A"}
{"time":"2024-10-01T10:00:00+08:00","type":"stream.start","app":"a","room":"r","user":"A","stream":"main","media":"video","width":1280}
{"time":"2024-10-01T11:00:00+08:00","type":"room.leave","app":"a","room":"r","user":"A"}
`
	os.WriteFile(filepath.Join(dir, "e.ndjson"), []byte(nd), 0o644)
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents_file: e.ndjson\n"), 0o644)
	out, errs, code := runCLI(t, "quote", filepath.Join(dir, "s.yaml"))
	if code != 2 {
		t.Fatalf("exit %d, want 2; stdout %q", code, out)
	}
	if !strings.Contains(errs, "line 2") || !strings.Contains(errs, `"height"`) {
		t.Fatalf("stderr does not name line 2 and field height: %s", errs)
	}
	if out != "" {
		t.Fatalf("a rejected file must not print a quote, got %q", out)
	}
	// --skip-invalid quotes the valid events: A alone in the room for an
	// hour is 60 audio minutes.
	out, _, code = runCLI(t, "quote", filepath.Join(dir, "s.yaml"), "--skip-invalid", "--format", "json")
	if code != 0 || !strings.Contains(out, `"events_rejected"`) || !strings.Contains(out, `"quantity": "60"`) {
		t.Fatalf("--skip-invalid: exit %d, out %s", code, out)
	}
}

// A file of many unreadable lines lists the first 1,000 (scenario.MaxListed)
// and counts the rest, instead of holding an error for each: 2,500 lines
// of {} (no type) are 2,500 rejected, 1,000 listed, "… and 1500 more".
func TestQuoteListsTheFirstRejected(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "e.ndjson"), []byte(strings.Repeat("{}\n", 2500)), 0o644)
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents_file: e.ndjson\n"), 0o644)
	_, errs, code := runCLI(t, "quote", filepath.Join(dir, "s.yaml"))
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	if code != 2 || len(lines) != 1002 {
		t.Fatalf("exit %d, %d lines on stderr, want 2 and 1,000 errors + 2 lines", code, len(lines))
	}
	if !strings.Contains(lines[0], "line 1:") || !strings.Contains(lines[999], "line 1000:") ||
		!strings.HasPrefix(lines[1000], "… and 1500 more") || !strings.Contains(lines[1001], "2500 of 2500 events rejected") {
		t.Errorf("stderr:\n%s\n…\n%s", strings.Join(lines[:2], "\n"), strings.Join(lines[998:], "\n"))
	}
}

// An events_file that is a directory, or has a line over eventio.MaxLine
// (4 MiB), is invalid input: exit 2, naming the scenario file and the
// events_file; a missing one already was.
func TestQuoteUnreadableEventsFileExit2(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	long := `{"time":"2024-10-01T10:00:00+08:00","type":"room.join","app":"a","room":"r","user":"` + strings.Repeat("x", 4<<20) + `"}` + "\n"
	os.WriteFile(filepath.Join(dir, "h.ndjson"), []byte(long), 0o644)
	for _, c := range []struct{ events, want string }{
		{"d", "s.yaml: events_file: " + filepath.Join(dir, "d") + " is a directory"},
		{"h.ndjson", "h.ndjson: line 1: longer than 4194304 bytes"},
		{"missing.ndjson", "s.yaml: events_file: open"},
	} {
		s := filepath.Join(dir, "s.yaml")
		os.WriteFile(s, []byte("catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents_file: "+c.events+"\n"), 0o644)
		out, errs, code := runCLI(t, "quote", s)
		if code != 2 || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("events_file %s: exit %d, stderr %q, stdout %q; want exit 2 and %q", c.events, code, errs, out, c.want)
		}
	}
}

func TestTestCommandReportsMismatch(t *testing.T) {
	dir := t.TempDir()
	// A alone for 10 minutes: 10 audio minutes × 0.99/1000 = 0.0099 USD; the
	// file expects 11 minutes, so the test must fail with exit 1.
	s := `mode: calculator
catalog: trtc
period: {from: 2024-10-01, to: 2024-10-02}
events:
  - {time: "2024-10-01T10:00:00+08:00", type: room.join, app: a, room: r, user: A}
  - {time: "2024-10-01T10:10:00+08:00", type: room.leave, app: a, room: r, user: A}
expect:
  lines: {trtc.av.audio: {quantity: "11", amount: "0.0099"}}
`
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(s), 0o644)
	out, _, code := runCLI(t, "test", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "lines.trtc.av.audio.quantity") || !strings.Contains(out, "expected 11") || !strings.Contains(out, "got 10") {
		t.Fatalf("no readable diff:\n%s", out)
	}
	if strings.Contains(out, "amount") {
		t.Fatalf("the amount matches numerically and must not be reported:\n%s", out)
	}
}

// test on a directory holding no scenario file (a suite pointed at the
// wrong directory) exits 2 naming it, even beside a file that passes;
// it used to print "0 passed, 0 failed" and exit 0.
func TestTestEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.MkdirAll(filepath.Join(empty, "sub"), 0o755)
	os.WriteFile(filepath.Join(empty, "sub", "notes.txt"), []byte("not a scenario\n"), 0o644)
	// A alone for 10 minutes: 10 audio minutes, as expected
	ok := filepath.Join(dir, "ok.yaml")
	os.WriteFile(ok, []byte(`mode: calculator
catalog: trtc
period: {from: 2024-10-01, to: 2024-10-02}
events:
  - {time: "2024-10-01T10:00:00+08:00", type: room.join, app: a, room: r, user: A}
  - {time: "2024-10-01T10:10:00+08:00", type: room.leave, app: a, room: r, user: A}
expect:
  lines: {trtc.av.audio: {quantity: "10"}}
`), 0o644)
	if out, errs, code := runCLI(t, "test", ok); code != 0 {
		t.Fatalf("test %s: exit %d, %s%s", ok, code, out, errs)
	}
	for _, args := range [][]string{{empty}, {ok, empty}} {
		out, errs, code := runCLI(t, append([]string{"test"}, args...)...)
		if code != 2 || !strings.Contains(errs, "no scenario files in "+empty) {
			t.Errorf("test %v: exit %d, stdout %q, stderr %q; want exit 2 and no scenario files in %s", args, code, out, errs, empty)
		}
	}
}

// catalog on an empty file says the file is empty (it said EOF), and on a
// directory says it is one (it said unknown catalog).
func TestCatalogEmptyFileOrDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("empty.yaml", nil, 0o644)
	os.WriteFile("comments.yaml", []byte("# prices to come\n\n"), 0o644)
	os.Mkdir("dd", 0o755)
	for arg, want := range map[string]string{
		"empty.yaml":    "catalog empty.yaml: the file is empty",
		"comments.yaml": "catalog comments.yaml: the file is empty",
		"dd":            "dd is a directory, not a catalog file",
		"./dd":          "./dd is a directory, not a catalog file",
	} {
		_, errs, code := runCLI(t, "catalog", arg)
		if code != 2 || errs != want {
			t.Errorf("catalog %s: exit %d, %q; want 2 and %q", arg, code, errs, want)
		}
	}
	// a scenario naming the empty file as its catalog says so too
	os.WriteFile("s.yaml", []byte("catalog: empty.yaml\nperiod: {from: 2024-10-01, to: 2024-10-02}\nevents: []\n"), 0o644)
	if _, errs, code := runCLI(t, "quote", "s.yaml"); code != 2 || !strings.Contains(errs, "catalog empty.yaml: the file is empty") {
		t.Errorf("quote with an empty catalog file: exit %d, %q", code, errs)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		_, errs, code := runCLI(t, name, "--help")
		if code != 0 || !strings.Contains(errs, "Usage:") {
			t.Errorf("%s --help: exit %d, output %q", name, code, errs)
		}
	}
}

func TestUnpublishedPriceNamesItem(t *testing.T) {
	// SPEC §4: the MAU overage price is unpublished. conference.starter
	// allows 1,000 MAU; the library's login file has 1,005 distinct users
	// in October, so 5 are over and the built-in catalog (no price) must
	// refuse the quote with exit 2, naming trtc.mau.
	nd, err := filepath.Abs("../../testdata/scenarios/plans-mau-starter.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := `mode: account
catalog: trtc
period: {from: 2024-10-01, to: 2024-11-01}
account: {id: "100001", created: 2024-10-01}
plans:
  - {id: s1, app: "A", plan: conference.starter, start: 2024-10-01}
events_file: ` + nd + "\n"
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(s), 0o644)
	out, errs, code := runCLI(t, "quote", filepath.Join(dir, "s.yaml"))
	if code != 2 || !strings.Contains(errs, "trtc.mau") {
		t.Fatalf("exit %d, stderr %q, stdout %q; want exit 2 naming trtc.mau", code, errs, out)
	}
}

// serve refuses a non-positive quiet delay, import timeout or webhook
// window before opening anything (a zero window would refuse every
// callback, and the billing service reads a zero delay as its default).
func TestServeRefusesNonPositiveDurations(t *testing.T) {
	for _, flag := range []string{"--settle-quiet", "--import-timeout", "--webhook-window"} {
		_, errs, code := runCLI(t, "serve", "--db", t.TempDir(), "--addr", "127.0.0.1:0", flag, "0s")
		if code != 2 || !strings.Contains(errs, flag[2:]) {
			t.Errorf("serve %s 0s: exit %d, %q; want exit 2 naming the flag", flag, code, errs)
		}
	}
}

// serve refuses a negative settle delay, webhook lateness, settle or
// notify period or shutdown timeout before opening anything (a negative
// delay settled a day before it closed), naming the flag; 0 stays
// accepted (at once, never, or the default lateness).
func TestServeRefusesNegativeDurations(t *testing.T) {
	for _, flag := range []string{"--settle-delay", "--webhook-lateness", "--settle-every", "--notify-every", "--shutdown-timeout"} {
		db := filepath.Join(t.TempDir(), "data")
		_, errs, code := runCLI(t, "serve", "--db", db, "--addr", "127.0.0.1:-1", flag, "-1h")
		if want := flag + " must be 0 or positive, not -1h0m0s"; code != 2 || !strings.Contains(errs, want) {
			t.Errorf("serve %s -1h: exit %d, %q; want exit 2 and %q", flag, code, errs, want)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("serve %s -1h opened the database (%v)", flag, err)
		}
		// 0 passes the check: serve goes on to listen, on an address it
		// cannot (exit 1)
		if _, errs, code := runCLI(t, "serve", "--db", db, "--addr", "127.0.0.1:-1", flag, "0s"); code != 1 || !strings.Contains(errs, "invalid port") {
			t.Errorf("serve %s 0s: exit %d, %q; want it accepted (and the address refused)", flag, code, errs)
		}
	}
}

// The settle delay is at least the lateness the meters wait for late
// events, also when --webhook-lateness 0 asks for its default (1m): a day
// is then settled 1m after it closes, not at once. serve logs both.
func TestServeSettleDelayCoversLateness(t *testing.T) {
	bin := livebillBinary(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--settle-delay", "0", "--webhook-lateness", "0"}, "settled 1m0s after it closes, once its events are quiet for 2m0s; late events wait 1m0s"},
		{[]string{"--settle-delay", "0", "--webhook-lateness", "5m"}, "settled 5m0s after it closes"},
		{[]string{"--settle-delay", "2h", "--webhook-lateness", "5m"}, "settled 2h0m0s after it closes"},
	} {
		p := startServe(t, bin, nil, append([]string{"--db", t.TempDir(), "--settle-quiet", "2m"}, c.args...)...)
		if log := p.stderr.String(); !strings.Contains(log, c.want) {
			t.Errorf("serve %v: the log does not say %q:\n%s", c.args, c.want, log)
		}
	}
}
