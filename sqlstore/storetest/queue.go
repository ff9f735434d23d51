package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/money"
	lbnats "github.com/livebill/livebill/nats"
	"github.com/nats-io/nats-server/v2/server"
)

// The event queue (package nats) over this store: the store's side
// (partition leases, CheckEvents, conflicts) and the queue's behaviour
// end to end with an embedded NATS server: truthful statuses at
// ingestion, back-pressure, a message delivered again counted once,
// partitions moving between workers, and settlement restricted to a
// worker's accounts giving the bills `livebill quote` gives.

// StartNATS runs an embedded NATS server with JetStream (files in a
// temporary directory) on a loopback port for the test, and returns its
// URL.
func StartNATS(t testing.TB) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

func testQueueLeases(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	ls, ok := s.(livebill.PartitionStore)
	if !ok {
		t.Skip("the store keeps no partition leases")
	}
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ls.JoinQueue(ctx, "q", "w1", t0.Add(10*time.Second)))
	must(ls.JoinQueue(ctx, "q", "w2", t0.Add(5*time.Second)))
	must(ls.JoinQueue(ctx, "other", "w3", t0.Add(10*time.Second)))
	if ws, err := ls.ListWorkers(ctx, "q", t0.Add(6*time.Second)); err != nil || fmt.Sprint(ws) != "[w1]" {
		t.Fatalf("workers alive at +6s: %v %v, want [w1] (w2's heartbeat ended at +5s; w3 is another queue's)", ws, err)
	}
	gen, ok, err := ls.ClaimPartition(ctx, "q", 3, "w1", t0, t0.Add(10*time.Second))
	if err != nil || !ok || gen != 1 {
		t.Fatalf("first claim: %d %v %v, want generation 1", gen, ok, err)
	}
	if _, ok, err := ls.ClaimPartition(ctx, "q", 3, "w2", t0.Add(9*time.Second), t0.Add(20*time.Second)); err != nil || ok {
		t.Fatalf("claim of a live lease: %v %v, want refused", ok, err)
	}
	if ok, err := ls.RenewPartition(ctx, "q", 3, "w1", 1, t0.Add(15*time.Second)); err != nil || !ok {
		t.Fatalf("renewal by the owner: %v %v", ok, err)
	}
	// expired at +15s: w2 takes it, with the next generation
	gen, ok, err = ls.ClaimPartition(ctx, "q", 3, "w2", t0.Add(15*time.Second), t0.Add(25*time.Second))
	if err != nil || !ok || gen != 2 {
		t.Fatalf("claim of an expired lease: %d %v %v, want generation 2", gen, ok, err)
	}
	// the old owner finds out: it cannot renew, nor release w2's lease
	if ok, err := ls.RenewPartition(ctx, "q", 3, "w1", 1, t0.Add(30*time.Second)); err != nil || ok {
		t.Fatalf("renewal of a lost lease: %v %v, want refused", ok, err)
	}
	must(ls.ReleasePartition(ctx, "q", 3, "w1", 1))
	if _, ok, _ := ls.ClaimPartition(ctx, "q", 3, "w1", t0.Add(16*time.Second), t0.Add(26*time.Second)); ok {
		t.Fatal("a stale release freed the new owner's lease")
	}
	must(ls.ReleasePartition(ctx, "q", 3, "w2", 2))
	gen, ok, err = ls.ClaimPartition(ctx, "q", 3, "w1", t0.Add(16*time.Second), t0.Add(26*time.Second))
	if err != nil || !ok || gen != 3 {
		t.Fatalf("claim of a released lease: %d %v %v, want generation 3", gen, ok, err)
	}
	if _, ok, _ := ls.ClaimPartition(ctx, "q", 4, "w1", t0, t0.Add(10*time.Second)); !ok {
		t.Fatal("claim of partition 4")
	}
	must(ls.LeaveQueue(ctx, "q", "w1"))
	parts, err := ls.ListPartitions(ctx, "q")
	if err != nil || len(parts) != 2 || parts[0].Partition != 3 || parts[0].Owner != "" || parts[1].Owner != "" || parts[0].Generation != 3 {
		t.Fatalf("partitions after w1 left: %+v %v", parts, err)
	}
	if ws, _ := ls.ListWorkers(ctx, "q", t0); fmt.Sprint(ws) != "[w2]" {
		t.Fatalf("workers after w1 left: %v", ws)
	}
}

func testCheckEvents(t *testing.T, open Opener) {
	e := newEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC))
	e.anyTime()
	ec, ok := e.store.(livebill.EventChecker)
	if !ok {
		t.Skip("the store does not check events")
	}
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app-c"}, nil)
	if r := e.push(t, qevt("e1", "A", 0), qevt("e2", "A", 1)); r.Accepted != 2 {
		t.Fatalf("push: %+v", r)
	}
	in := func(id, user string, min int) livebill.IncomingEvent {
		var ev livebill.Event
		ev.ID = id
		return livebill.IncomingEvent{AccountID: "acct", Event: ev, Body: []byte(canonicalBody(t, qevt(id, user, min)))}
	}
	// e1 as stored, e2 with another body, e3 not stored, e1 again
	sts, err := ec.CheckEvents(context.Background(), []livebill.IncomingEvent{in("e1", "A", 0), in("e2", "B", 1), in("e3", "A", 2), in("e1", "A", 0)})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, st := range sts {
		got = append(got, st.Status+"/"+st.Code)
	}
	if want := "[duplicate/ rejected/conflict / duplicate/]"; fmt.Sprint(got) != want {
		t.Fatalf("CheckEvents: %v, want %s", got, want)
	}
	if sp, _ := e.store.EventSpan(context.Background(), "acct"); sp.Count != 2 {
		t.Fatalf("CheckEvents wrote: %d events stored", sp.Count)
	}
}

// qevt is a join (or leave, for user "L…") of app-c at 2024-10-02
// 10:00 UTC plus min minutes.
func qevt(id, user string, min int) string {
	typ := "room.join"
	if strings.HasPrefix(user, "L") {
		typ = "room.leave"
	}
	return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"app-c","room":"r1","user":%q}`, id,
		time.Date(2024, 10, 2, 10, min, 0, 0, time.UTC).Format(time.RFC3339), typ, user)
}

// canonicalBody is an event's body as ingestion stores it (keys sorted).
func canonicalBody(t *testing.T, line string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// queueEnv is a service whose ingestion publishes to a JetStream stream
// of an embedded server, and its workers.
type queueEnv struct {
	*env
	cfg  lbnats.Config
	q    *lbnats.Queue // ingestion's connection
	url0 string        // the API's base URL
}

func newQueueEnv(t *testing.T, open Opener, now time.Time, cfg lbnats.Config) *queueEnv {
	clock := NewClock(now)
	store := open(t, clock)
	if _, ok := store.(livebill.PartitionStore); !ok {
		t.Skip("the store keeps no partition leases")
	}
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	cfg.URL = StartNATS(t)
	q, err := lbnats.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	checker, _ := store.(livebill.EventChecker)
	svc.Events = &lbnats.Publisher{Queue: q, Checker: checker}
	_, base, client := NewAPI(t, store, svc)
	e := &queueEnv{env: &env{store: store, clock: clock, svc: svc, client: client}, cfg: cfg, q: q, url0: base}
	e.anyTime()
	return e
}

// testWorker is a worker of the queue with a service of its own, as
// another process would have; kill makes it stop dead.
type testWorker struct {
	w      *lbnats.Worker
	q      *lbnats.Queue
	svc    *billing.Service
	dead   *atomic.Bool
	stop   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// deadLeases fails every call once its worker is dead: a process that
// died writes nothing more.
type deadLeases struct {
	livebill.PartitionStore
	dead *atomic.Bool
}

var errDead = errors.New("the worker is dead")

func (d deadLeases) JoinQueue(ctx context.Context, q, w string, until time.Time) error {
	if d.dead.Load() {
		return errDead
	}
	return d.PartitionStore.JoinQueue(ctx, q, w, until)
}

func (d deadLeases) ListWorkers(ctx context.Context, q string, now time.Time) ([]string, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	return d.PartitionStore.ListWorkers(ctx, q, now)
}

func (d deadLeases) ClaimPartition(ctx context.Context, q string, p int, w string, now, until time.Time) (int64, bool, error) {
	if d.dead.Load() {
		return 0, false, errDead
	}
	return d.PartitionStore.ClaimPartition(ctx, q, p, w, now, until)
}

func (d deadLeases) RenewPartition(ctx context.Context, q string, p int, w string, gen int64, until time.Time) (bool, error) {
	if d.dead.Load() {
		return false, errDead
	}
	return d.PartitionStore.RenewPartition(ctx, q, p, w, gen, until)
}

func (d deadLeases) ReleasePartition(ctx context.Context, q string, p int, w string, gen int64) error {
	if d.dead.Load() {
		return errDead
	}
	return d.PartitionStore.ReleasePartition(ctx, q, p, w, gen)
}

func (d deadLeases) LeaveQueue(ctx context.Context, q, w string) error {
	if d.dead.Load() {
		return errDead
	}
	return d.PartitionStore.LeaveQueue(ctx, q, w)
}

// countingStore counts the statuses its StoreEvents returned, and runs
// after (if set) once a batch is committed.
type countingStore struct {
	livebill.Store
	mu     sync.Mutex
	counts map[string]int
	after  func()
}

func (c *countingStore) StoreEvents(ctx context.Context, evs []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	sts, err := c.Store.StoreEvents(ctx, evs)
	if err != nil {
		return sts, err
	}
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	for _, st := range sts {
		c.counts[st.Status]++
	}
	c.mu.Unlock()
	if c.after != nil {
		c.after()
	}
	return sts, nil
}

func (c *countingStore) count(status string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[status]
}

// worker starts a worker named id with its own connection, leases of
// ttl on the wall clock and a billing service on the env's clock; store,
// if not nil, wraps the env's store.
func (e *queueEnv) worker(t *testing.T, id string, ttl time.Duration, store livebill.Store) *testWorker {
	if store == nil {
		store = e.store
	}
	q, err := lbnats.Open(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWorker{q: q, dead: &atomic.Bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	tw.w = &lbnats.Worker{Queue: q, Store: store, Leases: deadLeases{e.store.(livebill.PartitionStore), tw.dead}, Clock: livebill.SystemClock{},
		ID: id, LeaseTTL: ttl, Logf: t.Logf}
	tw.svc = billing.New(e.store, e.clock)
	tw.svc.SettleDelay, tw.svc.Owns = time.Hour, tw.w.Owns
	ctx, cancel := context.WithCancel(context.Background())
	tw.cancel = cancel
	go func() {
		defer close(tw.done)
		tw.w.Run(tw.stop, ctx)
	}()
	t.Cleanup(func() {
		tw.halt()
		q.Close()
	})
	return tw
}

// halt stops the worker gracefully (its partitions released).
func (tw *testWorker) halt() {
	select {
	case <-tw.stop:
	default:
		close(tw.stop)
	}
	<-tw.done
}

// kill makes the worker die: its connection closes (nothing it took is
// acknowledged any more), it writes nothing more to the database, and its
// leases expire on their own.
func (tw *testWorker) kill() {
	tw.dead.Store(true)
	tw.q.Close()
	tw.cancel()
}

// waitFor polls cond until it holds or d passes; it returns how long it
// took.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func (e *queueEnv) stored(t *testing.T, acct string) int64 {
	sp, err := e.store.EventSpan(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	return sp.Count
}

// pushRaw posts NDJSON to /v1/events and returns the answer.
func (e *queueEnv) pushRaw(t *testing.T, lines []string) answer {
	return call(t, "POST", e.url0+"/v1/events", AdminKey, []byte(strings.Join(lines, "\n")+"\n"))
}

func result(t *testing.T, a answer) livebill.IngestResult {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("push: %d %s", a.status, a.body)
	}
	var r livebill.IngestResult
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// testQueueStatuses: ingestion through the queue answers what storing
// the events would have answered — accepted, duplicate, conflict — before
// any worker stored them, and stores nothing itself; a conflict the
// stream's deduplication window no longer covers is found by the worker
// and listed with the account's rejections.
func testQueueStatuses(t *testing.T, open Opener) {
	e := newQueueEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC), lbnats.Config{Partitions: 4, Duplicates: time.Second})
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app-c"}, nil)
	if r := result(t, e.pushRaw(t, []string{qevt("e1", "A", 0), qevt("e2", "B", 0), qevt("e3", "C", 0)})); r.Accepted != 3 {
		t.Fatalf("first push: %+v", r)
	}
	// no worker yet: the events wait in the stream. e1 again (the stream
	// deduplicates it; same body: duplicate), e2 with another body
	// (conflict), e4 twice in the batch (accepted, then a duplicate), e5
	// and e5 with another body (accepted, conflict)
	r := result(t, e.pushRaw(t, []string{qevt("e1", "A", 0), qevt("e2", "X", 0), qevt("e4", "D", 1), qevt("e4", "D", 1), qevt("e5", "E", 1), qevt("e5", "Y", 1)}))
	codes := map[int]string{}
	for _, st := range r.Errors {
		codes[st.Index] = st.Code
	}
	if r.Accepted != 2 || r.Duplicate != 2 || r.Rejected != 2 || codes[1] != livebill.ECONFLICT || codes[5] != livebill.ECONFLICT {
		t.Fatalf("second push: %+v, want 2 accepted (e4, e5), 2 duplicates (e1, e4), conflicts at 1 and 5", r)
	}
	if n := e.stored(t, "acct"); n != 0 {
		t.Fatalf("ingestion stored %d events itself", n)
	}
	w := e.worker(t, "w1", time.Second, nil)
	waitFor(t, 10*time.Second, "the worker storing the 5 events", func() bool { return e.stored(t, "acct") == 5 })
	// once stored (and gone from the work queue), the store judges
	r = result(t, e.pushRaw(t, []string{qevt("e1", "A", 0), qevt("e2", "X", 0)}))
	if r.Duplicate != 1 || r.Rejected != 1 || r.Errors[0].Code != livebill.ECONFLICT {
		t.Fatalf("push of stored events: %+v", r)
	}
	// a conflict past the deduplication window while no worker runs: e7
	// queued, then e7 with another body more than the window later is
	// accepted (nothing to compare with) and the worker finds it
	w.halt()
	if r := result(t, e.pushRaw(t, []string{qevt("e7", "F", 2)})); r.Accepted != 1 {
		t.Fatalf("push of e7: %+v", r)
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s window (the server forgets ids once a window)
	if r := result(t, e.pushRaw(t, []string{qevt("e7", "Z", 2)})); r.Accepted != 1 {
		t.Fatalf("push of e7 with another body after the window: %+v", r)
	}
	e.worker(t, "w2", time.Second, nil)
	waitFor(t, 10*time.Second, "the worker storing e7", func() bool { return e.stored(t, "acct") == 6 })
	var rj livebill.Rejections
	waitFor(t, 10*time.Second, "the conflict recorded", func() bool {
		e.mustDo(t, "GET", "/v1/accounts/acct/rejections", nil, &rj)
		return len(rj.Events) > 0
	})
	if len(rj.Events) != 1 || rj.Events[0].ID != "e7" || rj.Events[0].Field != "id" || !strings.Contains(rj.Events[0].Reason, "already used by a different event") {
		t.Fatalf("rejections: %+v", rj)
	}
	evs, err := e.store.ListEvents(context.Background(), "acct", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.ID == "e7" && !strings.Contains(string(ev.Body), `"user":"F"`) {
			t.Fatalf("e7 stored as %s, want the first version (user F)", ev.Body)
		}
	}
}

// testQueueBackPressure: with no worker, ingestion takes events until
// the stream's byte limit, then answers 503 unavailable with Retry-After;
// a worker drains the stream and ingestion takes events again; the
// refused batch sent again is accepted, its part queued before the
// refusal answered as duplicates.
func testQueueBackPressure(t *testing.T, open Opener) {
	e := newQueueEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC), lbnats.Config{Partitions: 2, MaxBytes: 1 << 20})
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app-c"}, nil)
	// ~350 bytes a message with its headers: 1 MiB holds about 3,000
	accepted, n := 0, 0
	var refused []string
	var a answer
	for batch := 0; batch < 40 && refused == nil; batch++ {
		var lines []string
		for i := 0; i < 500; i++ {
			n++
			lines = append(lines, qevt(fmt.Sprintf("bp%d", n), fmt.Sprintf("U%d", n), n%600))
		}
		if a = e.pushRaw(t, lines); a.status == 200 {
			accepted += result(t, a).Accepted
			continue
		}
		refused = lines
	}
	if refused == nil {
		t.Fatalf("the stream took %d events past its limit of 1 MiB", accepted)
	}
	if a.status != 503 || a.problem.Code != livebill.EUNAVAILABLE || a.header.Get("Retry-After") != "5" || !strings.Contains(a.problem.Detail, "event queue is full") {
		t.Fatalf("a full stream: %d %s, Retry-After %q; want 503 unavailable, Retry-After 5", a.status, a.body, a.header.Get("Retry-After"))
	}
	if accepted < 2000 {
		t.Fatalf("only %d events taken before the stream was full", accepted)
	}
	lags, err := e.q.Lag(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var pending uint64
	for _, l := range lags {
		pending += l.Pending
	}
	if pending < uint64(accepted) {
		t.Fatalf("lag %+v: %d pending, want at least the %d accepted", lags, pending, accepted)
	}
	e.worker(t, "w1", time.Second, nil)
	waitFor(t, 30*time.Second, "the worker draining the stream", func() bool {
		b, _, err := e.q.Fill(context.Background())
		return err == nil && b == 0
	})
	r := result(t, e.pushRaw(t, refused))
	if r.Accepted+r.Duplicate != len(refused) || r.Rejected != 0 {
		t.Fatalf("the refused batch sent again: %+v", r)
	}
	waitFor(t, 30*time.Second, "every event stored", func() bool { return e.stored(t, "acct") == int64(accepted+len(refused)) })
}

// testQueueRedelivery: a worker stores a batch and dies before its
// acknowledgements reach the stream; another worker takes the partition
// over, gets the messages again, stores them as duplicates and
// acknowledges them. Every event is counted once: the account holds each
// event once and its bills are the quote of its events.
func testQueueRedelivery(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newQueueEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, sh), lbnats.Config{Partitions: 2, AckWait: 2 * time.Second})
	acct := newQuoteAccount(t, e.env, "acct", "app-r")
	var lines []string
	for i := 0; i < 40; i++ { // 40 sessions of 10 to 49 minutes on 2024-10-01, in two rooms
		lines = append(lines, sessionLines("app-r", fmt.Sprintf("r%d", i%2), fmt.Sprintf("u%d", i), time.Date(2024, 10, 1, 8, i, 0, 0, sh), 10+i)...)
	}
	// the first worker commits its first batch and dies before
	// acknowledging it
	var a *testWorker
	var once sync.Once
	died := make(chan struct{})
	crash := &countingStore{Store: e.store}
	crash.after = func() { once.Do(func() { a.kill(); close(died) }) }
	a = e.worker(t, "a", 600*time.Millisecond, crash)
	waitFor(t, 10*time.Second, "worker a owning the partitions", func() bool { return len(a.w.Owned()) == 2 })
	if r := e.push(t, lines...); r.Accepted != len(lines) {
		t.Fatalf("push: %+v", r)
	}
	select {
	case <-died:
	case <-time.After(10 * time.Second):
		t.Fatal("worker a stored nothing")
	}
	stored := crash.count(livebill.IngestAccepted)
	if stored == 0 {
		t.Fatal("worker a committed no event before it died")
	}
	b := &countingStore{Store: e.store}
	wb := e.worker(t, "b", 600*time.Millisecond, b)
	waitFor(t, 20*time.Second, "every event stored and acknowledged", func() bool {
		lags, err := e.q.Lag(context.Background())
		if err != nil {
			return false
		}
		for _, l := range lags {
			if l.Pending+l.Unacked > 0 {
				return false
			}
		}
		return e.stored(t, acct.id) == int64(len(lines))
	})
	if d := b.count(livebill.IngestDuplicate); d < stored {
		t.Fatalf("worker b stored %d duplicates; worker a had committed %d events unacknowledged: they were not delivered again", d, stored)
	}
	if got := b.count(livebill.IngestAccepted) + stored; got != len(lines) {
		t.Fatalf("%d events stored as new in all, want %d", got, len(lines))
	}
	// settled by the worker that owns the account: the quote's bills
	e.clock.Set(time.Date(2024, 10, 3, 2, 0, 0, 0, sh))
	if err := wb.w.Settle(context.Background(), time.Second, wb.svc.SettleAll); err != nil {
		t.Fatal(err)
	}
	acct.check(t, e.env, lines)
}

// testQueueRebalance: partitions move to the workers alive: three share
// six; one dies and the two others own its partitions within the lease
// TTL and a heartbeat; a new one joins and gets its share within two
// heartbeats (and the batch in hand).
func testQueueRebalance(t *testing.T, open Opener) {
	const ttl = 900 * time.Millisecond
	e := newQueueEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC), lbnats.Config{Partitions: 6})
	ws := []*testWorker{e.worker(t, "w1", ttl, nil), e.worker(t, "w2", ttl, nil), e.worker(t, "w3", ttl, nil)}
	// each of the alive owns its share, and the leases say so
	balanced := func(alive []*testWorker, share int) func() bool {
		return func() bool {
			owners := map[string]bool{}
			for _, w := range alive {
				if len(w.w.Owned()) != share {
					return false
				}
				owners[w.w.ID] = true
			}
			ps, err := e.store.(livebill.PartitionStore).ListPartitions(context.Background(), e.q.Config().Stream)
			if err != nil || len(ps) != 6 {
				return false
			}
			for _, p := range ps {
				if !owners[p.Owner] || !p.Expires.After(time.Now()) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 5*time.Second, "three workers sharing six partitions", balanced(ws, 2))
	ws[1].kill()
	took := waitFor(t, 10*time.Second, "the partitions of the dead worker owned again", balanced([]*testWorker{ws[0], ws[2]}, 3))
	if bound := ttl + ttl/3 + 500*time.Millisecond; took > bound {
		t.Errorf("a dead worker's partitions were owned again after %s, more than the bound %s (TTL + TTL/3, and 500 ms for the test's polling)", took, bound)
	}
	w4 := e.worker(t, "w4", ttl, nil)
	took = waitFor(t, 10*time.Second, "a new worker getting its share", balanced([]*testWorker{ws[0], ws[2], w4}, 2))
	if bound := 2*ttl/3 + time.Second + 500*time.Millisecond; took > bound {
		t.Errorf("a new worker got its share after %s, more than the bound %s (two heartbeats, and 1.5 s for the batch in hand and the test's polling)", took, bound)
	}
	t.Logf("rebalanced: dead worker's partitions, new worker's share within the bounds (TTL %s)", ttl)
}

// testQueueOwns: a worker's settlement settles its partitions' accounts
// only; each worker settling its own gives every account the bills of
// `livebill quote`.
func testQueueOwns(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newQueueEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, sh), lbnats.Config{Partitions: 2})
	// two accounts in different partitions
	var ids []string
	for i := 0; len(ids) < 2; i++ {
		id := fmt.Sprintf("acct%d", i)
		if len(ids) == 0 || lbnats.PartitionOf(id, 2) != lbnats.PartitionOf(ids[0], 2) {
			ids = append(ids, id)
		}
	}
	w1, w2 := e.worker(t, "w1", time.Second, nil), e.worker(t, "w2", time.Second, nil)
	waitFor(t, 5*time.Second, "the workers sharing the partitions", func() bool { return len(w1.w.Owned()) == 1 && len(w2.w.Owned()) == 1 })
	accts := map[string]*quoteAccount{}
	pushed := map[string][]string{}
	for k, id := range ids {
		app := "app-" + id
		accts[id] = newQuoteAccount(t, e.env, id, app)
		for i := 0; i < 6; i++ {
			pushed[id] = append(pushed[id], sessionLines(app, "r1", fmt.Sprintf("u%d", i), time.Date(2024, 10, 1, 9+k, 7*i, 0, 0, sh), 20+5*i)...)
		}
		if r := e.push(t, pushed[id]...); r.Accepted != len(pushed[id]) {
			t.Fatalf("push: %+v", r)
		}
	}
	waitFor(t, 10*time.Second, "the events stored", func() bool {
		return e.stored(t, ids[0]) == int64(len(pushed[ids[0]])) && e.stored(t, ids[1]) == int64(len(pushed[ids[1]]))
	})
	e.clock.Set(time.Date(2024, 10, 3, 2, 0, 0, 0, sh))
	mine := func(w *testWorker) (string, string) {
		if w.w.Owns(ids[0]) {
			return ids[0], ids[1]
		}
		return ids[1], ids[0]
	}
	own, other := mine(w1)
	if err := w1.w.Settle(context.Background(), time.Second, w1.svc.SettleAll); err != nil {
		t.Fatal(err)
	}
	if b, _ := e.store.ListBills(context.Background(), own); len(b) == 0 {
		t.Fatalf("worker w1 did not settle its account %s", own)
	}
	if b, _ := e.store.ListBills(context.Background(), other); len(b) != 0 {
		t.Fatalf("worker w1 settled account %s, of another worker's partition: %+v", other, b)
	}
	if err := w2.w.Settle(context.Background(), time.Second, w2.svc.SettleAll); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		accts[id].check(t, e.env, pushed[id])
	}
}

// sessionLines are a user's join, main video start and leave after
// minutes, in app's room, ids made from the app, room and user.
func sessionLines(app, room, user string, from time.Time, minutes int) []string {
	id := app + "-" + room + "-" + user
	to := from.Add(time.Duration(minutes) * time.Minute)
	return []string{
		fmt.Sprintf(`{"id":%q,"time":%q,"type":"room.join","app":%q,"room":%q,"user":%q,"subscribe":"all"}`, id+"-j", from.Format(time.RFC3339), app, room, user),
		fmt.Sprintf(`{"id":%q,"time":%q,"type":"stream.start","app":%q,"room":%q,"user":%q,"stream":"main","media":"video","width":1280,"height":720}`, id+"-v", from.Format(time.RFC3339), app, room, user),
		fmt.Sprintf(`{"id":%q,"time":%q,"type":"room.leave","app":%q,"room":%q,"user":%q}`, id+"-l", to.Format(time.RFC3339), app, room, user),
	}
}

// quoteAccount is an account whose bills are checked against `livebill
// quote` of its events: calculator mode (list prices), catalog trtc,
// created 2024-10-01 in Asia/Shanghai.
type quoteAccount struct{ id, app string }

func newQuoteAccount(t *testing.T, e *env, id, app string) *quoteAccount {
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "mode": "calculator", "created": "2024-10-01",
		"timezone": "Asia/Shanghai", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/"+id+"/apps", map[string]any{"id": app}, nil)
	return &quoteAccount{id, app}
}

// check compares the account's issued bills with the quote of lines
// over 2024-10-01 (the day settled).
func (a *quoteAccount) check(t *testing.T, e *env, lines []string) {
	t.Helper()
	want := QuoteOf(t, "calculator", "2024-10-01", "Asia/Shanghai", "2024-10-01", "2024-10-02", lines)
	bills, err := e.store.ListBills(context.Background(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	if err := SameBills(bills, want.Bills, "2024-10-01", "2024-10-02"); err != nil {
		t.Fatalf("account %s: %v", a.id, err)
	}
}

// QuoteOf is what `livebill quote` gives for events (NDJSON lines with
// ids, in any order: they are put in time order, as a quote reads them)
// of an account in mode (calculator, account) of catalog trtc, created on
// created in zone, over [from, to).
func QuoteOf(t testing.TB, mode, created, zone, from, to string, lines []string) *livebill.Quote {
	t.Helper()
	at := make([]time.Time, len(lines))
	for i, l := range lines {
		var ev struct{ Time time.Time }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %s: %v", l, err)
		}
		at[i] = ev.Time
	}
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return at[order[i]].Before(at[order[j]]) })
	var doc bytes.Buffer
	fmt.Fprintf(&doc, "mode: %s\ncatalog: trtc\nperiod: {from: %q, to: %q}\naccount: {created: %q, timezone: %q, balance: %q}\nevents:\n",
		mode, from, to, created, zone, EnoughMoney)
	for _, i := range order {
		fmt.Fprintf(&doc, "  - %s\n", lines[i])
	}
	q, err := billing.QuoteScenario(context.Background(), doc.Bytes(), "quote", false)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// SameBills reports how the bills issued (each bill plus its
// adjustments) differ from the quote's bills (want) dated in [from, to):
// the same bills with the same totals and, per item and app, the same
// quantities and amounts; nil when they do not.
func SameBills(issued []livebill.IssuedBill, want []livebill.Bill, from, to string) error {
	type net struct {
		total money.Decimal
		lines map[string][2]money.Decimal // item|app → quantity, amount
	}
	sum := func(n *net, b livebill.Bill) {
		n.total = n.total.Add(decOf(b.Total))
		for _, l := range b.Lines {
			k := l.Item + "|" + l.App
			v := n.lines[k]
			n.lines[k] = [2]money.Decimal{v[0].Add(decOf(l.Quantity)), v[1].Add(decOf(l.Amount))}
		}
	}
	got, exp := map[string]*net{}, map[string]*net{}
	at := func(m map[string]*net, k string) *net {
		if m[k] == nil {
			m[k] = &net{lines: map[string][2]money.Decimal{}}
		}
		return m[k]
	}
	for _, b := range issued {
		k := b.Key
		if b.Kind == livebill.BillAdjustment {
			k = b.Adjusts
		}
		if d := strings.Split(k, "|"); len(d) < 2 || d[1] < from || d[1] >= to {
			continue
		}
		sum(at(got, k), b.Bill)
	}
	for _, b := range want {
		if b.Date < from || b.Date >= to {
			continue
		}
		sum(at(exp, b.Kind+"|"+b.Date), b)
	}
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range exp {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		g, w := at(got, k), at(exp, k)
		if !g.total.Equal(w.total) {
			diffs = append(diffs, fmt.Sprintf("bill %s: total %s issued, %s quoted", k, g.total, w.total))
		}
		lk := map[string]bool{}
		for l := range g.lines {
			lk[l] = true
		}
		for l := range w.lines {
			lk[l] = true
		}
		for l := range lk {
			if gv, wv := g.lines[l], w.lines[l]; !gv[0].Equal(wv[0]) || !gv[1].Equal(wv[1]) {
				diffs = append(diffs, fmt.Sprintf("bill %s line %s: %s for %s issued, %s for %s quoted", k, l, gv[0], gv[1], wv[0], wv[1]))
			}
		}
	}
	if len(exp) == 0 {
		diffs = append(diffs, "the quote has no bill in the period")
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

func decOf(s string) money.Decimal {
	if s == "" {
		return money.Decimal{}
	}
	d, _ := money.Parse(s)
	return d
}
