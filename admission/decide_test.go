package admission

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

var t0 = time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)

func mustCatalog(t *testing.T, name string) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// room builds occupancy: n users in room r (u0…), the first pubs of them
// publishing a main stream.
func roomWith(rs *Rooms, room string, n, pubs int) *Rooms {
	if rs == nil {
		rs = NewRooms()
	}
	at := t0.Add(-time.Minute).UnixMilli()
	for i := 0; i < n; i++ {
		u := fmt.Sprintf("u%d", i)
		rs.Apply(&livebill.Event{Type: livebill.RoomJoin, Time: at, App: "app", Room: room, User: u})
		if i < pubs {
			rs.Apply(&livebill.Event{Type: livebill.StreamStart, Time: at, App: "app", Room: room, User: u, Stream: "main", Media: "video", Width: 640, Height: 360})
		}
	}
	return rs
}

// activeRooms builds occupancy with n rooms of one user each.
func activeRooms(n int) *Rooms {
	var rs *Rooms
	for i := 0; i < n; i++ {
		rs = roomWith(rs, fmt.Sprintf("room%d", i), 1, 0)
	}
	return rs
}

// TestDecideEditions: the edition tables of seed 003 (SPEC §4: "catalog
// data, enforced by admission"), each case at the limit and one past it.
// Line numbers are of 003_925bfe5b68bcfc8a.txt.
func TestDecideEditions(t *testing.T) {
	trtc := mustCatalog(t, "trtc")
	type ed = map[string]string
	for _, c := range []struct {
		name     string
		in       livebill.AuthorizeInput
		editions ed
		rooms    *Rooms
		reason   string // "" allow
	}{
		// conference room size 100/20/50/200 (line 325)
		{"conference lite: 19 in the room, the 20th joins", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "r", User: "new"},
			ed{"conference": "conference.lite"}, roomWith(nil, "r", 19, 0), ""},
		{"conference lite: 20 in the room, the 21st is refused", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "r", User: "new"},
			ed{"conference": "conference.lite"}, roomWith(nil, "r", 20, 0), livebill.DenyRoomFull},
		{"conference lite: a user already in a full room joins again", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "r", User: "u3"},
			ed{"conference": "conference.lite"}, roomWith(nil, "r", 20, 0), ""},
		{"conference trial (no plan): 100 in the room refuses the 101st", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "r", User: "new"},
			nil, roomWith(nil, "r", 100, 0), livebill.DenyRoomFull},
		{"conference pro: 199 in the room, the 200th joins", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "r", User: "new"},
			ed{"conference": "conference.pro"}, roomWith(nil, "r", 199, 0), ""},
		// conference active rooms 10/20/100/200 (line 326)
		{"conference trial: 10 active rooms refuse an 11th", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "new", User: "a"},
			nil, activeRooms(10), livebill.DenyActiveRooms},
		{"conference trial: 10 active rooms, a join into one of them", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "room3", User: "a"},
			nil, activeRooms(10), ""},
		{"conference lite: 19 active rooms, a 20th opens", livebill.AuthorizeInput{Action: "room.join", Product: "conference", Room: "new", User: "a"},
			ed{"conference": "conference.lite"}, activeRooms(19), ""},
		// live rooms 10/10/100/500 (line 398)
		{"live standard: 100 live rooms refuse a 101st", livebill.AuthorizeInput{Action: "room.join", Product: "live", Room: "new", User: "a", Role: "anchor"},
			ed{"live": "live.standard"}, activeRooms(100), livebill.DenyActiveRooms},
		// live audience per room 2,000/100/500/2,000 (line 399): audience = users not publishing
		{"live lite: audience 99 (+1 host), one more watches", livebill.AuthorizeInput{Action: "room.join", Product: "live", Room: "r", User: "new"},
			ed{"live": "live.lite"}, roomWith(nil, "r", 100, 1), ""},
		{"live lite: audience 100 (+1 host), the 101st is refused", livebill.AuthorizeInput{Action: "room.join", Product: "live", Room: "r", User: "new"},
			ed{"live": "live.lite"}, roomWith(nil, "r", 101, 1), livebill.DenyAudienceFull},
		{"live lite: a full audience does not keep an anchor out", livebill.AuthorizeInput{Action: "room.join", Product: "live", Room: "r", User: "new", Role: "anchor"},
			ed{"live": "live.lite"}, roomWith(nil, "r", 101, 1), ""},
		{"live standard: audience 500 refuses the 501st", livebill.AuthorizeInput{Action: "room.join", Product: "live", Room: "r", User: "new"},
			ed{"live": "live.standard"}, roomWith(nil, "r", 502, 2), livebill.DenyAudienceFull},
		// live co-hosting 10/-/4/10 (line 400): lite has none, the host alone publishes
		{"live lite: the host publishes", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "u0", Stream: "main", Media: "video", Width: 1280, Height: 720},
			ed{"live": "live.lite"}, roomWith(nil, "r", 5, 0), ""},
		{"live lite: a second publisher is refused", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "u3", Stream: "main", Media: "audio"},
			ed{"live": "live.lite"}, roomWith(nil, "r", 5, 1), livebill.DenyPublishersFull},
		{"live lite: the host starts a second stream", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "u0", Stream: "screen", Media: "video", Width: 1280, Height: 720},
			ed{"live": "live.lite"}, roomWith(nil, "r", 5, 1), ""},
		{"live standard: 4 publishing refuse a 5th", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "u6", Stream: "main", Media: "audio"},
			ed{"live": "live.standard"}, roomWith(nil, "r", 8, 4), livebill.DenyPublishersFull},
		// call 1v1 has no group calls (line 225): two users per room
		{"call 1v1: a third user is refused", livebill.AuthorizeInput{Action: "room.join", Product: "call", Room: "r", User: "new"},
			ed{"call": "call.1v1"}, roomWith(nil, "r", 2, 0), livebill.DenyRoomFull},
		{"call group: a third user joins", livebill.AuthorizeInput{Action: "room.join", Product: "call", Room: "r", User: "new"},
			ed{"call": "call.group"}, roomWith(nil, "r", 2, 0), ""},
		// 2K/4K only in rtc-engine pro (line 500): 2,073,600 px (1920×1080) is FHD
		{"rtc-engine trial: 1920×1080 publishes", livebill.AuthorizeInput{Action: "stream.start", Room: "r", User: "a", Media: "video", Width: 1920, Height: 1080},
			nil, nil, ""},
		{"rtc-engine trial: 2560×1440 (2K) is refused", livebill.AuthorizeInput{Action: "stream.start", Room: "r", User: "a", Media: "video", Width: 2560, Height: 1440},
			nil, nil, livebill.DenyResolution},
		{"rtc-engine basic: 1921×1080 is refused", livebill.AuthorizeInput{Action: "stream.start", Room: "r", User: "a", Media: "video", Width: 1921, Height: 1080},
			ed{"rtc-engine": "rtc-engine.basic"}, nil, livebill.DenyResolution},
		{"rtc-engine pro: 3840×2160 (4K) publishes", livebill.AuthorizeInput{Action: "stream.start", Room: "r", User: "a", Media: "video", Width: 3840, Height: 2160},
			ed{"rtc-engine": "rtc-engine.pro"}, nil, ""},
		{"rtc-engine trial: an audio stream has no size to refuse", livebill.AuthorizeInput{Action: "stream.start", Room: "r", User: "a", Media: "audio"},
			nil, nil, ""},
		{"rtc-engine trial: receiving 2K is refused too", livebill.AuthorizeInput{Action: "subscribe.start", Room: "r", User: "a", Publisher: "b", Width: 2560, Height: 1440},
			nil, nil, livebill.DenyResolution},
		// live resolution 2K/4K / 1080P / 1080P / 2K/4K (line 401): the product's table
		{"live trial: 2K publishes in a live room", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "a", Media: "video", Width: 2560, Height: 1440},
			nil, nil, ""},
		{"live standard: 2K is refused", livebill.AuthorizeInput{Action: "stream.start", Product: "live", Room: "r", User: "a", Media: "video", Width: 2560, Height: 1440},
			ed{"live": "live.standard"}, nil, livebill.DenyResolution},
		// conference resolution HD, FHD in lite/standard (line 327)
		{"conference standard: 4K is refused", livebill.AuthorizeInput{Action: "stream.start", Product: "conference", Room: "r", User: "a", Media: "video", Width: 3840, Height: 2160},
			ed{"conference": "conference.standard"}, nil, livebill.DenyResolution},
		// third-party CDN relay from basic (line 492)
		{"rtc-engine lite: relay to a third-party CDN is refused", livebill.AuthorizeInput{Action: "relay.start", Room: "r", Destination: "third_party"},
			ed{"rtc-engine": "rtc-engine.lite"}, nil, livebill.DenyFeature},
		{"rtc-engine basic: relay to a third-party CDN", livebill.AuthorizeInput{Action: "relay.start", Room: "r", Destination: "third_party"},
			ed{"rtc-engine": "rtc-engine.basic"}, nil, ""},
		{"rtc-engine trial: relay to Tencent CSS (every edition, line 491)", livebill.AuthorizeInput{Action: "relay.start", Room: "r", Destination: "tencent"},
			nil, nil, ""},
		// screenshots only in pro (lines 496, 1251)
		{"rtc-engine basic: screenshots are refused", livebill.AuthorizeInput{Action: "screenshot"},
			ed{"rtc-engine": "rtc-engine.basic"}, nil, livebill.DenyFeature},
		{"rtc-engine pro: screenshots", livebill.AuthorizeInput{Action: "screenshot"},
			ed{"rtc-engine": "rtc-engine.pro"}, nil, ""},
		// input media stream from basic (line 495)
		{"rtc-engine trial: an input stream is refused", livebill.AuthorizeInput{Action: "input.start", Room: "r"},
			nil, nil, livebill.DenyFeature},
		{"rtc-engine basic: an input stream", livebill.AuthorizeInput{Action: "input.start", Room: "r"},
			ed{"rtc-engine": "rtc-engine.basic"}, nil, ""},
		// 3D audio in pro (line 497), AI denoise from basic (line 493)
		{"rtc-engine basic: 3D audio is refused", livebill.AuthorizeInput{Action: "feature.use", Feature: "3d_audio"},
			ed{"rtc-engine": "rtc-engine.basic"}, nil, livebill.DenyFeature},
		{"rtc-engine pro: 3D audio", livebill.AuthorizeInput{Action: "feature.use", Feature: "3d_audio"},
			ed{"rtc-engine": "rtc-engine.pro"}, nil, ""},
		{"rtc-engine lite: AI denoise is refused", livebill.AuthorizeInput{Action: "feature.use", Feature: "ai_denoise"},
			ed{"rtc-engine": "rtc-engine.lite"}, nil, livebill.DenyFeature},
		{"call trial: AI denoise (line 231)", livebill.AuthorizeInput{Action: "feature.use", Product: "call", Feature: "ai_denoise"},
			nil, nil, ""},
		{"call 1v1: AI denoise is refused (line 231)", livebill.AuthorizeInput{Action: "feature.use", Product: "call", Feature: "ai_denoise"},
			ed{"call": "call.1v1"}, nil, livebill.DenyFeature},
		// recording and mixing are basic functions of every edition (line 489–490)
		{"rtc-engine trial: recording", livebill.AuthorizeInput{Action: "recording.start", Room: "r"}, nil, nil, ""},
		{"rtc-engine trial: transcoding", livebill.AuthorizeInput{Action: "transcode.start", Room: "r"}, nil, nil, ""},
	} {
		c.in.App = "app"
		f := &Facts{Now: t0, Catalog: trtc, Editions: c.editions, Rooms: c.rooms}
		v, err := Decide(&c.in, f)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := v.Reason
		if v.Allow {
			got = ""
		}
		if got != c.reason || v.Allow != (c.reason == "") {
			t.Errorf("%s: allow %v reason %q (%s), want reason %q", c.name, v.Allow, v.Reason, v.Message, c.reason)
		}
		if !v.Allow && (v.Message == "" || (v.Edition == "" && c.reason != "")) {
			t.Errorf("%s: a denial without a message or an edition: %+v", c.name, v.Decision)
		}
	}
}

// TestDecideStatus: an app that does not serve is refused whatever it
// asks, with the status's reason (SPEC §4 Arrears, Service stop); arrears
// within the grace period still serve.
func TestDecideStatus(t *testing.T) {
	trtc := mustCatalog(t, "trtc")
	in := livebill.AuthorizeInput{App: "app", Action: "room.join", Room: "r", User: "a"}
	for _, c := range []struct {
		st     livebill.ServiceStatus
		reason string
	}{
		{livebill.ServiceStatus{AccountState: livebill.AccountActive, AppState: livebill.AppActive}, ""},
		{livebill.ServiceStatus{AccountState: livebill.AccountArrears, AppState: livebill.AppActive, Reason: livebill.ReasonAccountArrears}, ""},
		{livebill.ServiceStatus{AccountState: livebill.AccountSuspended, AppState: livebill.AppStopped, Reason: livebill.ReasonAccountSuspended}, livebill.ReasonAccountSuspended},
		{livebill.ServiceStatus{AccountState: livebill.AccountReclaimed, AppState: livebill.AppStopped, Reason: livebill.ReasonAccountReclaimed}, livebill.ReasonAccountReclaimed},
		{livebill.ServiceStatus{AccountState: livebill.AccountActive, AppState: livebill.AppStopped, Reason: livebill.ReasonTrialExhausted}, livebill.ReasonTrialExhausted},
		{livebill.ServiceStatus{AccountState: livebill.AccountActive, AppState: livebill.AppDisabled, Reason: livebill.ReasonAppDisabled}, livebill.ReasonAppDisabled},
		{livebill.ServiceStatus{AccountState: livebill.AccountActive, AppState: livebill.AppStopped}, livebill.DenyAppStopped},
	} {
		st := c.st
		v, err := Decide(&in, &Facts{Now: t0, Catalog: trtc, Status: &st})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allow != (c.reason == "") || (!v.Allow && v.Reason != c.reason) {
			t.Errorf("%s/%s: allow %v reason %q, want %q", st.AccountState, st.AppState, v.Allow, v.Reason, c.reason)
		}
	}
}

// TestDecideCloudGaming: a session takes a lease on a concurrency of its
// spec, quality and region (seed 000: 云游戏并发最多只能同时支持一个玩家运行游戏,
// SPEC §5); a push needs a live-push concurrency (seed 000: 新增的推流请求将会
// 返回失败). The lease's capacity is what is held; the store refuses beyond.
func TestDecideCloudGaming(t *testing.T) {
	cg := mustCatalog(t, "cloudgaming")
	held := map[string]int{PoolOf("cloudgaming.desktop.s1.standard", "ap-shanghai"): 10, PoolLivePush: 2}
	for _, c := range []struct {
		in       livebill.AuthorizeInput
		reason   string
		pool     string
		capacity int
		err      string
	}{
		{livebill.AuthorizeInput{Action: "cloudgaming.session.start", Spec: "s1", Quality: "standard", Region: "ap-shanghai"}, "", "cloudgaming.desktop.s1.standard@ap-shanghai", 10, ""},
		{livebill.AuthorizeInput{Action: "cloudgaming.session.start", Spec: "desktop.s1", Quality: "standard", Region: "ap-shanghai"}, "", "cloudgaming.desktop.s1.standard@ap-shanghai", 10, ""},
		{livebill.AuthorizeInput{Action: "cloudgaming.session.start", Spec: "s1", Quality: "hd", Region: "ap-shanghai"}, livebill.DenyNoConcurrency, "", 0, ""},
		{livebill.AuthorizeInput{Action: "cloudgaming.session.start", Spec: "s1", Quality: "standard", Region: "ap-beijing"}, livebill.DenyNoConcurrency, "", 0, ""},
		{livebill.AuthorizeInput{Action: "cloudgaming.session.start", Spec: "s9", Quality: "standard"}, "", "", 0, "no concurrency"},
		{livebill.AuthorizeInput{Action: "cloudgaming.push.start"}, "", PoolLivePush, 2, ""},
	} {
		c.in.App, c.in.Lease = "app", "l1"
		v, err := Decide(&c.in, &Facts{Now: t0, Catalog: cg, Concurrency: held})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", c.in, err)
		}
		if v.Allow != (c.reason == "") || v.Reason != c.reason {
			t.Errorf("%+v: allow %v reason %q, want %q", c.in, v.Allow, v.Reason, c.reason)
		}
		if v.Allow && (v.Lease == nil || v.Lease.Pool != c.pool || v.Lease.Capacity != c.capacity) {
			t.Errorf("%+v: lease %+v, want pool %s capacity %d", c.in, v.Lease, c.pool, c.capacity)
		}
	}
	v, err := Decide(&livebill.AuthorizeInput{App: "app", Action: "cloudgaming.push.start", Lease: "p"}, &Facts{Now: t0, Catalog: cg})
	if err != nil || v.Allow || v.Reason != livebill.DenyNoConcurrency {
		t.Errorf("a push with no live-push concurrency: %+v, %v; want no_concurrency", v.Decision, err)
	}
}

// TestDecideIndustrial: a device serves at most its valid licences ×
// 921,600 px (1280×720) of aggregate camera video, nothing with none
// (seed 001: 按照剩余绑定的有效授权数量提供对应的服务。如果数量为0，则不再提供
// 音视频通讯服务); one operator at a time is a lease of capacity 1.
func TestDecideIndustrial(t *testing.T) {
	ind := mustCatalog(t, "industrial")
	// seed 001's truck: 1280×720 + 2 × 640×480 = 1,536,000 px
	truck := []livebill.Size{{Width: 1280, Height: 720}, {Width: 640, Height: 480}, {Width: 640, Height: 480}}
	for _, c := range []struct {
		licences int
		cameras  []livebill.CameraSize
		reason   string
	}{
		{2, nil, ""},                       // 1,536,000 ≤ 2 × 921,600 = 1,843,200
		{1, nil, livebill.DenyLicenceArea}, // 1,536,000 > 921,600: one licence expired
		{1, []livebill.CameraSize{{Width: 1280, Height: 720}}, ""}, // the front camera alone: 921,600 ≤ 921,600
		{1, []livebill.CameraSize{{Width: 1280, Height: 721}}, livebill.DenyLicenceArea},
		{0, nil, livebill.DenyNoLicence},
	} {
		in := livebill.AuthorizeInput{App: "app", Action: "industrial.operate", Device: "truck-7", User: "cockpit-1", Lease: "op", Cameras: c.cameras}
		v, err := Decide(&in, &Facts{Now: t0, Catalog: ind, Licences: map[string]int{"truck-7": c.licences}, Cameras: map[string][]livebill.Size{"truck-7": truck}})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allow != (c.reason == "") || v.Reason != c.reason {
			t.Errorf("%d licences, cameras %v: allow %v reason %q (%s), want %q", c.licences, c.cameras, v.Allow, v.Reason, v.Message, c.reason)
		}
		if v.Allow && (v.Lease == nil || v.Lease.Capacity != 1 || v.Lease.Pool != "industrial.operator@truck-7") {
			t.Errorf("%d licences: lease %+v, want the device's one operator seat", c.licences, v.Lease)
		}
	}
	_, err := Decide(&livebill.AuthorizeInput{App: "app", Action: "industrial.operate", Device: "nope", Lease: "op"}, &Facts{Now: t0, Catalog: ind})
	if livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Errorf("an unknown device: %v, want not found", err)
	}
}

// An unknown feature is a bad request naming the catalog's features, not
// a denial.
func TestDecideUnknownFeature(t *testing.T) {
	_, err := Decide(&livebill.AuthorizeInput{App: "app", Action: "feature.use", Feature: "teleport"}, &Facts{Now: t0, Catalog: mustCatalog(t, "trtc")})
	if livebill.ErrorCode(err) != livebill.EINVALID || !strings.Contains(err.Error(), "3d_audio") {
		t.Fatalf("err %v", err)
	}
}
