package meter

import (
	"fmt"

	"github.com/livebill/livebill"
)

// Sessions (session.start / session.stop) are the admission leases a
// catalog meters: an item with `sessions: <kind>` accrues the time each
// session of that kind runs, per app, like any duration item (split at
// 5-minute windows, rounded per its rounding window). A catalog with no
// such item does not bill sessions, and their events are rejected like
// any event the catalog does not bill.

type sessionKey struct{ app, session string }

type session struct {
	app   *App
	item  uint16
	since int64 // credited up to here (Unix ms)
}

func (m *Meter) applySession(e *livebill.Event) {
	k := sessionKey{e.App, e.Session}
	s := m.sessions[k]
	if e.Type == livebill.SessionStart {
		it, ok := m.cat.SessionItem(e.Kind)
		if !ok {
			m.fail(badEvent(e, "kind", fmt.Sprintf("catalog %s does not bill %s sessions", m.cat.Name, e.Kind)))
			return
		}
		if s != nil {
			m.fail(badEvent(e, "session", fmt.Sprintf("session %q is already running (since %s)", e.Session, fmtTime(s.since))))
			return
		}
		if m.sessions == nil {
			m.sessions = map[sessionKey]*session{}
		}
		m.sessions[k] = &session{app: m.app(e.App), item: m.intern(it.ID), since: e.Time}
		return
	}
	if s == nil {
		m.fail(badEvent(e, "session", fmt.Sprintf("session %q is not running (a stop without its start)", e.Session)))
		return
	}
	if e.Time < s.since {
		m.fail(badEvent(e, "time", fmt.Sprintf("before the session's last credited instant %s", fmtTime(s.since))))
		return
	}
	m.addSpans(s.app, []charge{{s.item, 1}}, s.since, e.Time)
	delete(m.sessions, k)
}

// advanceSessions credits every open session up to t.
func (m *Meter) advanceSessions(t int64) {
	for _, s := range m.sessions {
		if s.since < t {
			m.addSpans(s.app, []charge{{s.item, 1}}, s.since, t)
			s.since = t
		}
	}
}

// closeSessions credits every open session up to at (sessions still
// running when the events end run to the period's end, with the notice
// open_at_period_end, as users left in rooms do).
func (m *Meter) closeSessions(at int64) {
	for _, s := range m.sessions {
		m.notice(NoticeOpenAtClose, s.app.ID)
	}
	m.advanceSessions(at)
}
