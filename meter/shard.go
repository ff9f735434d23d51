package meter

import (
	"github.com/livebill/livebill"
)

// A stream's rooms are independent of each other: an event changes only
// its room, and what a room meters is added to its app's usage. So the
// rooms of one stream can be metered by several meters at once, each on
// a core of its own, and their usage added together when all are closed.
// A quote of a large file does this (scenario's feed).

// ShardOf returns which of n meters meters e: a room's events all go to
// one meter, chosen by the hash of its app and room; the events that are
// not a room's (sessions, logins, counted events) go to meter 0, which
// holds every session and login.
func ShardOf(e *livebill.Event, n int) int {
	if n <= 1 || !e.Type.IsRoomEvent() {
		return 0
	}
	// FNV, not a seeded hash: the same file splits the same way on every
	// run, so a quote lists its rejected events in one order.
	h := fnv1a(fnv1a(fnv1a(fnvOffset, e.App), "\x00"), e.Room)
	return int(h % uint64(n))
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

// fnv1a continues a 64-bit FNV-1a hash h over s.
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// Sibling returns an empty meter configured as m: its catalog, zone,
// error limit and dissolutions.
func (m *Meter) Sibling() *Meter {
	s, err := New(m.cat, Options{Location: m.zone.loc, MaxErrors: m.maxErrs, Dissolutions: m.diss})
	if err != nil {
		// m.diss passed the same checks when m took them
		panic("meter: cannot make a sibling: " + err.Error())
	}
	return s
}

// Absorb adds what o metered to m: its usage, first logins, relay
// intervals, timed-out sessions, notices and errors. o is a Sibling of m
// that was fed other rooms of the same stream (ShardOf) and closed at the
// instant m will be closed at; m is then what one meter fed the whole
// stream reports, and o must not be used again.
func (m *Meter) Absorb(o *Meter) {
	for id, oa := range o.apps {
		a := m.app(id)
		for k, ob := range oa.usage {
			k.item = m.intern(o.items[k.item]) // each meter numbers its further items as it meets them
			if b := a.usage[k]; b != nil {
				for i, v := range ob {
					b[i] += v
				}
			} else {
				a.usage[k] = ob
			}
		}
		for mon, oset := range oa.logins {
			if a.logins == nil {
				a.logins = map[string]map[string]int64{}
			}
			set := a.logins[mon]
			if set == nil {
				a.logins[mon] = oset
				continue
			}
			for u, t := range oset {
				if first, ok := set[u]; !ok || t < first {
					set[u] = t
				}
			}
		}
	}
	m.relays = append(m.relays, o.relays...)
	m.timeouts = append(m.timeouts, o.timeouts...)
	for k := range o.notices {
		m.notices[k] = true
	}
	for _, err := range o.Errors() {
		m.fail(err) // m keeps the lowest lines of both
	}
}
