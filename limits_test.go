package livebill

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTextProblem(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"", ""},
		{"room-1", ""},
		{"会议室", ""},
		{strings.Repeat("x", MaxIDLen), ""},
		{strings.Repeat("x", MaxIDLen+1), "longer than 256 bytes"},
		{strings.Repeat("会", 86), "longer than 256 bytes"}, // 258 bytes
		{"a\x00b", "contains a NUL byte"},
		{"a\nb", "contains a control character"},
		{"a\x7fb", ""}, // DEL is not a control character here: nothing refuses it
		{"\xff", "is not valid UTF-8"},
		{"ok\xc3", "is not valid UTF-8"},
	}
	for _, c := range cases {
		if got := TextProblem(c.in); got != c.want {
			t.Errorf("TextProblem(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// An event out of bounds is an EventError naming the field (CheckText for
// its strings, Validate for its numbers and time); the id of an event
// whose id is bad is not echoed.
func TestEventBounds(t *testing.T) {
	at := time.Date(2024, 10, 1, 2, 0, 0, 0, time.UTC).UnixMilli()
	join := func() Event {
		return Event{ID: "e1", Type: RoomJoin, Time: at, App: "app", Room: "r", User: "u"}
	}
	video := func() Event {
		return Event{ID: "e1", Type: StreamStart, Time: at, App: "app", Room: "r", User: "u", Stream: StreamMain, Media: MediaVideo, Width: 1280, Height: 720}
	}
	eval := func() Event {
		return Event{ID: "e1", Type: MatchmakingEvaluation, Time: at, App: "app", Count: 1, DurationUS: 50000}
	}
	long := strings.Repeat("x", MaxIDLen+1)
	cases := []struct {
		name  string
		e     func() Event
		field string
	}{
		{"valid join", join, ""},
		{"long id", func() Event { e := join(); e.ID = long; return e }, "id"},
		{"NUL in id", func() Event { e := join(); e.ID = "a\x00"; return e }, "id"},
		{"NUL in room", func() Event { e := join(); e.Room = "\x00"; return e }, "room"},
		{"invalid UTF-8 in user", func() Event { e := join(); e.User = "\xff"; return e }, "user"},
		{"long app", func() Event { e := join(); e.App = long; return e }, "app"},
		{"long field of another type", func() Event { e := join(); e.Codec = long; return e }, "codec"},
		{"control character in a format", func() Event { e := join(); e.Formats = []string{"mp\n4"}; return e }, "formats"},
		{"long stream ref user", func() Event { e := join(); e.Streams = []StreamRef{{User: long, Stream: "main"}}; return e }, "streams"},
		{"too many inputs", func() Event { e := join(); e.Inputs = make([]StreamRef, MaxListLen+1); return e }, "inputs"},
		{"1970", func() Event { e := join(); e.Time = 1000; return e }, "time"},
		{"year 24", func() Event {
			e := join()
			e.Time = time.Date(24, 10, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
			return e
		}, "time"},
		{"year 9999", func() Event {
			e := join()
			e.Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
			return e
		}, "time"},
		{"valid video", video, ""},
		// 10^10 px is the bound: 100,000 × 100,000 is on it, one more row is over
		{"area on the bound", func() Event { e := video(); e.Width, e.Height = 100_000, 100_000; return e }, ""},
		{"area over the bound", func() Event { e := video(); e.Width, e.Height = 100_000, 100_001; return e }, "width"},
		{"side that would overflow", func() Event { e := video(); e.Width, e.Height = 1<<40, 1<<40; return e }, "width"},
		{"huge bitrate", func() Event {
			return Event{ID: "e1", Type: RelayStart, Time: at, App: "app", Room: "r", Task: "t", Destination: DestTencent, BitrateKbps: MaxBitrateKbps + 1}
		}, "bitrate_kbps"},
		{"valid evaluation", eval, ""},
		{"huge count", func() Event { e := eval(); e.Count = MaxEventCount + 1; return e }, "count"},
		{"hour-long evaluation", func() Event { e := eval(); e.DurationUS = MaxEvaluationUS; return e }, ""},
		{"longer evaluation", func() Event { e := eval(); e.DurationUS = MaxEvaluationUS + 1; return e }, "duration_us"},
		// 10^16 µs at most in one event: 10^10 evaluations of an hour are 3.6·10^19
		{"total evaluation time", func() Event { e := eval(); e.DurationUS, e.Count = MaxEvaluationUS, 10_000_000_000; return e }, "count"},
		{"huge players", func() Event {
			return Event{ID: "e1", Type: MatchmakingRequest, Time: at, App: "app", Players: MaxEventCount + 1}
		}, "players"},
	}
	for _, c := range cases {
		e := c.e()
		err := e.CheckText()
		if err == nil {
			err = e.Validate()
		}
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v, want valid", c.name, err)
			}
			continue
		}
		var ee *EventError
		if !errors.As(err, &ee) || ee.Field != c.field {
			t.Errorf("%s: %v, want an error on field %q", c.name, err, c.field)
			continue
		}
		if c.field == "id" && ee.ID != "" {
			t.Errorf("%s: the error echoes the bad id", c.name)
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: message of %d bytes echoes the input", c.name, len(err.Error()))
		}
	}
}

// Every input names the field at fault; values that would break a
// backend (NUL, over-long ids) or overflow are refused.
func TestInputBounds(t *testing.T) {
	long := strings.Repeat("x", MaxIDLen+1)
	cases := []struct {
		name  string
		err   error
		field string // "" = valid
	}{
		{"account", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "2024-01-10", Balance: "-12.5"}).Validate(), ""},
		{"account NUL id", (&CreateAccountInput{ID: "a\x00", Catalog: "trtc", Created: "2024-01-10"}).Validate(), "account id:"},
		{"account long id", (&CreateAccountInput{ID: long, Catalog: "trtc", Created: "2024-01-10"}).Validate(), "account id:"},
		{"account year 24", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "0024-01-10"}).Validate(), "created:"},
		{"account activated 1970", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "2024-01-10", Activated: "1970-01-01"}).Validate(), "activated:"},
		{"account bad balance", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "2024-01-10", Balance: "1e9"}).Validate(), "balance:"},
		{"account huge balance", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "2024-01-10", Balance: "1000000000000"}).Validate(), "balance:"},
		{"account NUL catalog_yaml", (&CreateAccountInput{ID: "a", Catalog: "x", CatalogYAML: "extends: trtc\x00", Created: "2024-01-10"}).Validate(), "catalog_yaml:"},
		{"account NUL zone", (&CreateAccountInput{ID: "a", Catalog: "trtc", Created: "2024-01-10", Timezone: "Asia/\x00"}).Validate(), "timezone:"},
		{"app", (&CreateAppInput{AccountID: "a", ID: "app", Name: "Prod"}).Validate(), ""},
		{"app invalid UTF-8", (&CreateAppInput{AccountID: "a", ID: "\xff"}).Validate(), "app id:"},
		{"app name NUL", (&CreateAppInput{AccountID: "a", ID: "app", Name: "\x00"}).Validate(), "name:"},
		{"purchase", (&CreatePurchaseInput{AccountID: "a", ID: "p", Plan: "rtc-engine.pro", Start: "2024-10-01"}).Validate(), ""},
		{"purchase count", (&CreatePurchaseInput{AccountID: "a", ID: "p", Plan: "x", Count: MaxUnits + 1, Start: "2024-10-01"}).Validate(), "count:"},
		{"purchase start 0024", (&CreatePurchaseInput{AccountID: "a", ID: "p", Plan: "x", Start: "0024-10-01"}).Validate(), "start:"},
		{"purchase long device", (&CreatePurchaseInput{AccountID: "a", ID: "p", Plan: "x", Device: long, Start: "2024-10-01"}).Validate(), "device:"},
		{"refund", (&CreateRefundInput{AccountID: "a", Purchase: "p", Count: 1, Time: "2024-10-02T10:00:00Z"}).Validate(), ""},
		{"refund count", (&CreateRefundInput{AccountID: "a", Purchase: "p", Count: -1, Time: "2024-10-02"}).Validate(), "count:"},
		{"refund time 9999", (&CreateRefundInput{AccountID: "a", Purchase: "p", Time: "9999-01-01"}).Validate(), "time:"},
		{"device", (&CreateDeviceInput{AccountID: "a", ID: "d", Cameras: []Size{{1920, 1080}}}).Validate(), ""},
		{"device huge camera", (&CreateDeviceInput{AccountID: "a", ID: "d", Cameras: []Size{{1 << 40, 1 << 40}}}).Validate(), "cameras[0]:"},
		{"device many cameras", (&CreateDeviceInput{AccountID: "a", ID: "d", Cameras: make([]Size, MaxListLen+1)}).Validate(), "cameras:"},
		{"top-up", (&CreateTopUpInput{AccountID: "a", ID: "t", Amount: "999999999999.12345678"}).Validate(), ""},
		{"top-up too large", (&CreateTopUpInput{AccountID: "a", ID: "t", Amount: "1000000000000"}).Validate(), "amount:"},
		{"top-up too precise", (&CreateTopUpInput{AccountID: "a", ID: "t", Amount: "1.123456789"}).Validate(), "amount:"},
		{"top-up negative", (&CreateTopUpInput{AccountID: "a", ID: "t", Amount: "-5"}).Validate(), "amount:"},
		{"top-up id NUL", (&CreateTopUpInput{AccountID: "a", ID: "\x00", Amount: "5"}).Validate(), "top-up id:"},
		{"top-up 1970", (&CreateTopUpInput{AccountID: "a", ID: "t", Amount: "5", Time: "1970-01-01T00:00:00Z"}).Validate(), "time:"},
	}
	for _, c := range cases {
		switch {
		case c.field == "" && c.err != nil:
			t.Errorf("%s: %v, want valid", c.name, c.err)
		case c.field != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.field)):
			t.Errorf("%s: %v, want an error naming %q", c.name, c.err, c.field)
		case c.field != "" && ErrorCode(c.err) != EINVALID:
			t.Errorf("%s: code %s, want %s", c.name, ErrorCode(c.err), EINVALID)
		}
	}
}

// Usage ranges are bounded per granularity: 31 days of 5-minute windows,
// 366 days of days.
func TestUsageRange(t *testing.T) {
	cases := []struct {
		from, to, gran string
		field          string
	}{
		{"2024-10-01", "2024-11-01", "5m", ""},   // 31 days
		{"2024-10-01", "2024-11-02", "5m", "to"}, // 32
		{"2024-01-01", "2025-01-01", "day", ""},  // 366 (leap year)
		{"2024-01-01", "2025-01-02", "day", "to"},
		{"1970-01-01", "2100-01-01", "5m", "from"},
		{"2099-12-01", "2100-01-01", "day", ""},    // the last month
		{"2099-12-31", "2100-01-02", "day", "to"},  // past 2099
		{"9999-12-01", "9999-12-02", "5m", "from"}, // centuries away
		{"1999-12-31", "2000-01-01", "day", "from"},
		{"2024-10-02", "2024-10-01", "day", "from"},
		{"2024-10-01", "2024-10-0\x00", "day", "to"},
	}
	for _, c := range cases {
		err := (&UsageInput{AccountID: "a", From: c.from, To: c.to, Granularity: c.gran}).Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s..%s %s: %v", c.from, c.to, c.gran, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%s..%s %s: %v, want an error naming %s", c.from, c.to, c.gran, err, c.field)
		}
	}
}
