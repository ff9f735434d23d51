// Package storetest is the test suite every livebill.Store backend runs:
// storage semantics, and the service on top of it through the HTTP API
// (duplicates, bad batches, late events, equivalence with `livebill quote`).
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/catalog"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/scenario"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// SyncBuffer is a log destination a server's goroutines write to while a
// test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Opener opens a fresh, empty, migrated store for one test.
type Opener func(t *testing.T, clock livebill.Clock) livebill.Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("EventsIdempotent", func(t *testing.T) { testEvents(t, open) })
	t.Run("DuplicateBatch", func(t *testing.T) { testDuplicate(t, open) })
	t.Run("BadBatch", func(t *testing.T) { testBadBatch(t, open) })
	t.Run("LateEventAdjustment", func(t *testing.T) { testLateEvent(t, open) })
	t.Run("Equivalence", func(t *testing.T) { testEquivalence(t, open) })
	t.Run("SettleMonthWithLateEvents", func(t *testing.T) { testSettleMonth(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("WebhookConfigs", func(t *testing.T) { testWebhookConfigs(t, open) })
	t.Run("EventsAfter", func(t *testing.T) { testEventsAfter(t, open) })
	t.Run("EventsPage", func(t *testing.T) { testEventsPage(t, open) })
	t.Run("EventsAfterConcurrent", func(t *testing.T) { testEventsAfterConcurrent(t, open) })
	t.Run("ContinuousMetering", func(t *testing.T) { testContinuous(t, open) })
	t.Run("Restarts", func(t *testing.T) { testRestarts(t, open) })
	t.Run("UsageDays", func(t *testing.T) { testUsageDays(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("PurgeCounts", func(t *testing.T) { testPurgeCounts(t, open) })
	t.Run("RestoreAfterFullPurge", func(t *testing.T) { testRestoreAfterFullPurge(t, open) })
	t.Run("RetainListsOnce", func(t *testing.T) { testRetainListsOnce(t, open) })
	t.Run("Backfill", func(t *testing.T) { testBackfill(t, open) })
	t.Run("Rejections", func(t *testing.T) { testRejections(t, open) })
	t.Run("RefundsConcurrent", func(t *testing.T) { testRefundsConcurrent(t, open) })
	t.Run("IDOrder", func(t *testing.T) { testIDOrder(t, open) })
	t.Run("SameNumbers", func(t *testing.T) { testSameNumbers(t, open) })
	t.Run("FindApp", func(t *testing.T) { testFindApp(t, open) })
	t.Run("SettleGroups", func(t *testing.T) { testSettleGroups(t, open) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, open) })
	t.Run("IdempotencyStore", func(t *testing.T) { testIdempotencyStore(t, open) })
	t.Run("Pages", func(t *testing.T) { testPages(t, open) })
	t.Run("RouteAuth", func(t *testing.T) { testRouteAuth(t, open) })
	t.Run("AccountKeys", func(t *testing.T) { testAccountKeys(t, open) })
	t.Run("IdempotencyKeys", func(t *testing.T) { testIdempotencyKeys(t, open) })
	t.Run("HoldsStore", func(t *testing.T) { testHoldsStore(t, open) })
	t.Run("QuietTrickle", func(t *testing.T) { testQuietTrickle(t, open) })
	t.Run("QuietLive", func(t *testing.T) { testQuietLive(t, open) })
	t.Run("ImportHolds", func(t *testing.T) { testImportHolds(t, open) })
	t.Run("ImportExpires", func(t *testing.T) { testImportExpires(t, open) })
	t.Run("ImportKeys", func(t *testing.T) { testImportKeys(t, open) })
	t.Run("SettleForce", func(t *testing.T) { testSettleForce(t, open) })
	t.Run("Walkthrough", func(t *testing.T) { testWalkthrough(t, open) })
	t.Run("BadInputs", func(t *testing.T) { testBadInputs(t, open) })
	t.Run("PurchaseChecks", func(t *testing.T) { testPurchaseChecks(t, open) })
	t.Run("PurchasesConcurrent", func(t *testing.T) { testPurchasesConcurrent(t, open) })
	t.Run("Quarantine", func(t *testing.T) { testQuarantine(t, open) })
	t.Run("QuarantinePages", func(t *testing.T) { testQuarantinePages(t, open) })
	t.Run("GenPush", func(t *testing.T) { testGenPush(t, open) })
	t.Run("ConsoleAuth", func(t *testing.T) { testConsoleAuth(t, open) })
	t.Run("ConsoleFigures", func(t *testing.T) { testConsoleFigures(t, open) })
	t.Run("ConsoleForms", func(t *testing.T) { testConsoleForms(t, open) })
	t.Run("Metrics", func(t *testing.T) { testMetrics(t, open) })
	t.Run("Ready", func(t *testing.T) { testReady(t, open) })
	t.Run("ArrearsTopUpInGrace", func(t *testing.T) { testArrearsTopUpInGrace(t, open) })
	t.Run("OpeningArrearsTerms", func(t *testing.T) { testOpeningArrearsTerms(t, open) })
	t.Run("SuspendAndRestore", func(t *testing.T) { testSuspendAndRestore(t, open) })
	t.Run("Reclaim", func(t *testing.T) { testReclaim(t, open) })
	t.Run("TrialStop", func(t *testing.T) { testTrialStop(t, open) })
	t.Run("TrialResumesOnPlan", func(t *testing.T) { testTrialResumesOnPlan(t, open) })
	t.Run("QuoteBillsStops", func(t *testing.T) { testQuoteBillsStops(t, open) })
	t.Run("DisableEnable", func(t *testing.T) { testDisableEnable(t, open) })
	t.Run("RefundCredited", func(t *testing.T) { testRefundCredited(t, open) })
	t.Run("NotifyRetriesInOrder", func(t *testing.T) { testNotifyRetriesInOrder(t, open) })
	t.Run("NotifyHeadBlocksItsAccount", func(t *testing.T) { testNotifyHeadBlocksItsAccount(t, open) })
	t.Run("NotifyReceiverDownAnHour", func(t *testing.T) { testNotifyReceiverDownAnHour(t, open) })
	t.Run("LifecycleNotifications", func(t *testing.T) { testLifecycleNotifications(t, open) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, open) })
	t.Run("LeasePages", func(t *testing.T) { testLeasePages(t, open) })
	t.Run("LeasesConcurrent", func(t *testing.T) { testLeasesConcurrent(t, open) })
	t.Run("LeasesAtOnce", func(t *testing.T) { testLeasesAtOnce(t, open) })
	t.Run("AdmissionAuth", func(t *testing.T) { testAdmissionAuth(t, open) })
	t.Run("AdmissionRooms", func(t *testing.T) { testAdmissionRooms(t, open) })
	t.Run("AdmissionLeases", func(t *testing.T) { testAdmissionLeases(t, open) })
	t.Run("AdmissionIndustrial", func(t *testing.T) { testAdmissionIndustrial(t, open) })
	t.Run("AdmissionTrialStop", func(t *testing.T) { testAdmissionTrialStop(t, open) })
	t.Run("LeaseMetering", func(t *testing.T) { testLeaseMetering(t, open) })
	t.Run("QueueLeases", func(t *testing.T) { testQueueLeases(t, open) })
	t.Run("CheckEvents", func(t *testing.T) { testCheckEvents(t, open) })
	t.Run("QueueStatuses", func(t *testing.T) { testQueueStatuses(t, open) })
	t.Run("QueueBackPressure", func(t *testing.T) { testQueueBackPressure(t, open) })
	t.Run("QueueRedelivery", func(t *testing.T) { testQueueRedelivery(t, open) })
	t.Run("QueueRebalance", func(t *testing.T) { testQueueRebalance(t, open) })
	t.Run("QueueOwns", func(t *testing.T) { testQueueOwns(t, open) })
}

type env struct {
	store  livebill.Store
	clock  *Clock
	svc    *billing.Service
	client *lbhttp.Client
}

// AdminKey is the operator key the suite's servers are started with.
const AdminKey = "storetest-operator-key-0123456789abcdef"

// EnoughMoney is the opening balance of the suite's accounts that are not
// about the balance: no bill of theirs takes it below zero.
const EnoughMoney = "1000000000"

// NewAPI serves the API of store and svc on a loopback port, with the
// operator key AdminKey, and returns its URL and a client with that key.
func NewAPI(t *testing.T, store livebill.Store, svc *billing.Service) (*lbhttp.Server, string, *lbhttp.Client) {
	s := lbhttp.NewServer(store, svc)
	s.AdminKey = AdminKey
	if leases, ok := store.(livebill.LeaseStore); ok {
		s.Admission = &admission.Service{Store: store, Leases: leases, Accounts: svc, Clock: svc.Clock,
			Status: svc}
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c := lbhttp.NewClient(srv.URL)
	c.Key = AdminKey
	return s, srv.URL, c
}

func newEnv(t *testing.T, open Opener, now time.Time) *env {
	clock := NewClock(now)
	store := open(t, clock)
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	_, _, client := NewAPI(t, store, svc)
	return &env{store: store, clock: clock, svc: svc, client: client}
}

// anyTime lets the service take events at any distance from its clock
// (the defaults refuse events over an hour ahead or two years old): the
// tests that call it push a scenario's, or a session's, events as one
// batch, whatever the clock says.
func (e *env) anyTime() {
	const century = 100 * 365 * 24 * time.Hour
	e.svc.EventMaxAge, e.svc.EventMaxFuture = century, century
}

func (e *env) mustDo(t *testing.T, method, path string, in, out any) {
	t.Helper()
	if err := e.client.Do(context.Background(), method, path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (e *env) push(t *testing.T, lines ...string) *livebill.IngestResult {
	t.Helper()
	res, err := e.client.PushEvents(context.Background(), []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return res
}

func testAccounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	in := &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10", Timezone: "Asia/Shanghai"}
	a, err := s.CreateAccount(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "a1" || a.Catalog != "trtc" || a.Created.Format(time.DateOnly) != "2024-01-10" || a.Balance != "0" {
		t.Fatalf("account = %+v", a)
	}
	if _, err := s.CreateAccount(ctx, in); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("second create: %v, want conflict", err)
	}
	if _, err := s.FindAccount(ctx, "nope"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("find missing: %v", err)
	}
	if err := (&livebill.CreateAccountInput{Created: "10/01"}).Validate(); err == nil || !strings.Contains(err.Error(), "catalog") || !strings.Contains(err.Error(), "created") {
		t.Fatalf("validate joins errors: %v", err)
	}
	if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "a1", ID: "app1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "a1", ID: "app1"}); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("duplicate app: %v", err)
	}
	if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "zz", ID: "app2"}); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("app of missing account: %v", err)
	}
	apps, err := s.ListApps(ctx, "a1")
	if err != nil || len(apps) != 1 || apps[0].AccountID != "a1" {
		t.Fatalf("apps = %v, %v", apps, err)
	}
	p, err := s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a1", ID: "p1", App: "app1", Plan: "rtc-engine.pro", Start: "2024-10-01", AutoRenew: true})
	if err != nil || p.ID != "p1" {
		t.Fatalf("purchase: %v %v", p, err)
	}
	if _, err := s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a1", ID: "p1", Plan: "x", Start: "2024-10-01"}); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("duplicate purchase: %v", err)
	}
	ps, _ := s.ListPurchases(ctx, "a1")
	if len(ps) != 1 || !ps[0].AutoRenew || ps[0].Plan != "rtc-engine.pro" {
		t.Fatalf("purchases = %+v", ps)
	}
	if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: "a1", Purchase: "p9", Time: "2024-10-02"}); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("refund of missing purchase: %v", err)
	}
	if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: "a1", Purchase: "p1", Time: "2024-10-02T10:00:00+08:00"}); err != nil {
		t.Fatal(err)
	}
	a2, _ := s.FindAccount(ctx, "a1")
	if a2.Revision != 2 {
		t.Fatalf("revision after purchase and refund = %d, want 2", a2.Revision)
	}
}

func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Now()))
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	ev := func(id string, ms int64, body string) livebill.IncomingEvent {
		return livebill.IncomingEvent{AccountID: "a1", Event: livebill.Event{ID: id, Time: ms, App: "x"}, Body: []byte(body)}
	}
	st, err := s.StoreEvents(ctx, []livebill.IncomingEvent{ev("e2", 20, `{"b":2}`), ev("e1", 10, `{"a":1}`), ev("e3", 10, `{"c":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range st {
		if x.Status != livebill.IngestAccepted {
			t.Fatalf("status %+v", x)
		}
	}
	st, err = s.StoreEvents(ctx, []livebill.IncomingEvent{ev("e1", 10, `{"a":1}`), ev("e2", 20, `{"other":1}`), ev("e4", 5, `{"d":4}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{livebill.IngestDuplicate, livebill.IngestRejected, livebill.IngestAccepted}
	for i, x := range st {
		if x.Status != want[i] {
			t.Fatalf("event %d: %+v, want %s", i, x, want[i])
		}
	}
	if st[1].Code != livebill.ECONFLICT {
		t.Fatalf("changed body: %+v", st[1])
	}
	// an id repeated inside one batch is judged against its first
	// occurrence, as if that one were already stored
	st, err = s.StoreEvents(ctx, []livebill.IncomingEvent{ev("e5", 30, `{"e":5}`), ev("e5", 30, `{"e":5}`), ev("e5", 30, `{"e":6}`),
		ev("e2", 20, `{"x":1}`), ev("e2", 20, `{"b":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{livebill.IngestAccepted, livebill.IngestDuplicate, livebill.IngestRejected, livebill.IngestRejected, livebill.IngestDuplicate}
	for i, x := range st {
		if x.Status != want[i] {
			t.Fatalf("repeats: event %d: %+v, want %s", i, x, want[i])
		}
	}
	evs, err := s.ListEvents(ctx, "a1", 0, 25)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	if got := strings.Join(ids, ","); got != "e4,e1,e3,e2" {
		t.Fatalf("replay order %s, want e4,e1,e3,e2 (time, then arrival)", got)
	}
	if sp, err := s.EventSpan(ctx, "a1"); err != nil || sp.Count != 5 || sp.First != 5 || sp.Last != 30 {
		t.Fatalf("span %+v %v", sp, err)
	}
	if sp, err := s.EventSpan(ctx, "nobody"); err != nil || sp.Count != 0 || sp.First != 0 {
		t.Fatalf("empty span %+v %v", sp, err)
	}
	evs, _ = s.ListEvents(ctx, "a1", 10, 20)
	if len(evs) != 2 {
		t.Fatalf("window [10,20): %d events", len(evs))
	}
}

const app = "1400000001"

func setupTRTC(t *testing.T, e *env) {
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
}

func evt(id, tm, typ, extra string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":%q,"room":"r1"%s}`, id, tm, typ, app, extra)
}

func testDuplicate(t *testing.T, open Opener) {
	e := newEnv(t, open, time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC))
	setupTRTC(t, e)
	batch := []string{
		evt("j", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("l", "2024-10-01T10:10:00+08:00", "room.leave", `,"user":"A"`),
	}
	r := e.push(t, batch...)
	if r.Accepted != 2 || r.Duplicate != 0 || r.Rejected != 0 {
		t.Fatalf("first push %+v", r)
	}
	// re-sent: same events, keys in another order and spacing
	r = e.push(t, `{"type": "room.join", "id": "j", "app": "`+app+`", "time": "2024-10-01T10:00:00+08:00", "room": "r1", "user": "A"}`, batch[1])
	if r.Accepted != 0 || r.Duplicate != 2 || r.Rejected != 0 {
		t.Fatalf("re-push %+v", r)
	}
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-10-01&to=2024-10-02", nil, &q)
	if len(q.Usage) != 1 || q.Usage[0].Item != "trtc.av.audio" || q.Usage[0].Quantity != "10" {
		t.Fatalf("usage after duplicates: %+v (want 10 audio minutes once)", q.Usage)
	}
}

func testBadBatch(t *testing.T, open Opener) {
	e := newEnv(t, open, time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC))
	setupTRTC(t, e)
	r := e.push(t,
		evt("j", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		`{"id":"bad1","time":"2024-10-01T10:01:00+08:00","type":"room.dance","app":"`+app+`"}`,
		`not json`,
		`{"time":"2024-10-01T10:02:00+08:00","type":"room.join","app":"`+app+`","room":"r1","user":"B"}`,
		`{"id":"x","time":"2024-10-01T10:02:00+08:00","type":"room.join","app":"unknown-app","room":"r1","user":"B"}`,
		evt("l", "2024-10-01T10:30:00+08:00", "room.leave", `,"user":"A"`),
	)
	if r.Accepted != 2 || r.Rejected != 4 {
		t.Fatalf("bad batch: %+v", r)
	}
	wantLines := []int{2, 3, 4, 5}
	for i, er := range r.Errors {
		if er.Line != wantLines[i] || er.Error == "" || er.Status != livebill.IngestRejected {
			t.Errorf("error %d: %+v (want line %d)", i, er, wantLines[i])
		}
	}
	if r.Errors[0].ID != "bad1" || !strings.Contains(r.Errors[0].Error, "type") {
		t.Errorf("unknown type error: %+v", r.Errors[0])
	}
	if !strings.Contains(r.Errors[2].Error, `"id"`) {
		t.Errorf("missing id error: %+v", r.Errors[2])
	}
	if r.Errors[3].Code != livebill.ENOTFOUND {
		t.Errorf("unknown app error: %+v", r.Errors[3])
	}
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-10-01&to=2024-10-02", nil, &q)
	if len(q.Usage) != 1 || q.Usage[0].Quantity != "30" {
		t.Fatalf("usage of the good events: %+v", q.Usage)
	}
	// a body that is neither NDJSON objects nor an array of them
	if _, err := e.client.PushEvents(context.Background(), []byte(" [1,")); livebill.ErrorCode(err) != livebill.EINVALID {
		t.Fatalf("broken array: %v", err)
	}
}

func testLateEvent(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newEnv(t, open, time.Date(2024, 10, 1, 12, 0, 0, 0, sh))
	e.anyTime()
	setupTRTC(t, e)
	ctx := context.Background()
	e.push(t,
		evt("j1", "2024-10-01T10:00:00+08:00", "room.join", `,"user":"A"`),
		evt("l1", "2024-10-01T10:10:00+08:00", "room.leave", `,"user":"A"`),
	)
	// Oct 1 closes at midnight; the settle delay is an hour.
	e.clock.Set(time.Date(2024, 10, 2, 0, 30, 0, 0, sh))
	if bs, err := e.svc.Settle(ctx, "acct"); err != nil || len(bs) != 0 {
		t.Fatalf("settled before the delay: %v %v", bs, err)
	}
	e.clock.Set(time.Date(2024, 10, 2, 1, 30, 0, 0, sh))
	bs, err := e.svc.Settle(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Kind != "daily" || bs[0].Date != "2024-10-01" || bs[0].Lines[0].Quantity != "10" {
		t.Fatalf("Oct 1 bill: %+v", bs)
	}
	first := bs[0]
	// settling again changes nothing
	if bs, err := e.svc.Settle(ctx, "acct"); err != nil || len(bs) != 0 {
		t.Fatalf("second settle: %v %v", bs, err)
	}
	// a late event for Oct 1, one for Sep 30 (settled, had no bill), and Oct 2 usage
	e.push(t,
		evt("j0", "2024-09-30T12:00:00+08:00", "room.join", `,"user":"C"`),
		evt("l0", "2024-09-30T12:01:00+08:00", "room.leave", `,"user":"C"`),
		evt("j2", "2024-10-01T11:00:00+08:00", "room.join", `,"user":"B"`),
		evt("l2", "2024-10-01T11:20:00+08:00", "room.leave", `,"user":"B"`),
		evt("j3", "2024-10-02T09:00:00+08:00", "room.join", `,"user":"A"`),
		evt("l3", "2024-10-02T09:05:00+08:00", "room.leave", `,"user":"A"`),
	)
	e.clock.Set(time.Date(2024, 10, 3, 1, 30, 0, 0, sh))
	var settled []livebill.IssuedBill
	e.mustDo(t, "POST", "/v1/accounts/acct/settle", nil, &struct {
		Issued *[]livebill.IssuedBill `json:"issued"`
	}{&settled})
	var bills lbhttp.BillsJSON
	e.mustDo(t, "GET", "/v1/accounts/acct/bills", nil, &bills)
	if bills.Through != "2024-10-03" || len(bills.Bills) != 4 {
		t.Fatalf("bills: %+v", bills)
	}
	if b := bills.Bills[0]; b.Key != first.Key || b.Total != first.Total || b.Lines[0].Quantity != "10" {
		t.Fatalf("issued bill rewritten: %+v, was %+v", b, first)
	}
	var daily2, adj, adj0 *livebill.IssuedBill
	for i := range bills.Bills {
		b := &bills.Bills[i]
		switch {
		case b.Kind == "daily" && b.Date == "2024-10-02":
			daily2 = b
		case b.Kind == "adjustment" && b.Adjusts == first.Key:
			adj = b
		case b.Kind == "adjustment":
			adj0 = b
		}
	}
	if adj0 == nil || adj0.Adjusts != "daily|2024-09-30" || adj0.Date != "2024-10-02" || len(adj0.Lines) != 1 || adj0.Lines[0].Quantity != "1" {
		t.Fatalf("adjustment for a settled day without a bill: %+v", adj0)
	}
	if daily2 == nil || daily2.Lines[0].Quantity != "5" {
		t.Fatalf("Oct 2 bill: %+v", daily2)
	}
	if adj == nil || adj.Adjusts != first.Key || adj.Date != "2024-10-02" || len(adj.Lines) != 1 || adj.Lines[0].Quantity != "20" {
		t.Fatalf("adjustment: %+v", adj)
	}
	// issued + adjustment = what a fresh quote of Oct 1 says
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-10-01&to=2024-10-02", nil, &q)
	if q.Lines[0].Quantity != "30" || dec(first.Lines[0].Amount)+dec(adj.Lines[0].Amount) != dec(q.Lines[0].Amount) {
		t.Fatalf("Oct 1 recomputed %+v; issued %s + adjustment %s", q.Lines, first.Lines[0].Amount, adj.Lines[0].Amount)
	}
	// top-ups (idempotent by id) and the month's statement
	var tu livebill.TopUp
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "100", "time": "2024-10-02T08:00:00+08:00"}, &tu)
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "100", "time": "2024-10-02T08:00:00+08:00"}, &tu)
	if err := e.client.Do(ctx, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "5"}, nil); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("top-up id reused with another amount: %v", err)
	}
	if err := e.client.Do(ctx, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t2", "amount": "-5"}, nil); livebill.ErrorCode(err) != livebill.EINVALID {
		t.Fatalf("negative top-up: %v", err)
	}
	var st livebill.Statement
	e.mustDo(t, "GET", "/v1/accounts/acct/statements/2024-10", nil, &st)
	var sum int64
	for _, b := range st.Bills {
		sum += dec(b.Total)
	}
	if len(st.Bills) != 4 || len(st.TopUps) != 1 || st.OpeningBalance != "0.00" || dec(st.Total) != sum ||
		dec(st.ClosingBalance) != 100e6-sum || st.Final || st.Currency != "USD" {
		t.Fatalf("statement: %+v", st)
	}
	// usage queries
	var u struct {
		Usage []livebill.UsagePoint `json:"usage"`
	}
	e.mustDo(t, "GET", "/v1/accounts/acct/usage?from=2024-10-01&to=2024-10-03&granularity=day", nil, &u)
	if len(u.Usage) != 2 || u.Usage[0].Value != 30*60000 || u.Usage[1].Value != 5*60000 || u.Usage[0].Start != "2024-10-01T00:00:00+08:00" {
		t.Fatalf("daily usage: %+v", u.Usage)
	}
	e.mustDo(t, "GET", "/v1/accounts/acct/usage?from=2024-10-01&to=2024-10-02&granularity=5m", nil, &u)
	if len(u.Usage) != 6 || u.Usage[0].Start != "2024-10-01T10:00:00+08:00" || u.Usage[0].Value != 5*60000 {
		t.Fatalf("5-minute usage: %+v", u.Usage)
	}
}

// dec turns a decimal string into micro-units for comparisons in tests.
func dec(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000")[:6]
	var w, f int64
	fmt.Sscan(whole, &w)
	fmt.Sscan(strings.TrimLeft(frac, "0")+"", &f)
	if strings.HasPrefix(whole, "-") {
		return w*1e6 - f
	}
	return w*1e6 + f
}

// ScenarioDir finds ../shared/scenarios beside the module root.
func ScenarioDir(t *testing.T) string {
	return filepath.Join(ModuleRoot(t), "..", "shared", "scenarios")
}

// ModuleRoot is the directory of go.mod above the test.
func ModuleRoot(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// testEquivalence pushes each shared scenario's events through the API
// into a fresh account and checks the account's quote over the scenario's
// period is the JSON `livebill quote` prints, and that settling after the
// period issues the quote's bills.
func testEquivalence(t *testing.T, open Opener) {
	dir := ScenarioDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Skipf("no scenarios in %s", dir)
	}
	// and the project's own scenario library
	own, _ := filepath.Glob(filepath.Join(ModuleRoot(t), "testdata", "scenarios", "*.yaml"))
	files = append(files, own...)
	for _, path := range files {
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(path)))+"/"+filepath.Base(path), func(t *testing.T) {
			f, err := scenario.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.Run()
			if err != nil {
				t.Fatal(err)
			}
			loc := time.UTC
			if f.Account != nil && f.Account.Timezone != "" {
				loc, _ = time.LoadLocation(f.Account.Timezone)
			} else if billing.CheckCatalog(f.Catalog) == nil {
				loc = catalogLoc(t, f.Catalog)
			} else {
				loc = catalogLoc(t, filepath.Join(filepath.Dir(path), f.Catalog))
			}
			from, _ := time.ParseInLocation(time.DateOnly, f.Period.From, loc)
			to, _ := time.ParseInLocation(time.DateOnly, f.Period.To, loc)
			// A scenario with an account lifecycle runs on the service's
			// clock from the period's start, settled every day and topped
			// up (apps disabled) at the scenario's times, as a live
			// service would. The others' events arrive an hour after the
			// period (its quote is then the live meter's), and the
			// settlement an hour later, when their ingest has long been
			// quiet.
			life := want.Quote.Account != nil || len(f.AppActions) > 0
			start, opening := to.Add(time.Hour), ""
			if life {
				start, opening = from, openingFor(t, f, want.Quote.Account)
			}
			e := newEnv(t, open, start)
			e.anyTime()
			lines := setupScenarioAccount(t, e, path, "acct", opening, nil)
			res := e.push(t, lines...)
			if res.Accepted != len(lines) {
				t.Fatalf("pushed %d events: %+v", len(lines), res)
			}
			if life {
				runScenarioClock(t, e, f, loc, from, to)
			}
			var got livebill.Quote
			e.mustDo(t, "GET", "/v1/accounts/acct/quote?from="+f.Period.From+"&to="+f.Period.To, nil, &got)
			wq := *want.Quote
			wq.Account = nil // the service tells the account's lifecycle elsewhere (GET /v1/accounts/{id}, ledger, history)
			wj, _ := json.MarshalIndent(&wq, "", " ")
			gj, _ := json.MarshalIndent(&got, "", " ")
			if !bytes.Equal(wj, gj) {
				t.Fatalf("service quote differs from livebill quote\nwant %s\ngot  %s", wj, gj)
			}
			if !life {
				// settle after the period; the issued bills dated in it are the quote's bills
				e.clock.Set(to.Add(2 * time.Hour))
				if _, err := e.svc.Settle(context.Background(), "acct"); err != nil {
					t.Fatal(err)
				}
			} else {
				checkScenarioAccount(t, e, want.Quote.Account)
			}
			bills, err := e.store.ListBills(context.Background(), "acct")
			if err != nil {
				t.Fatal(err)
			}
			var issued []livebill.Bill
			for _, b := range bills {
				if b.Date >= f.Period.From && b.Date < f.Period.To {
					issued = append(issued, b.Bill)
				}
			}
			sortBills(issued)
			wantBills := append([]livebill.Bill(nil), want.Quote.Bills...)
			sortBills(wantBills)
			wj, _ = json.MarshalIndent(wantBills, "", " ")
			gj, _ = json.MarshalIndent(issued, "", " ")
			if !bytes.Equal(wj, gj) {
				t.Fatalf("issued bills differ from the quote's bills\nwant %s\ngot  %s", wj, gj)
			}
		})
	}
}

func catalogLoc(t *testing.T, name string) *time.Location {
	c, err := catalog.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c.Location()
}

func sortBills(bs []livebill.Bill) {
	sort.SliceStable(bs, func(i, j int) bool {
		if bs[i].Date != bs[j].Date {
			return bs[i].Date < bs[j].Date
		}
		return bs[i].Kind < bs[j].Kind
	})
}

// scenarioEvents returns the scenario's events as NDJSON lines, each with
// an id (e<N> when the scenario gives none).
func scenarioEvents(t *testing.T, f *scenario.File, path string) []string {
	var objs []map[string]any
	if f.EventsFile != "" {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), f.EventsFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(l))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, m)
		}
	} else {
		for _, n := range f.Events.Content {
			var v map[string]any
			if err := n.Decode(&v); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, scenario.JSONValue(v).(map[string]any))
		}
	}
	var out []string
	for i, m := range objs {
		if _, ok := m["id"]; !ok {
			m["id"] = fmt.Sprintf("e%d", i+1)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// testSettleMonth runs a month on the billing clock in steps of 6 hours:
// each step pushes the usage of the last hours and, now and then, late
// usage for days already settled, and settles. At the end every bill's
// issued version plus its adjustments equals the bill recomputed from all
// events, and the recomputed quote equals a fresh account fed everything
// at once. Account mode, so the free pack carries deductions across days
// and a late event changes later days' bills too.
func testSettleMonth(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	start := time.Date(2024, 10, 1, 0, 0, 0, 0, sh)
	e := newEnv(t, open, start)
	e.anyTime()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-01-10", "timezone": "Asia/Shanghai", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	// a paid plan, so running past the packs bills overage instead of stopping the app
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "p1", "app": app, "plan": "rtc-engine.lite", "start": "2024-10-01"}, nil)
	ctx := context.Background()
	n := 0
	session := func(user string, from time.Time, minutes int, video bool) []string {
		n++
		id := fmt.Sprintf("s%d", n)
		out := []string{evt(id+"j", from.Format(time.RFC3339), "room.join", fmt.Sprintf(`,"user":%q,"subscribe":"all"`, user))}
		if video {
			out = append(out, evt(id+"v", from.Format(time.RFC3339), "stream.start", fmt.Sprintf(`,"user":%q,"stream":"main","media":"video","width":1280,"height":720`, user)))
		}
		return append(out, evt(id+"l", from.Add(time.Duration(minutes)*time.Minute).Format(time.RFC3339), "room.leave", fmt.Sprintf(`,"user":%q`, user)))
	}
	step := 6 * time.Hour
	for now := start.Add(step); now.Before(start.AddDate(0, 1, 2)); now = now.Add(step) {
		var lines []string
		// a publisher and viewers in a room for 100 minutes, in the step before now
		from := now.Add(-step + time.Hour)
		if from.Before(start.AddDate(0, 1, 0)) {
			k := int(now.Sub(start) / step)
			lines = append(lines, session(fmt.Sprintf("A%d", k), from, 100, true)...)
			for r := 0; r < 4; r++ { // four viewers of A's HD video: packs run out in a few days
				lines = append(lines, session(fmt.Sprintf("B%d-%d", k, r), from, 100, false)...)
			}
			if k%7 == 3 && now.Sub(start) > 72*time.Hour {
				// late: usage two days ago, already settled
				lines = append(lines, session(fmt.Sprintf("L%d", k), from.Add(-48*time.Hour), 30, false)...)
			}
		}
		if len(lines) > 0 {
			if r := e.push(t, lines...); r.Accepted != len(lines) {
				t.Fatalf("push at %s: %+v", now, r)
			}
		}
		e.clock.Set(now)
		if _, err := e.svc.Settle(ctx, "acct"); err != nil {
			t.Fatalf("settle at %s: %v", now, err)
		}
	}
	bills, err := e.store.ListBills(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	type sum struct {
		total int64
		lines map[string]int64
	}
	got := map[string]*sum{}
	adjustments := 0
	for _, b := range bills {
		key := b.Key
		if b.Kind == "adjustment" {
			key = b.Adjusts
			adjustments++
		}
		s := got[key]
		if s == nil {
			s = &sum{lines: map[string]int64{}}
			got[key] = s
		}
		s.total += dec(b.Total)
		for _, l := range b.Lines {
			s.lines[l.Item] += dec(l.Amount)
		}
	}
	if adjustments == 0 {
		t.Fatal("no adjustment was issued for the late events")
	}
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-10-01&to=2024-11-01", nil, &q)
	if len(q.Bills) < 31 {
		qj, _ := json.MarshalIndent(q, "", " ")
		t.Fatalf("recomputed quote has %d bills: %s", len(q.Bills), qj)
	}
	for _, b := range q.Bills {
		if b.Kind == livebill.BillPurchase {
			continue // keyed by their lines; checked by the equivalence test
		}
		key := b.Kind + "|" + b.Date
		s := got[key]
		if s == nil {
			t.Errorf("bill %s never issued", key)
			continue
		}
		if s.total != dec(b.Total) {
			t.Errorf("bill %s: issued + adjustments total %d µ, recomputed %s", key, s.total, b.Total)
		}
		for _, l := range b.Lines {
			if s.lines[l.Item] != dec(l.Amount) {
				t.Errorf("bill %s item %s: issued + adjustments %d µ, recomputed %s", key, l.Item, s.lines[l.Item], l.Amount)
			}
		}
	}
	t.Logf("%d bills issued, %d of them adjustments", len(bills), adjustments)
}

// testConcurrency: batches holding the same new ids in opposite orders
// (a deadlock on PostgreSQL without a retry) each succeed, and every id is
// accepted exactly once; a purchase created several times at once is made
// once and refused as a conflict otherwise; purchases made at once get
// distinct places in the order made.
func testConcurrency(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Now()))
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	const n, rounds = 200, 5
	for round := 0; round < rounds; round++ {
		batch := func(reverse bool) []livebill.IncomingEvent {
			out := make([]livebill.IncomingEvent, n)
			for i := range out {
				j := i
				if reverse {
					j = n - 1 - i
				}
				id := fmt.Sprintf("r%d-e%d", round, j)
				out[i] = livebill.IncomingEvent{AccountID: "a1", Event: livebill.Event{ID: id, Time: int64(j + 1), App: "x"}, Body: []byte(`{"id":"` + id + `"}`)}
			}
			return out
		}
		var wg sync.WaitGroup
		results := make([][]livebill.IngestStatus, 2)
		errs := make([]error, 2)
		for k := 0; k < 2; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				results[k], errs[k] = s.StoreEvents(ctx, batch(k == 1))
			}(k)
		}
		wg.Wait()
		accepted := map[string]int{}
		for k := 0; k < 2; k++ {
			if errs[k] != nil {
				t.Fatalf("round %d batch %d: %v", round, k, errs[k])
			}
			for _, st := range results[k] {
				switch st.Status {
				case livebill.IngestAccepted:
					accepted[st.ID]++
				case livebill.IngestDuplicate:
				default:
					t.Fatalf("round %d: %s: %s %s", round, st.ID, st.Status, st.Error)
				}
			}
		}
		if len(accepted) != n {
			t.Fatalf("round %d: %d ids accepted, want %d", round, len(accepted), n)
		}
		for id, c := range accepted {
			if c != 1 {
				t.Fatalf("round %d: %s accepted %d times", round, id, c)
			}
		}
	}

	var wg sync.WaitGroup
	const same = 4
	errs := make([]error, same)
	for i := 0; i < same; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a1", ID: "dup", App: "x", Plan: "rtc-engine.lite", Start: "2024-10-01"})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch code := livebill.ErrorCode(err); code {
		case "":
			ok++
		case livebill.ECONFLICT:
		default:
			t.Errorf("concurrent create of one purchase: %v (code %s), want success or conflict", err, code)
		}
	}
	if ok != 1 {
		t.Errorf("%d creations of purchase dup succeeded, want 1", ok)
	}
	const distinct = 6
	for i := 0; i < distinct; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a1", ID: fmt.Sprintf("p%d", i), App: fmt.Sprintf("app%d", i), Plan: "rtc-engine.lite", Start: "2024-10-01"}); err != nil {
				t.Errorf("purchase p%d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	ps, err := s.ListPurchases(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1+distinct {
		t.Errorf("%d purchases stored, want %d", len(ps), 1+distinct)
	}
}
