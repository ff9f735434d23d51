package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Errors are answered as RFC 9457 problem documents
// (application/problem+json) with a stable code member beside the
// standard ones:
//
//	{"type":"about:blank","title":"Bad Request","status":400,
//	 "code":"invalid","detail":"…","errors":[{"detail":"…","field":"…"}]}
//
// errors lists the single problems of a validation or a batch, each with
// the event's line and id and the field when known.

// ProblemType is the media type of error answers.
const ProblemType = "application/problem+json"

// Codes of errors the edge answers besides the domain's.
const (
	codeMethodNotAllowed = "method_not_allowed"
)

// Problem is an error answer.
type Problem struct {
	Type   string          `json:"type"`
	Title  string          `json:"title"`
	Status int             `json:"status"`
	Code   string          `json:"code"`
	Detail string          `json:"detail"`
	Errors []ProblemDetail `json:"errors,omitempty"`
}

// ProblemDetail is one of several problems of a request.
type ProblemDetail struct {
	Detail string `json:"detail"`
	Line   int    `json:"line,omitempty"`
	ID     string `json:"id,omitempty"`
	Field  string `json:"field,omitempty"`
}

func (d ProblemDetail) Error() string { return d.Detail }

// StatusOf maps a coded error to an HTTP status.
func StatusOf(err error) int {
	switch livebill.ErrorCode(err) {
	case livebill.EINVALID:
		return http.StatusBadRequest
	case livebill.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case livebill.EFORBIDDEN:
		return http.StatusForbidden
	case livebill.ENOTFOUND:
		return http.StatusNotFound
	case livebill.ECONFLICT:
		return http.StatusConflict
	case livebill.EUNPUBLISHED:
		return http.StatusUnprocessableEntity
	case livebill.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case livebill.EGONE:
		return http.StatusGone
	case livebill.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// retryAfter is an error that says when to try again (an event queue
// that is full): its answer carries Retry-After, in whole seconds.
type retryAfter interface {
	RetryAfter() time.Duration
}

// problemOf makes the problem document of err. A joined error (every
// problem of a validation) is listed one by one in errors, as are the
// details given.
func problemOf(status int, code string, err error, details ...error) Problem {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: err.Error()}
	if code == livebill.EINTERNAL {
		p.Detail = "internal error" // the error itself is in the access log (noteError)
		return p
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 1 {
		parts := j.Unwrap()
		msgs := make([]string, len(parts))
		for i, e := range parts {
			msgs[i] = e.Error()
		}
		p.Detail = fmt.Sprintf("%d problems: %s", len(parts), strings.Join(msgs, "; "))
		details = append(append([]error(nil), parts...), details...)
	}
	for _, d := range details {
		pd, ok := d.(ProblemDetail)
		if !ok {
			pd = ProblemDetail{Detail: d.Error()}
			var ee *livebill.EventError
			if errors.As(d, &ee) {
				pd.Line, pd.ID, pd.Field = ee.Line, ee.ID, ee.Field
			}
		}
		p.Errors = append(p.Errors, pd)
	}
	return p
}

// writeError answers err (and the single problems details) as a problem
// document with the status of its code.
func writeError(w http.ResponseWriter, err error, details ...error) {
	if livebill.ErrorCode(err) == livebill.EINTERNAL {
		noteError(w, err)
	}
	var ra retryAfter
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ra.RetryAfter().Round(time.Second)/time.Second))))
	}
	writeProblem(w, problemOf(StatusOf(err), livebill.ErrorCode(err), err, details...))
}

func writeProblem(w http.ResponseWriter, p Problem) {
	writeJSONAs(w, ProblemType, p.Status, p)
}

// jsonBytes is v as writeJSON writes it.
func jsonBytes(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return b.Bytes()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONAs(w, "application/json", status, v)
}

func writeJSONAs(w http.ResponseWriter, ctype string, status int, v any) {
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxJSONBody bounds a JSON request body (event pushes, quotes and
// webhooks have their own bounds).
const maxJSONBody = 4 << 20

// readJSON decodes the request body, one JSON value and nothing after it,
// refusing unknown fields. Its errors name the field and the JSON type
// expected, never a Go type.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return livebill.Errorf(livebill.EINVALID, "request body: data after the JSON value")
		}
		return nil
	}
	return bodyError(err)
}

// bodyError says what is wrong with a JSON request body in the API's
// terms.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return readError(err)
	case errors.Is(err, io.EOF):
		return livebill.Errorf(livebill.EINVALID, "request body: empty (a JSON object is expected)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return livebill.Errorf(livebill.EINVALID, "request body: the JSON ends early")
	case errors.As(err, &syntax):
		return livebill.Errorf(livebill.EINVALID, "request body: not valid JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return livebill.Errorf(livebill.EINVALID, "request body: must be %s, not %s", jsonKind(typ.Type), article(typ.Value))
		}
		return livebill.Errorf(livebill.EINVALID, "request body: field %q: must be %s, not %s", typ.Field, jsonKind(typ.Type), article(typ.Value))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return livebill.Errorf(livebill.EINVALID, "request body: unknown field %s", f)
	}
	var coded *livebill.Error
	if errors.As(err, &coded) {
		return err
	}
	// A field's own decoder failed; its message is ours, not a Go type's.
	return livebill.Errorf(livebill.EINVALID, "request body: %s", msg)
}

// readBody reads r's body, at most max bytes (too large: a
// *http.MaxBytesError for readError), a megabyte at a time, joined once
// at the end: memory follows the bytes that arrive (a client announcing
// 64 MiB and sending nothing holds nothing), and a large body is copied
// once, not at every growth of one buffer (io.ReadAll's garbage took a
// 64 MiB body to 350 MiB).
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	const part = 1 << 20
	body := http.MaxBytesReader(w, r.Body, max)
	var parts [][]byte
	for {
		p, err := io.ReadAll(io.LimitReader(body, part))
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
		if len(p) < part {
			break
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return bytes.Join(parts, nil), nil
}

// readError says why a request body could not be read: too large, or
// the connection failed.
func readError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return livebill.Errorf(livebill.ETOOLARGE, "request body: larger than %d bytes: send smaller requests", tooBig.Limit)
	}
	return livebill.Errorf(livebill.EINVALID, "request body: cannot be read: %v", err)
}

// jsonKind names the JSON value a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another JSON value"
}

// article reads json's name of the value found ("string", "number 1.5",
// "array") as a phrase: "a string", "the number 1.5", "an array".
func article(v string) string {
	if strings.HasPrefix(v, "number ") {
		return "the " + v
	}
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "true or false"
	case "":
		return "that value"
	}
	return "a " + v
}
