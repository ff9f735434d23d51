package catalog

import (
	"strings"
	"testing"
)

// The built-in TRTC catalog carries seed 003's edition tables (SPEC §4).
// Each expected value is read off the seed's tables (line numbers of
// 003_925bfe5b68bcfc8a.txt).
func TestBuiltinEditionTables(t *testing.T) {
	c, err := Load("trtc")
	if err != nil {
		t.Fatal(err)
	}
	limit := func(v *int64) int64 {
		if v == nil {
			return -1 // no limit
		}
		return *v
	}
	for _, x := range []struct {
		plan                                   string
		users, rooms, audience, pubs, maxVideo int64 // -1: no limit
		has, hasNot                            []string
	}{
		// rtc-engine (lines 492–502): 2K/4K and screenshots only in pro;
		// third-party CDN relay from basic
		{"rtc-engine.trial", -1, -1, -1, -1, 2073600, nil, []string{"third_party_relay", "screenshot", "3d_audio", "ai_denoise"}},
		{"rtc-engine.lite", -1, -1, -1, -1, 2073600, nil, []string{"third_party_relay", "ai_denoise"}},
		{"rtc-engine.basic", -1, -1, -1, -1, 2073600, []string{"third_party_relay", "ai_denoise", "input_stream"}, []string{"screenshot", "3d_audio"}},
		{"rtc-engine.pro", -1, -1, -1, -1, -1, []string{"third_party_relay", "screenshot", "3d_audio", "pull_relay_into_room"}, nil},
		// call (lines 224–226): 1v1 has no group calls
		{"call.1v1", 2, -1, -1, -1, -1, nil, []string{"group_call"}},
		{"call.group", -1, -1, -1, -1, -1, []string{"group_call"}, nil},
		// conference (lines 325–327): room size 100/20/50/200, active rooms 10/20/100/200
		{"conference.trial", 100, 10, -1, -1, -1, []string{"room_chat"}, nil},
		{"conference.lite", 20, 20, -1, -1, 2073600, nil, []string{"room_chat", "ai_denoise"}},
		{"conference.standard", 50, 100, -1, -1, 2073600, []string{"ai_denoise"}, nil},
		{"conference.starter", 50, 100, -1, -1, 2073600, []string{"ai_denoise"}, nil}, // line 309: as standard
		{"conference.pro", 200, 200, -1, -1, -1, []string{"multi_device_login"}, nil},
		// live (lines 398–401): rooms 10/10/100/500, audience 2,000/100/500/2,000, co-hosts 10/-/4/10
		{"live.trial", -1, 10, 2000, 10, -1, nil, nil},
		{"live.lite", -1, 10, 100, 1, 2073600, nil, []string{"full_screen_gifts"}},
		{"live.standard", -1, 100, 500, 4, 2073600, nil, nil},
		{"live.pro", -1, 500, 2000, 10, -1, nil, nil},
	} {
		e, ok := c.Edition(x.plan)
		if !ok {
			t.Errorf("%s: no edition table", x.plan)
			continue
		}
		got := []int64{limit(e.MaxRoomUsers), limit(e.ActiveRooms), limit(e.AudiencePerRoom), limit(e.MaxPublishers), limit(e.MaxVideoArea)}
		want := []int64{x.users, x.rooms, x.audience, x.pubs, x.maxVideo}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: limits (users, rooms, audience, publishers, video area) = %v, want %v", x.plan, got, want)
				break
			}
		}
		for _, f := range x.has {
			if !e.Has(f) {
				t.Errorf("%s: lacks feature %s", x.plan, f)
			}
		}
		for _, f := range x.hasNot {
			if e.Has(f) {
				t.Errorf("%s: has feature %s", x.plan, f)
			}
		}
	}
}

// A user catalog overrides an edition field by field (the rest stays the
// built-in's), adds features, and cannot name an undeclared feature, an
// unknown plan or a negative limit.
func TestEditionOverride(t *testing.T) {
	c, err := Parse([]byte(`
extends: trtc
admission:
  features:
    beauty_filter: "Beauty filter"
  editions:
    live.lite: {audience_per_room: 300}
    rtc-engine.basic: {features: [third_party_relay, beauty_filter]}
`), "over.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lite, _ := c.Edition("live.lite")
	if *lite.AudiencePerRoom != 300 || *lite.ActiveRooms != 10 || *lite.MaxPublishers != 1 {
		t.Errorf("live.lite = audience %d rooms %d publishers %d, want 300 10 1", *lite.AudiencePerRoom, *lite.ActiveRooms, *lite.MaxPublishers)
	}
	basic, _ := c.Edition("rtc-engine.basic")
	if !basic.Has("beauty_filter") || basic.Has("ai_denoise") || *basic.MaxVideoArea != 2073600 {
		t.Errorf("rtc-engine.basic = %+v, want the override's features and the built-in's video area", basic)
	}
	base, _ := Load("trtc")
	if b, _ := base.Edition("live.lite"); *b.AudiencePerRoom != 100 {
		t.Errorf("the override changed the built-in catalog: %d", *b.AudiencePerRoom)
	}
	for _, bad := range []struct{ doc, want string }{
		{"admission:\n  editions:\n    live.lite: {features: [teleport]}\n", `feature "teleport" is not declared`},
		{"admission:\n  editions:\n    live.ultra: {active_rooms: 1}\n", "no plan live.ultra"},
		{"admission:\n  editions:\n    live.lite: {active_rooms: -1}\n", "active_rooms must not be negative"},
		{"admission:\n  editions:\n    live.lite: {max_video_area: 0}\n", "max_video_area must be positive"},
		{"admission:\n  editions:\n    live.lite: {rooms: 1}\n", "rooms"},
	} {
		_, err := Parse([]byte("extends: trtc\n"+bad.doc), "bad.yaml")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want %q", bad.doc, err, bad.want)
		}
	}
}

// An item meters sessions of one known kind, as a duration, and one item
// per kind.
func TestSessionItems(t *testing.T) {
	c, err := Parse([]byte("extends: cloudgaming\nitems:\n  - {id: cg.time, unit: minute, price: \"0.05\", measure: duration_ms, sessions: cloudgaming.session}\n"), "ok.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := c.SessionItem("cloudgaming.session"); !ok || it.ID != "cg.time" {
		t.Errorf("SessionItem = %v %v", it, ok)
	}
	if _, ok := c.SessionItem("cloudgaming.push"); ok {
		t.Error("cloudgaming.push sessions are not metered")
	}
	for _, bad := range []struct{ items, want string }{
		{`{id: x, unit: minute, price: "1", measure: duration_ms, sessions: teleport}`, `sessions must be`},
		{`{id: x, unit: minute, price: "1", measure: count, sessions: cloudgaming.session}`, "measures duration_ms"},
		{`{id: x, unit: minute, price: "1", measure: duration_ms, sessions: cloudgaming.push}, {id: y, unit: minute, price: "1", measure: duration_ms, sessions: cloudgaming.push}`, "already metered by x"},
	} {
		_, err := Parse([]byte("extends: cloudgaming\nitems: ["+bad.items+"]\n"), "bad.yaml")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.items, err, bad.want)
		}
	}
}
