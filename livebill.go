// Package livebill holds the domain of the livebill usage metering, rating
// and billing engine: usage events, items, bills, quotes, accounts and the
// service interfaces the technology packages implement.
//
// It imports no storage, transport or parsing code. The rules themselves
// live in subpackages: meter (events → metered usage), rating (usage →
// priced lines and bills), catalog (prices as data), money (exact decimals).
// SPEC.md in the shared folder is the specification these types follow.
package livebill

import (
	"errors"
	"fmt"
	"time"
)

// Clock tells the current time. Library code never reads the wall clock
// directly, so tests and simulations can run months in seconds.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, for binaries.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Error codes, mapped to exit statuses by the CLI and HTTP statuses by the
// server.
const (
	EINVALID     = "invalid"     // bad input: an event, a scenario, a catalog
	ENOTFOUND    = "not_found"   // a referenced thing does not exist
	ECONFLICT    = "conflict"    // refused because of the current state
	EUNPUBLISHED = "unpublished" // a price the catalog does not publish
	ETOOLARGE    = "too_large"   // a request body over the limit
	// EUNAUTHORIZED: no API key, or one that is unknown or revoked.
	EUNAUTHORIZED = "unauthorized"
	// EFORBIDDEN: a valid key that may not do this (an account key on an
	// operator route, an event for another account's app).
	EFORBIDDEN = "forbidden"
	// EGONE: the account was reclaimed (its data purged for good).
	EGONE     = "gone"
	EINTERNAL = "internal"
	// EUNAVAILABLE: the service cannot answer now (its database does
	// not answer); try again later.
	EUNAVAILABLE = "unavailable"
)

// Error is a coded domain error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns a coded error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first coded error in err's chain,
// EINTERNAL for other errors and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var ee *EventError
	if errors.As(err, &ee) {
		return EINVALID
	}
	return EINTERNAL
}

// EventError reports an invalid event: where it is (line or id) and which
// field is wrong.
type EventError struct {
	Line   int    // 1-based line in an NDJSON file, or index+1 in a list; 0 if unknown
	ID     string // the event id, when it has one
	Source string // file name, when known
	Field  string
	Reason string
}

func (e *EventError) Error() string {
	where := ""
	if e.Source != "" {
		where = e.Source + ":"
	}
	switch {
	case e.Line > 0 && e.ID != "":
		where += fmt.Sprintf("line %d (event %q)", e.Line, e.ID)
	case e.Line > 0:
		where += fmt.Sprintf("line %d", e.Line)
	case e.ID != "":
		where += fmt.Sprintf("event %q", e.ID)
	default:
		where += "event"
	}
	if e.Field == "" {
		return where + ": " + e.Reason
	}
	return fmt.Sprintf("%s: field %q: %s", where, e.Field, e.Reason)
}
