package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// noRequests is an API server with no request in flight.
type noRequests struct{}

func (noRequests) Shutdown(context.Context) error { return nil }
func (noRequests) Close() error                   { return nil }

const settleAccounts = 300

// settleClock is after the days settleData fills, past the settle delay.
var settleClock = time.Date(2024, 10, 5, 12, 0, 0, 0, time.UTC)

// settleData fills the data directory dir with accounts that each had an
// A/V session on 1 and 2 October 2024, none settled yet.
func settleData(t *testing.T, dir string) {
	t.Helper()
	// stored an hour before the settlements: the days' ingest is quiet then
	clock := storetest.NewClock(settleClock.Add(-time.Hour))
	store, err := sqlite.Open(context.Background(), dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := apiOn(t, store, clock)
	ctx := context.Background()
	var body bytes.Buffer
	for a := range settleAccounts {
		id := fmt.Sprintf("acct%03d", a)
		if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "mode": "calculator", "created": "2024-01-01"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Do(ctx, "POST", "/v1/accounts/"+id+"/apps", map[string]any{"id": "app-" + id}, nil); err != nil {
			t.Fatal(err)
		}
		for day := 1; day <= 2; day++ {
			t0 := time.Date(2024, 10, day, 9, 0, 0, 0, time.UTC)
			at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
			for i, e := range []string{
				`"type":"room.join","room":"r","user":"A","subscribe":"all","time":%q`,
				`"type":"room.join","room":"r","user":"B","subscribe":"all","time":%q`,
				`"type":"stream.start","room":"r","user":"A","stream":"main","media":"video","width":1280,"height":720,"time":%q`,
				`"type":"room.leave","room":"r","user":"A","time":%q`,
				`"type":"room.leave","room":"r","user":"B","time":%q`,
			} {
				d := time.Duration(0)
				if i >= 3 {
					d = time.Duration(1+a%7) * time.Minute
				}
				fmt.Fprintf(&body, `{"id":"d%d-%d","app":"app-%s",`+e+"}\n", day, i, id, at(d))
			}
		}
	}
	res, err := c.PushEvents(ctx, body.Bytes())
	if err != nil || res.Accepted != settleAccounts*10 {
		t.Fatalf("push: %+v %v", res, err)
	}
}

// issuedBills reads every account's issued bills (without their issue
// times and sequence numbers) from the data directory dir, after settling once more with a
// fresh service when settle is set; it returns them as JSON by account.
func issuedBills(t *testing.T, dir string, settle bool) map[string]string {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dir, storetest.NewClock(settleClock))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if settle {
		if err := billing.New(store, storetest.NewClock(settleClock)).SettleAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	out := map[string]string{}
	for a := range settleAccounts {
		id := fmt.Sprintf("acct%03d", a)
		bills, err := store.ListBills(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for i := range bills { // when and in which order they were issued differs
			bills[i].IssuedAt, bills[i].Seq = time.Time{}, 0
		}
		j, _ := json.Marshal(bills)
		out[id] = string(j)
	}
	return out
}

// holdWrites is a store that lets the first free settlement group writes
// through (freeDone is closed once they are written) and holds the next
// ones (held is closed when the first is held) until release is closed,
// or else until their context ends (at the shutdown deadline), then
// sends them to the database with it cancelled, which rolls them back.
type holdWrites struct {
	*sqlstore.DB
	free     int64
	n, wrote atomic.Int64
	freeDone chan struct{}
	held     chan struct{}
	holdOnce sync.Once
	release  chan struct{}
}

func newHoldWrites(db *sqlstore.DB, free int64) *holdWrites {
	h := &holdWrites{DB: db, free: free, freeDone: make(chan struct{}), held: make(chan struct{}), release: make(chan struct{})}
	if free == 0 {
		close(h.freeDone)
	}
	return h
}

func (h *holdWrites) IssueBillsEach(ctx context.Context, writes []livebill.SettleWrite) error {
	if h.n.Add(1) <= h.free {
		err := h.DB.IssueBillsEach(ctx, writes)
		if h.wrote.Add(1) == h.free {
			close(h.freeDone)
		}
		return err
	}
	h.holdOnce.Do(func() { close(h.held) })
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return h.DB.IssueBillsEach(ctx, writes)
}

// settleUntilShutdown runs serve's settle loop on the data directory dir
// (accounts settled 20 at a time, through holdWrites letting free group
// writes through), and shuts down with the grace given while the first
// settlement is held on a write; with release set, the held writes go on
// once the shutdown has begun. It returns shutdown's result and log.
func settleUntilShutdown(t *testing.T, dir string, free int64, release bool, grace time.Duration) (error, string) {
	t.Helper()
	clock := storetest.NewClock(settleClock)
	db, err := sqlite.Open(context.Background(), dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	store := newHoldWrites(db, free)
	svc := billing.New(store, clock)
	svc.SettleGroup = 20
	var logb lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logb, nil))
	stop := make(chan struct{})
	settleCtx, cancel := context.WithCancel(context.Background())
	loop := startSettleLoop(stop, settleCtx, time.Millisecond, svc.SettleAll, logger)
	<-store.freeDone
	<-store.held
	if release {
		go func() {
			for !strings.Contains(logb.String(), "shutting down") {
				time.Sleep(time.Millisecond)
			}
			close(store.release)
		}()
	}
	close(stop) // the signal
	err = shutdown("terminated signal received", noRequests{}, loop, cancel, store, grace, logger)
	return err, logb.String()
}

// TestShutdownFinishesSettlement: a shutdown while the settle loop runs
// lets the settlement finish before the database is closed: settling the
// stored data again afterwards issues nothing more.
func TestShutdownFinishesSettlement(t *testing.T) {
	if testing.Short() {
		t.Skip("settles 300 accounts")
	}
	dir := filepath.Join(t.TempDir(), "data")
	settleData(t, dir)
	err, logs := settleUntilShutdown(t, dir, 0, true, time.Minute)
	if err != nil || !strings.Contains(logs, "waiting up to 1m0s for the requests in flight and the settlement in progress") ||
		!strings.Contains(logs, "settlement in progress: finished") || !strings.Contains(logs, "database closed") {
		t.Fatalf("shutdown: %v\n%s", err, logs)
	}
	after := issuedBills(t, dir, false)
	for id, bills := range after {
		if bills == "null" {
			t.Fatalf("account %s has no bills after the settlement shutdown waited for", id)
		}
	}
	again := issuedBills(t, dir, true)
	for id := range after {
		if after[id] != again[id] {
			t.Fatalf("account %s: settling again issued more, so the first settlement was not finished:\n%s\n%s", id, after[id], again[id])
		}
	}
}

// TestShutdownCutsSettlement: a settlement still running at the deadline
// is cut, its group being written rolled back (here the third group write
// is held until then), never leaving part of a group written: settling
// again on the next start issues exactly the bills of a settlement that
// was never cut.
func TestShutdownCutsSettlement(t *testing.T) {
	if testing.Short() {
		t.Skip("settles 300 accounts")
	}
	ref := filepath.Join(t.TempDir(), "ref")
	settleData(t, ref)
	want := issuedBills(t, ref, true)

	dir := filepath.Join(t.TempDir(), "data")
	settleData(t, dir)
	err, logs := settleUntilShutdown(t, dir, 2, false, 200*time.Millisecond)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "cutting the settlement in progress") ||
		!strings.Contains(logs, "settlement in progress: cut at the deadline") || !strings.Contains(logs, "database closed") {
		t.Fatalf("shutdown: %v\n%s", err, logs)
	}
	cut := issuedBills(t, dir, false)
	settled := 0
	for _, b := range cut {
		if b != "null" {
			settled++
		}
	}
	if settled != 40 {
		t.Fatalf("%d accounts settled after the cut, want the 2 groups of 20 written before it", settled)
	}
	got := issuedBills(t, dir, true)
	for id := range want {
		if got[id] != want[id] {
			t.Fatalf("account %s after a cut settlement and a new one:\n%s\nwant (never cut)\n%s", id, got[id], want[id])
		}
	}
}

var _ httpServer = (*lbhttp.Server)(nil)

// heldPush is a push request in flight: its headers are sent with Expect:
// 100-continue and the server's handler has started reading its body (it
// answered 100 Continue); the body is sent when the test says.
type heldPush struct {
	conn net.Conn
	r    *bufio.Reader
	body []byte
}

func holdPush(t *testing.T, server, key string, body []byte) *heldPush {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", u.Host, key, len(body))
	h := &heldPush{conn: conn, r: bufio.NewReader(conn), body: body}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := h.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("server did not start reading the push: %q %v", line, err)
	}
	if blank, err := h.r.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q %v", blank, err)
	}
	return h
}

// finish sends the body and reads the answer.
func (h *heldPush) finish() (*livebill.IngestResult, error) {
	if _, err := h.conn.Write(h.body); err != nil {
		return nil, err
	}
	h.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(h.r, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var res livebill.IngestResult
	return &res, json.NewDecoder(resp.Body).Decode(&res)
}

// screenshotDay is the day the screenshot batches are dated: two days ago
// (UTC), well within the event times a server with default bounds takes.
var screenshotDay = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)

// screenshots is a batch of n screenshot events of account "acct"'s app,
// in the first minute of screenshotDay (UTC; 08:00 in the trtc zone).
func screenshots(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		tm := screenshotDay.Add(time.Duration(i%60) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, `{"id":"s%d","type":"screenshot","app":"app1","time":%q,"count":1}`+"\n", i, tm)
	}
	return b.Bytes()
}

// screenshotCount is the count of screenshots the server at url meters
// for account "acct" on screenshotDay; key is its operator key.
func screenshotCount(t *testing.T, server, key string) int64 {
	t.Helper()
	c := lbhttp.NewClient(server)
	c.Key = key
	us, err := c.Usage(context.Background(), "acct", screenshotDay.Format(time.DateOnly), screenshotDay.AddDate(0, 0, 1).Format(time.DateOnly), "day")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range us {
		if p.Item == "trtc.screenshot" {
			n += p.Value
		}
	}
	return n
}

// signalDuringPush starts serve with the shutdown timeout given, holds a
// push of 50 events in flight, sends SIGTERM and waits for the server to
// log that it is shutting down; it returns the server and the push.
func signalDuringPush(t *testing.T, data string, grace time.Duration) (*serveProc, *heldPush) {
	t.Helper()
	bin := livebillBinary(t)
	p := startServe(t, bin, nil, "--db", data, "--settle-every", "0", "--shutdown-timeout", grace.String())
	c := lbhttp.NewClient(p.url)
	c.Key = p.key
	setupAccount(t, c, 0)
	h := holdPush(t, p.url, p.key, screenshots(50))
	ctx := context.Background()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr.String(), "shutting down"); {
		if time.Now().After(end) {
			t.Fatalf("no shutdown logged:\n%s", p.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// the listener is closed: no new connection is taken
	if _, err := c.Usage(ctx, "acct", screenshotDay.Format(time.DateOnly), screenshotDay.AddDate(0, 0, 1).Format(time.DateOnly), "day"); err == nil {
		t.Error("a new request was answered after the shutdown began")
	}
	return p, h
}

// TestShutdownAnswersPushInFlight: SIGTERM while a push is being received;
// the server waits for it, stores and acknowledges it, and exits 0.
func TestShutdownAnswersPushInFlight(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p, h := signalDuringPush(t, data, 20*time.Second)
	res, err := h.finish()
	if err != nil || res.Accepted != 50 {
		t.Fatalf("push in flight at SIGTERM: %+v %v\n%s", res, err, p.stderr)
	}
	<-p.exited
	if code := p.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(p.stderr.String(), "requests in flight: all answered") {
		t.Fatalf("exit status %d; log:\n%s", code, p.stderr)
	}
	key := p.key
	p = startServe(t, livebillBinary(t), nil, "--db", data, "--settle-every", "0")
	if got := screenshotCount(t, p.url, key); got != 50 {
		t.Fatalf("%d screenshots stored, want the 50 acknowledged", got)
	}
}

// TestShutdownDeadline: a push still in flight at --shutdown-timeout is
// cut: the server exits 1 at the deadline, the push is not acknowledged
// and nothing of it is stored.
func TestShutdownDeadline(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	const grace = time.Second
	start := time.Now()
	p, h := signalDuringPush(t, data, grace)
	<-p.exited
	took := time.Since(start)
	logs := p.stderr.String()
	if code := p.cmd.ProcessState.ExitCode(); code != 1 || took < grace ||
		!strings.Contains(logs, "requests in flight: cut at the deadline") ||
		!strings.Contains(logs, "stopped at the --shutdown-timeout deadline (1s), cutting requests in flight") {
		t.Fatalf("exit status %d after %s; log:\n%s", code, took, logs)
	}
	if res, err := h.finish(); err == nil {
		t.Fatalf("the cut push was answered: %+v", res)
	}
	key := p.key
	p = startServe(t, livebillBinary(t), nil, "--db", data, "--settle-every", "0")
	if got := screenshotCount(t, p.url, key); got != 0 {
		t.Fatalf("%d screenshots stored from a push that was cut", got)
	}
}
