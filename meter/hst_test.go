package meter_test

// HST per-receiver, per-stream metering (SPEC §5, seed 002). Every
// expected value below is worked out by hand from the rules:
//   - the receiver pays; each received stream counts on its own;
//   - audio 1 stream-minute per received audio stream;
//   - video tier per stream: area ≤ 921,600 (1280×720) → hst.video.sd,
//     above → hst.video.hd; screen share → hst.screen (no tier, no audio);
//   - a mini-program endpoint pays hst.miniprogram.{audio,video} (no tier)
//     for what it receives and for what it sends.

import (
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/meter"
)

var hstT0 = time.Date(2024, 10, 8, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

const hstMin = int64(60_000)

func hstAt(min float64) int64 { return hstT0.UnixMilli() + int64(min*float64(hstMin)) }

func hstJoin(t float64, user, subscribe, client string) livebill.Event {
	return livebill.Event{Type: livebill.RoomJoin, Time: hstAt(t), App: "conf", Room: "m1", User: user, Subscribe: subscribe, Client: client}
}

func hstLeave(t float64, user string) livebill.Event {
	return livebill.Event{Type: livebill.RoomLeave, Time: hstAt(t), App: "conf", Room: "m1", User: user}
}

func hstVideo(t float64, user, stream string, w, h int) livebill.Event {
	return livebill.Event{Type: livebill.StreamStart, Time: hstAt(t), App: "conf", Room: "m1", User: user, Stream: stream, Media: livebill.MediaVideo, Width: w, Height: h}
}

func hstAudio(t float64, user string) livebill.Event {
	return livebill.Event{Type: livebill.StreamStart, Time: hstAt(t), App: "conf", Room: "m1", User: user, Stream: livebill.StreamMain, Media: livebill.MediaAudio}
}

// meterHST meters the events and returns the total ms per item.
func meterHST(t *testing.T, events ...livebill.Event) map[string]int64 {
	t.Helper()
	cat, err := catalog.Load("hst")
	if err != nil {
		t.Fatal(err)
	}
	m, err := meter.New(cat, meter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		e := events[i]
		e.Line = i + 1
		m.Apply(&e)
	}
	m.Close(hstAt(24 * 60))
	if errs := m.Errors(); len(errs) > 0 {
		t.Fatalf("rejected events: %v", errs)
	}
	out := map[string]int64{}
	for _, r := range m.Records() {
		out[r.Item] += r.Value
	}
	return out
}

func expectMS(t *testing.T, got map[string]int64, want map[string]int64) {
	t.Helper()
	for item, ms := range want {
		if got[item] != ms {
			t.Errorf("%s: got %d ms (%.2f min), want %d ms (%.2f min)", item, got[item], float64(got[item])/60000, ms, float64(ms)/60000)
		}
	}
	for item, ms := range got {
		if _, ok := want[item]; !ok && ms != 0 {
			t.Errorf("unexpected %s: %d ms", item, ms)
		}
	}
}

// A publishes one main video stream for 60 min; B receives it. B pays the
// stream's audio (a main video stream carries audio) and its video at the
// tier of the stream's own area. A, alone as a sender, pays nothing.
func TestHSTVideoTierBoundary(t *testing.T) {
	cases := []struct {
		name string
		w, h int
		item string
	}{
		// 1280×720 = 921,600: exactly the 720P bound → sd (≤ 921,600).
		{"720p exactly", 1280, 720, "hst.video.sd"},
		// 921,601 × 1 = 921,601: one pixel above → hd.
		{"one pixel above", 921601, 1, "hst.video.hd"},
		// 1280×721 = 922,880 → hd.
		{"1280x721", 1280, 721, "hst.video.hd"},
		// 960×960 = 921,600 → sd: the tier is by area, not by height.
		{"960x960", 960, 960, "hst.video.sd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := meterHST(t,
				hstJoin(0, "A", "all", ""), hstJoin(0, "B", "all", ""),
				hstVideo(0, "A", "main", c.w, c.h),
				hstLeave(60, "A"), hstLeave(60, "B"))
			// B: 60 min of A's audio and 60 min of A's video.
			expectMS(t, got, map[string]int64{"hst.audio": 60 * hstMin, c.item: 60 * hstMin})
		})
	}
}

// Each received video stream has its own tier: C receives A at 720P (sd)
// and B at 1080P (hd) — not one aggregate tier as in TRTC. A receives B
// (hd) and B receives A (sd). 60 minutes.
//
//	audio: A 1 stream + B 1 + C 2 = 4 streams × 60 = 240 min
//	sd:    B←A, C←A              = 2 × 60 = 120 min
//	hd:    A←B, C←B              = 2 × 60 = 120 min
func TestHSTEveryStreamCountsSeparately(t *testing.T) {
	got := meterHST(t,
		hstJoin(0, "A", "all", ""), hstJoin(0, "B", "all", ""), hstJoin(0, "C", "all", ""),
		hstVideo(0, "A", "main", 1280, 720), hstVideo(0, "B", "main", 1920, 1080),
		hstLeave(60, "A"), hstLeave(60, "B"), hstLeave(60, "C"))
	expectMS(t, got, map[string]int64{
		"hst.audio":    240 * hstMin,
		"hst.video.sd": 120 * hstMin,
		"hst.video.hd": 120 * hstMin,
	})
}

// A shares a 1920×1080 screen (a screen stream carries no audio) from
// minute 10 to 40 while talking on an audio-only main stream for 60 min.
// B and C receive: audio 2 × 60 = 120 min; screen 2 × 30 = 60 min at the
// screen-share price (no resolution tier).
func TestHSTScreenShare(t *testing.T) {
	got := meterHST(t,
		hstJoin(0, "A", "all", ""), hstJoin(0, "B", "all", ""), hstJoin(0, "C", "all", ""),
		hstAudio(0, "A"),
		hstVideo(10, "A", "screen", 1920, 1080),
		livebill.Event{Type: livebill.StreamStop, Time: hstAt(40), App: "conf", Room: "m1", User: "A", Stream: "screen"},
		hstLeave(60, "A"), hstLeave(60, "B"), hstLeave(60, "C"))
	expectMS(t, got, map[string]int64{
		"hst.audio":  120 * hstMin,
		"hst.screen": 60 * hstMin,
	})
}

// A is on the mini-program and talks (audio-only main); B on Windows sends
// 720P video (with audio). 30 minutes.
//
//	A sends audio:              mini audio 30
//	A receives B's audio:       mini audio 30
//	A receives B's video:       mini video 30 (no tier)
//	B receives A's audio:       hst.audio  30 (B is not a mini-program)
//	B sends video:              nothing (senders do not pay)
func TestHSTMiniProgramBothDirections(t *testing.T) {
	got := meterHST(t,
		hstJoin(0, "A", "all", "miniprogram"), hstJoin(0, "B", "all", "windows"),
		hstAudio(0, "A"), hstVideo(0, "B", "main", 1280, 720),
		hstLeave(30, "A"), hstLeave(30, "B"))
	expectMS(t, got, map[string]int64{
		"hst.miniprogram.audio": 60 * hstMin,
		"hst.miniprogram.video": 30 * hstMin,
		"hst.audio":             30 * hstMin,
	})
}

// A mini-program endpoint that sends 1080P video pays mini-program video,
// not an hd tier, for sending; the receiver D (Android) pays hst.video.hd.
// 10 minutes:
//
//	A (mini) sends audio + video:  mini audio 10, mini video 10
//	D receives A's audio + video:  hst.audio 10, hst.video.hd 10
func TestHSTMiniProgramSenderNoTier(t *testing.T) {
	got := meterHST(t,
		hstJoin(0, "A", "all", "miniprogram"), hstJoin(0, "D", "all", "android"),
		hstVideo(0, "A", "main", 1920, 1080),
		hstLeave(10, "A"), hstLeave(10, "D"))
	expectMS(t, got, map[string]int64{
		"hst.miniprogram.audio": 10 * hstMin,
		"hst.miniprogram.video": 10 * hstMin,
		"hst.audio":             10 * hstMin,
		"hst.video.hd":          10 * hstMin,
	})
}

// A receiver who joins with subscribe: audio receives no video: B hears A
// (60 min of audio) and pays no video.
func TestHSTAudioOnlyReceiver(t *testing.T) {
	got := meterHST(t,
		hstJoin(0, "A", "all", ""), hstJoin(0, "B", "audio", ""),
		hstVideo(0, "A", "main", 1280, 720),
		hstLeave(60, "A"), hstLeave(60, "B"))
	expectMS(t, got, map[string]int64{"hst.audio": 60 * hstMin})
}

// A main video stream with `audio: false` (SPEC §7.1) carries no audio:
// B, receiving A's 720P main stream for 60 min, pays 60 min of sd video
// and no audio minutes. (The stream is held a moment by the room before
// it is applied, so this also checks that `audio: false` survives that.)
func TestHSTMainVideoWithoutAudio(t *testing.T) {
	silent := hstVideo(0, "A", "main", 1280, 720)
	silent.NoAudio = true
	got := meterHST(t,
		hstJoin(0, "A", "all", ""), hstJoin(0, "B", "all", ""),
		silent,
		hstLeave(60, "A"), hstLeave(60, "B"))
	expectMS(t, got, map[string]int64{"hst.video.sd": 60 * hstMin})
}
