package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/console"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/money"
)

// fillPage makes a page of the console's table into a path for account
// acct, with the query a download needs.
func fillPage(p console.Page, acct string) string {
	path := strings.NewReplacer("{$}", "", "{id}", acct, "{seq}", "1", "{month}", "2024-10").Replace(p.Path)
	switch {
	case path == "/static/":
		path = "/static/console.css"
	case strings.HasSuffix(path, "/usage/download"):
		path += "?format=csv&from=2024-10-01&to=2024-10-02"
	case strings.HasSuffix(path, "/download"):
		path += "?format=csv"
	}
	return path
}

// testConsoleAuth walks the console's page table: without a session every
// page but the public ones sends GETs to sign in and refuses POSTs (401);
// a wrong key makes no session; an account key gets 403 on operator pages
// and 404 on another account's pages (as for an account that does not
// exist), and opens its own; forms need the session's CSRF token;
// cross-site posts are refused; a revoked key's session ends; sign-out
// and the idle timeout end sessions. The cookie holds neither the key nor
// anything but a random id, and is HttpOnly and SameSite=Strict.
func testConsoleAuth(t *testing.T, open Opener) {
	e := NewConsoleEnv(t, open)
	anon := NewConsoleClient(t, e.URL)
	a := NewConsoleClient(t, e.URL)
	if p := a.SignIn(e.KeyA); p.Status != http.StatusSeeOther || p.Location != "/" {
		t.Fatalf("sign in with the account key: %d %s", p.Status, p.Location)
	}
	if p := a.Get("/"); p.Location != "/accounts/"+ConsoleAccount {
		t.Errorf("an account key's home: %q, want its account", p.Location)
	}
	admin := NewConsoleClient(t, e.URL)
	admin.SignIn(AdminKey)
	wrong := NewConsoleClient(t, e.URL)
	if p := wrong.SignIn(e.KeyA[:len(e.KeyA)-2] + "xx"); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "not valid") {
		t.Errorf("wrong key: %d, want 401 with the reason", p.Status)
	}
	for _, pg := range e.Console.Pages() {
		own, other := fillPage(pg, ConsoleAccount), fillPage(pg, OtherAccount)
		name := pg.Method + " " + pg.Path
		send := func(c *ConsoleClient, path string) Page {
			if pg.Method == "POST" {
				return c.Post(path, url.Values{})
			}
			return c.Get(path)
		}
		switch pg.Access {
		case console.Public:
			continue
		case console.Session, console.Operator, console.Account:
		default:
			t.Errorf("%s: access %q is not a level", name, pg.Access)
			continue
		}
		for who, c := range map[string]*ConsoleClient{"no session": anon, "a wrong key": wrong} {
			p := send(c, own)
			if pg.Method == "GET" && (p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/sign-in?next=")) {
				t.Errorf("%s with %s: %d %q, want 303 to /sign-in", name, who, p.Status, p.Location)
			}
			if pg.Method == "POST" && p.Status != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d, want 401", name, who, p.Status)
			}
		}
		switch pg.Access {
		case console.Operator:
			if p := send(a, own); p.Status != http.StatusForbidden {
				t.Errorf("%s with an account key: %d, want 403", name, p.Status)
			}
			if pg.Method == "GET" {
				if p := admin.Get(own); p.Status != http.StatusOK {
					t.Errorf("%s with the operator key: %d", name, p.Status)
				}
			}
		case console.Account:
			if p := send(a, other); p.Status != http.StatusNotFound || strings.Contains(p.Body, "1400000009") {
				t.Errorf("%s of another account with an account key: %d, want 404 telling nothing", name, p.Status)
			}
			if p := send(a, own); p.Status != http.StatusOK {
				t.Errorf("%s of its own account with an account key: %d %.300s", name, p.Status, p.Body)
			}
			// the operator opens any account (200; a bill the account lacks is 404, not the account)
			if p := admin.Get(other); p.Status != http.StatusOK && (p.Status != http.StatusNotFound || !strings.Contains(p.Body, "bill 1 of account")) {
				t.Errorf("%s of %s with the operator key: %d", name, OtherAccount, p.Status)
			}
		case console.Session:
			if pg.Method == "GET" {
				if p := a.Get(own); p.Status != http.StatusOK {
					t.Errorf("%s with an account key: %d", name, p.Status)
				}
			}
		}
	}
	// paths outside the table, with any method, signed in or not: 404
	// (a form posted there without a session once panicked)
	for _, path := range []string{"/nonexistent", "/language", "/accounts/" + ConsoleAccount + "/nothing"} {
		for who, c := range map[string]*ConsoleClient{"no session": anon, "a wrong key": wrong, "an account key": a, "the operator key": admin} {
			if p := c.Post(path, url.Values{"x": {"1"}}); p.Status != http.StatusNotFound {
				t.Errorf("POST %s with %s: %d, want 404", path, who, p.Status)
			}
		}
	}
	// a missing account and another's look the same
	if p, q := a.Get("/accounts/nobody"), a.Get("/accounts/"+OtherAccount); p.Status != q.Status || strings.ReplaceAll(p.Body, "nobody", OtherAccount) != q.Body {
		t.Errorf("another account (%d) is told apart from a missing one (%d)", q.Status, p.Status)
	}
	// forms need the session's token; a page of another site cannot post
	if p := admin.Post("/accounts", url.Values{"csrf": {"forged"}, "id": {"csrf-victim"}, "catalog": {"trtc"}, "created": {"2024-10-01"}}); p.Status != http.StatusForbidden {
		t.Errorf("a form with a wrong token: %d, want 403", p.Status)
	}
	if _, err := e.Store.FindAccount(context.Background(), "csrf-victim"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Errorf("the refused form made its account: %v", err)
	}
	req, _ := http.NewRequest("POST", e.URL+"/accounts", strings.NewReader(url.Values{"csrf": {admin.CSRF}, "id": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := admin.do(req); p.Status != http.StatusForbidden {
		t.Errorf("a cross-site post: %d, want 403", p.Status)
	}
	// the sign-in form needs its own token too
	fresh := NewConsoleClient(t, e.URL)
	if p := fresh.Post("/sign-in", url.Values{"key": {AdminKey}, "csrf": {"guess"}}); p.Status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", p.Status)
	}
	// the cookie: a random id, HttpOnly, SameSite=Strict, for the console
	c := NewConsoleClient(t, e.URL)
	c.Get("/sign-in")
	resp := c.Post("/sign-in", url.Values{"key": {e.KeyA}})
	var sess *http.Cookie
	for _, ck := range (&http.Response{Header: resp.Header}).Cookies() {
		if ck.Name == "livebill_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Secure ||
		strings.Contains(sess.Value, e.KeyA) || strings.Contains(sess.Value, "lbk_") || len(sess.Value) < 40 {
		t.Errorf("session cookie %+v", sess)
	}
	// behind a TLS proxy the cookies are Secure
	tls := NewConsoleClient(t, e.URL)
	tls.Get("/sign-in")
	req, _ = http.NewRequest("POST", e.URL+"/sign-in", strings.NewReader(url.Values{"key": {e.KeyA}, "csrf": {tls.CSRF}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	if p := tls.do(req); !strings.Contains(p.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("over TLS the cookie is not Secure: %q", p.Header.Get("Set-Cookie"))
	}
	// a revoked key's sessions end
	b := NewConsoleClient(t, e.URL)
	b.SignIn(e.KeyB)
	if p := b.Get("/accounts/" + OtherAccount); p.Status != http.StatusOK {
		t.Fatalf("key B on its account: %d", p.Status)
	}
	keys, err := e.Admin.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Account == OtherAccount {
			if err := e.Admin.Do(context.Background(), "DELETE", "/v1/keys/"+k.ID, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := b.Get("/accounts/" + OtherAccount); p.Status != http.StatusSeeOther {
		t.Errorf("after the key was revoked: %d, want 303 to sign in", p.Status)
	}
	// sign-out ends the session
	if p := a.Post("/sign-out", nil); p.Status != http.StatusSeeOther {
		t.Errorf("sign out: %d", p.Status)
	}
	if p := a.Get("/accounts/" + ConsoleAccount); p.Status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d, want 303", p.Status)
	}
	// a session unused for longer than the idle time ends
	e.Clock.Set(e.Clock.Now().Add(console.DefaultSessionIdle + time.Minute))
	if p := admin.Get("/accounts"); p.Status != http.StatusSeeOther {
		t.Errorf("after %v idle: %d, want 303", console.DefaultSessionIdle, p.Status)
	}
}

var (
	reAmount = func(id string) *regexp.Regexp {
		return regexp.MustCompile(`id="` + id + `"[^>]*>[\s\S]*?data-amount="([^"]*)"`)
	}
	rePack      = regexp.MustCompile(`data-pack="([^"]+)">[\s\S]*?data-remaining="([^"]*)"`)
	reTotal     = regexp.MustCompile(`data-item="([^"]+)" data-total="(\d+)"`)
	reBill      = regexp.MustCompile(`(?s)<article class="bill" id="bill-(\d+)" data-bill="\d+" data-kind="([a-z]+)".*?</article>`)
	reLine      = regexp.MustCompile(`(?s)data-item="([^"]*)" data-app="([^"]*)">.*?data-amount="([^"]*)"`)
	reBillTotal = regexp.MustCompile(`data-total="([^"]*)"`)
	reAdjusts   = regexp.MustCompile(`data-adjusts="(\d+)"`)
)

func match(t *testing.T, re *regexp.Regexp, body, what string) []string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s: not on the page", what)
	}
	return m
}

// testConsoleFigures: what the pages show equals what the API answers for
// the same account and range — the month to date and the packs (the
// quote of the closed days), the forecast by its rule, the usage charts'
// totals (the usage of the same range and granularity), every issued
// bill's lines and total, adjustments linked to the bills they correct,
// the statement — for the operator and for the account's own key.
func testConsoleFigures(t *testing.T, open Opener) {
	e := NewConsoleEnv(t, open)
	ctx := context.Background()
	api := e.Admin
	var q livebill.Quote
	if err := api.Do(ctx, "GET", "/v1/accounts/"+ConsoleAccount+"/quote?from=2024-10-01&to=2024-10-20", nil, &q); err != nil {
		t.Fatal(err)
	}
	// the forecast rule: total + daily bills ÷ 19 closed days × 12 days left, rounded to the cent
	daily := money.Zero
	for _, b := range q.Bills {
		if b.Kind == livebill.BillDaily {
			daily = daily.Add(money.MustParse(b.Total))
		}
	}
	forecast := money.MustParse(q.Total).Add(daily.Mul(money.Int(12)).DivRound(money.Int(19), 12)).Round(2).StringFixed(2)
	var bills []livebill.IssuedBill
	for after := ""; ; {
		var page lbhttp.BillsJSON
		if err := api.Do(ctx, "GET", "/v1/accounts/"+ConsoleAccount+"/bills?after="+after, nil, &page); err != nil {
			t.Fatal(err)
		}
		bills = append(bills, page.Bills...)
		if after = page.Next; after == "" {
			break
		}
	}
	var st livebill.Statement
	if err := api.Do(ctx, "GET", "/v1/accounts/"+ConsoleAccount+"/statements/2024-10", nil, &st); err != nil {
		t.Fatal(err)
	}
	var acct struct{ Balance, State string }
	if err := api.Do(ctx, "GET", "/v1/accounts/"+ConsoleAccount, nil, &acct); err != nil || acct.Balance == "" {
		t.Fatalf("account: %+v %v", acct, err)
	}
	admin := NewConsoleClient(t, e.URL)
	admin.SignIn(AdminKey)
	own := NewConsoleClient(t, e.URL)
	own.SignIn(e.KeyA)
	for who, c := range map[string]*ConsoleClient{"operator": admin, "account key": own} {
		p := c.Get("/accounts/" + ConsoleAccount)
		if got := match(t, reAmount("mtd"), p.Body, "month to date")[1]; got != q.Total {
			t.Errorf("%s: month to date %s, the API's quote %s", who, got, q.Total)
		}
		if got := match(t, reAmount("forecast"), p.Body, "forecast")[1]; got != forecast {
			t.Errorf("%s: forecast %s, by the rule %s", who, got, forecast)
		}
		if got := match(t, reAmount("standing"), p.Body, "balance")[1]; got != acct.Balance {
			t.Errorf("%s: balance %s, the API's %s", who, got, acct.Balance)
		}
		if got := match(t, regexp.MustCompile(`id="state">([^<]*)<`), p.Body, "state")[1]; !strings.EqualFold(got, acct.State) {
			t.Errorf("%s: state %q, the API's %s", who, got, acct.State)
		}
		packs := map[string]string{}
		for _, m := range rePack.FindAllStringSubmatch(p.Body, -1) {
			packs[m[1]] = m[2]
		}
		if len(packs) != len(q.Packs) || len(q.Packs) == 0 {
			t.Errorf("%s: %d packs shown, the API's quote has %d", who, len(packs), len(q.Packs))
		}
		for _, pk := range q.Packs {
			if packs[pk.ID] != pk.Remaining {
				t.Errorf("%s: pack %s remaining %q, the API's %s", who, pk.ID, packs[pk.ID], pk.Remaining)
			}
		}
		// usage: the month's closed days, and one day's 5-minute windows
		for _, u := range []struct{ page, from, to, gran string }{
			{"/accounts/" + ConsoleAccount + "/usage", "2024-10-01", "2024-10-20", "day"},
			{"/accounts/" + ConsoleAccount + "/usage?day=2024-10-05", "2024-10-05", "2024-10-06", "5m"},
		} {
			pts, err := api.Usage(ctx, ConsoleAccount, u.from, u.to, u.gran)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{}
			for _, pt := range pts {
				want[pt.Item] += pt.Value
			}
			got := map[string]int64{}
			for _, m := range reTotal.FindAllStringSubmatch(c.Get(u.page).Body, -1) {
				got[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
			}
			if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s totals %v, the API's usage %v", who, u.page, got, want)
			}
		}
		// bills: every issued bill, its lines, total and what it adjusts
		seqOf := map[string]int64{}
		for _, b := range bills {
			if b.Kind != livebill.BillAdjustment {
				seqOf[b.Key] = b.Seq
			}
		}
		shown := map[string]string{}
		page := c.Get("/accounts/" + ConsoleAccount + "/bills")
		for _, m := range reBill.FindAllStringSubmatch(page.Body, -1) {
			shown[m[1]] = m[0]
		}
		adjustments := 0
		for _, b := range bills {
			html, ok := shown[strconv.FormatInt(b.Seq, 10)]
			if !ok {
				t.Errorf("%s: bill %d is not on the bills page", who, b.Seq)
				continue
			}
			var lines []string
			for _, m := range reLine.FindAllStringSubmatch(html, -1) {
				lines = append(lines, m[1]+"@"+m[2]+"="+m[3])
			}
			var want []string
			for _, l := range b.Lines {
				want = append(want, l.Item+"@"+l.App+"="+l.Amount)
			}
			if fmt.Sprint(lines) != fmt.Sprint(want) {
				t.Errorf("%s: bill %d lines %v, the API's %v", who, b.Seq, lines, want)
			}
			if tot := reBillTotal.FindAllStringSubmatch(html, -1); len(tot) == 0 || tot[len(tot)-1][1] != b.Total {
				t.Errorf("%s: bill %d total %v, the API's %s", who, b.Seq, tot, b.Total)
			}
			if b.Kind == livebill.BillAdjustment {
				adjustments++
				m := reAdjusts.FindStringSubmatch(html)
				if m == nil || m[1] != strconv.FormatInt(seqOf[b.Adjusts], 10) {
					t.Errorf("%s: adjustment %d links to %v, it adjusts %s (bill %d)", who, b.Seq, m, b.Adjusts, seqOf[b.Adjusts])
				}
			}
		}
		if adjustments == 0 {
			t.Errorf("the late event made no adjustment: nothing to link")
		}
		sp := c.Get("/accounts/" + ConsoleAccount + "/statements/2024-10")
		if got := match(t, regexp.MustCompile(`data-amount="([^"]*)" id="statement-total"`), sp.Body, "statement total")[1]; got != st.Total {
			t.Errorf("%s: statement total %s, the API's %s", who, got, st.Total)
		}
		// the download holds a row per line of the month's bills
		csv := c.Get("/accounts/" + ConsoleAccount + "/statements/2024-10/download?format=csv")
		rows := strings.Count(strings.TrimSpace(csv.Body), "\n")
		n := 0
		for _, b := range st.Bills {
			n += max(len(b.Lines), 1)
		}
		if csv.Status != http.StatusOK || rows != n || !strings.HasPrefix(csv.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%s: statement CSV %d with %d rows, the statement has %d lines", who, csv.Status, rows, n)
		}
		x := c.Get("/accounts/" + ConsoleAccount + "/usage/download?format=xlsx&from=2024-10-01&to=2024-10-20")
		if x.Status != http.StatusOK || !strings.HasPrefix(x.Body, "PK") {
			t.Errorf("%s: usage XLSX %d", who, x.Status)
		}
	}
	// purchases: each with the refund rule of its plan
	p := own.Get("/accounts/" + ConsoleAccount + "/purchases")
	for _, want := range []string{`data-purchase="lite-1"`, `data-purchase="lite-2"`, "within 5 days"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("purchases page lacks %q", want)
		}
	}
}

// testConsoleForms: the operator's forms call the API's services: a
// refused form shows each of the API's messages for the same input and
// keeps what was typed; accepted ones make what the API then lists; a
// webhook secret is never shown back. The calculator quotes like POST
// /v1/quote.
func testConsoleForms(t *testing.T, open Opener) {
	e := NewConsoleEnv(t, open)
	ctx := context.Background()
	c := NewConsoleClient(t, e.URL)
	c.SignIn(AdminKey)
	c.Get("/accounts")
	bad := url.Values{"id": {"acme"}, "catalog": {"trtc"}, "created": {"10/01/2024"}, "balance": {"ten"}, "timezone": {"Mars/Olympus"}}
	p := c.Post("/accounts", bad)
	ans := call(t, "POST", e.URL+"/v1/accounts", AdminKey, []byte(`{"id":"acme","catalog":"trtc","created":"10/01/2024","balance":"ten","timezone":"Mars/Olympus"}`))
	prob := ans.problem
	if p.Status != http.StatusBadRequest || ans.status != http.StatusBadRequest || len(prob.Errors) < 3 {
		t.Fatalf("bad account: console %d, API %d %+v", p.Status, ans.status, prob)
	}
	for _, d := range prob.Errors {
		if !strings.Contains(p.Body, htmlEscape(d.Detail)) {
			t.Errorf("the console does not show the API's %q", d.Detail)
		}
	}
	if !strings.Contains(p.Body, `value="Mars/Olympus"`) {
		t.Errorf("the refused form lost what was typed")
	}
	if p := c.Post("/accounts", url.Values{"id": {"acme"}, "catalog": {"trtc"}, "created": {"2024-10-01"}}); p.Status != http.StatusSeeOther || p.Location != "/accounts/acme/manage" {
		t.Fatalf("create account: %d %q %.500s", p.Status, p.Location, p.Body)
	}
	c.Get("/accounts/acme/manage")
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/accounts/acme/apps", url.Values{"id": {"acme-app"}, "name": {"Acme"}}},
		{"/accounts/acme/purchases", url.Values{"id": {"acme-p"}, "app": {"acme-app"}, "plan": {"rtc-engine.lite"}, "start": {"2024-10-02"}}},
		{"/accounts/acme/topups", url.Values{"id": {"acme-t"}, "amount": {"100.50"}}},
		{"/accounts/acme/webhook", url.Values{"app": {"acme-app"}, "vendor": {"trtc"}, "secret": {"s3cr3t-do-not-show"}}},
	} {
		if p := c.Post(f.path, f.form); p.Status != http.StatusSeeOther {
			t.Errorf("%s: %d %.500s", f.path, p.Status, p.Body)
		}
	}
	// refused: a plan the catalog does not have, a negative top-up
	if p := c.Post("/accounts/acme/purchases", url.Values{"id": {"p2"}, "plan": {"rtc-engine.gold"}, "start": {"2024-10-02"}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "rtc-engine.gold") {
		t.Errorf("unknown plan: %d", p.Status)
	}
	if p := c.Post("/accounts/acme/topups", url.Values{"id": {"t2"}, "amount": {"-5"}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "amount: must be a positive decimal") {
		t.Errorf("negative top-up: %d", p.Status)
	}
	var wh struct{ Vendor, Secret string }
	if err := e.Admin.Do(ctx, "GET", "/v1/accounts/acme/apps/acme-app/webhook", nil, &wh); err != nil || wh.Vendor != "trtc" {
		t.Errorf("webhook: %+v %v", wh, err)
	}
	var ps struct{ Purchases []livebill.StoredPurchase }
	var tops struct{ Topups []livebill.TopUp }
	e.Admin.Do(ctx, "GET", "/v1/accounts/acme/purchases", nil, &ps)
	e.Admin.Do(ctx, "GET", "/v1/accounts/acme/topups", nil, &tops)
	if len(ps.Purchases) != 1 || len(tops.Topups) != 1 || tops.Topups[0].Amount != "100.50" {
		t.Errorf("made through the console: %+v %+v", ps, tops)
	}
	for _, path := range []string{"/accounts/acme/manage", "/accounts/acme", "/accounts/acme/purchases"} {
		if p := c.Get(path); p.Status != http.StatusOK || strings.Contains(p.Body, "s3cr3t") {
			t.Errorf("%s: %d, or it shows the webhook secret", path, p.Status)
		}
	}
	// the top-up is in the balance: 100.50 − 49.50 for the plan's purchase bill (issued once settled)
	if p := c.Get("/accounts/acme"); match(t, reAmount("standing"), p.Body, "balance")[1] != "100.50" {
		t.Errorf("balance before settling: want the top-up 100.50")
	}
	// the calculator: a shared scenario, as POST /v1/quote prices it
	path := filepath.Join(ScenarioDir(t), "trtc-av-example1.yaml")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no shared scenario: %v", err)
	}
	var want livebill.Quote
	if ans := call(t, "POST", e.URL+"/v1/quote", AdminKey, doc); ans.status != http.StatusOK || json.Unmarshal(ans.body, &want) != nil {
		t.Fatalf("POST /v1/quote: %d %s", ans.status, ans.body)
	}
	c.Get("/calculator")
	if got := match(t, reAmount("quote"), c.Post("/calculator", url.Values{"scenario": {string(doc)}}).Body, "quote")[1]; got != want.Total {
		t.Errorf("calculator %s, POST /v1/quote %s", got, want.Total)
	}
	// the small form: 2 users in one room, each receiving the other's HD
	// camera for 60 minutes a day, 30 days of October: each day 120 HD
	// minutes × 3.99 per 1,000 = 0.4788 → a daily bill of 0.48; 30 days = 14.40
	got := match(t, reAmount("quote"), c.Post("/calculator", url.Values{"form": {"1"}, "users": {"2"}, "resolution": {"hd"}, "minutes": {"60"}, "days": {"30"}, "month": {"2024-10"}}).Body, "estimate")[1]
	if got != "14.40" {
		t.Errorf("estimate %s, want 14.40", got)
	}
	// the calculator takes what POST /v1/quote takes, no more: no files on the server
	if p := c.Post("/calculator", url.Values{"scenario": {"catalog: trtc\nperiod: {from: 2024-10-01, to: 2024-11-01}\nevents_file: /etc/passwd\n"}}); p.Status != http.StatusBadRequest || strings.Contains(p.Body, "root:") {
		t.Errorf("events_file: %d", p.Status)
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}
