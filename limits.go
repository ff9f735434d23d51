package livebill

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Input limits. Every id, string, number and time that enters livebill is
// bounded, with bounds no real input reaches, so that no input can exhaust
// memory, overflow a sum or be refused by one storage backend and not the
// other (PostgreSQL stores no NUL byte and indexes no key over ~2,700
// bytes). docs/decisions.md ("Input limits") gives the reasons.
const (
	// MaxIDLen bounds every id and string field, in bytes.
	MaxIDLen = 256
	// MaxListLen bounds the lists of one event (formats, streams, outputs,
	// inputs) and a device's cameras.
	MaxListLen = 256
	// MaxVideoArea bounds a video size's area, width × height, and each
	// side, in pixels: 10^10, 75 times a 16K frame, so a room's summed
	// areas stay far from overflowing.
	MaxVideoArea = 10_000_000_000
	// MaxBitrateKbps bounds a relay's bitrate (100 Gbps).
	MaxBitrateKbps = 100_000_000
	// MaxEventCount bounds the count of one screenshot, signal or
	// matchmaking.evaluation event and the players of one matchmaking
	// request (events may carry a month's total: 25 million players in
	// the FlexMatch examples).
	MaxEventCount = 1_000_000_000_000
	// MaxEvaluationUS bounds one matchmaking evaluation (an hour), and
	// MaxEvaluationTotalUS the evaluation time of one event (count ×
	// duration_us, about 317 years; the FlexMatch examples hold 3,472
	// hours), so that a month's sum cannot overflow.
	MaxEvaluationUS      = 3_600_000_000
	MaxEvaluationTotalUS = 10_000_000_000_000_000
	// MaxUnits bounds the count of a purchase or a refund.
	MaxUnits = 1_000_000
	// MaxAmountDigits and MaxAmountDecimals bound a money amount (a
	// top-up, an opening balance): at most 12 digits before the point and
	// 8 after.
	MaxAmountDigits   = 12
	MaxAmountDecimals = 8
	// MaxQuoteYears bounds a quote's period: to at most this many years
	// after from (scenario periods, account quotes).
	MaxQuoteYears = 3
	// MaxUsageDays5m and MaxUsageDaysDay bound a usage query's range by
	// granularity.
	MaxUsageDays5m  = 31
	MaxUsageDaysDay = 366
)

// EarliestTime and LatestTime bound every instant livebill accepts at all
// (events, account dates, purchases, refunds, top-ups): no usage of these
// services happened before 2000, and times past 2100 are typing errors.
// Narrower bounds apply where there is a reference: the server's clock
// for ingestion, the period for a scenario's events.
var (
	EarliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestTime   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

	earliestMS, latestMS = EarliestTime.UnixMilli(), LatestTime.UnixMilli()
)

// TextProblem returns what is wrong with an id or a string field, or ""
// when nothing is: longer than MaxIDLen bytes, not valid UTF-8, or holding
// a control character (U+0000–U+001F: NUL, newline, …).
func TextProblem(s string) string {
	if len(s) > MaxIDLen {
		return fmt.Sprintf("longer than %d bytes", MaxIDLen)
	}
	return CharsProblem(s)
}

// CharsProblem is TextProblem without the length: for values made of
// ids, such as a cursor or a pool name, which may be longer than one.
func CharsProblem(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			return "contains a NUL byte"
		case c < 0x20:
			return "contains a control character"
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	return ""
}

// CheckText returns an EINVALID error naming field when s is not a valid
// id or string field (TextProblem), else nil.
func CheckText(field, s string) error {
	if p := TextProblem(s); p != "" {
		return Errorf(EINVALID, "%s: %s", field, p)
	}
	return nil
}

// CheckDocument returns an EINVALID error naming field when a document (a
// catalog's YAML) is not valid UTF-8 or holds a NUL byte; its size is
// bounded by the request's.
func CheckDocument(field, s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return Errorf(EINVALID, "%s: contains a NUL byte", field)
		}
	}
	if !utf8.ValidString(s) {
		return Errorf(EINVALID, "%s: is not valid UTF-8", field)
	}
	return nil
}

// CheckDate returns an EINVALID error naming field when the calendar date
// d (YYYY-MM-DD, read as UTC midnight) lies outside the years
// EarliestTime..LatestTime-1; LatestTime itself is accepted, as the end
// of a range (to=2100-01-01 ends with 2099). A date centuries away is a
// typing error, and would have a live meter run forward to it.
func CheckDate(field string, d time.Time) error {
	if d.Before(EarliestTime) || d.After(LatestTime) {
		return Errorf(EINVALID, "%s: %s is outside the years %d to %d", field, d.Format(time.DateOnly), EarliestTime.Year(), LatestTime.Year()-1)
	}
	return nil
}

// CheckInstant returns an EINVALID error naming field when t lies outside
// [EarliestTime, LatestTime).
func CheckInstant(field string, t time.Time) error {
	if t.Before(EarliestTime) || !t.Before(LatestTime) {
		return Errorf(EINVALID, "%s: %s is outside the years %d to %d", field, t.Format(time.RFC3339), EarliestTime.Year(), LatestTime.Year()-1)
	}
	return nil
}

// Shown quotes a value for a message, cut to 64 bytes: a message never
// echoes a whole oversized input.
func Shown(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

// TimeBounds are the event times a reader accepts, [Earliest, Latest], and
// how it explains them: TooOld and TooNew finish the sentence "<time> is
// …", e.g. "more than 730 days before the server's clock (…)".
type TimeBounds struct {
	Earliest, Latest time.Time
	TooOld, TooNew   string
}

// Check returns an EventError naming the event and the field time when
// its time is outside the bounds, else nil.
func (b *TimeBounds) Check(e *Event) error {
	reason := ""
	switch {
	case e.Time < b.Earliest.UnixMilli():
		reason = b.TooOld
	case e.Time > b.Latest.UnixMilli():
		reason = b.TooNew
	default:
		return nil
	}
	at := time.UnixMilli(e.Time).UTC().Format(time.RFC3339Nano)
	return &EventError{Line: e.Line, ID: e.ID, Field: "time", Reason: at + " is " + reason}
}

// Days formats a duration of whole days for messages ("730 days"), or the
// duration itself when it is not whole days.
func Days(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

// needID returns an EINVALID error naming field when an id is missing or
// not a valid id (TextProblem), else nil.
func needID(field, v string) error {
	switch v {
	case "":
		return Errorf(EINVALID, "%s: missing", field)
	case ".", "..":
		return Errorf(EINVALID, "%s: %q is no id (a path segment . or .. names another path)", field, v)
	}
	return CheckText(field, v)
}

// checkUnits bounds the count of a purchase or refund (0 is the default).
func checkUnits(n int) error {
	if n < 0 || n > MaxUnits {
		return Errorf(EINVALID, "count: must be from 0 to %d, not %d", MaxUnits, n)
	}
	return nil
}

// checkDate checks a date YYYY-MM-DD within the years accepted.
func checkDate(field, s string) error {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Errorf(EINVALID, "%s: must be a date YYYY-MM-DD, not %s", field, Shown(s))
	}
	return CheckInstant(field, t)
}

// checkInstantString checks a date (YYYY-MM-DD) or an RFC 3339 time
// within the years accepted.
func checkInstantString(field, s string) error {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return Errorf(EINVALID, "%s: must be a date or an RFC 3339 time, not %s", field, Shown(s))
		}
	}
	return CheckInstant(field, t)
}

// parseAmount reports whether s is a plain decimal like "100" or "0.5" (a
// leading "-" only when signed; no exponent or spaces) with at most
// MaxAmountDigits digits before the point and MaxAmountDecimals after,
// and whether it is above zero.
func parseAmount(s string, signed bool) (ok, positive bool) {
	neg := false
	if signed && strings.HasPrefix(s, "-") {
		s, neg = s[1:], true
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || len(whole) > MaxAmountDigits || len(frac) > MaxAmountDecimals {
		return false, false
	}
	nonzero := false
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return false, false
		}
		if r != '0' {
			nonzero = true
		}
	}
	return true, nonzero && !neg
}
