package console

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/livebill/livebill/money"
)

// Every label a template or the code asks for is in every message file,
// and the files have the same keys: no page shows a key instead of words
// in either language.
func TestMessageFiles(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	en, zh := ls["en"], ls["zh-CN"]
	if got, want := strings.Join(zh.keysOf(), " "), strings.Join(en.keysOf(), " "); got != want {
		for _, k := range en.keysOf() {
			if !zh.Has(k) {
				t.Errorf("zh-CN.json lacks %s", k)
			}
		}
		for _, k := range zh.keysOf() {
			if !en.Has(k) {
				t.Errorf("en.json lacks %s", k)
			}
		}
	}
	used := map[string]bool{}
	literal := regexp.MustCompile(`\bT "([a-zA-Z0-9_.\-]+)"`)
	prefixed := regexp.MustCompile(`printf "([a-z.]+)%s(\.[a-z]+)?"`)
	code := regexp.MustCompile(`\.T\("([a-zA-Z0-9_.\-]+)"[,)]`)
	// the values printf-made keys take: states, reasons, pack kinds, tiers, granularities
	values := map[string][]string{
		"state.":  {"active", "arrears", "suspended", "reclaimed"},
		"reason.": {"account_arrears", "account_suspended", "account_reclaimed", "trial_exhausted", "app_disabled"},
		"pack.":   {"free", "gift"},
		"tier.":   {"audio", "hd", "fhd", "2k", "4k"},
		"gran.":   {"day", "5m"},
	}
	err = fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := templateFS.ReadFile(path)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
		for _, m := range prefixed.FindAllStringSubmatch(string(b), -1) {
			if values[m[1]] == nil {
				t.Errorf("%s: key %s%%s%s: which values does it take?", path, m[1], m[2])
			}
			for _, v := range values[m[1]] {
				used[m[1]+v+m[2]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srcs, _ := fs.Glob(osDir("."), "*.go")
	for _, f := range srcs {
		b, _ := fs.ReadFile(osDir("."), f)
		for _, m := range code.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 100 {
		t.Fatalf("only %d keys found in use: the patterns are wrong", len(used))
	}
	for k := range used {
		for _, l := range []*locale{en, zh} {
			if !l.Has(k) {
				t.Errorf("%s.json lacks %s", l.Lang, k)
			}
		}
	}
}

// Amounts keep the API's digits: grouped, never rounded or cut.
func TestMoneyFormat(t *testing.T) {
	ls, _ := loadLocales()
	for _, c := range []struct{ lang, amount, cur, want string }{
		{"en", "1234567.891", "USD", "$1,234,567.891"},
		{"en", "-108.52", "USD", "-$108.52"},
		{"en", "0.00001596", "USD", "$0.00001596"},
		{"en", "999", "CNY", "CN¥999"},
		{"zh-CN", "1234.50", "CNY", "¥1,234.50"},
		{"zh-CN", "100", "USD", "US$100"},
		{"en", "12", "XYZ", "XYZ 12"},
	} {
		if got := ls[c.lang].Money(c.amount, c.cur); got != c.want {
			t.Errorf("%s Money(%s, %s) = %q, want %q", c.lang, c.amount, c.cur, got, c.want)
		}
	}
	if got := ls["zh-CN"].Date("2024-10-05"); got != "2024年10月5日" {
		t.Errorf("zh-CN date %q", got)
	}
	if got := ls["en"].Month("2024-10"); got != "October 2024" {
		t.Errorf("en month %q", got)
	}
}

// The browser's first language among English and Chinese wins.
func TestPreferredLanguage(t *testing.T) {
	for h, want := range map[string]string{
		"":                               "en",
		"zh-CN,zh;q=0.9,en;q=0.8":        "zh-CN",
		"en-US,en;q=0.9,zh-CN;q=0.8":     "en",
		"fr-FR,zh-TW;q=0.7,en;q=0.5":     "zh-CN",
		"de, en;q=0.1":                   "en",
		"en;q=0.2, zh-Hans-CN;q=0.8":     "zh-CN",
		"zh;q=0, en;q=0.1":               "en",
		"*;q=0.5, garbage;;;, zh;q=x, ,": "zh-CN", // an unreadable q counts as 1
	} {
		if got := preferred(h); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", h, got, want)
		}
	}
}

// The forecast rule (docs/console.md): month to date + daily
// bills ÷ closed days × days left, rounded half away from zero to the
// minor unit. By hand: 108.52 so far of which 9.52 daily over 19 of 31
// days: 9.52 ÷ 19 × 12 = 6.01263… → 114.53.
func TestForecast(t *testing.T) {
	usd, _ := money.LookupCurrency("USD")
	for _, c := range []struct {
		total, daily    string
		closed, inMonth int
		want            string
	}{
		{"108.52", "9.52", 19, 31, "114.53"},
		{"0.00", "0.00", 5, 30, "0.00"},
		{"10.00", "10.00", 30, 30, "10.00"}, // the last day: nothing left
		{"1.00", "1.00", 3, 31, "10.33"},    // 1 + 1 ÷ 3 × 28 = 10.333…
		{"0.01", "0.01", 2, 31, "0.16"},     // 0.01 + 0.01 ÷ 2 × 29 = 0.155 → 0.16 (half away from zero)
	} {
		if got := forecast(money.MustParse(c.total), money.MustParse(c.daily), c.closed, c.inMonth, usd); got != c.want {
			t.Errorf("forecast(%s, %s, %d/%d) = %s, want %s", c.total, c.daily, c.closed, c.inMonth, got, c.want)
		}
	}
}

// Where a form or the language switch may send the browser next: only
// this console's own pages.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/accounts/1?x=2":      "/accounts/1?x=2",
		"//evil.example/":      "/",
		"https://evil.example": "/",
		"/\\evil.example":      "/",
		"":                     "/",
		"/v1/accounts":         "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// osDir reads the package's source files (for the keys the code uses).
func osDir(dir string) fs.FS { return os.DirFS(dir) }

// The embedded assets are served, folders are not listed, and every page
// carries the security headers.
func TestAssets(t *testing.T) {
	s := &Server{}
	h := s.Handler()
	for path, want := range map[string]int{
		"/static/console.css":                    200,
		"/static/console.js":                     200,
		"/static/vendor/uplot/uPlot.iife.min.js": 200,
		"/static/vendor/uplot/LICENSE":           200,
		"/static/vendor/uplot/":                  404,
		"/static/":                               404,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
	}
}
