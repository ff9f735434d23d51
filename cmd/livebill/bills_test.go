package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"net/http"
	"net/http/httptest"

	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// testAdminKey is the operator key of the tests' servers.
const testAdminKey = "cli-test-operator-key-0123456789abcdef"

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// bills show settles, prints the day's bill and warns on stderr about the
// stored event the meter refused (a leave of a user who never joined).
// Settled a minute after the push, the day waits (its events arrived less
// than the quiet delay ago) and a note says so.
func TestBillsShowWarnsOfRejections(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	pushed := time.Date(2024, 10, 2, 12, 0, 0, 0, sh)
	clock := storetest.NewClock(pushed)
	ts := startTestServer(t, clock, nil)
	srv, c := ts.srv, ts.client
	ev := func(id, tm, typ, user string) string {
		return `{"id":"` + id + `","time":"` + tm + `","type":"` + typ + `","app":"1400000001","room":"r1","user":"` + user + `"}`
	}
	body := strings.Join([]string{
		ev("j", "2024-10-01T10:00:00+08:00", "room.join", "A"),
		ev("ghost", "2024-10-01T10:10:00+08:00", "room.leave", "B"),
		ev("l", "2024-10-01T10:30:00+08:00", "room.leave", "A"),
	}, "\n")
	if res, err := c.PushEvents(ctx, []byte(body)); err != nil || res.Accepted != 3 {
		t.Fatalf("push: %+v %v", res, err)
	}
	var out, errb bytes.Buffer
	clock.Set(pushed.Add(time.Minute))
	if err := cmdBills([]string{"show", "acct", "--server", srv.URL, "--key", testAdminKey, "--settle"}, &out, &errb); err != nil {
		t.Fatalf("bills show: %v\n%s", err, errb.String())
	}
	// quiet at 12:00 + 5 minutes, shown in the local zone
	until := pushed.Add(billing.DefaultSettleQuiet).Local().Format(time.DateTime)
	if !strings.Contains(out.String(), "0 bills") || !strings.Contains(errb.String(), "bills from 2024-10-01 on wait") || !strings.Contains(errb.String(), until) {
		t.Fatalf("settled a minute after the push:\nstdout %s\nstderr %s", out.String(), errb.String())
	}
	if _, _, code := runCLI(t, "bills", "show", "acct", "--server", srv.URL, "--key", testAdminKey, "--force"); code != 2 {
		t.Fatalf("--force without --settle: exit %d, want 2", code)
	}
	out.Reset()
	errb.Reset()
	clock.Set(pushed.Add(billing.DefaultSettleQuiet + time.Second))
	if err := cmdBills([]string{"show", "acct", "--server", srv.URL, "--key", testAdminKey, "--settle"}, &out, &errb); err != nil {
		t.Fatalf("bills show: %v\n%s", err, errb.String())
	}
	// A alone 30 minutes: 30 audio minutes × 0.99/1000 = 0.0297 → 0.03
	if !strings.Contains(out.String(), "daily bill 2024-10-01") || !strings.Contains(out.String(), "0.03") {
		t.Fatalf("stdout:\n%s", out.String())
	}
	if w := errb.String(); !strings.Contains(w, "1 stored events were refused") || !strings.Contains(w, `"ghost"`) {
		t.Fatalf("stderr: %q, want a warning naming the refused event", w)
	}
}

// testServer is a server on an in-memory SQLite store with the account
// acct (list prices, Asia/Shanghai) and its app 1400000001.
type testServer struct {
	store  *sqlstore.DB
	svc    *billing.Service
	srv    *httptest.Server
	client *lbhttp.Client
}

// startTestServer starts a testServer on clock; wrap, when not nil, wraps
// the API's handler.
func startTestServer(t *testing.T, clock *storetest.Clock, wrap func(http.Handler) http.Handler) *testServer {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, ":memory:", clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	api := lbhttp.NewServer(store, svc)
	api.AdminKey = testAdminKey
	h := api.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := lbhttp.NewClient(srv.URL)
	c.Key = testAdminKey
	for _, r := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-09-20", "timezone": "Asia/Shanghai"}},
		{"/v1/accounts/acct/apps", map[string]any{"id": "1400000001"}},
	} {
		if err := c.Do(ctx, "POST", r.path, r.body, nil); err != nil {
			t.Fatal(err)
		}
	}
	return &testServer{store: store, svc: svc, srv: srv, client: c}
}
