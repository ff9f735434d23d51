package http_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// A server serves its part of the route table (serve --roles): the other
// parts' routes answer 404 naming why, behind their usual guard; the
// operations routes are everyone's.
func TestServesParts(t *testing.T) {
	for _, c := range []struct {
		serves           lbhttp.Parts
		events, accounts int // statuses of POST /v1/events, GET /v1/accounts
	}{
		{0, 200, 200},
		{lbhttp.EventRoutes, 200, 404},
		{lbhttp.ReadRoutes, 404, 200},
		{lbhttp.OpsRoutes, 404, 404},
	} {
		s := api(t)
		s.Serves = c.serves
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		code, body := storetest.Call(t, "POST", srv.URL+"/v1/events", testAdminKey, []byte("[]"))
		if code != c.events || (code == 404 && !strings.Contains(string(body), "not served here")) {
			t.Errorf("serves %b: POST /v1/events: %d %s, want %d", c.serves, code, body, c.events)
		}
		if code, body = storetest.Call(t, "GET", srv.URL+"/v1/accounts", testAdminKey, nil); code != c.accounts {
			t.Errorf("serves %b: GET /v1/accounts: %d %s, want %d", c.serves, code, body, c.accounts)
		}
		if code, _ = storetest.Call(t, "GET", srv.URL+"/v1/accounts", "", nil); code != 401 {
			t.Errorf("serves %b: GET /v1/accounts without a key: %d, want 401 (the guard first)", c.serves, code)
		}
		if code, _ = storetest.Call(t, "GET", srv.URL+"/v1/health", "", nil); code != 200 {
			t.Errorf("serves %b: GET /v1/health: %d", c.serves, code)
		}
	}
}

// busy is an event sink that refuses every batch, as a full queue does.
type busy struct{}

type busyError struct{ err *livebill.Error }

func (e busyError) Error() string           { return e.err.Error() }
func (busyError) RetryAfter() time.Duration { return 5 * time.Second }
func (e busyError) Unwrap() error           { return e.err }

func (busy) StoreEvents(context.Context, []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	return nil, busyError{livebill.Errorf(livebill.EUNAVAILABLE, "the event queue is full")}
}

// A batch refused for a while is answered 503 unavailable with
// Retry-After, in seconds.
func TestRetryAfter(t *testing.T) {
	s := api(t)
	s.Billing.Events = busy{}
	ctx := context.Background()
	if _, err := s.Billing.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a", Catalog: "trtc", Created: time.Now().Format(time.DateOnly)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "a", ID: "app1"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ev := `{"id":"e1","time":"` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `","type":"room.join","app":"app1","room":"r","user":"u"}`
	req := httptest.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(ev))
	req.RequestURI = ""
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("a full queue: %d, Retry-After %q; want 503, 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
