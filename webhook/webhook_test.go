package webhook

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/eventio"
)

func cfg(vendor string) *Config {
	c := &Config{App: "1400000001", Vendor: vendor, Secret: "k", Key: "abcdefg"}
	c.Defaults()
	return c
}

// ---- signatures

// The body is the one Tencent documents for the Sign computation
// (https://cloud.tencent.com/document/product/647/90450, 计算签名: the raw
// body with its \n and \t kept). Tencent publishes no Sign for it, so the
// expected value was computed independently with Python
// (base64(hmac.new(b"livebillTestKey123", body, sha256).digest())) for a
// test key of ours: it checks the formula and the encoding, not a
// vendor-published output.
const trtcDocBody = "{\n\t\"EventGroupId\":\t1,\n\t\"EventType\":\t103,\n\t\"CallbackTs\":\t1615554923704,\n\t\"EventInfo\":\t{\n\t\t\"RoomId\":\t12345,\n\t\t\"EventTs\":\t1608441737,\n\t\t\"UserId\":\t\"test\",\n\t\t\"UniqueId\":\t1615554922656,\n\t\t\"Role\":\t20,\n\t\t\"Reason\":\t1\n\t}\n}"

const trtcDocSign = "XUvCkIhIJe9UVqnI2PDHqsXOP6pGy1Zxpbv94eKwfXc="

func TestTRTCSign(t *testing.T) {
	body := []byte(trtcDocBody)
	if err := VerifyTRTC(body, trtcDocSign, "livebillTestKey123"); err != nil {
		t.Fatalf("documented body, independently computed Sign: %v", err)
	}
	if got := base64.StdEncoding.EncodeToString(SignTRTC(body, "livebillTestKey123")); got != trtcDocSign {
		t.Fatalf("sign %s, want %s", got, trtcDocSign)
	}
	tampered := []byte(trtcDocBody[:len(trtcDocBody)-3] + "2\n\t}\n}")
	for name, c := range map[string]struct {
		body      []byte
		sign, key string
	}{
		"tampered body": {tampered, trtcDocSign, "livebillTestKey123"},
		"wrong key":     {body, trtcDocSign, "otherKey"},
		"missing":       {body, "", "livebillTestKey123"},
		"garbage":       {body, "not base64!", "livebillTestKey123"},
	} {
		if err := VerifyTRTC(c.body, c.sign, c.key); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

// Agora's documented vector (https://docs.agora.io/cn/Video/signature_verify):
// this body with secret "secret" has Agora-Signature-V2
// de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24.
const (
	agoraDocBody = `{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}`
	agoraDocSig  = "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24"
)

func TestAgoraSignatureV2(t *testing.T) {
	body := []byte(agoraDocBody)
	const sig = agoraDocSig
	if err := VerifyAgora(body, sig, "secret"); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(SignAgora(body, "secret")); got != sig {
		t.Fatalf("got %s", got)
	}
	if err := VerifyAgora(append(body[:len(body)-2:len(body)-2], []byte("2}")...), sig, "secret"); !errors.Is(err, ErrSignature) {
		t.Error("tampered body accepted")
	}
	if err := VerifyAgora(body, sig, "secret2"); !errors.Is(err, ErrSignature) {
		t.Error("wrong secret accepted")
	}
	if err := VerifyAgora(body, "", "secret"); !errors.Is(err, ErrSignature) {
		t.Error("missing signature accepted")
	}
}

// LiveKit's own receiver test (livekit/node-sdks
// packages/livekit-server-sdk/src/WebhookReceiver.test.ts) signs this body
// with API key "abcdefg" and secret "abababa" and gives its sha256 claim
// CoEQz1chqJ9bnZRcORddjplkvpjmPujmLTR42DbefYI=. That test mints its JWT at
// run time, so the token below was minted independently with Python
// (HS256, claims iss/nbf/exp/sha256) from the published key, secret and
// hash.
const (
	lkBody  = `{"event":"room_started", "room":{"sid":"RM_TkVjUvAqgzKz", "name":"mytestroom", "emptyTimeout":300, "creationTime":"1628545903", "turnPassword":"ICkSr2rEeslkN6e9bXL4Ji5zzMD5Z7zzr6ulOaxMj6N", "enabledCodecs":[{"mime":"audio/opus"}, {"mime":"video/VP8"}]}}`
	lkToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhYmNkZWZnIiwibmJmIjoxNjI4NTQ1OTAzLCJleHAiOjE2Mjg1NDYyMDMsInNoYTI1NiI6IkNvRVF6MWNocUo5Ym5aUmNPUmRkanBsa3Zwam1QdWptTFRSNDJEYmVmWUk9In0.-wsFGCPV1n2k5eBu76GWuJmK8-7N9-2xOrt0kgG2Ca4"
)

func TestLiveKitJWT(t *testing.T) {
	now := time.Unix(1628545950, 0)
	body := []byte(lkBody)
	if err := VerifyLiveKit(body, lkToken, "abcdefg", "abababa", now); err != nil {
		t.Fatal(err)
	}
	c, err := ParseLiveKitToken(lkToken)
	if err != nil || c.Issuer != "abcdefg" || c.Sha256 != "CoEQz1chqJ9bnZRcORddjplkvpjmPujmLTR42DbefYI=" {
		t.Fatalf("claims %+v %v", c, err)
	}
	// our signer agrees with the verifier
	if err := VerifyLiveKit(body, SignLiveKit(body, "abcdefg", "abababa", now), "abcdefg", "abababa", now); err != nil {
		t.Fatal(err)
	}
	tampered := []byte(lkBody[:len(lkBody)-2] + " }")
	for name, f := range map[string]func() error{
		"tampered body": func() error { return VerifyLiveKit(tampered, lkToken, "abcdefg", "abababa", now) },
		"wrong secret":  func() error { return VerifyLiveKit(body, lkToken, "abcdefg", "abababX", now) },
		"wrong key":     func() error { return VerifyLiveKit(body, lkToken, "other", "abababa", now) },
		"expired":       func() error { return VerifyLiveKit(body, lkToken, "abcdefg", "abababa", now.Add(time.Hour)) },
		"missing":       func() error { return VerifyLiveKit(body, "", "abcdefg", "abababa", now) },
		"alg none": func() error {
			return VerifyLiveKit(body, "eyJhbGciOiJub25lIn0"+lkToken[36:], "abcdefg", "abababa", now)
		},
	} {
		if err := f(); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: %v, want ErrSignature", name, err)
		}
	}
}

// ---- mapping

// every mapped event must be a valid SPEC §7.1 event
func parseAll(t *testing.T, evs []Event) []livebill.Event {
	t.Helper()
	var out []livebill.Event
	for _, r := range Raw(evs) {
		var e livebill.Event
		if err := eventio.Parse(r.Body, &e); err != nil {
			t.Fatalf("%s: %v", r.Body, err)
		}
		out = append(out, e)
	}
	return out
}

// Tencent's sample callbacks (https://trtc.io/document/39558, Event
// Callback Example, 101–206; room 12345, user "test").
var trtcSamples = []string{
	`{"EventGroupId":1,"EventType":101,"CallbackTs":1687770730166,"EventInfo":{"RoomId":12345,"EventTs":1687770730,"EventMsTs":1687770730160,"UserId":"test"}}`,
	`{"EventGroupId":1,"EventType":103,"CallbackTs":1687770731932,"EventInfo":{"RoomId":12345,"EventTs":1687770731,"EventMsTs":1687770731831,"UserId":"test","Role":21,"TerminalType":2,"UserType":3,"Reason":1}}`,
	`{"EventGroupId":1,"EventType":104,"CallbackTs":1687770731922,"EventInfo":{"RoomId":12345,"EventTs":1687770731,"EventMsTs":1687770731898,"UserId":"test","Role":20,"Reason":1}}`,
	`{"EventGroupId":1,"EventType":105,"CallbackTs":1687772245596,"EventInfo":{"RoomId":12345,"EventTs":1687772245,"EventMsTs":1687772245537,"UserId":"test","Role":21}}`,
	`{"EventGroupId":2,"EventType":201,"CallbackTs":1687771803198,"EventInfo":{"RoomId":12345,"EventTs":1687771803,"EventMsTs":1687771803192,"UserId":"test"}}`,
	`{"EventGroupId":1,"EventType":102,"CallbackTs":1687771618531,"EventInfo":{"RoomId":"12345","EventTs":1687771618,"EventMsTs":1687771618457}}`,
}

func TestMapTRTCSamples(t *testing.T) {
	c := cfg(TRTC)
	want := []string{"", "room.join test", "room.leave test", "stream.stop test|stream.stop test", "stream.start test", "room.leave *"}
	for i, s := range trtcSamples {
		evs, err := MapTRTC(c, []byte(s))
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		got := ""
		for j, e := range parseAll(t, evs) {
			if j > 0 {
				got += "|"
			}
			got += e.Type.String() + " " + e.User
			if e.Room != "12345" || e.App != c.App {
				t.Errorf("sample %d: room %q app %q", i, e.Room, e.App)
			}
		}
		if got != want[i] {
			t.Errorf("sample %d: %q, want %q", i, got, want[i])
		}
		again, _ := MapTRTC(c, []byte(s))
		for j := range evs {
			if evs[j].ID != again[j].ID {
				t.Errorf("sample %d: id not deterministic", i)
			}
		}
	}
	// the exit's callback is sent 10 ms before the enter's, but its event
	// time is later: events carry EventMsTs
	enter, _ := MapTRTC(c, []byte(trtcSamples[1]))
	exit, _ := MapTRTC(c, []byte(trtcSamples[2]))
	if enter[0].Time != "2023-06-26T09:12:11.831Z" || exit[0].Time != "2023-06-26T09:12:11.898Z" {
		t.Errorf("times %s %s", enter[0].Time, exit[0].Time)
	}
	v, _ := MapTRTC(c, []byte(trtcSamples[4]))
	if v[0].Width != 1280 || v[0].Height != 720 || v[0].Media != "video" || v[0].Stream != "main" {
		t.Errorf("video start %+v", v[0])
	}
	if _, err := MapTRTC(c, []byte(`{"EventGroupId":1,"EventType":103,"EventInfo":{"RoomId":1,"EventMsTs":5}}`)); err == nil {
		t.Error("enter without UserId accepted")
	}
}

// LiveKit webhook bodies as protojson of livekit.WebhookEvent
// (livekit/protocol protobufs/livekit_webhook.proto: event, room,
// participant, track, egress_info, id, created_at as a string).
var lkSamples = []string{
	`{"event":"participant_joined","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice","state":"ACTIVE","joinedAt":"1700000000"},"id":"EV_a1","createdAt":"1700000000"}`,
	`{"event":"track_published","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice"},"track":{"sid":"TR_1","type":"VIDEO","source":"CAMERA","width":1920,"height":1080},"id":"EV_a2","createdAt":"1700000001"}`,
	`{"event":"track_published","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice"},"track":{"sid":"TR_2","source":"MICROPHONE"},"id":"EV_a3","createdAt":"1700000001"}`,
	`{"event":"track_published","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice"},"track":{"sid":"TR_3","type":"VIDEO","source":"SCREEN_SHARE"},"id":"EV_a4","createdAt":"1700000002"}`,
	`{"event":"track_unpublished","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice"},"track":{"sid":"TR_3","type":"VIDEO","source":"SCREEN_SHARE"},"id":"EV_a5","createdAt":"1700000060"}`,
	`{"event":"egress_started","egressInfo":{"egressId":"EG_1","roomId":"RM_1","roomName":"r1","status":"EGRESS_STARTING"},"id":"EV_a6","createdAt":"1700000010"}`,
	`{"event":"egress_ended","egressInfo":{"egressId":"EG_1","roomId":"RM_1","roomName":"r1","status":"EGRESS_COMPLETE"},"id":"EV_a7","createdAt":"1700000100"}`,
	`{"event":"participant_connection_aborted","room":{"sid":"RM_1","name":"r1"},"participant":{"sid":"PA_1","identity":"alice"},"id":"EV_a8","createdAt":"1700000120"}`,
	`{"event":"room_finished","room":{"sid":"RM_1","name":"r1"},"id":"EV_a9","createdAt":1700000130}`,
	`{"event":"room_started","room":{"sid":"RM_1","name":"r1"},"id":"EV_a0","createdAt":"1700000000"}`,
}

func TestMapLiveKitSamples(t *testing.T) {
	c := cfg(LiveKit)
	want := []string{"room.join alice", "stream.start alice main video 1920x1080", "stream.start alice main audio 0x0",
		"stream.start alice screen video 1920x1080", "stream.stop alice screen", "recording.start  EG_1", "recording.stop  EG_1",
		"room.leave alice", "room.leave *", ""}
	for i, s := range lkSamples {
		evs, err := MapLiveKit(c, []byte(s))
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		got := ""
		for _, e := range parseAll(t, evs) {
			got = e.Type.String() + " " + e.User
			switch e.Type {
			case livebill.StreamStart:
				got += " " + e.Stream + " " + e.Media + " " + itoa(e.Width) + "x" + itoa(e.Height)
			case livebill.StreamStop:
				got += " " + e.Stream
			case livebill.RecordingStart, livebill.RecordingStop:
				got += " " + e.Task
			}
		}
		if got != want[i] {
			t.Errorf("sample %d: %q, want %q", i, got, want[i])
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Agora NCS RTC channel events (payload fields as documented on
// https://docs.agora.io/en/video-calling/channel-management-api/webhook/channel-event-type;
// envelope as in its request example).
var agoraSamples = []string{
	`{"noticeId":"2000001428:4330:101","productId":1,"eventType":101,"notifyMs":1611566412672,"sid":"C866467GVJJ54687","payload":{"channelName":"test_webhook","ts":1560399999}}`,
	`{"noticeId":"2000001428:4330:103","productId":1,"eventType":103,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","uid":12121212,"platform":1,"clientSeq":1625051030746,"ts":1560396843}}`,
	`{"noticeId":"2000001428:4330:105","productId":1,"eventType":105,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","uid":34343434,"platform":1,"clientSeq":1625051030789,"ts":1560396843}}`,
	`{"noticeId":"2000001428:4330:112","productId":1,"eventType":112,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","uid":12121212,"clientSeq":1625051035469,"ts":1560496843}}`,
	`{"noticeId":"2000001428:4330:104","productId":1,"eventType":104,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","uid":12121212,"platform":1,"clientSeq":1625051035470,"reason":1,"ts":1560496843}}`,
	`{"noticeId":"2000001428:4330:102","productId":1,"eventType":102,"notifyMs":1611566412672,"payload":{"channelName":"test_webhook","ts":1560496999}}`,
}

func TestMapAgoraSamples(t *testing.T) {
	c := cfg(Agora)
	want := []string{"", "room.join 12121212|stream.start 12121212", "room.join 34343434", "stream.stop 12121212", "room.leave 12121212", "room.leave *"}
	for i, s := range agoraSamples {
		evs, err := MapAgora(c, []byte(s))
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		got := ""
		for j, e := range parseAll(t, evs) {
			if j > 0 {
				got += "|"
			}
			got += e.Type.String() + " " + e.User
		}
		if got != want[i] {
			t.Errorf("sample %d: %q, want %q", i, got, want[i])
		}
	}
	evs, _ := MapAgora(c, []byte(agoraSamples[1]))
	if agoraSeq(evs[0].ID) != 1625051030746 {
		t.Errorf("seq of %s", evs[0].ID)
	}
}

// ---- normalizer

type rec struct{ evs []string }

func (r *rec) apply(e *livebill.Event) {
	s := e.Type.String() + " " + e.User
	if e.Stream != "" {
		s += " " + e.Stream
	}
	if e.Type == livebill.StreamStart {
		s += " " + e.Media
	}
	r.evs = append(r.evs, s)
}

func ev(id string, ms int64, typ, user string, mod ...func(*livebill.Event)) livebill.Event {
	e := livebill.Event{ID: id, Type: livebill.ParseEventType(typ), Time: ms, App: "a", Room: "r", User: user}
	for _, m := range mod {
		m(&e)
	}
	return e
}

func stream(s, media string) func(*livebill.Event) {
	return func(e *livebill.Event) { e.Stream, e.Media = s, media }
}

func TestNormalizer(t *testing.T) {
	var r rec
	n := NewNormalizer(r.apply)
	for _, e := range []livebill.Event{
		ev("wh:trtc:1", 1000, "room.join", "A"),
		ev("wh:trtc:2", 1000, "room.join", "A"),                             // duplicate enter: dropped
		ev("wh:trtc:3", 2000, "stream.start", "A", stream("main", "audio")), // audio-only main
		ev("wh:trtc:4", 3000, "stream.start", "A", stream("main", "video")), // becomes video
		ev("wh:trtc:5", 4000, "stream.stop", "A", stream("main", "video")),  // back to audio
		ev("wh:trtc:6", 5000, "stream.stop", "A", stream("main", "audio")),  // off
		ev("wh:trtc:7", 5000, "stream.stop", "A", stream("screen", "")),     // not running: dropped
		ev("wh:trtc:8", 6000, "room.join", "B"),
		ev("x", 6000, "subscribe.start", "B", func(e *livebill.Event) { e.Publisher = "A" }), // not a webhook: untouched
		ev("wh:trtc:9", 7000, "room.leave", Everyone),                                        // dismiss: A and B leave
		ev("wh:trtc:10", 7001, "room.leave", "A"),                                            // A's own exit: already gone
	} {
		n.Apply(&e)
	}
	n.Close()
	want := []string{"room.join A", "stream.start A main audio", "stream.stop A main", "stream.start A main video",
		"stream.stop A main", "stream.start A main audio", "stream.stop A main", "subscribe.start B", "room.join B",
		"room.leave A", "room.leave B"}
	if len(r.evs) != len(want) {
		t.Fatalf("got %q\nwant %q", r.evs, want)
	}
	for i := range want {
		if r.evs[i] != want[i] {
			t.Fatalf("got %q\nwant %q", r.evs, want)
		}
	}
	if ns := n.Notices(); len(ns) != 1 || ns[0].Code != NoticeEstimated || ns[0].App != "a" {
		t.Errorf("notices %+v", ns)
	}
}

// Agora: a leave whose clientSeq is later than a join stamped a second
// after it (skewed clocks) wins: the join is stale.
func TestNormalizerAgoraSeq(t *testing.T) {
	var r rec
	n := NewNormalizer(r.apply)
	for _, e := range []livebill.Event{
		ev("wh:agora:s5:x/0", 1000, "room.join", "7"),
		ev("wh:agora:s9:y/0", 2000, "room.leave", "7"),
		ev("wh:agora:s8:z/0", 3000, "room.join", "7"), // seq 8 < 9: stale
	} {
		n.Apply(&e)
	}
	n.Close()
	if len(r.evs) != 2 || r.evs[1] != "room.leave 7" {
		t.Fatalf("got %q", r.evs)
	}
}
