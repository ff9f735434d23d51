package livebill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// JudgeRepeat sets st, the status of an event sent with body sent under
// an (account, id) that already has body stored (stored, queued, or
// earlier in the same batch): a duplicate when the two are the same event
// (the same bytes, or the same JSON value as sameJSON tells), else
// rejected as a conflict. The store, its check before an event is queued
// and the queue's publisher all judge with it, so they answer alike.
func (st *IngestStatus) JudgeRepeat(stored, sent []byte) {
	if bytes.Equal(stored, sent) || sameJSON(stored, sent) {
		st.Status = IngestDuplicate
		return
	}
	st.Status, st.Code = IngestRejected, ECONFLICT
	st.Error = fmt.Sprintf("event id %q was already used by a different event", st.ID)
}

// sameJSON reports whether two event bodies are the same JSON value:
// objects with the same members in any order (a repeated key's last value
// counts), arrays alike, strings after unescaping, and numbers equal in
// value (1, 1.0 and 1e0 are one number) except an identifier's (identKeys). The service stores bodies in a
// canonical form, so equal bytes are the rule; this settles what byte
// comparison cannot, such as a body stored before numbers were made
// canonical (stored 1.0, re-sent and now canonicalized as 1): a duplicate,
// not a conflict.
func sameJSON(a, b []byte) bool {
	va, ok := decodeJSON(a)
	if !ok {
		return false
	}
	vb, ok := decodeJSON(b)
	if !ok {
		return false
	}
	ma, aok := va.(map[string]any)
	mb, bok := vb.(map[string]any)
	if !aok || !bok {
		return sameValue(va, vb)
	}
	if len(ma) != len(mb) {
		return false
	}
	for k, x := range ma {
		y, ok := mb[k]
		if !ok {
			return false
		}
		if nx, num := x.(json.Number); num && identKeys[k] {
			// a number naming something: the same only as written
			if ny, num := y.(json.Number); !num || nx != ny {
				return false
			}
			continue
		}
		if !sameValue(x, y) {
			return false
		}
	}
	return true
}

// identKeys are the event fields whose numbers are identifiers, read by
// their literal (`"user": 1.0` is user "1.0", not "1"); billing's canonical
// form keeps them as written too.
var identKeys = map[string]bool{"id": true, "app": true, "room": true, "user": true, "publisher": true, "task": true}

func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		return ok && sameNumber(string(x), string(y))
	default: // string, bool, nil
		return a == b
	}
}

// maxExp bounds the exponents compared by value (10^1000 is a 3,322-bit
// integer); numbers with larger ones are equal only as written.
const maxExp = 1000

// sameNumber reports whether two JSON numbers are equal in value.
func sameNumber(a, b string) bool {
	if a == b {
		return true
	}
	ra, ok := ratOf(a)
	if !ok {
		return false
	}
	rb, ok := ratOf(b)
	return ok && ra.Cmp(rb) == 0
}

func ratOf(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil || e > maxExp || e < -maxExp {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}
