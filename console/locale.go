package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Languages: every label comes from a message file (locales/<lang>.json,
// a flat object of key → text); the language is the one the console's
// switch chose (a cookie), else the browser's first of them
// (Accept-Language), else English. Money and dates are formatted by the
// message file's patterns; amounts keep the API's digits exactly (the
// decimal string is grouped, never converted to a float or rounded).

// Languages, the first the default.
var languages = []string{"en", "zh-CN"}

type locale struct {
	Lang string
	msgs map[string]string
}

func loadLocales() (map[string]*locale, error) {
	out := map[string]*locale{}
	for _, lang := range languages {
		b, err := localeFS.ReadFile("locales/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		l := &locale{Lang: lang}
		if err := json.Unmarshal(b, &l.msgs); err != nil {
			return nil, fmt.Errorf("console: locales/%s.json: %w", lang, err)
		}
		out[lang] = l
	}
	return out, nil
}

// language picks the request's language.
func (s *Server) language(r *http.Request) *locale {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l := s.locales[ck.Value]; l != nil {
			return l
		}
	}
	return s.locales[preferred(r.Header.Get("Accept-Language"))]
}

// preferred is the language of languages an Accept-Language header ranks
// first (by q, then order); "en" when it names none of them.
func preferred(header string) string {
	best, bestQ := "en", -1.0
	for i, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		q -= float64(i) * 1e-6 // earlier wins among equals
		tag = strings.ToLower(tag)
		lang := ""
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			lang = "zh-CN"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			lang = "en"
		}
		if lang != "" && q > 0 && q > bestQ {
			best, bestQ = lang, q
		}
	}
	return best
}

// T returns the message key, filled with args (fmt verbs); a key the file
// lacks shows as itself (a test checks every key used is in every file).
func (l *locale) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Has reports whether the file has the key.
func (l *locale) Has(key string) bool { _, ok := l.msgs[key]; return ok }

// Money formats an amount of the API (a decimal string) in the currency:
// the symbol, the integer part grouped, the fraction as given.
func (l *locale) Money(amount, currency string) string {
	if amount == "" {
		return ""
	}
	sym := l.T("currency." + currency)
	if sym == "currency."+currency {
		sym = currency + " "
	}
	neg := strings.HasPrefix(amount, "-")
	s := l.Number(strings.TrimPrefix(amount, "-"))
	if neg {
		return "-" + sym + s
	}
	return sym + s
}

// Number groups the integer part of a decimal string by thousands; any
// fraction is kept digit for digit.
func (l *locale) Number(d string) string {
	neg := strings.HasPrefix(d, "-")
	d = strings.TrimPrefix(d, "-")
	whole, frac, dot := strings.Cut(d, ".")
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return d // not a plain decimal: shown as it is
		}
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	sep := l.T("fmt.group")
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if dot {
		b.WriteString(l.T("fmt.decimal"))
		b.WriteString(frac)
	}
	return b.String()
}

// Int formats a whole number with grouping.
func (l *locale) Int(n int64) string { return l.Number(strconv.FormatInt(n, 10)) }

// fill replaces {y} {m} {d} {mon} {month} {hh} {mm} in a pattern.
func (l *locale) fill(pattern string, t time.Time) string {
	return strings.NewReplacer(
		"{y}", strconv.Itoa(t.Year()),
		"{month}", l.T(fmt.Sprintf("month.%d", t.Month())),
		"{mon}", l.T(fmt.Sprintf("mon.%d", t.Month())),
		"{m}", strconv.Itoa(int(t.Month())),
		"{d}", strconv.Itoa(t.Day()),
		"{hh}", fmt.Sprintf("%02d", t.Hour()),
		"{mm}", fmt.Sprintf("%02d", t.Minute()),
	).Replace(pattern)
}

// Date formats a date YYYY-MM-DD (or a time, its date) by fmt.date.
func (l *locale) Date(v any) string {
	t, ok := asTime(v)
	if !ok {
		return fmt.Sprint(v)
	}
	return l.fill(l.T("fmt.date"), t)
}

// Month formats a month YYYY-MM (or a date's month) by fmt.month.
func (l *locale) Month(v any) string {
	t, ok := asTime(v)
	if !ok {
		return fmt.Sprint(v)
	}
	return l.fill(l.T("fmt.month"), t)
}

// DateTime formats an instant by fmt.datetime, in the zone it carries.
func (l *locale) DateTime(v any) string {
	t, ok := asTime(v)
	if !ok {
		return fmt.Sprint(v)
	}
	return l.fill(l.T("fmt.datetime"), t)
}

func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, !x.IsZero()
	case string:
		for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// jsonText encodes v for a <script type="application/json"> element:
// html/template escapes the rest.
func jsonText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// keysOf lists a message file's keys, sorted (tests).
func (l *locale) keysOf() []string {
	out := make([]string, 0, len(l.msgs))
	for k := range l.msgs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
