package meter_test

// SPEC §1 and §2: TRTC audio/video minutes. Every expected value is worked
// out by hand in the comment above it. Areas: 640×360 = 230,400;
// 640×480 = 307,200; 960×720 = 691,200; 1280×720 = 921,600 (HD top);
// 1920×1080 = 2,073,600 (FHD top); 2560×1440 = 3,686,400 (2K top);
// 4096×2160 = 8,847,360 (top tier).

import (
	"strings"
	"testing"

	"github.com/livebill/livebill"
)

const (
	avAudio = "trtc.av.audio"
	avHD    = "trtc.av.hd"
	avFHD   = "trtc.av.fhd"
	av2K    = "trtc.av.2k"
	av4K    = "trtc.av.4k"
)

// The video set is summed: C (receive all) gets A 640×480 + B 960×720 =
// 307,200 + 691,200 = 998,400 > 921,600 → FHD for 30 min. A receives only
// B (691,200 → HD), B only A (307,200 → HD): HD 2 × 30 = 60 min. Nobody is
// billed audio: the publishers' audio is not billed on top of video.
func TestAVSumOfAreas(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 640, 480), pub(at("10:00"), "B", "main", 960, 720),
		leave(at("10:30"), "A"), leave(at("10:30"), "B"), leave(at("10:30"), "C"),
	)
	expectTotals(t, r, map[string]int64{avFHD: 30 * min, avHD: 60 * min})
}

// Tier bounds are inclusive (SPEC §1): HD ≤ 921,600 < FHD ≤ 2,073,600 < 2K
// ≤ 3,686,400 < 4K. A publishes one stream of the given area (w×h), B
// receives it for 1 minute; A receives nothing and is billed 1 min audio.
// Up to 8,847,360 there is no notice; 8,847,361 is still 4K, with the
// notice resolution_above_top_tier.
func TestAVTierBoundaries(t *testing.T) {
	cases := []struct {
		name   string
		w, h   int
		item   string
		notice bool
	}{
		{"1×1 is HD", 1, 1, avHD, false},
		{"921,600 = 1280×720 is HD", 1280, 720, avHD, false},
		{"921,601 is FHD", 921601, 1, avFHD, false},
		{"2,073,600 = 1920×1080 is FHD", 1920, 1080, avFHD, false},
		{"2,073,601 is 2K", 2073601, 1, av2K, false},
		{"3,686,400 = 2560×1440 is 2K", 2560, 1440, av2K, false},
		{"3,686,401 is 4K", 3686401, 1, av4K, false},
		{"8,847,360 = 4096×2160 is 4K, no notice", 4096, 2160, av4K, false},
		{"8,847,361 is 4K with a notice", 8847361, 1, av4K, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runMeter(t, at("10:01"),
				join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
				pub(at("10:00"), "A", "main", c.w, c.h),
				leave(at("10:01"), "A"), leave(at("10:01"), "B"),
			)
			expectTotals(t, r, map[string]int64{c.item: 1 * min, avAudio: 1 * min})
			if got := r.hasNotice(livebill.NoticeAboveTopTier); got != c.notice {
				t.Errorf("notice %s: want %v, got %v", livebill.NoticeAboveTopTier, c.notice, got)
			}
		})
	}
}

// An aggregate above the top tier: C receives A 4096×2160 + B 1920×1080 =
// 8,847,360 + 2,073,600 = 10,920,960 > 8,847,360 → 4K, with the notice.
// A receives B (2,073,600 → FHD); B receives A (8,847,360 → 4K, no notice
// on its own). 10 minutes: 4K 20 min, FHD 10 min.
func TestAVAggregateAboveTopTier(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 4096, 2160), pub(at("10:00"), "B", "main", 1920, 1080),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"), leave(at("10:10"), "C"),
	)
	expectTotals(t, r, map[string]int64{av4K: 20 * min, avFHD: 10 * min})
	if !r.hasNotice(livebill.NoticeAboveTopTier) {
		t.Errorf("want notice %s", livebill.NoticeAboveTopTier)
	}
	// Same room without C: nobody's aggregate exceeds the top tier.
	r = runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 4096, 2160), pub(at("10:00"), "B", "main", 1920, 1080),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"),
	)
	expectTotals(t, r, map[string]int64{av4K: 10 * min, avFHD: 10 * min})
	if r.hasNotice(livebill.NoticeAboveTopTier) {
		t.Errorf("no aggregate above 8,847,360: want no notice %s", livebill.NoticeAboveTopTier)
	}
}

// Video set empty → audio (SPEC §2), in each of the listed situations.
func TestAVAudioFallback(t *testing.T) {
	t.Run("alone in the room", func(t *testing.T) {
		// A alone, receive all, publishing video, 10:00–10:07 → 7 min audio.
		r := runMeter(t, at("10:07"),
			join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720),
			leave(at("10:07"), "A"))
		expectTotals(t, r, map[string]int64{avAudio: 7 * min})
	})
	t.Run("publishing only", func(t *testing.T) {
		// A (manual, no subscription) publishes 1280×720; B is in the room
		// and does not publish. A receives nothing: audio 10 min. B, manual,
		// subscribes to nothing: audio 10 min. Total audio 20 min.
		r := runMeter(t, at("10:10"),
			join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
			pub(at("10:00"), "A", "main", 1280, 720),
			leave(at("10:10"), "A"), leave(at("10:10"), "B"))
		expectTotals(t, r, map[string]int64{avAudio: 20 * min})
	})
	t.Run("subscribe audio", func(t *testing.T) {
		// B joins with subscribe: audio while A publishes 1920×1080 video:
		// B is billed audio (10 min); A receives nothing: audio 10 min.
		r := runMeter(t, at("10:10"),
			join(at("10:00"), "A", "all"), join(at("10:00"), "B", "audio"),
			pub(at("10:00"), "A", "main", 1920, 1080),
			leave(at("10:10"), "A"), leave(at("10:10"), "B"))
		expectTotals(t, r, map[string]int64{avAudio: 20 * min})
	})
	t.Run("subscribe audio ignores explicit video subscriptions", func(t *testing.T) {
		// audio mode is "audio only, no video": even subscribing to A's
		// main explicitly, B stays audio. 10 + 10 = 20 min audio.
		r := runMeter(t, at("10:10"),
			join(at("10:00"), "A", "all"), join(at("10:00"), "B", "audio"),
			pub(at("10:00"), "A", "main", 1920, 1080), sub(at("10:00"), "B", "A", "main", 0, 0),
			leave(at("10:10"), "A"), leave(at("10:10"), "B"))
		expectTotals(t, r, map[string]int64{avAudio: 20 * min})
	})
	t.Run("manual with no subscriptions", func(t *testing.T) {
		// Both manual, both publish 640×360 video, nobody subscribes: 2 ×
		// 10 min audio.
		r := runMeter(t, at("10:10"),
			join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
			pub(at("10:00"), "A", "main", 640, 360), pub(at("10:00"), "B", "main", 640, 360),
			leave(at("10:10"), "A"), leave(at("10:10"), "B"))
		expectTotals(t, r, map[string]int64{avAudio: 20 * min})
	})
	t.Run("receiving audio-only streams", func(t *testing.T) {
		// A and B publish audio only, both receive all: 2 × 10 min audio.
		r := runMeter(t, at("10:10"),
			join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
			pub(at("10:00"), "A", "main", 0, 0), pub(at("10:00"), "B", "main", 0, 0),
			leave(at("10:10"), "A"), leave(at("10:10"), "B"))
		expectTotals(t, r, map[string]int64{avAudio: 20 * min})
	})
}

// Manual mode: video only while explicitly subscribed. A publishes 640×360
// 10:00–10:30; B subscribes 10:10–10:20. B: audio 10:00–10:10 and
// 10:20–10:30 = 20 min, HD 10 min. A receives nothing: audio 30 min.
// Audio total 50 min.
func TestAVSubscribeManual(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
		pub(at("10:00"), "A", "main", 640, 360),
		sub(at("10:10"), "B", "A", "main", 0, 0), unsub(at("10:20"), "B", "A", "main"),
		leave(at("10:30"), "A"), leave(at("10:30"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 50 * min, avHD: 10 * min})
}

// Subscribing before the publisher starts: the stream joins B's video set
// only while it runs. B subscribes at 10:00, A publishes 10:05–10:15, both
// in the room 10:00–10:20. B: HD 10, audio 10; A: audio 20. Audio 30.
func TestAVSubscribeBeforePublish(t *testing.T) {
	r := runMeter(t, at("10:20"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
		sub(at("10:00"), "B", "A", "main", 0, 0),
		pub(at("10:05"), "A", "main", 640, 360), unpub(at("10:15"), "A", "main"),
		leave(at("10:20"), "A"), leave(at("10:20"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 30 * min, avHD: 10 * min})
}

// Receive-all follows streams started later and drops streams unsubscribed
// from. C (all) is in the room 10:00–10:40. A publishes 1280×720 from 10:10;
// B publishes 640×360 from 10:20; C unsubscribes from A at 10:30.
//
//	C: 10:00–10:10 audio (10); 10:10–10:20 A only 921,600 → HD (10);
//	   10:20–10:30 A+B 1,152,000 → FHD (10); 10:30–10:40 B only → HD (10).
//	A (all): receives B from 10:20 → audio 20, HD 20.
//	B (all): receives A from 10:10 (B is in from 10:00) → audio 10, HD 30.
//
// Audio 10+20+10 = 40; HD 20+20+30 = 70; FHD 10.
func TestAVSubscribeAllFollowsLaterStreams(t *testing.T) {
	r := runMeter(t, at("10:40"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:10"), "A", "main", 1280, 720),
		pub(at("10:20"), "B", "main", 640, 360),
		unsub(at("10:30"), "C", "A", "main"),
		leave(at("10:40"), "A"), leave(at("10:40"), "B"), leave(at("10:40"), "C"))
	expectTotals(t, r, map[string]int64{avAudio: 40 * min, avHD: 70 * min, avFHD: 10 * min})
}

// Receive-all resubscribing: C unsubscribes from A at 10:10 and subscribes
// again at 10:20; A publishes 1280×720 throughout (10:00–10:30).
// C: HD 20, audio 10. A: audio 30. Audio 40, HD 20.
func TestAVSubscribeAllResubscribe(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 1280, 720),
		unsub(at("10:10"), "C", "A", "main"), sub(at("10:20"), "C", "A", "main", 0, 0),
		leave(at("10:30"), "A"), leave(at("10:30"), "C"))
	expectTotals(t, r, map[string]int64{avAudio: 40 * min, avHD: 20 * min})
}

// The small stream is not received by subscribe: all. A publishes main
// 1280×720 and small 640×360; B receives all → 921,600 → HD (if the small
// were included: 1,152,000 → FHD). 10 min: HD 10, audio 10 (A).
func TestAVSmallNotReceivedByAll(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 1280, 720), pub(at("10:00"), "A", "small", 640, 360),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avHD: 10 * min, avAudio: 10 * min})
}

// An explicitly subscribed small stream counts at the size actually
// received (subscribe.start width/height). A publishes small 640×360; C
// publishes main 1280×640 (819,200). B (manual) subscribes to C's main and
// A's small stating 320×180 (57,600): 819,200 + 57,600 = 876,800 → HD. At
// the published small size it would be 819,200 + 230,400 = 1,049,600 →
// FHD. 10 min: B HD 10; A and C receive nothing: audio 20.
func TestAVSmallAtReceivedSize(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"), join(at("10:00"), "C", "manual"),
		pub(at("10:00"), "A", "main", 1280, 720), pub(at("10:00"), "A", "small", 640, 360),
		pub(at("10:00"), "C", "main", 1280, 640),
		sub(at("10:00"), "B", "C", "main", 0, 0), sub(at("10:00"), "B", "A", "small", 320, 180),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"), leave(at("10:10"), "C"))
	expectTotals(t, r, map[string]int64{avHD: 10 * min, avAudio: 20 * min})
}

// Without a stated size, the small stream counts at its published size.
// B subscribes to C's main 1280×640 (819,200) and A's small 640×360
// (230,400): 1,049,600 → FHD. 10 min: FHD 10, audio 20 (A, C).
func TestAVSmallAtPublishedSize(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"), join(at("10:00"), "C", "manual"),
		pub(at("10:00"), "A", "small", 640, 360), pub(at("10:00"), "C", "main", 1280, 640),
		sub(at("10:00"), "B", "C", "main", 0, 0), sub(at("10:00"), "B", "A", "small", 0, 0),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"), leave(at("10:10"), "C"))
	expectTotals(t, r, map[string]int64{avFHD: 10 * min, avAudio: 20 * min})
}

// A receive-all user may add a small stream by explicit subscription; it
// counts at the received size. A publishes main 1280×720 and small
// 640×360; C publishes main 640×360. B (all) receives A main + C main =
// 1,152,000 and subscribes to A's small stating 320×180 (57,600):
// 1,209,600 → FHD. A (all) receives C: 230,400 → HD. C (all) receives A
// main: 921,600 → HD. 10 min: FHD 10, HD 20.
func TestAVSmallAddedToAll(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 1280, 720), pub(at("10:00"), "A", "small", 640, 360),
		pub(at("10:00"), "C", "main", 640, 360),
		sub(at("10:00"), "B", "A", "small", 320, 180),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"), leave(at("10:10"), "C"))
	expectTotals(t, r, map[string]int64{avFHD: 10 * min, avHD: 20 * min})
}

// The big stream counts at the publisher's resolution (SPEC §2), whatever
// size the subscription states, in manual mode as in receive-all. A
// publishes main 1920×1080 (2,073,600 → FHD); B (manual) subscribes stating
// 640×360. B: FHD 10 min. A: audio 10.
func TestAVMainAtPublisherResolution(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
		pub(at("10:00"), "A", "main", 1920, 1080),
		sub(at("10:00"), "B", "A", "main", 640, 360),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avFHD: 10 * min, avAudio: 10 * min})
}

// Screen share (seed example 1 in small): A publishes main 1280×720 and a
// screen 1920×1080 (the screen is the stream of a virtual anchor, never
// billed). B (all) receives 921,600 + 2,073,600 = 2,995,200 → 2K. A does
// not receive its own screen or main: audio. 20 min: 2K 20, audio 20, and
// nothing for the virtual anchor.
func TestAVScreenShare(t *testing.T) {
	r := runMeter(t, at("10:20"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 1280, 720), pub(at("10:00"), "A", "screen", 1920, 1080),
		leave(at("10:20"), "A"), leave(at("10:20"), "B"))
	expectTotals(t, r, map[string]int64{av2K: 20 * min, avAudio: 20 * min})
}

// The sharer does not receive its own screen even by explicit
// subscription. A (manual) publishes a screen 1920×1080 and subscribes to
// it; B (manual) subscribes too. A: audio 10; B: FHD 10.
func TestAVSharerDoesNotReceiveOwnScreen(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
		pub(at("10:00"), "A", "screen", 1920, 1080),
		sub(at("10:00"), "A", "A", "screen", 0, 0), sub(at("10:00"), "B", "A", "screen", 0, 0),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avFHD: 10 * min, avAudio: 10 * min})
}

// stream.update changes the area from that instant. A publishes 640×360,
// at 10:10 updates to 1920×1080, at 10:25 to 2560×1440; B receives all
// until 10:30. B: HD 10, FHD 15, 2K 5. A: audio 30.
func TestAVStreamUpdate(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 640, 360),
		update(at("10:10"), "A", "main", 1920, 1080),
		update(at("10:25"), "A", "main", 2560, 1440),
		leave(at("10:30"), "A"), leave(at("10:30"), "B"))
	expectTotals(t, r, map[string]int64{avHD: 10 * min, avFHD: 15 * min, av2K: 5 * min, avAudio: 30 * min})
}

// stream.update of an audio-only main stream to a video size turns it into
// video. A publishes audio at 10:00, updates to 1280×720 at 10:05; B (all)
// until 10:10: audio 5, HD 5. A: audio 10. Audio 15, HD 5.
func TestAVStreamUpdateAudioToVideo(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 0, 0), update(at("10:05"), "A", "main", 1280, 720),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 15 * min, avHD: 5 * min})
}

// Rejoining accumulates every segment: B is in the room 10:00:00–10:00:20
// and 10:01:00–10:01:20 → 40 s of audio (a room with nobody publishing).
// A is in 10:00–10:02 → 120 s. Total 160 s, exactly.
func TestAVRejoinAccumulates(t *testing.T) {
	r := runMeter(t, at("10:02"),
		join(at("10:00"), "A", "all"),
		join(at("10:00"), "B", "all"), leave(at("10:00:20"), "B"),
		join(at("10:01"), "B", "all"), leave(at("10:01:20"), "B"),
		leave(at("10:02"), "A"))
	expectTotals(t, r, map[string]int64{avAudio: 160 * sec})
}

// Leave and rejoin at the same instant: the segments abut, nothing is lost
// or counted twice. B: 10:00–10:05 and 10:05–10:10 → 10 min audio.
func TestAVRejoinSameInstant(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "B", "all"), leave(at("10:05"), "B"), join(at("10:05"), "B", "all"),
		leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 10 * min})
}

// A leave ends the leaver's subscriptions: B (manual) subscribes to A's
// main 1280×720 at 10:00, leaves at 10:10 and rejoins at 10:20 without
// subscribing again, until 10:30. B: HD 10, audio 10. A (manual, no
// subscriptions) in the room 10:00–10:30: audio 30. Audio 40, HD 10.
func TestAVLeaveEndsSubscriptions(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"),
		pub(at("10:00"), "A", "main", 1280, 720), sub(at("10:00"), "B", "A", "main", 0, 0),
		leave(at("10:10"), "B"), join(at("10:20"), "B", "manual"),
		leave(at("10:30"), "A"), leave(at("10:30"), "B"))
	expectTotals(t, r, map[string]int64{avHD: 10 * min, avAudio: 40 * min})
}

// A leave stops every stream the leaver publishes: A publishes main
// 1280×720 and screen 1920×1080, leaves at 10:10 and rejoins at 10:15
// without publishing; C (all) is in 10:00–10:30.
//
//	C: 10:00–10:10 2,995,200 → 2K (10); then nothing → audio 20.
//	A: 10:00–10:10 audio, 10:15–10:30 audio → 25.
//
// 2K 10, audio 45.
func TestAVLeaveStopsStreams(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 1280, 720), pub(at("10:00"), "A", "screen", 1920, 1080),
		leave(at("10:10"), "A"), join(at("10:15"), "A", "all"),
		leave(at("10:30"), "A"), leave(at("10:30"), "C"))
	expectTotals(t, r, map[string]int64{av2K: 10 * min, avAudio: 45 * min})
	// Publishing again after the rejoin works (the old stream is gone).
	r = runMeter(t, at("10:30"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 1280, 720),
		leave(at("10:10"), "A"), join(at("10:15"), "A", "all"), pub(at("10:20"), "A", "main", 1920, 1080),
		leave(at("10:30"), "A"), leave(at("10:30"), "C"))
	// C: HD 10:00–10:10, audio 10:10–10:20, FHD 10:20–10:30. A: audio 25.
	expectTotals(t, r, map[string]int64{avHD: 10 * min, avFHD: 10 * min, avAudio: 35 * min})
}

// Day split at midnight Asia/Shanghai: a session 23:50 (Oct 1) – 00:10
// (Oct 2) gives 10 minutes on each day. A publishes 1280×720; B receives
// all: HD 10 + 10; A: audio 10 + 10.
func TestAVDaySplitAtMidnight(t *testing.T) {
	r := runMeter(t, atDay("2024-10-02", "00:10"),
		join(atDay("2024-10-01", "23:50"), "A", "all"), join(atDay("2024-10-01", "23:50"), "B", "all"),
		pub(atDay("2024-10-01", "23:50"), "A", "main", 1280, 720),
		leave(atDay("2024-10-02", "00:10"), "A"), leave(atDay("2024-10-02", "00:10"), "B"))
	expectMap(t, r.byDay(), map[string]int64{
		app1 + " 2024-10-01 " + avHD:    10 * min,
		app1 + " 2024-10-02 " + avHD:    10 * min,
		app1 + " 2024-10-01 " + avAudio: 10 * min,
		app1 + " 2024-10-02 " + avAudio: 10 * min,
	})
}

// The day boundary is Asia/Shanghai midnight, not UTC: 07:50–08:10 on Oct 1
// Shanghai is 23:50–00:10 UTC but one Shanghai day: 20 min audio on Oct 1.
func TestAVDayIsShanghaiNotUTC(t *testing.T) {
	r := runMeter(t, at("08:10"), join(at("07:50"), "A", "all"), leave(at("08:10"), "A"))
	expectMap(t, r.byDay(), map[string]int64{app1 + " 2024-10-01 " + avAudio: 20 * min})
}

// Per (app, day, item) ceil (SPEC §1), priced end to end:
//
//	app1, Oct 1: B 20 s + 20 s = 40 s → ceil 1 min (per-session ceil
//	  would give 2).
//	app2, Oct 1: C 20 s → 1 min (apps are ceiled separately: together
//	  60 s would be 1).
//	app1, Oct 2: D 30 s → 1 min (days separately).
//
// Audio: 3 min × 0.99 / 1000 = 0.00297 USD.
func TestAVCeilPerAppDayItem(t *testing.T) {
	q := quoteYAML(t, calcYAML("2024-10-01", "2024-10-03",
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T10:00:20+08:00", type: room.leave, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T11:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T11:00:20+08:00", type: room.leave, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000002", room: r1, user: C}`,
		`{time: "2024-10-01T10:00:20+08:00", type: room.leave, app: "1400000002", room: r1, user: C}`,
		`{time: "2024-10-02T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: D}`,
		`{time: "2024-10-02T10:00:30+08:00", type: room.leave, app: "1400000001", room: r1, user: D}`,
	))
	expectLine(t, q, avAudio, "3", "0.00297")
	// Two daily bills: Oct 1 holds 2 min, Oct 2 holds 1 min.
	days := map[string]string{}
	for _, b := range q.Bills {
		for _, l := range b.Lines {
			if l.Item == avAudio {
				days[b.Date] = l.Quantity
			}
		}
	}
	if !decEqual(days["2024-10-01"], "2") || !decEqual(days["2024-10-02"], "1") {
		t.Errorf("daily audio minutes: want Oct 1: 2, Oct 2: 1; got %v", days)
	}
}

// The FAQ table (SPEC §4 "30 s → 1, 50 s → 0 more, 90 s → 1 more") and
// the day ceil: 30 s + 50 s on one day is 80 s → ceil 2 min, not 1 + 1.
// Here 30 s + 50 s + 10 s = 90 s → 2 min; 2 × 0.99 / 1000 = 0.00198.
func TestAVCeilOfDaySum(t *testing.T) {
	q := quoteYAML(t, calcYAML("2024-10-01", "2024-10-02",
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T10:00:30+08:00", type: room.leave, app: "1400000001", room: r1, user: B}`,
		`{time: "2024-10-01T11:00:00+08:00", type: room.join, app: "1400000001", room: r2, user: B}`,
		`{time: "2024-10-01T11:00:50+08:00", type: room.leave, app: "1400000001", room: r2, user: B}`,
		`{time: "2024-10-01T12:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: E}`,
		`{time: "2024-10-01T12:00:10+08:00", type: room.leave, app: "1400000001", room: r1, user: E}`,
	))
	expectLine(t, q, avAudio, "2", "0.00198")
}

// Robots are audience members (SPEC §2): A publishes 1280×720, alone (A
// receives nothing → audio). A recording task (streams all), a transcoding
// task (input A main, output 1280×720, h264) and a relay (all streams)
// each subscribe to A's main → each robot is billed A/V HD. 10 min:
// A/V HD 3 × 10 = 30, audio 10; plus the tasks' own items: recording HD
// 10; transcoding h264 HD 10 (input 921,600; output 921,600 is not more
// than 2× the input).
func TestAVRobotsBilledLikeUsers(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720),
		recStart(at("10:00"), "rec", []string{"mp4"}, "", nil),
		tcStart(at("10:00"), "mix", "h264", 1280, 720, ref("A", "main")),
		relayStart(at("10:00"), "push", "tencent", 1000),
		recStop(at("10:10"), "rec"), tcStop(at("10:10"), "mix"), relayStop(at("10:10"), "push"),
		leave(at("10:10"), "A"))
	expectTotals(t, r, map[string]int64{
		avHD: 30 * min, avAudio: 10 * min,
		"trtc.recording.hd": 10 * min, "trtc.transcode.h264.hd": 10 * min,
	})
}

// A robot with audio-only work receives no video: a recording with media:
// audio is billed A/V audio. A publishes 1280×720 alone 10 min: A audio 10,
// robot audio 10; recording audio 10.
func TestAVAudioRecordingRobot(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720),
		recStart(at("10:00"), "rec", []string{"mp4"}, "audio", nil),
		recStop(at("10:10"), "rec"), leave(at("10:10"), "A"))
	expectTotals(t, r, map[string]int64{avAudio: 20 * min, "trtc.recording.audio": 10 * min})
}

// A pull-stream input robot is billed audio for its time in the room and
// its stream as H.264 transcoding input at the stream's tier; users
// receive its stream like any other. Input 1920×1080 10:00–10:20; B (all)
// in the room 10:00–10:30.
//
//	robot:input: A/V audio 20; transcode h264 FHD 20.
//	B: FHD 20 (receiving the input), audio 10.
//
// A/V audio 30, A/V FHD 20, transcode h264 FHD 20.
func TestAVInputRobot(t *testing.T) {
	r := runMeter(t, at("10:30"),
		join(at("10:00"), "B", "all"),
		inputStart(at("10:00"), "pull", 1920, 1080), inputStop(at("10:20"), "pull"),
		leave(at("10:30"), "B"))
	expectTotals(t, r, map[string]int64{
		avAudio: 30 * min, avFHD: 20 * min, "trtc.transcode.h264.fhd": 20 * min,
	})
}

// An audio-only input: robot A/V audio and transcoding audio. 10 min input,
// B (all) in the room 10:00–10:10 receives audio only. A/V audio 20,
// transcode audio 10.
func TestAVAudioInputRobot(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "B", "all"),
		inputStart(at("10:00"), "pull", 0, 0), inputStop(at("10:10"), "pull"),
		leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 20 * min, "trtc.transcode.audio": 10 * min})
}

// Seed example 1 (SPEC §2), priced: A 960×720 + screen 1920×1080, B and C
// 640×480, V1 and V2 receive all, V3 audio; 60 min.
//
//	A receives B + C = 614,400 → HD 60.
//	B receives A + screen + C = 691,200 + 2,073,600 + 307,200 = 3,072,000
//	→ 2K; C the same; V1, V2: A + screen + B + C = 3,379,200 → 2K. 2K 240.
//	V3: audio 60.
//
// 60 × 3.99 + 240 × 15.99 + 60 × 0.99 = 0.2394 + 3.8376 + 0.0594 = 4.1364
// → 4.14 USD.
func TestAVSeedExample1Priced(t *testing.T) {
	lines := []string{}
	for _, u := range []string{"A", "B", "C", "V1", "V2"} {
		lines = append(lines, `{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: `+u+`, subscribe: all}`)
	}
	lines = append(lines,
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: V3, subscribe: audio}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: A, stream: main, media: video, width: 960, height: 720}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: A, stream: screen, media: video, width: 1920, height: 1080}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: B, stream: main, media: video, width: 640, height: 480}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: C, stream: main, media: video, width: 640, height: 480}`,
	)
	for _, u := range []string{"A", "B", "C", "V1", "V2", "V3"} {
		lines = append(lines, `{time: "2024-10-01T11:00:00+08:00", type: room.leave, app: "1400000001", room: r1, user: `+u+`}`)
	}
	q := quoteYAML(t, calcYAML("2024-10-01", "2024-10-02", lines...))
	expectLine(t, q, avHD, "60", "0.2394")
	expectLine(t, q, av2K, "240", "3.8376")
	expectLine(t, q, avAudio, "60", "0.0594")
	expectTotal(t, q, "4.14")
}

// A zero-length session: B joins and leaves at 10:05 (input order: join,
// then leave); A is alone 10:00–10:10. docs/decisions.md documents that the
// canonical same-instant order (leave before join) rejects such a leave as
// "leave without join" — but the join is then applied and B stays in the
// room, billed until the meter closes. Whatever is decided about the
// rejection, B was never in the room: A audio 10 min and nothing for B.
func TestAVZeroLengthSession(t *testing.T) {
	r := applyAll(t, at("10:10"),
		join(at("10:00"), "A", "all"),
		join(at("10:05"), "B", "all"), leave(at("10:05"), "B"),
		leave(at("10:10"), "A"))
	expectTotals(t, r, map[string]int64{avAudio: 10 * min})
}

// Same for a stream started and stopped at one instant: A publishes
// 1280×720 at 10:05 and stops at 10:05; B (all) must stay audio. 10 min:
// audio 20, no video.
func TestAVZeroLengthStream(t *testing.T) {
	r := applyAll(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:05"), "A", "main", 1280, 720), unpub(at("10:05"), "A", "main"),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectTotals(t, r, map[string]int64{avAudio: 20 * min})
}

// User ids starting with robot: are reserved for tasks' robots
// (docs/decisions.md): a join as robot:recording:rec is rejected (field
// user) and bills nothing, so no user event can act for a task.
func TestRobotIDsReserved(t *testing.T) {
	r := applyAll(t, at("10:10"),
		join(at("10:00"), "robot:recording:rec", "all"), leave(at("10:10"), "robot:recording:rec"))
	errs := r.m.Errors()
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), `field "user"`) {
		t.Fatalf("want the join and the leave rejected on field user, got %v", errs)
	}
	expectTotals(t, r, map[string]int64{})
}

// The same-instant pairs of docs/decisions.md, each in both input orders
// (the property test TestPropMeterMatchesModel covers them on random
// streams). A (receive all) and B (manual) join at 10:00, B publishes
// 1280×720 (HD) from 10:00; at 10:30 the case's two events share the
// instant; the rest of each case closes the room at 11:00.
func TestSameInstantPairs(t *testing.T) {
	base := func(extra ...livebill.Event) []livebill.Event {
		return append([]livebill.Event{join(at("10:00"), "A", "all"), join(at("10:00"), "B", "manual"),
			pub(at("10:00"), "B", "main", 1280, 720)}, extra...)
	}
	cases := []struct {
		name string
		pair [2]livebill.Event
		rest []livebill.Event
		want map[string]int64
	}{{
		// B's update then leave: A gets HD 30, then nothing: audio 30;
		// B audio 30.
		"update and leave", [2]livebill.Event{update(at("10:30"), "B", "main", 1920, 1080), leave(at("10:30"), "B")},
		[]livebill.Event{leave(at("11:00"), "A")},
		map[string]int64{avHD: 30 * min, avAudio: 60 * min},
	}, {
		// B starts a screen share and leaves: zero-length, nothing
		// billed for it: the same as the case above.
		"start and leave", [2]livebill.Event{pub(at("10:30"), "B", "screen", 1920, 1080), leave(at("10:30"), "B")},
		[]livebill.Event{leave(at("11:00"), "A")},
		map[string]int64{avHD: 30 * min, avAudio: 60 * min},
	}, {
		// A unsubscribes from B's main and leaves, B stays: A HD 30;
		// B audio 60 (B leaves at 11:00).
		"unsubscribe and leave", [2]livebill.Event{unsub(at("10:30"), "A", "B", "main"), leave(at("10:30"), "A")},
		[]livebill.Event{leave(at("11:00"), "B")},
		map[string]int64{avHD: 30 * min, avAudio: 60 * min},
	}, {
		// B stops and restarts its main at 1920×1080 (a restart): A HD 30
		// then FHD 30; B audio 60.
		"stop and start", [2]livebill.Event{unpub(at("10:30"), "B", "main"), pub(at("10:30"), "B", "main", 1920, 1080)},
		[]livebill.Event{leave(at("11:00"), "A"), leave(at("11:00"), "B")},
		map[string]int64{avHD: 30 * min, avFHD: 30 * min, avAudio: 60 * min},
	}, {
		// A leaves and rejoins in manual mode (a rejoin): A HD 30, then
		// receives nothing: audio 30; B audio 60.
		"leave and rejoin", [2]livebill.Event{leave(at("10:30"), "A"), join(at("10:30"), "A", "manual")},
		[]livebill.Event{leave(at("11:00"), "A"), leave(at("11:00"), "B")},
		map[string]int64{avHD: 30 * min, avAudio: 90 * min},
	}}
	for _, c := range cases {
		for _, order := range []string{"as written", "reversed"} {
			t.Run(c.name+" "+order, func(t *testing.T) {
				pair := []livebill.Event{c.pair[0], c.pair[1]}
				if order == "reversed" {
					pair[0], pair[1] = pair[1], pair[0]
				}
				r := runMeter(t, at("11:00"), append(base(pair...), c.rest...)...)
				expectTotals(t, r, c.want)
			})
		}
	}
}
