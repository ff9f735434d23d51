package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Canonical form of an event body: keys sorted, no spaces, strings as
// encoding/json writes them, and numbers in canonical form (canonNumber):
// JSON numbers equal in value are the same event, so `1`, `1.0`, `1e0` and
// `10e-1` in the same field make one body, and a re-sent event written
// with another spelling of a number is a duplicate, not a conflict.
//
// Except identifiers: the event schema's id fields (identKeys) accept a
// number, which names the thing by its literal (eventio keeps `"user": 1.0`
// as user "1.0", another user than "1"), so a number there is kept as
// written; normalizing it would make the replayed event name another room
// or user than the one ingested. Judging an id sent again
// (livebill.IngestStatus.JudgeRepeat) follows the same rule.

// identKeys are the top-level fields whose numbers are identifiers.
var identKeys = map[string]bool{"id": true, "app": true, "room": true, "user": true, "publisher": true, "task": true}

// canonicalScan is the fast path of canonical: a scanner without
// reflection for the usual body (strings of printable ASCII without
// escapes, no repeated key: every event livebill gen writes). It reports false
// for anything but the usual body — an escape, a control or non-ASCII byte,
// a repeated key, trailing data, a syntax error.
func canonicalScan(b []byte, out []byte) ([]byte, bool) {
	c := canonScanner{b: b}
	out, ok := c.value(out, 0)
	if !ok {
		return nil, false
	}
	c.ws()
	if c.i != len(c.b) {
		return nil, false
	}
	return out, true
}

// canonicalStd is the canonical form through encoding/json: decoded with
// json.Number, numbers put in canonical form, re-encoded (maps with sorted
// keys, a repeated key's last value kept, HTML characters not escaped).
func canonicalStd(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("cannot read event body: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("cannot read event body: data after the JSON value")
	}
	if m, ok := v.(map[string]any); ok {
		for k, e := range m {
			if _, num := e.(json.Number); !num || !identKeys[k] {
				m[k] = canonValue(e)
			}
		}
	} else {
		v = canonValue(v)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot encode event body: %w", err)
	}
	return bytes.TrimSpace(out.Bytes()), nil
}

// canonValue replaces, in place, every json.Number in v by its canonical
// form.
func canonValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		return json.Number(canonNumber(nil, []byte(x)))
	case map[string]any:
		for k, e := range x {
			x[k] = canonValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonValue(e)
		}
	}
	return v
}

// maxExpDigits bounds the exponents canonNumber works out (|e| < 10^15);
// a number with a larger exponent is kept as written.
const maxExpDigits = 15

// canonNumber appends the canonical form of the JSON number s (valid by
// the RFC 8259 grammar) to out: its exact decimal value — no float
// rounding — written as JavaScript writes numbers (and RFC 8785 JSON
// canonicalization): integers up to 21 digits in full (1e3 → 1000), other
// values from 10^-6 up to 10^21 as plain decimals (2.5e-3 → 0.0025,
// 1.50 → 1.5), the rest in exponent form with one digit before the point
// (1e21 → 1e+21, 0.00000015 → 1.5e-7); no leading or trailing zeros, -0 is
// 0. Two numbers equal in value have the same form. A number whose
// exponent has more than 15 digits is kept as written.
func canonNumber(out, s []byte) []byte {
	// the usual case: an integer already in canonical form
	plain := len(s) > 0 && len(s) <= 21
	for j, ch := range s {
		if ch < '0' || ch > '9' || (j == 0 && ch == '0' && len(s) > 1) {
			plain = false
			break
		}
	}
	if plain {
		return append(out, s...)
	}
	neg := false
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	var frac []byte
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		for i < len(s) && s[i] == '0' {
			i++
		}
		if len(s)-i > maxExpDigits {
			return append(out, s...)
		}
		for ; i < len(s); i++ {
			exp = exp*10 + int64(s[i]-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	// value = digits × 10^e, digits without leading or trailing zeros
	var buf [64]byte
	digits := append(buf[:0], intPart...)
	digits = append(digits, frac...)
	e := exp - int64(len(frac))
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		e++
	}
	if len(digits) == 0 {
		return append(out, '0')
	}
	if neg {
		out = append(out, '-')
	}
	n := int64(len(digits))
	point := n + e // the value is 0.digits × 10^point
	switch {
	case e >= 0 && point <= 21:
		out = append(out, digits...)
		for ; e > 0; e-- {
			out = append(out, '0')
		}
	case e < 0 && point > 0 && point <= 21:
		out = append(out, digits[:point]...)
		out = append(out, '.')
		out = append(out, digits[point:]...)
	case point <= 0 && point > -6:
		out = append(out, '0', '.')
		for j := point; j < 0; j++ {
			out = append(out, '0')
		}
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if n > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if point-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, point-1, 10)
	}
	return out
}

type canonScanner struct {
	b []byte
	i int
}

type canonMember struct {
	key      []byte // raw key, without quotes (no escapes)
	from, to int    // canonical value in the object's scratch buffer
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (c *canonScanner) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *canonScanner) value(out []byte, depth int) ([]byte, bool) {
	if depth > 64 {
		return nil, false
	}
	c.ws()
	if c.i >= len(c.b) {
		return nil, false
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return c.object(out, depth)
	case ch == '[':
		c.i++
		out = append(out, '[')
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == ']' {
			c.i++
			return append(out, ']'), true
		}
		for {
			var ok bool
			if out, ok = c.value(out, depth+1); !ok {
				return nil, false
			}
			c.ws()
			if c.i >= len(c.b) {
				return nil, false
			}
			if c.b[c.i] == ']' {
				c.i++
				return append(out, ']'), true
			}
			if c.b[c.i] != ',' {
				return nil, false
			}
			c.i++
			out = append(out, ',')
		}
	case ch == '"':
		s, ok := c.str()
		if !ok {
			return nil, false
		}
		out = append(out, '"')
		out = append(out, s...)
		return append(out, '"'), true
	case ch == 't':
		return c.lit(out, "true")
	case ch == 'f':
		return c.lit(out, "false")
	case ch == 'n':
		return c.lit(out, "null")
	case ch == '-' || (ch >= '0' && ch <= '9'):
		start := c.i
		if !c.number() {
			return nil, false
		}
		return canonNumber(out, c.b[start:c.i]), true
	}
	return nil, false
}

func (c *canonScanner) lit(out []byte, s string) ([]byte, bool) {
	if !bytes.HasPrefix(c.b[c.i:], []byte(s)) {
		return nil, false
	}
	c.i += len(s)
	return append(out, s...), true
}

// str scans a string whose bytes are printable ASCII other than the
// backslash and returns its content.
func (c *canonScanner) str() ([]byte, bool) {
	c.i++ // opening quote
	start := c.i
	for c.i < len(c.b) {
		ch := c.b[c.i]
		if ch == '"' {
			s := c.b[start:c.i]
			c.i++
			return s, true
		}
		if ch < 0x20 || ch >= 0x7f || ch == '\\' {
			return nil, false
		}
		c.i++
	}
	return nil, false
}

// number scans a JSON number (RFC 8259 grammar).
func (c *canonScanner) number() bool {
	b, i := c.b, c.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	c.i = i
	return true
}

func (c *canonScanner) object(out []byte, depth int) ([]byte, bool) {
	c.i++ // {
	c.ws()
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return append(out, '{', '}'), true
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	scratch := (*sp)[:0]
	var arr [24]canonMember
	members := arr[:0]
	for {
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != '"' {
			return nil, false
		}
		key, ok := c.str()
		if !ok {
			return nil, false
		}
		c.ws()
		if c.i >= len(c.b) || c.b[c.i] != ':' {
			return nil, false
		}
		c.i++
		from := len(scratch)
		c.ws()
		if depth == 0 && c.i < len(c.b) && (c.b[c.i] == '-' || (c.b[c.i] >= '0' && c.b[c.i] <= '9')) && identKeys[string(key)] {
			// a number naming something: as written (see identKeys)
			start := c.i
			if !c.number() {
				return nil, false
			}
			scratch = append(scratch, c.b[start:c.i]...)
		} else if scratch, ok = c.value(scratch, depth+1); !ok {
			return nil, false
		}
		members = append(members, canonMember{key, from, len(scratch)})
		c.ws()
		if c.i >= len(c.b) {
			return nil, false
		}
		if c.b[c.i] == '}' {
			c.i++
			break
		}
		if c.b[c.i] != ',' {
			return nil, false
		}
		c.i++
	}
	*sp = scratch
	// Insertion sort: an event has about ten keys, often nearly in order;
	// sort.Slice's reflection and closure cost more than the sorting (and
	// made members escape to the heap).
	for j := 1; j < len(members); j++ {
		m := members[j]
		k := j
		for k > 0 && bytes.Compare(members[k-1].key, m.key) > 0 {
			members[k] = members[k-1]
			k--
		}
		members[k] = m
	}
	for j := 1; j < len(members); j++ {
		if bytes.Equal(members[j-1].key, members[j].key) {
			return nil, false // repeated key: the encoding/json path keeps the last
		}
	}
	out = append(out, '{')
	for j, m := range members {
		if j > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, scratch[m.from:m.to]...)
	}
	return append(out, '}'), true
}
