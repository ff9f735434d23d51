package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/notify"
)

// Notifications out: a transactional outbox, delivered at least once,
// signed (Standard Webhooks), in order per account, with retries. The
// receivers are httptest servers on loopback; the worker runs on the
// service's fake clock.

// receiver is an operator's endpoint as a test sees it: it checks every
// delivery's signature, answers 500 when fail says so, and keeps what it
// received.
type receiver struct {
	srv    *httptest.Server
	clock  *Clock
	mu     sync.Mutex
	secret string
	fail   func(n livebill.Notification, try int) bool
	got    []received     // every request, in order
	acked  []string       // ids answered 2xx, in order
	tries  map[string]int // per id
	bodies map[string]string
}

type received struct {
	n      livebill.Notification
	status int
	err    error // of the signature check
}

func newReceiver(t *testing.T, clock *Clock) *receiver {
	r := &receiver{clock: clock, tries: map[string]int{}, bodies: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := received{err: notify.Verify(r.secret, req.Header, body, r.clock.Now(), 0)}
	if err := json.Unmarshal(body, &rec.n); err != nil {
		rec.err = err
	}
	if rec.n.ID != req.Header.Get(notify.HeaderID) {
		rec.err = fmt.Errorf("webhook-id %q, body id %q", req.Header.Get(notify.HeaderID), rec.n.ID)
	}
	if prev, ok := r.bodies[rec.n.ID]; ok && prev != string(body) {
		rec.err = fmt.Errorf("notification %s sent again with another body", rec.n.ID)
	}
	r.bodies[rec.n.ID] = string(body)
	r.tries[rec.n.ID]++
	rec.status = http.StatusOK
	if rec.err != nil {
		rec.status = http.StatusUnauthorized
	} else if r.fail != nil && r.fail(rec.n, r.tries[rec.n.ID]) {
		rec.status = http.StatusInternalServerError
	}
	if rec.status == http.StatusOK {
		r.acked = append(r.acked, rec.n.ID)
	}
	r.got = append(r.got, rec)
	w.WriteHeader(rec.status)
}

func (r *receiver) snapshot() ([]received, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...), append([]string(nil), r.acked...)
}

// endpoint registers the receiver for the event types (none: all).
func (r *receiver) endpoint(t *testing.T, e *env, account string, types ...string) livebill.Endpoint {
	t.Helper()
	var ep livebill.Endpoint
	e.mustDo(t, "POST", "/v1/webhook-endpoints", map[string]any{"url": r.srv.URL, "account": account, "types": types}, &ep)
	if !strings.HasPrefix(ep.Secret, livebill.SecretPrefix) {
		t.Fatalf("endpoint %+v: no secret", ep)
	}
	r.mu.Lock()
	r.secret = ep.Secret
	r.mu.Unlock()
	return ep
}

func worker(e *env) *notify.Worker {
	return &notify.Worker{Store: e.store, Clock: e.clock, Jitter: func() float64 { return 0 }}
}

// drain runs the worker, moving the clock by step after each run, until
// want deliveries were acknowledged or rounds runs were made.
func drain(t *testing.T, e *env, w *notify.Worker, r *receiver, want int, step time.Duration, rounds int) {
	t.Helper()
	for i := 0; i < rounds; i++ {
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, acked := r.snapshot(); len(acked) >= want {
			return
		}
		e.clock.Set(e.clock.Now().Add(step))
	}
	_, acked := r.snapshot()
	t.Fatalf("%d deliveries acknowledged after %d rounds, want %d", len(acked), rounds, want)
}

// toggleApp disables and enables an app n times, a minute apart: n
// notifications (app.disabled, app.enabled, …).
func toggleApp(t *testing.T, e *env, acct, app string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		action := "disable"
		if i%2 == 1 {
			action = "enable"
		}
		e.clock.Set(e.clock.Now().Add(time.Minute))
		e.mustDo(t, "POST", "/v1/accounts/"+acct+"/apps/"+app+"/"+action, nil, nil)
	}
}

func notifyAccount(t *testing.T, e *env, acct, app string) {
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": acct, "catalog": "trtc", "created": "2024-03-01", "balance": EnoughMoney}, nil)
	e.mustDo(t, "POST", "/v1/accounts/"+acct+"/apps", map[string]any{"id": app}, nil)
}

// deliveryOrder lists the ids of an account's deliveries in the order made.
func deliveryOrder(t *testing.T, e *env, acct string) []string {
	t.Helper()
	var page struct {
		Deliveries []livebill.Delivery `json:"deliveries"`
	}
	e.mustDo(t, "GET", "/v1/deliveries?limit=1000&account="+acct, nil, &page)
	var out []string
	for _, d := range page.Deliveries {
		out = append(out, d.Notification.ID)
	}
	return out
}

// testNotifyRetriesInOrder: a receiver answering 500 to its first 3
// requests gets every notification, each acknowledged once, in the order
// made; the first one was tried 4 times, the others waited behind it.
func testNotifyRetriesInOrder(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "10:00"))
	notifyAccount(t, e, "acct", app)
	r := newReceiver(t, e.clock)
	calls := 0
	r.fail = func(livebill.Notification, int) bool { calls++; return calls <= 3 }
	r.endpoint(t, e, "", livebill.EventAppDisabled, livebill.EventAppEnabled)
	toggleApp(t, e, "acct", app, 6)
	order := deliveryOrder(t, e, "acct")
	if len(order) != 6 {
		t.Fatalf("%d deliveries made, want 6", len(order))
	}
	drain(t, e, worker(e), r, 6, time.Minute, 50)
	got, acked := r.snapshot()
	if strings.Join(acked, " ") != strings.Join(order, " ") {
		t.Fatalf("acknowledged %v, made %v: not in order", acked, order)
	}
	if len(got) != 9 || r.tries[order[0]] != 4 {
		t.Fatalf("%d requests, the first notification tried %d times; want 9 and 4", len(got), r.tries[order[0]])
	}
	for i, g := range got {
		if g.err != nil {
			t.Fatalf("request %d: %v", i, g.err)
		}
		want := livebill.EventAppDisabled
		if n := indexOf(order, g.n.ID); n%2 == 1 {
			want = livebill.EventAppEnabled
		}
		if g.n.Type != want || g.n.AccountID != "acct" {
			t.Fatalf("request %d: %s of %s, want %s", i, g.n.Type, g.n.AccountID, want)
		}
	}
	// the log: the first delivery's three 500s and its 200
	var d livebill.Delivery
	e.mustDo(t, "GET", fmt.Sprintf("/v1/deliveries/%d", firstDelivery(t, e, "acct")), nil, &d)
	var statuses []int
	for _, a := range d.Log {
		statuses = append(statuses, a.Status)
	}
	if d.Status != livebill.DeliveryDelivered || d.Attempts != 4 || fmt.Sprint(statuses) != "[500 500 500 200]" {
		t.Fatalf("delivery %+v, log %v", d, statuses)
	}
	// redelivered by hand: sent again with the same id, acknowledged
	e.mustDo(t, "POST", fmt.Sprintf("/v1/deliveries/%d/redeliver", d.Seq), nil, nil)
	if _, err := worker(e).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, acked := r.snapshot(); len(acked) != 7 || acked[6] != order[0] {
		t.Fatalf("after a redelivery: %v", acked)
	}
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

func firstDelivery(t *testing.T, e *env, acct string) int64 {
	var page struct {
		Deliveries []livebill.Delivery `json:"deliveries"`
	}
	e.mustDo(t, "GET", "/v1/deliveries?limit=1&account="+acct, nil, &page)
	if len(page.Deliveries) == 0 {
		t.Fatal("no deliveries")
	}
	return page.Deliveries[0].Seq
}

// testNotifyHeadBlocksItsAccount: while the receiver refuses account a's
// notifications, b's are all delivered and no later notification of a is
// sent before a's first; once a's are taken, they come in order.
func testNotifyHeadBlocksItsAccount(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "10:00"))
	notifyAccount(t, e, "a", "app-a")
	notifyAccount(t, e, "b", "app-b")
	r := newReceiver(t, e.clock)
	var refuse atomic.Bool
	refuse.Store(true)
	r.fail = func(n livebill.Notification, _ int) bool { return refuse.Load() && n.AccountID == "a" }
	r.endpoint(t, e, "", livebill.EventAppDisabled, livebill.EventAppEnabled)
	toggleApp(t, e, "a", "app-a", 3)
	toggleApp(t, e, "b", "app-b", 3)
	orderA, orderB := deliveryOrder(t, e, "a"), deliveryOrder(t, e, "b")
	w := worker(e)
	drain(t, e, w, r, 3, time.Minute, 20)
	got, acked := r.snapshot()
	if strings.Join(acked, " ") != strings.Join(orderB, " ") {
		t.Fatalf("acknowledged %v, want b's %v", acked, orderB)
	}
	for _, g := range got {
		if g.n.AccountID == "a" && g.n.ID != orderA[0] {
			t.Fatalf("a's %s was sent while its first was refused", g.n.ID)
		}
	}
	refuse.Store(false)
	drain(t, e, w, r, 6, time.Minute, 20)
	_, acked = r.snapshot()
	if strings.Join(acked[3:], " ") != strings.Join(orderA, " ") {
		t.Fatalf("a's acknowledged %v, want %v", acked[3:], orderA)
	}
}

// testNotifyReceiverDownAnHour: a receiver down for an hour gets every
// notification once it is back, in order, within the backoff's cap.
func testNotifyReceiverDownAnHour(t *testing.T, open Opener) {
	e := newEnv(t, open, sh(1, "10:00"))
	notifyAccount(t, e, "acct", app)
	r := newReceiver(t, e.clock)
	back := sh(1, "11:05")
	r.fail = func(livebill.Notification, int) bool { return e.clock.Now().Before(back) }
	r.endpoint(t, e, "acct")
	toggleApp(t, e, "acct", app, 4) // 10:01 to 10:04
	order := deliveryOrder(t, e, "acct")
	w := worker(e)
	for e.clock.Now().Before(back) { // down: tried now and then
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(e.clock.Now().Add(30 * time.Second))
	}
	got, acked := r.snapshot()
	if len(acked) != 0 || len(got) == 0 || len(got) > 20 {
		t.Fatalf("while down: %d requests, %d acknowledged; want a few retries of the first", len(got), len(acked))
	}
	// back: every one within the cap (10 minutes; no jitter: 5)
	drain(t, e, w, r, 4, 30*time.Second, 20)
	if _, acked := r.snapshot(); strings.Join(acked, " ") != strings.Join(order, " ") {
		t.Fatalf("acknowledged %v, want %v", acked, order)
	}
	if after := e.clock.Now().Sub(back); after > 5*time.Minute {
		t.Fatalf("everything delivered %s after the receiver came back, want within 5 minutes", after)
	}
}

// testLifecycleNotifications: the account's transitions and bills are
// notified, each from the transaction that made it, in order; a
// notification's data is the transition; the signature checks.
func testLifecycleNotifications(t *testing.T, open Opener) {
	e := newLifeEnv(t, open, 1, 3, 5)
	r := newReceiver(t, e.clock)
	r.endpoint(t, e, "", livebill.EventAccountArrears, livebill.EventAccountSuspended, livebill.EventAccountRestored, livebill.EventBillIssued)
	e.tick(t, sh(2, "01:30"))
	e.tick(t, sh(3, "00:07"))
	e.clock.Set(sh(4, "09:00"))
	e.mustDo(t, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "1.00"}, nil)
	e.tick(t, sh(6, "01:30"))
	drain(t, e, worker(e), r, 6, time.Minute, 10)
	got, _ := r.snapshot()
	var types []string
	var arrears livebill.Transition
	for _, g := range got {
		if g.err != nil {
			t.Fatal(g.err)
		}
		types = append(types, g.n.Type)
		if g.n.Type == livebill.EventAccountArrears {
			json.Unmarshal(g.n.Data, &arrears)
		}
	}
	want := "bill.issued bill.issued account.arrears account.suspended account.restored bill.issued"
	if strings.Join(types, " ") != want {
		t.Fatalf("notified %s, want %s", strings.Join(types, " "), want)
	}
	if arrears.Balance != "-0.26" || !arrears.GraceUntil.Equal(sh(3, "00:00")) || !arrears.At.Equal(sh(2, "00:00")) {
		t.Fatalf("account.arrears data: %+v", arrears)
	}
	// what a receiver must refuse: another body, an old timestamp
	body := []byte(`{"id":"x"}`)
	sig, _ := notify.Sign(r.secret, "x", e.clock.Now().Unix(), body)
	h := http.Header{}
	h.Set(notify.HeaderID, "x")
	h.Set(notify.HeaderTimestamp, fmt.Sprint(e.clock.Now().Unix()))
	h.Set(notify.HeaderSignature, "v1,bad "+sig)
	if err := notify.Verify(r.secret, h, body, e.clock.Now(), 0); err != nil {
		t.Fatalf("a good signature among others: %v", err)
	}
	if err := notify.Verify(r.secret, h, []byte(`{"id":"y"}`), e.clock.Now(), 0); err != notify.ErrSignature {
		t.Fatalf("another body: %v", err)
	}
	if err := notify.Verify(r.secret, h, body, e.clock.Now().Add(10*time.Minute), 0); err != notify.ErrTimestamp {
		t.Fatalf("an old delivery: %v", err)
	}
}
