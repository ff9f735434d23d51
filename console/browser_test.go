package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// update rewrites the screenshot of the account page the README and
// docs/console.md show (docs/console-account.png):
// go test ./console -run TestBrowser -update
var update = flag.Bool("update", false, "rewrite docs/console-account.png from the browser test")

func openSQLite(t *testing.T, clock livebill.Clock) livebill.Store {
	s, err := sqlite.Open(context.Background(), ":memory:", clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// chromium finds a Chromium or Chrome binary: $LIVEBILL_CHROMIUM, then
// the usual names on PATH (Debian's package is chromium).
func chromium() string {
	if p := os.Getenv("LIVEBILL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser drives one headless Chromium tab against the console, saving a
// screenshot of each page it is asked to.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newBrowser(t *testing.T, base string) *browser {
	path := chromium()
	if path == "" {
		t.Skip("no Chromium found (install Debian's chromium, or set LIVEBILL_CHROMIUM): the browser tests need one")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	dir := os.Getenv("LIVEBILL_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "livebill-console-screenshots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of the console's pages: %s", dir)
	// the first run starts the browser, for as long as ctx lives: no timeout on it
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("cannot start %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx, base: base, dir: dir}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// submit clicks what sel finds (a form's button, a link) and waits for
// the next page to load.
func (b *browser) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.lbOld = true")); err != nil {
		b.t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
	for {
		// evaluating fails while the page is being replaced: ask again
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.lbOld === undefined && document.readyState === "complete"`))
		if err == nil && done {
			return
		}
		if ctx.Err() != nil {
			b.t.Fatalf("after clicking %s: the next page did not load: %v", sel, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open goes to a path of the console.
func (b *browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

// eval evaluates a JavaScript expression into v (through JSON).
func (b *browser) eval(expr string, v any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage]("JSON.stringify("+expr+")"))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		b.t.Fatalf("evaluate %s: %s: %v", expr, raw, err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		b.t.Fatalf("evaluate %s: %s: %v", expr, s, err)
	}
}

func (b *browser) str(expr string) string {
	b.t.Helper()
	var s string
	b.eval(expr, &s)
	return s
}

// shot saves a full-page PNG of the current page as name.png.
func (b *browser) shot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// signIn signs in through the form with key.
func (b *browser) signIn(key string) {
	b.t.Helper()
	b.open("/sign-in")
	b.do(chromedp.SetValue(chromedp.CSS("#key"), key))
	b.submit("main form button[type=submit]")
}

// TestBrowser drives headless Chromium through the console: sign-in with
// the operator key and with an account key (which cannot open another
// account), an account made through the console's form, and the account
// page, usage charts, bills and statement of an account whose month of
// events was pushed through the API (storetest.NewConsoleEnv), each
// figure compared with the API's answer for the same account and range;
// the language switch, a phone-width layout, labels on every control.
func TestBrowser(t *testing.T) {
	e := storetest.NewConsoleEnv(t, openSQLite)
	b := newBrowser(t, e.URL)
	ctx := context.Background()
	acct := "/accounts/" + storetest.ConsoleAccount

	b.signIn(storetest.AdminKey)
	if loc := b.str("location.pathname"); loc != "/accounts" {
		t.Fatalf("the operator lands on %s, want /accounts", loc)
	}
	b.shot("accounts")

	// an account made with the console's form exists for the API
	b.do(chromedp.SetValue(chromedp.CSS("#na-id"), "browser-made"), chromedp.SetValue(chromedp.CSS("#na-created"), "2024-10-01"),
		chromedp.SetValue(chromedp.CSS("#na-balance"), "25"))
	b.submit("#new-account button[type=submit]")
	var made struct{ ID, Balance string }
	if err := e.Admin.Do(ctx, "GET", "/v1/accounts/browser-made", nil, &made); err != nil || made.Balance != "25" {
		t.Fatalf("the account made in the browser: %+v %v", made, err)
	}
	b.shot("manage")

	// the account page: month to date and packs as the API quotes the closed days
	var q livebill.Quote
	if err := e.Admin.Do(ctx, "GET", "/v1/accounts/"+storetest.ConsoleAccount+"/quote?from=2024-10-01&to=2024-10-20", nil, &q); err != nil {
		t.Fatal(err)
	}
	b.open(acct)
	if got := b.str(`document.querySelector("#mtd .big").dataset.amount`); got != q.Total {
		t.Errorf("month to date %s, the API's quote %s", got, q.Total)
	}
	if got, want := b.str(`document.querySelector("#mtd .big").textContent`), "$"+q.Total; got != want {
		t.Errorf("month to date shown as %q, want %q", got, want)
	}
	var packs map[string]string
	b.eval(`Object.fromEntries([...document.querySelectorAll("#packs tr[data-pack]")].map(r => [r.dataset.pack, r.querySelector("[data-remaining]").dataset.remaining]))`, &packs)
	for _, p := range q.Packs {
		if packs[p.ID] != p.Remaining {
			t.Errorf("pack %s remaining %q, the API's %s", p.ID, packs[p.ID], p.Remaining)
		}
	}
	if len(packs) != len(q.Packs) {
		t.Errorf("%d packs shown, the API has %d", len(packs), len(q.Packs))
	}
	overview := b.shot("overview")
	if *update {
		png, err := os.ReadFile(overview)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "console-account.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// the usage charts: each series is the API's usage of the same days,
	// and what is drawn (the stacked layers) adds up to it
	pts, err := e.Admin.Usage(ctx, storetest.ConsoleAccount, "2024-10-01", "2024-10-20", "day")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, p := range pts {
		want[p.Item] += p.Value
	}
	b.open(acct + "/usage")
	b.do(chromedp.WaitVisible(chromedp.CSS(".uplot")))
	var charts []struct {
		Items   []string
		Sums    []int64
		Stacked bool
		Drawn   bool // the top layer at each day is the day's sum over the items, in the axis unit
	}
	b.eval(`window.livebillCharts.map(c => ({items: c.items, stacked: c.stacked,
		sums: c.raw.map(r => r.reduce((a, v) => a + v, 0)),
		drawn: c.plot.data[1].every((top, i) => Math.abs(top - c.raw.reduce((a, r) => a + r[i], 0) / JSON.parse(document.querySelector('[data-chart="' + c.id + '"]').textContent).scale) < 1e-6)}))`, &charts)
	got := map[string]int64{}
	for _, c := range charts {
		if !c.Stacked || !c.Drawn {
			t.Errorf("chart of %v: stacked %v, drawn layers add up %v", c.Items, c.Stacked, c.Drawn)
		}
		for i, it := range c.Items {
			got[it] += c.Sums[i]
		}
	}
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chart series sums %v, the API's usage %v", got, want)
	}
	b.shot("usage")
	b.open(acct + "/usage?day=2024-10-05")
	b.do(chromedp.WaitVisible(chromedp.CSS(".uplot")))
	b.shot("usage-day")

	// bills: each line's amount and each total as the API issued them
	var bills struct {
		Bills []livebill.IssuedBill
	}
	if err := e.Admin.Do(ctx, "GET", "/v1/accounts/"+storetest.ConsoleAccount+"/bills", nil, &bills); err != nil {
		t.Fatal(err)
	}
	b.open(acct + "/bills")
	var shown map[string][]string
	b.eval(`Object.fromEntries([...document.querySelectorAll("article.bill")].map(a => [a.dataset.bill,
		[...a.querySelectorAll("tbody td[data-amount]")].map(td => td.dataset.amount).concat([a.querySelector("tfoot [data-total]").dataset.total])]))`, &shown)
	for _, bl := range bills.Bills {
		var w []string
		for _, l := range bl.Lines {
			w = append(w, l.Amount)
		}
		w = append(w, bl.Total)
		if s := shown[fmt.Sprint(bl.Seq)]; fmt.Sprint(s) != fmt.Sprint(w) {
			t.Errorf("bill %d: lines and total %v, the API's %v", bl.Seq, s, w)
		}
	}
	b.shot("bills")
	b.open(acct + "/statements/2024-10")
	b.shot("statement")
	b.open(acct + "/purchases")
	b.shot("purchases")

	// the calculator's small form: 2 users × 60 HD minutes a day for 30
	// days: 120 min × 3.99/1000 = 0.4788 → 0.48 a day, 14.40 in all
	b.open("/calculator")
	b.do(chromedp.SetValue(chromedp.CSS("#c-users"), "2"), chromedp.SetValue(chromedp.CSS("#c-min"), "60"),
		chromedp.SetValue(chromedp.CSS("#c-days"), "30"), chromedp.SetValue(chromedp.CSS("#c-month"), "2024-10"))
	b.submit("#calc-form button[type=submit]")
	if got := b.str(`document.querySelector("#quote-total").dataset.amount`); got != "14.40" {
		t.Errorf("calculator estimate %s, want 14.40", got)
	}
	b.shot("calculator")

	// every control on the forms has a label
	for _, path := range []string{"/accounts", acct + "/manage", "/calculator", "/sign-in"} {
		b.open(path)
		if path == "/sign-in" {
			b.submit("form.inline button") // sign out
		}
		var bare []string
		b.eval(`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(el => el.labels.length === 0 && !el.getAttribute("aria-label")).map(el => el.name)`, &bare)
		if len(bare) > 0 {
			t.Errorf("%s: controls without a label: %v", path, bare)
		}
	}
	// the first Tab reaches the skip link
	if got := b.str(`(document.activeElement.blur(), document.querySelector("a.skip").focus(), document.activeElement.className)`); got != "skip" {
		t.Errorf("the skip link cannot take the focus: %q", got)
	}

	// an account key: its own account, never another's
	b.signIn(e.KeyA)
	if loc := b.str("location.pathname"); loc != acct {
		t.Errorf("the account key lands on %s, want %s", loc, acct)
	}
	if got := b.str(`document.querySelector("#mtd .big").dataset.amount`); got != q.Total {
		t.Errorf("month to date with the account key %s, the API's %s", got, q.Total)
	}
	b.open("/accounts/" + storetest.OtherAccount)
	if h := b.str(`document.querySelector("main").innerText`); !strings.Contains(h, "not found") || strings.Contains(h, "1400000009") {
		t.Errorf("another account with an account key: %q", h)
	}
	b.shot("other-account")
	b.open("/accounts")
	if h := b.str(`document.querySelector("main").innerText`); !strings.Contains(h, "operator") {
		t.Errorf("the accounts list with an account key: %q", h)
	}

	// Simplified Chinese: labels from zh-CN.json, the same amount in its format
	b.open(acct)
	b.submit(`a[hreflang="zh-CN"]`)
	if lang, h := b.str("document.documentElement.lang"), b.str(`document.querySelector("#mtd h2").textContent`); lang != "zh-CN" || h != "本月至今费用" {
		t.Errorf("after the switch: lang %q, heading %q", lang, h)
	}
	if got := b.str(`document.querySelector("#mtd .big").textContent`); got != "US$"+q.Total {
		t.Errorf("month to date in Chinese %q, want US$%s", got, q.Total)
	}
	b.shot("overview-zh")

	// a phone's width: nothing wider than the screen but the tables' own scrolling
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open(acct)
	var overflow bool
	b.eval(`document.documentElement.scrollWidth > window.innerWidth`, &overflow)
	if overflow {
		t.Errorf("the account page is wider than a phone's screen")
	}
	b.shot("overview-phone")
}
