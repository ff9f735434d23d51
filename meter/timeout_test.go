package meter_test

// The session timeout (docs/decisions.md, "Open sessions"): a participant
// or task with no event of its own for longer than the catalog's
// session_timeout is closed at its last event plus the timeout, with the
// notice session_timed_out. Expected values are worked out by hand.

import (
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
)

// meterWith is applyAll with another catalog session timeout.
func meterWith(t *testing.T, timeout time.Duration, closeAt int64, es ...livebill.Event) *metered {
	t.Helper()
	return applyAllWith(t, catalogFor(t, timeout), closeAt, es...)
}

// Timeout 1 h. A (receive all) joins at 10:00 and does nothing more; B
// (manual) joins at 10:00 and publishes 1280×720 at 10:30. The meter is
// closed at 13:00.
//
//	A: last event 10:00 → closed at 11:00: audio 10:00–10:30, HD (B's
//	   921,600) 10:30–11:00.
//	B: last event 10:30 → closed at 11:30 (its stream stops): audio
//	   10:00–11:30 = 90 (manual, receives nothing).
//
// Audio 30 + 90 = 120, HD 30; two notices, A at 11:00 and B at 11:30,
// in time order; nobody is open at the close.
func TestSessionTimeoutClosesIdleUsers(t *testing.T) {
	r := meterWith(t, time.Hour, at("13:00"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "manual"),
		pub(at("10:30"), "B", "main", 1280, 720))
	if errs := r.m.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	expectTotals(t, r, map[string]int64{avAudio: 120 * min, avHD: 30 * min})
	ns := timeoutNotices(r.m.Notices())
	if len(ns) != 2 || ns[0].User != "A" || ns[0].Time != "2024-10-01T11:00:00+08:00" ||
		ns[1].User != "B" || ns[1].Time != "2024-10-01T11:30:00+08:00" || ns[0].Room != room || ns[0].App != app1 {
		t.Fatalf("notices %+v, want A at 11:00 and B at 11:30 in room r1 of app1", ns)
	}
	if r.hasNotice(meter.NoticeOpenAtClose) {
		t.Error("open_at_period_end: everyone was closed by the timeout")
	}
}

// An event exactly at last event + timeout is in time: A joins at 10:00
// and subscribes at 11:00 (timeout 1 h), so A times out at 12:00, not
// 11:00. Closed at 12:30: audio 10:00–12:00 = 120.
func TestSessionTimeoutBoundary(t *testing.T) {
	r := meterWith(t, time.Hour, at("12:30"),
		join(at("10:00"), "A", "manual"), sub(at("11:00"), "A", "B", "main", 0, 0))
	expectTotals(t, r, map[string]int64{avAudio: 120 * min})
	if ns := timeoutNotices(r.m.Notices()); len(ns) != 1 || ns[0].Time != "2024-10-01T12:00:00+08:00" {
		t.Fatalf("notices %+v, want A at 12:00", ns)
	}
}

// The late end of a timed-out session is accepted and ends nothing: A
// (timeout 1 h from 10:00) leaves at 12:00, and stops at 12:00 a stream
// the timeout stopped. A start by the timed-out user (11:30) is rejected
// with the reason. A relay task started at 10:00 times out at 11:00: its
// interval ends there, its robot is billed audio 60; its late stop at
// 12:00 is accepted.
//
//	A: audio 10:00–11:00 (it receives nothing; its own 640×360 does not
//	count) = 60; the relay robot (all streams) receives A's 230,400
//	10:00–11:00: HD 60.
func TestSessionTimeoutLateEvents(t *testing.T) {
	r := meterWith(t, time.Hour, at("13:00"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 640, 360),
		relayStart(at("10:00"), "cdn", "tencent", 2000),
		pub(at("11:30"), "A", "screen", 1920, 1080),
		unpub(at("12:00"), "A", "main"), leave(at("12:00"), "A"), relayStop(at("12:00"), "cdn"))
	errs := r.m.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "without joining it (its session timed out at 2024-10-01T11:00:00+08:00)") {
		t.Fatalf("errors %v, want only the 11:30 stream.start, naming the timeout", errs)
	}
	expectTotals(t, r, map[string]int64{avAudio: 60 * min, avHD: 60 * min})
	rl := r.m.Relays()
	if len(rl) != 1 || rl[0].End != at("11:00") {
		t.Fatalf("relays %+v, want one ending at 11:00", rl)
	}
	ns := timeoutNotices(r.m.Notices())
	if len(ns) != 2 || ns[0].Task != "cdn" && ns[1].Task != "cdn" {
		t.Fatalf("notices %+v, want A and task cdn", ns)
	}
}

// The default timeout is 24 h (catalog.DefaultSessionTimeout): a user
// joined at 10:00 on 10-01 and never heard of again is billed audio
// until 10:00 on 10-02 — 14 h on 10-01 and 10 h on 10-02 — not up to the
// close two days later.
func TestSessionTimeoutDefault(t *testing.T) {
	r := runMeter(t, atDay("2024-10-03", "10:00"), join(at("10:00"), "A", "manual"))
	expectMap(t, r.byDay(), map[string]int64{
		app1 + " 2024-10-01 " + avAudio: 14 * 60 * min,
		app1 + " 2024-10-02 " + avAudio: 10 * 60 * min,
	})
}

// More timed-out sessions than an app's notices list: the first 100 are
// named, one more notice counts the others. 150 users join room r1 at
// 10:00 (timeout 1 h) and are never heard of again.
func TestSessionTimeoutNoticesCapped(t *testing.T) {
	var es []livebill.Event
	for i := 0; i < 150; i++ {
		es = append(es, join(at("10:00"), "u"+strings.Repeat("x", i), "manual"))
	}
	r := meterWith(t, time.Hour, at("12:00"), es...)
	ns := timeoutNotices(r.m.Notices())
	if len(ns) != 101 || ns[100].User != "" || !strings.HasPrefix(ns[100].Message, "50 more sessions") {
		t.Fatalf("%d notices, last %+v; want 100 named and one counting 50 more", len(ns), ns[len(ns)-1])
	}
}

// A quote lists the sessions timed out in its period: A times out at
// 11:00, B at 13:00 (timeout 1 h); the period [11:30, 14:00) names B only.
func TestSessionTimeoutNoticesInPeriod(t *testing.T) {
	r := meterWith(t, time.Hour, at("14:00"), join(at("10:00"), "A", "manual"), join(at("12:00"), "B", "manual"))
	ns := timeoutNotices(r.m.NoticesIn(at("11:30"), at("14:00")))
	if len(ns) != 1 || ns[0].User != "B" {
		t.Fatalf("notices %+v, want B's only", ns)
	}
	if all := timeoutNotices(r.m.Notices()); len(all) != 2 {
		t.Fatalf("all notices %+v, want A's and B's", all)
	}
}

// A session timeout before a dissolution closes the session first (timeout
// 1 h): A joins at 10:00 and is never heard of again, B joins at 10:50;
// the app's rooms are dissolved at 11:30, with no event between. A is
// closed at 11:00 by the timeout (audio 60), B at 11:30 by the
// dissolution (audio 40); one timeout notice, A's.
func TestSessionTimeoutBeforeDissolution(t *testing.T) {
	r := applyOn(t, catalogFor(t, time.Hour), meter.Options{Dissolutions: []meter.Dissolution{{App: app1, At: at("11:30")}}},
		at("14:00"), join(at("10:00"), "A", "manual"), join(at("10:50"), "B", "manual"))
	if errs := r.m.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	expectTotals(t, r, map[string]int64{avAudio: 100 * min})
	if ns := timeoutNotices(r.m.Notices()); len(ns) != 1 || ns[0].User != "A" || ns[0].Time != "2024-10-01T11:00:00+08:00" {
		t.Fatalf("notices %+v, want A's at 11:00", ns)
	}
}
