package billing

import (
	"bytes"
	"sort"
	"sync"
)

// canonicalFast is canonical without reflection: it handles JSON whose
// strings are printable ASCII without escapes (every event livebill gen
// writes, and the usual ones) and reports false for anything else — an
// escape, a control or non-ASCII byte, a repeated key, trailing data, a
// syntax error — which canonical then does the slow way, so the two never
// disagree. It appends the canonical form (keys sorted, no spaces) to out.
func canonicalFast(b []byte, out []byte) ([]byte, bool) {
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
		return append(out, c.b[start:c.i]...), true
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

// number scans a JSON number (RFC 8259 grammar); its text is kept as
// written, as json.Number keeps it.
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
		if scratch, ok = c.value(scratch, depth+1); !ok {
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
	sorted := true
	for j := 1; j < len(members); j++ {
		if bytes.Compare(members[j-1].key, members[j].key) >= 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		sort.Slice(members, func(x, y int) bool { return bytes.Compare(members[x].key, members[y].key) < 0 })
		for j := 1; j < len(members); j++ {
			if bytes.Equal(members[j-1].key, members[j].key) {
				return nil, false // repeated key: the slow path keeps the last
			}
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
