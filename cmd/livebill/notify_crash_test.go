package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/notify"
)

// crashReceiver is an operator's endpoint as a careful receiver writes it:
// it checks the signature, handles a notification once (by webhook-id:
// delivery is at least once) and acknowledges every copy. hold, when set,
// keeps the request of that notification type unanswered until released,
// so the test can kill the server mid-delivery.
type crashReceiver struct {
	mu      sync.Mutex
	secret  string
	copies  map[string]int // requests per webhook-id
	handled []livebill.Notification
	badSig  int
	hold    string        // a type to hold the first copy of
	arrived chan string   // the held one's id
	release chan struct{} // closed to answer it
}

func (r *crashReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	if err := notify.Verify(r.secret, req.Header, body, time.Now(), 0); err != nil {
		r.badSig++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var n livebill.Notification
	json.Unmarshal(body, &n)
	r.copies[n.ID]++
	if r.copies[n.ID] == 1 {
		r.handled = append(r.handled, n) // deduplicated by id
	}
	held := n.Type == r.hold && r.copies[n.ID] == 1
	r.mu.Unlock()
	if held {
		r.arrived <- n.ID
		<-r.release // the server is killed meanwhile: this answer reaches nobody
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *crashReceiver) state() (map[string]int, []livebill.Notification, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := map[string]int{}
	for k, v := range r.copies {
		c[k] = v
	}
	return c, append([]livebill.Notification(nil), r.handled...), r.badSig
}

// TestNotifyCrash kills the server (SIGKILL) between a state change and
// its notification's delivery, twice: once before anything was sent (the
// worker off), once while the receiver holds the request (sent, not
// acknowledged, not recorded). After each restart the notification is
// delivered: "exactly once" as at-least-once delivery gives it — one
// notification id per state change, handled once by a receiver that
// deduplicates by webhook-id, sent again until acknowledged.
func TestNotifyCrash(t *testing.T) {
	notifyCrash(t, filepath.Join(t.TempDir(), "data"))
}

// TestNotifyCrashPostgres is the same on PostgreSQL.
func TestNotifyCrashPostgres(t *testing.T) {
	notifyCrash(t, freshPostgres(t, "the PostgreSQL notification crash test"))
}

// serveAt starts the server on data with the notification worker every
// notifyEvery ("0": off) and no settlement ticker.
func serveAt(t *testing.T, bin, data, notifyEvery string) (*serveProc, string) {
	p := startServe(t, bin, nil, "--db", data, "--settle-every", "0", "--notify-every", notifyEvery)
	return p, p.url
}

// kill9 kills the server with SIGKILL and waits for it to be gone.
func kill9(t *testing.T, p *serveProc) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func notifyCrash(t *testing.T, data string) {
	bin := livebillBinary(t)
	ctx := context.Background()
	rcv := &crashReceiver{copies: map[string]int{}, arrived: make(chan string, 1), release: make(chan struct{})}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	defer func() {
		select {
		case <-rcv.release:
		default:
			close(rcv.release)
		}
	}()

	// 1. the worker off: the state change commits, nothing is sent, kill -9
	srv, url := serveAt(t, bin, data, "0")
	key := srv.key
	c := lbhttp.NewClient(url)
	c.Key = key
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-01-01", "balance": "100"}, nil))
	must(c.Do(ctx, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil))
	var ep livebill.Endpoint
	must(c.Do(ctx, "POST", "/v1/webhook-endpoints", map[string]any{"url": hook.URL, "types": []string{"app.disabled", "app.enabled"}}, &ep))
	rcv.mu.Lock()
	rcv.secret = ep.Secret
	rcv.mu.Unlock()
	must(c.Do(ctx, "POST", "/v1/accounts/acct/apps/app1/disable", nil, nil))
	var page struct {
		Deliveries []livebill.Delivery `json:"deliveries"`
	}
	must(c.Do(ctx, "GET", "/v1/deliveries", nil, &page))
	if len(page.Deliveries) != 1 || page.Deliveries[0].Status != livebill.DeliveryPending {
		t.Fatalf("before the kill: %+v, want one pending delivery", page.Deliveries)
	}
	disabled := page.Deliveries[0].Notification.ID
	kill9(t, srv)
	if copies, _, _ := rcv.state(); len(copies) != 0 {
		t.Fatalf("sent before the kill: %v", copies)
	}

	// restart with the worker on: delivered
	srv, url = serveAt(t, bin, data, "100ms")
	c = lbhttp.NewClient(url)
	c.Key = key
	waitFor(t, "app.disabled delivered", func() bool { _, h, _ := rcv.state(); return len(h) == 1 })

	// 2. killed mid-delivery: the receiver holds app.enabled's request
	rcv.mu.Lock()
	rcv.hold = livebill.EventAppEnabled
	rcv.mu.Unlock()
	must(c.Do(ctx, "POST", "/v1/accounts/acct/apps/app1/enable", nil, nil))
	var enabled string
	select {
	case enabled = <-rcv.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("app.enabled was never sent")
	}
	kill9(t, srv) // sent, not acknowledged, not recorded
	close(rcv.release)

	// restart: sent again (once its lease of the killed attempt ends), the
	// same id; the receiver acknowledges it and handles it no second time
	srv, url = serveAt(t, bin, data, "100ms")
	c = lbhttp.NewClient(url)
	c.Key = key
	waitFor(t, "app.enabled sent again", func() bool { copies, _, _ := rcv.state(); return copies[enabled] == 2 })
	waitFor(t, "both delivered", func() bool {
		var p struct {
			Deliveries []livebill.Delivery `json:"deliveries"`
		}
		if c.Do(ctx, "GET", "/v1/deliveries?status=delivered", nil, &p) != nil {
			return false
		}
		return len(p.Deliveries) == 2
	})
	copies, handled, bad := rcv.state()
	if bad != 0 {
		t.Fatalf("%d deliveries had a bad signature", bad)
	}
	if len(handled) != 2 || handled[0].ID != disabled || handled[0].Type != livebill.EventAppDisabled ||
		handled[1].ID != enabled || handled[1].Type != livebill.EventAppEnabled {
		t.Fatalf("handled %+v, want app.disabled %s then app.enabled %s, once each", handled, disabled, enabled)
	}
	if copies[disabled] != 1 || copies[enabled] != 2 {
		t.Fatalf("copies received: %v; want app.disabled once (nothing was sent before the first kill) and app.enabled twice (the copy the kill cut, and the one acknowledged)", copies)
	}
	t.Logf("app.disabled %s: 1 copy; app.enabled %s: %d copies, handled once", disabled, enabled, copies[enabled])
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
