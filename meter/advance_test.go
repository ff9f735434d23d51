package meter_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/meter"
	"pgregory.net/rapid"
)

// A live meter fed the events in time order and advanced at watermarks
// (Advance) has, for every window ending by a watermark T, exactly the usage
// of a meter fed only the events before T and closed at T: what the
// service's continuous metering relies on to settle without a replay.
// With a short session timeout, sessions time out on both paths alike.
func TestPropAdvanceMatchesClose(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cat := catalogFor(t, rapid.SampledFrom([]time.Duration{0, 5 * time.Minute}).Draw(t, "timeout"))
		es, end := genMixed(t)
		if len(es) == 0 {
			return
		}
		first := es[0].Time
		var marks []int64
		for w := first; w <= end; {
			w += rapid.SampledFrom([]int64{0, 1, 999, 30 * sec, 4 * min, 5 * min}).Draw(t, "step")
			marks = append(marks, w)
			if len(marks) > 30 {
				break
			}
		}
		live, err := meter.New(cat, meter.Options{})
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		check := rapid.IntRange(0, len(marks)-1).Draw(t, "check")
		var got []meter.Record
		var gotTimeouts []livebill.Notice
		for k, w := range marks {
			for ; i < len(es) && es[i].Time < w; i++ {
				e := es[i]
				live.Apply(&e)
			}
			live.Advance(w)
			if k == check {
				// the live meter goes on after the check; what it shows
				// for windows before w must not change later either
				got = before(live.Records(), w)
				gotTimeouts = timeoutNotices(live.NoticesIn(math.MinInt64, w))
			}
		}
		for ; i < len(es); i++ {
			e := es[i]
			live.Apply(&e)
		}
		w := marks[check]
		var upTo []livebill.Event
		for _, e := range es {
			if e.Time < w {
				upTo = append(upTo, e)
			}
		}
		replay := snapWith(t, cat, w, upTo)
		want := before(replay.Records, w)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("advanced to %d: live %+v\nreplay closed there: %+v", w, got, want)
		}
		if wantTimeouts := timeoutNotices(replay.Notices); !reflect.DeepEqual(gotTimeouts, wantTimeouts) {
			t.Fatalf("advanced to %d: timed-out sessions %+v\nreplay closed there: %+v", w, gotTimeouts, wantTimeouts)
		}
		if after := before(live.Records(), w); !reflect.DeepEqual(after, want) {
			t.Fatalf("windows before %d changed after later events: %+v\nwant %+v", w, after, want)
		}
	})
}

func timeoutNotices(ns []livebill.Notice) []livebill.Notice {
	var out []livebill.Notice
	for _, n := range ns {
		if n.Code == meter.NoticeSessionTimedOut {
			out = append(out, n)
		}
	}
	return out
}

func before(rs []meter.Record, t int64) []meter.Record {
	var out []meter.Record
	for _, r := range rs {
		if r.Window+meter.WindowMS <= t { // windows that end by t
			out = append(out, r)
		}
	}
	return out
}

// MAUBefore counts a user once per month, from the first login, and only
// logins before the instant (the live meter's view at a settlement).
func TestMAUBefore(t *testing.T) {
	m, err := meter.New(trtc(t), meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		user string
		at   int64
	}{{"u1", at("10:00")}, {"u2", at("11:00")}, {"u1", at("12:00")}, {"u3", atDay("2024-10-02", "09:00")}} {
		e := livebill.Event{Type: livebill.Login, App: app1, User: l.user, Time: l.at}
		m.Apply(&e)
	}
	// before 11:00 only u1; before 10-02 u1 and u2; all: three users in 2024-10
	for _, c := range []struct {
		t    int64
		want int
	}{{at("10:00"), 0}, {at("11:00"), 1}, {atDay("2024-10-02", "00:00"), 2}, {atDay("2024-10-03", "00:00"), 3}} {
		if got := m.MAUBefore(c.t)[app1]["2024-10"]; got != c.want {
			t.Errorf("MAUBefore(%d) = %d, want %d", c.t, got, c.want)
		}
	}
	if got := m.MAU()[app1]["2024-10"]; got != 3 {
		t.Errorf("MAU = %d, want 3", got)
	}
}
