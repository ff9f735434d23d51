package storetest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/console"
	lbhttp "github.com/livebill/livebill/http"
)

// ConsoleEnv is a server with the web console and the API on one port,
// holding a month of an account's usage (console/testdata/month.yaml:
// account 100001 with an opening balance of 500, pushed through the API,
// settled, then a late event and its adjustments), a second account
// 200002 with a little usage, and
// a key of each account. The clock stands at 2024-10-20 12:20 in
// Shanghai: October 1–19 are closed days.
type ConsoleEnv struct {
	URL        string
	Admin      *lbhttp.Client
	KeyA, KeyB string // keys of 100001 and 200002
	Clock      *Clock
	Store      livebill.Store
	Svc        *billing.Service
	Console    *console.Server
}

// Console env accounts.
const (
	ConsoleAccount = "100001"
	OtherAccount   = "200002"
)

// NewConsoleEnv builds the env on a store open makes.
func NewConsoleEnv(t *testing.T, open Opener) *ConsoleEnv {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := NewClock(time.Date(2024, 10, 20, 12, 0, 0, 0, sh))
	store := open(t, clock)
	svc := billing.New(store, clock)
	svc.SettleDelay = time.Hour
	con, err := console.New(store, svc, AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	con.Status = svc // as serve has it
	api := lbhttp.NewServer(store, svc)
	api.AdminKey = AdminKey
	api.Console = con.Handler()
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	client := lbhttp.NewClient(srv.URL)
	client.Key = AdminKey
	e := &env{store: store, clock: clock, svc: svc, client: client}
	ce := &ConsoleEnv{URL: srv.URL, Admin: client, Clock: clock, Store: store, Svc: svc, Console: con}

	lines := setupScenarioAccount(t, e, filepath.Join(ModuleRoot(t), "console", "testdata", "month.yaml"), ConsoleAccount, "500", nil)
	if res := e.push(t, lines...); res.Accepted != len(lines) {
		t.Fatalf("push %d events: %+v", len(lines), res)
	}
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": OtherAccount, "catalog": "trtc", "created": "2024-09-01"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/"+OtherAccount+"/apps", map[string]any{"id": "1400000009"}, nil)
	other := func(id, tm, typ string) string {
		return `{"id":"` + id + `","time":"` + tm + `","type":"` + typ + `","app":"1400000009","room":"x","user":"u"}`
	}
	if res := e.push(t, other("o1", "2024-10-03T09:00:00+08:00", "room.join"), other("o2", "2024-10-03T09:10:00+08:00", "room.leave")); res.Accepted != 2 {
		t.Fatalf("push the other account's events: %+v", res)
	}
	settle := func() {
		clock.Set(clock.Now().Add(10 * time.Minute)) // the ingest is quiet
		for _, a := range []string{ConsoleAccount, OtherAccount} {
			e.mustDo(t, "POST", "/v1/accounts/"+a+"/settle", nil, nil)
		}
	}
	settle()
	// a late call on the 5th: its day and the days after it are adjusted
	late := func(id, tm, typ string) string {
		return `{"id":"` + id + `","time":"` + tm + `","type":"` + typ + `","app":"1400000001","room":"late","user":"X"}`
	}
	if res := e.push(t, late("late-1", "2024-10-05T09:00:00+08:00", "room.join"), late("late-2", "2024-10-05T09:30:00+08:00", "room.leave")); res.Accepted != 2 {
		t.Fatalf("push the late events: %+v", res)
	}
	settle()
	key := func(account string) string {
		var k lbhttp.KeyJSON
		if err := client.Do(ctx, "POST", "/v1/keys", map[string]any{"account": account, "name": "console"}, &k); err != nil {
			t.Fatal(err)
		}
		return k.Key
	}
	ce.KeyA, ce.KeyB = key(ConsoleAccount), key(OtherAccount)
	return ce
}

// ConsoleClient is a browser-like client: a cookie jar, no redirects
// followed (tests read them).
type ConsoleClient struct {
	t    testing.TB
	base string
	http *http.Client
	CSRF string // the session's form token, read from the last page
}

// Page is an answer of the console.
type Page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// NewConsoleClient returns a client of the console at base, not signed in.
func NewConsoleClient(t testing.TB, base string) *ConsoleClient {
	jar, _ := cookiejar.New(nil)
	return &ConsoleClient{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *ConsoleClient) do(req *http.Request) Page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		c.CSRF = m[1]
	}
	return Page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(b), Header: resp.Header}
}

// Get fetches a page.
func (c *ConsoleClient) Get(path string) Page {
	req, _ := http.NewRequest("GET", c.base+path, nil)
	return c.do(req)
}

// Post sends a form; the session's CSRF token is added unless the form
// has one.
func (c *ConsoleClient) Post(path string, form url.Values) Page {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.CSRF != "" {
		form.Set("csrf", c.CSRF)
	}
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// SignIn signs in with key and returns the answer to the sign-in form.
func (c *ConsoleClient) SignIn(key string) Page {
	c.Get("/sign-in") // the form's token and its cookie
	return c.Post("/sign-in", url.Values{"key": {key}})
}
