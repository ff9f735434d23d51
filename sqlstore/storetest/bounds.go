package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// raw sends a request as a client would and returns the status and the
// body, so tests can check the status class and the field the answer
// names whatever the error format.
func (e *env) raw(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return e.rawHeader(t, method, path, body)
}

// rawHeader is raw with headers (name, value, …).
func (e *env) rawHeader(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.client.BaseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.client.Key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refused checks that a request is answered 4xx (want: the status, or 0
// for any 4xx) with a body naming each of names.
func (e *env) refused(t *testing.T, what string, want int, method, path, body string, names ...string) {
	t.Helper()
	code, got := e.raw(t, method, path, body)
	if code < 400 || code >= 500 || (want != 0 && code != want) {
		t.Errorf("%s: %s %s answered %d, want %d: %.300s", what, method, path, code, want, got)
		return
	}
	for _, n := range names {
		if !strings.Contains(got, n) {
			t.Errorf("%s: %s %s: the answer does not name %q: %.300s", what, method, path, n, got)
		}
	}
}

// testBadInputs pushes each bad input of the input limits through the
// API — times far from the clock or the period, ids with NUL bytes or of
// thousands of bytes, path segments %00 and %ff, unbounded usage ranges,
// purchases of unknown plans or for other accounts' apps, a catalog with
// a null item — and checks each gets a 4xx naming the field, the valid
// events of a batch are kept, and the account still quotes. PostgreSQL
// answered several of these 500 and dropped the whole batch.
func testBadInputs(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, sh)
	e := newEnv(t, open, now)
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2026-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil)
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "other", "catalog": "trtc", "created": "2026-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/other/apps", map[string]any{"id": "app2"}, nil)

	// a batch: two good events kept, every bad one refused naming its field
	ev := func(id, tm, typ, user string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"type":%q,"app":"app1","room":"r1","user":%q}`, id, tm, typ, user)
	}
	long := strings.Repeat("x", 3000)
	batch := []string{
		ev("j", "2026-03-10T10:00:00+08:00", "room.join", "A"),
		ev("y24", "0024-10-01T10:00:00+08:00", "room.join", "B"),
		ev("y1970", "1970-01-01T00:00:01Z", "room.join", "C"),
		ev("future", "2026-03-10T14:00:00+08:00", "room.join", "D"), // 2 h ahead; 1 h allowed
		ev("old", "2024-01-09T10:00:00+08:00", "room.join", "E"),    // 791 days back; 730 allowed
		`{"id":"a\u0000b","time":"2026-03-10T10:00:00+08:00","type":"room.join","app":"app1","room":"r1","user":"F"}`,
		ev(long, "2026-03-10T10:00:00+08:00", "room.join", "G"),
		`{"id":"nul-room","time":"2026-03-10T10:00:00+08:00","type":"room.join","app":"app1","room":"r\u0000","user":"H"}`,
		ev("long-user", "2026-03-10T10:00:00+08:00", "room.join", strings.Repeat("u", 300)),
		ev("l", "2026-03-10T10:30:00+08:00", "room.leave", "A"),
	}
	res := e.push(t, batch...)
	if res.Accepted != 2 || res.Rejected != 8 {
		t.Fatalf("batch: %+v, want 2 accepted and 8 rejected", res)
	}
	wantField := map[int]string{2: "time", 3: "time", 4: "time", 5: "time", 6: "id", 7: "id", 8: "room", 9: "user"}
	for _, r := range res.Errors {
		f := wantField[r.Line]
		if r.Code != livebill.EINVALID || !strings.Contains(r.Error, fmt.Sprintf("field %q", f)) || len(r.Error) > 400 || len(r.ID) > livebill.MaxIDLen {
			t.Errorf("line %d: %+v, want an invalid event naming %s", r.Line, r, f)
		}
	}

	// requests
	e.refused(t, "a scenario with a join in 2024 and events in 2099 and 9999", 400, "POST", "/v1/quote",
		"catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\nevents:\n"+
			"  - {time: \"2024-10-01T10:00:00+08:00\", type: room.join, app: a, room: r, user: A}\n"+
			"  - {time: \"2099-12-31T10:00:00+08:00\", type: room.leave, app: a, room: r, user: B}\n"+
			"  - {time: \"9999-12-31T10:00:00+08:00\", type: room.leave, app: a, room: r, user: A}\n",
		`field \"time\"`, "after period.to", "outside the years")
	e.refused(t, "usage over 100 years in 5-minute windows", 400, "GET", "/v1/accounts/acct/usage?from=2000-01-01&to=2100-01-01&granularity=5m", "", "to:")
	e.refused(t, "usage over two years by day", 400, "GET", "/v1/accounts/acct/usage?from=2024-01-01&to=2026-01-01&granularity=day", "", "to:")
	e.refused(t, "an account quote over 76 years", 400, "GET", "/v1/accounts/acct/quote?from=2024-01-01&to=2100-01-01", "", "to:")
	// one day in the year 9999: within the range limits, but the live
	// meter would run forward to it (seconds of CPU a request)
	e.refused(t, "usage of a day in 9999", 400, "GET", "/v1/accounts/acct/usage?from=9999-12-01&to=9999-12-02", "", "from:", "outside the years 2000 to 2099")
	e.refused(t, "usage by day of a day in 1999", 400, "GET", "/v1/accounts/acct/usage?from=1999-12-01&to=1999-12-02&granularity=day", "", "from:", "outside the years")
	e.refused(t, "an account quote of a day in 9999", 400, "GET", "/v1/accounts/acct/quote?from=9999-12-01&to=9999-12-02", "", "from:", "outside the years 2000 to 2099")
	e.refused(t, "an account quote to 3000", 400, "GET", "/v1/accounts/acct/quote?from=2099-12-01&to=3000-01-01", "", "to:", "outside the years")
	// the bounds are calendar dates, whatever the account's zone: the
	// first month (Shanghai, east of UTC) and the last (an account on UTC,
	// and one west of it) are accepted, by usage and quotes alike
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "utc", "catalog": "trtc", "created": "2026-01-10", "timezone": "UTC"}, nil)
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "ny", "catalog": "trtc", "created": "2026-01-10", "timezone": "America/New_York"}, nil)
	for _, path := range []string{"/v1/accounts/acct/quote?from=2000-01-01&to=2000-02-01", "/v1/accounts/acct/usage?from=2000-01-01&to=2000-01-02",
		"/v1/accounts/utc/quote?from=2099-12-01&to=2100-01-01", "/v1/accounts/utc/usage?from=2099-12-31&to=2100-01-01",
		"/v1/accounts/ny/quote?from=2099-12-01&to=2100-01-01", "/v1/accounts/ny/usage?from=2099-12-31&to=2100-01-01&granularity=day"} {
		var out json.RawMessage
		e.mustDo(t, "GET", path, nil, &out)
	}
	for _, seg := range []string{"%00", "%ff", "a%00b", url.PathEscape(long)} {
		e.refused(t, "account id "+seg[:min(len(seg), 8)], 0, "GET", "/v1/accounts/"+seg, "")
		e.refused(t, "account id "+seg[:min(len(seg), 8)], 0, "GET", "/v1/accounts/"+seg+"/purchases", "")
		e.refused(t, "purchase id "+seg[:min(len(seg), 8)], 0, "POST", "/v1/accounts/acct/purchases/"+seg+"/cancel", "")
		e.refused(t, "app id "+seg[:min(len(seg), 8)], 0, "POST", "/v1/ingest/trtc/"+seg, "{}")
	}
	// query values and cursors reach the store: no NUL byte, no control
	// character, valid UTF-8 (PostgreSQL refuses a NUL in text)
	for _, q := range []string{"/v1/deliveries?account=%00", "/v1/deliveries?endpoint=a%00b", "/v1/deliveries?account=%ff",
		"/v1/accounts?after=" + livebill.Cursor("accounts", "a\x00"), "/v1/accounts/acct/bills?after=" + livebill.Cursor("bills", "1\x00"),
		"/v1/accounts/acct/usage?from=2026-03-01%00&to=2026-03-02"} {
		e.refused(t, "a query "+q, 400, "GET", q, "")
	}
	for _, id := range []string{".", ".."} { // path segments naming another path (and, once, archives outside their directory)
		e.refused(t, "an account id "+id, 400, "POST", "/v1/accounts", `{"id":"`+id+`","catalog":"trtc","created":"2026-01-10"}`, "account id:", "is no id")
		e.refused(t, "an app id "+id, 400, "POST", "/v1/accounts/acct/apps", `{"id":"`+id+`"}`, "app id:")
	}
	e.refused(t, "an account id with a NUL byte", 400, "POST", "/v1/accounts", `{"id":"a\u0000","catalog":"trtc","created":"2026-01-10"}`, "account id:")
	e.refused(t, "an account id of 3000 bytes", 400, "POST", "/v1/accounts", `{"id":"`+long+`","catalog":"trtc","created":"2026-01-10"}`, "account id:")
	e.refused(t, "an account created in 0024", 400, "POST", "/v1/accounts", `{"id":"old","catalog":"trtc","created":"0024-01-10"}`, "created:")
	e.refused(t, "a catalog with a null item", 400, "POST", "/v1/accounts", `{"id":"c1","catalog":"mine","catalog_yaml":"extends: trtc\nitems: [null]\n","created":"2026-01-10"}`, "items[0]: null")
	e.refused(t, "a catalog with a null plan", 400, "POST", "/v1/accounts", `{"id":"c2","catalog":"mine","catalog_yaml":"extends: trtc\nplans: [~]\n","created":"2026-01-10"}`, "plans[0]: null")
	e.refused(t, "an app id with a NUL byte", 400, "POST", "/v1/accounts/acct/apps", `{"id":"x\u0000"}`, "app id:")
	e.refused(t, "a purchase of an unknown plan", 400, "POST", "/v1/accounts/acct/purchases", `{"id":"p1","app":"app1","plan":"nope","start":"2026-03-01"}`, "plan:", "nope")
	e.refused(t, "a purchase for another account's app", 400, "POST", "/v1/accounts/acct/purchases", `{"id":"p2","app":"app2","plan":"rtc-engine.lite","start":"2026-03-01"}`, "app:")
	e.refused(t, "a per-app plan for no app", 400, "POST", "/v1/accounts/acct/purchases", `{"id":"p3","plan":"rtc-engine.lite","start":"2026-03-01"}`, "app:")
	e.refused(t, "a purchase of a billion units", 400, "POST", "/v1/accounts/acct/purchases", `{"id":"p4","app":"app1","plan":"rtc-engine.lite","count":1000000000,"start":"2026-03-01"}`, "count:")
	e.refused(t, "a purchase starting in 0024", 400, "POST", "/v1/accounts/acct/purchases", `{"id":"p5","app":"app1","plan":"rtc-engine.lite","start":"0024-03-01"}`, "start:")
	e.refused(t, "a refund of no purchase", 404, "POST", "/v1/accounts/acct/refunds", `{"purchase":"nope","time":"2026-03-02"}`, "purchase:")
	e.refused(t, "a top-up of 10^20", 400, "POST", "/v1/accounts/acct/topups", `{"id":"t1","amount":"100000000000000000000"}`, "amount:")
	// a LiveKit token (unverified until its key is found) naming a key with a NUL byte
	lkClaims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"k\u0000","sha256":"x"}`))
	if code, got := e.rawHeader(t, "POST", "/v1/ingest/livekit", "{}", "Authorization", "Bearer e30."+lkClaims+".c2ln"); code != 401 {
		t.Errorf("a LiveKit key with a NUL byte: %d %.300s, want 401", code, got)
	}
	e.refused(t, "a webhook secret with a NUL byte", 400, "PUT", "/v1/accounts/acct/apps/app1/webhook", `{"vendor":"trtc","secret":"k\u0000"}`, "secret:")
	e.refused(t, "a camera of 2^40 × 2^40", 400, "POST", "/v1/accounts/acct/devices", `{"id":"d1","cameras":[{"width":1099511627776,"height":1099511627776}]}`, "cameras[0]:")

	// nothing refused was stored, and the account still quotes: A alone
	// in r1 for 30 minutes, 30 audio minutes
	var ps struct{ Purchases []livebill.StoredPurchase }
	e.mustDo(t, "GET", "/v1/accounts/acct/purchases", nil, &ps)
	if len(ps.Purchases) != 0 {
		t.Errorf("purchases stored: %+v", ps.Purchases)
	}
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2026-03-10&to=2026-03-11", nil, &q)
	if len(q.Usage) != 1 || q.Usage[0].Item != "trtc.av.audio" || q.Usage[0].Quantity != "30" {
		t.Errorf("quote after the bad inputs: %+v", q)
	}
}

// testPurchaseChecks: a purchase is checked against its account — the
// plan in its catalog, the app its own (per-app plans need one), the
// device its own (licences need one), the plan rules (one edition of a
// product per app at a time) — and a refund against the purchase; an
// operator can cancel a purchase, after which it is not rated, its bills
// are adjusted, and it cannot be refunded.
func testPurchaseChecks(t *testing.T, open Opener) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	e := newEnv(t, open, time.Date(2024, 10, 2, 1, 0, 0, 0, sh)) // an hour before the settlement: quiet by then
	ctx := context.Background()
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-01-10"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "lite", "app": "app1", "plan": "rtc-engine.lite", "start": "2024-10-01"}, nil)
	// the pro edition while lite runs (until 2024-11-01) breaks SPEC §4's rule
	e.refused(t, "a second edition for the app", 409, "POST", "/v1/accounts/acct/purchases",
		`{"id":"pro","app":"app1","plan":"rtc-engine.pro","start":"2024-10-15"}`, "one rtc-engine edition per app at a time")
	// the monitoring dashboard is account-wide: no app needed
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases", map[string]any{"id": "mon", "plan": "monitoring.standard", "start": "2024-10-01"}, nil)
	// a refund before the plan ran
	e.refused(t, "a refund before the purchase", 409, "POST", "/v1/accounts/acct/refunds", `{"purchase":"lite","time":"2024-09-20"}`, "lite")

	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "plant", "catalog": "industrial", "created": "2024-01-10"}, nil)
	e.refused(t, "a licence for no device", 400, "POST", "/v1/accounts/plant/purchases", `{"id":"l1","plan":"industrial.license","start":"2024-10-01"}`, "device:")
	e.refused(t, "a licence for an unknown device", 400, "POST", "/v1/accounts/plant/purchases", `{"id":"l1","plan":"industrial.license","device":"d9","start":"2024-10-01"}`, "device:")
	e.mustDo(t, "POST", "/v1/accounts/plant/devices", map[string]any{"id": "d1", "cameras": []map[string]int{{"width": 1920, "height": 1080}}}, nil)
	e.mustDo(t, "POST", "/v1/accounts/plant/purchases", map[string]any{"id": "l1", "plan": "industrial.license", "device": "d1", "start": "2024-10-01"}, nil)

	// settle Oct 1: lite's and the dashboard's purchase bills are issued
	e.clock.Set(time.Date(2024, 10, 2, 2, 0, 0, 0, sh))
	if _, err := e.svc.Settle(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	billed := func() map[string]string { // item → total issued, adjustments included
		bills, err := e.store.ListBills(ctx, "acct")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, b := range bills {
			for _, l := range b.Lines {
				out[l.Item] = addDec(t, out[l.Item], l.Amount)
			}
		}
		return out
	}
	// lite 49.5 USD, the dashboard 4,999 USD (catalog trtc)
	if got := billed(); got["rtc-engine.lite"] != "49.5" || got["monitoring.standard"] != "4999" {
		t.Fatalf("issued before cancelling: %v", got)
	}
	var p livebill.StoredPurchase
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases/mon/cancel", nil, &p)
	if p.Cancelled == "" || p.ID != "mon" {
		t.Fatalf("cancelled: %+v", p)
	}
	var again livebill.StoredPurchase
	e.mustDo(t, "POST", "/v1/accounts/acct/purchases/mon/cancel", nil, &again)
	if again.Cancelled != p.Cancelled {
		t.Fatalf("cancelling twice: %+v, then %+v", p, again)
	}
	e.refused(t, "cancelling no purchase", 404, "POST", "/v1/accounts/acct/purchases/nope/cancel", "")
	e.refused(t, "a refund of a cancelled purchase", 409, "POST", "/v1/accounts/acct/refunds", `{"purchase":"mon","time":"2024-10-02"}`, "cancelled")
	var ps struct{ Purchases []livebill.StoredPurchase }
	e.mustDo(t, "GET", "/v1/accounts/acct/purchases", nil, &ps)
	if len(ps.Purchases) != 2 || ps.Purchases[1].ID != "mon" || ps.Purchases[1].Cancelled == "" {
		t.Fatalf("purchases listed: %+v", ps.Purchases)
	}
	// the next settlement adjusts the dashboard's bill to nothing
	e.clock.Set(time.Date(2024, 10, 3, 2, 0, 0, 0, sh))
	if _, err := e.svc.Settle(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	if got := billed(); got["rtc-engine.lite"] != "49.5" || got["monitoring.standard"] != "0" {
		t.Fatalf("issued after cancelling: %v", got)
	}
}

// addDec adds two decimal strings exactly ("" is 0).
func addDec(t *testing.T, a, b string) string {
	t.Helper()
	sum := money.Zero
	for _, s := range []string{a, b} {
		if s == "" {
			continue
		}
		d, err := money.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		sum = sum.Add(d)
	}
	return sum.String()
}

// testPurchasesConcurrent: purchases of one account made at once all get
// a place in the order made. On PostgreSQL the place (MAX(seq) + 1) was
// read before the account was locked, so two purchases took the same
// place, and after a few retries some failed with an internal error.
func testPurchasesConcurrent(t *testing.T, open Opener) {
	e := newEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()
	for _, id := range []string{"a1", "a2"} {
		e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "cloudgaming", "created": "2024-01-10"}, nil)
	}
	const n = 24
	run := func(create func(i int) error) {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = create(i)
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("purchase %d: %v", i, err)
			}
		}
	}
	// straight to the store (its transaction is what raced) …
	run(func(i int) error {
		_, err := e.store.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: "a1", ID: fmt.Sprintf("s%d", i),
			Plan: "cloudgaming.desktop.s1.standard", Count: 1, Start: "2024-10-01"})
		return err
	})
	// … and through the API
	run(func(i int) error {
		body := fmt.Sprintf(`{"id":"h%d","plan":"cloudgaming.desktop.s1.hd","count":1,"start":"2024-10-01"}`, i)
		code, got := e.raw(t, "POST", "/v1/accounts/a2/purchases", body)
		if code != 201 {
			return fmt.Errorf("%d %s", code, got)
		}
		return nil
	})
	for _, id := range []string{"a1", "a2"} {
		ps, err := e.store.ListPurchases(ctx, id)
		if err != nil || len(ps) != n {
			t.Fatalf("account %s: %d purchases stored, want %d (%v)", id, len(ps), n, err)
		}
	}
	// all of them are rated: 24 × 897 CNY (S1 standard) on Oct 1
	q, err := e.svc.Quote(ctx, "a1", "2024-10-01", "2024-10-02")
	if err != nil || q.Total != "21528.00" {
		t.Fatalf("quote of the 24 purchases: %+v %v", q, err)
	}
}
