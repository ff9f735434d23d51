package meter_test

// SPEC §3: recording, delivery, transcoding, relay, screenshots, and
// SPEC §6 errata 1 and 3. Expected values are worked out by hand in the
// comments. Areas: 640×360 = 230,400; 1280×720 = 921,600;
// 1920×1080 = 2,073,600; 2560×1440 = 3,686,400; 4096×2160 = 8,847,360.

import (
	"fmt"
	"testing"

	"github.com/livebill/livebill"
)

const (
	recAudio = "trtc.recording.audio"
	recHD    = "trtc.recording.hd"
	recFHD   = "trtc.recording.fhd"
	rec2K    = "trtc.recording.2k"
	rec4K    = "trtc.recording.4k"
)

var mp4 = []string{"mp4"}

// Recording tiers by the recorded aggregate, explicit stream list. A and B
// publish 640×360 from 10:00, C 1280×720 from 10:10; the task records all
// three 10:00–10:20.
//
//	10:00–10:10: 230,400 × 2 = 460,800 → HD (10 min).
//	10:10–10:20: 460,800 + 921,600 = 1,382,400 → FHD (10 min).
//
// The robot subscribes to the same streams: A/V HD 10, FHD 10 for it.
func TestRecordingTiers(t *testing.T) {
	r := runMeter(t, at("10:20"),
		join(at("10:00"), "A", "manual"), join(at("10:00"), "B", "manual"), join(at("10:00"), "C", "manual"),
		pub(at("10:00"), "A", "main", 640, 360), pub(at("10:00"), "B", "main", 640, 360),
		recStart(at("10:00"), "rec", mp4, "", nil, ref("A", "main"), ref("B", "main"), ref("C", "main")),
		pub(at("10:10"), "C", "main", 1280, 720),
		recStop(at("10:20"), "rec"),
		leave(at("10:20"), "A"), leave(at("10:20"), "B"), leave(at("10:20"), "C"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 10 * min, recFHD: 10 * min})
	// Users: A, B, C manual without subscriptions → audio 3 × 20 = 60.
	expectPrefix(t, r, "trtc.av.", map[string]int64{avHD: 10 * min, avFHD: 10 * min, avAudio: 60 * min})
}

// The 2K and 4K ("2K+") tiers. Recording all: A 1920×1080 + B 1280×720 =
// 2,995,200 → 2K (10:00–10:10); C 1280×720 joins the video at 10:10:
// 3,916,800 → 4K (10:10–10:15). Seed recording example 4 has the same
// aggregates (1,843,200 FHD then 3,916,800 2K+).
func TestRecording2KAnd4K(t *testing.T) {
	r := runMeter(t, at("10:15"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 1920, 1080), pub(at("10:00"), "B", "main", 1280, 720),
		recStart(at("10:00"), "rec", mp4, "", nil),
		pub(at("10:10"), "C", "main", 1280, 720),
		recStop(at("10:15"), "rec"),
		leave(at("10:15"), "A"), leave(at("10:15"), "B"), leave(at("10:15"), "C"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{rec2K: 10 * min, rec4K: 5 * min})
}

// media: audio records audio only: billed recording audio although every
// stream has video (seed recording examples 1 and 2). 4 × 640×360 video,
// 10 min → recording audio 10.
func TestRecordingMediaAudio(t *testing.T) {
	es := []livebill.Event{}
	for _, u := range []string{"A", "B", "C", "D"} {
		es = append(es, join(at("10:00"), u, "all"), pub(at("10:00"), u, "main", 640, 360))
	}
	es = append(es, recStart(at("10:00"), "rec", mp4, "audio", nil), recStop(at("10:10"), "rec"))
	for _, u := range []string{"A", "B", "C", "D"} {
		es = append(es, leave(at("10:10"), u))
	}
	r := runMeter(t, at("10:10"), es...)
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recAudio: 10 * min})
}

// streams: all follows streams that start after the task. Recording
// 10:00–10:20; A is in the room from 10:00 and publishes 640×360 at 10:05;
// B shares a 1920×1080 screen from 10:10.
//
//	10:00–10:05 no video → audio 5;
//	10:05–10:10 230,400 → HD 5;
//	10:10–10:20 230,400 + 2,073,600 = 2,304,000 → 2K 10.
func TestRecordingAllFollowsLaterStreams(t *testing.T) {
	r := runMeter(t, at("10:20"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		recStart(at("10:00"), "rec", mp4, "", nil),
		pub(at("10:05"), "A", "main", 640, 360),
		pub(at("10:10"), "B", "screen", 1920, 1080),
		recStop(at("10:20"), "rec"), leave(at("10:20"), "A"), leave(at("10:20"), "B"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recAudio: 5 * min, recHD: 5 * min, rec2K: 10 * min})
}

// When the recorded streams lose their video, the task is billed audio.
// Recording A's main 10:00–10:10; A's video runs 10:00–10:04, then A
// publishes audio only from 10:04: HD 4, audio 6.
func TestRecordingNoVideoIsAudio(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 640, 360),
		recStart(at("10:00"), "rec", mp4, "", nil, ref("A", "main")),
		unpub(at("10:04"), "A", "main"), pub(at("10:04"), "A", "main", 0, 0),
		recStop(at("10:10"), "rec"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 4 * min, recAudio: 6 * min})
}

// One task counts once however many streams it records: 4 streams of
// 640×360 = 921,600 → HD, 10 min → recording HD 10 (not 4 × 10).
func TestRecordingOneTaskCountsOnce(t *testing.T) {
	es := []livebill.Event{}
	for _, u := range []string{"A", "B", "C", "D"} {
		es = append(es, join(at("10:00"), u, "all"), pub(at("10:00"), u, "main", 640, 360))
	}
	es = append(es, recStart(at("10:00"), "rec", mp4, "", nil), recStop(at("10:10"), "rec"))
	for _, u := range []string{"A", "B", "C", "D"} {
		es = append(es, leave(at("10:10"), u))
	}
	r := runMeter(t, at("10:10"), es...)
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 10 * min})
}

// Each output format counts again: formats [mp4, hls] → 2 × 10 = 20 min
// recording HD (A 1280×720). The robot is one audience member: A/V HD 10
// (plus A's audio 10).
func TestRecordingTwoFormats(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720),
		recStart(at("10:00"), "rec", []string{"mp4", "hls"}, "", nil), recStop(at("10:10"), "rec"),
		leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 20 * min})
	expectPrefix(t, r, "trtc.av.", map[string]int64{avHD: 10 * min, avAudio: 10 * min})
}

// Several tasks in one room each count: two tasks on A's 1280×720 main,
// 10:00–10:10 and 10:05–10:10 → recording HD 10 + 5 = 15; robots A/V HD 15.
func TestRecordingSeveralTasks(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1280, 720),
		recStart(at("10:00"), "single", mp4, "", nil, ref("A", "main")),
		recStart(at("10:05"), "mix", mp4, "", nil),
		recStop(at("10:10"), "single"), recStop(at("10:10"), "mix"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 15 * min})
	expectPrefix(t, r, "trtc.av.", map[string]int64{avHD: 15 * min, avAudio: 10 * min})
}

// Delivery per output file (task × format) and destination, at the
// output's tier. One task records A 4096×2160 (recording 4K) 10 min with
// four outputs:
//
//	mp4 → tencent 1920×1080: delivery.tencent.fhd 10;
//	hls → third_party audio: delivery.third_party.audio 10;
//	mp4 → vod 1280×720: free, not metered;
//	hls → third_party 2560×1440: delivery.third_party.2k 10.
//
// The output tier ignores the 4K input. Recording: 2 formats → 4K 20.
func TestDeliveryPerOutputAndDestination(t *testing.T) {
	outs := []livebill.Output{
		{Format: "mp4", Destination: "tencent", Width: 1920, Height: 1080},
		{Format: "hls", Destination: "third_party", Media: "audio"},
		{Format: "mp4", Destination: "vod", Width: 1280, Height: 720},
		{Format: "hls", Destination: "third_party", Width: 2560, Height: 1440},
	}
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 4096, 2160),
		recStart(at("10:00"), "rec", []string{"mp4", "hls"}, "", outs), recStop(at("10:10"), "rec"),
		leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.delivery.", map[string]int64{
		"trtc.delivery.tencent.fhd":       10 * min,
		"trtc.delivery.third_party.audio": 10 * min,
		"trtc.delivery.third_party.2k":    10 * min,
	})
	expectPrefix(t, r, "trtc.recording.", map[string]int64{rec4K: 20 * min})
}

// Delivery tiers at the bounds: output 1280×720 → HD, 4096×2160 → 4K, each
// to tencent, 5 min.
func TestDeliveryOutputTiers(t *testing.T) {
	outs := []livebill.Output{
		{Format: "mp4", Destination: "tencent", Width: 1280, Height: 720},
		{Format: "mp4", Destination: "tencent", Width: 4096, Height: 2160},
	}
	r := runMeter(t, at("10:05"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 640, 360),
		recStart(at("10:00"), "rec", mp4, "", outs), recStop(at("10:05"), "rec"), leave(at("10:05"), "A"))
	expectPrefix(t, r, "trtc.delivery.", map[string]int64{
		"trtc.delivery.tencent.hd": 5 * min, "trtc.delivery.tencent.4k": 5 * min,
	})
}

// Transcoding is priced by output codec. Two tasks on A's 1920×1080 main,
// output 1920×1080, 10 min: h264 FHD 10 and h265 FHD 10. Priced: 10 ×
// 13.99 / 1000 + 10 × 37.99 / 1000 = 0.1399 + 0.3799.
func TestTranscodeCodecPricing(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1920, 1080),
		tcStart(at("10:00"), "t264", "h264", 1920, 1080, ref("A", "main")),
		tcStart(at("10:00"), "t265", "h265", 1920, 1080, ref("A", "main")),
		tcStop(at("10:10"), "t264"), tcStop(at("10:10"), "t265"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.fhd": 10 * min, "trtc.transcode.h265.fhd": 10 * min})

	q := quoteYAML(t, calcYAML("2024-10-01", "2024-10-02",
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: A, subscribe: all}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: A, stream: main, media: video, width: 1920, height: 1080}`,
		`{time: "2024-10-01T10:00:00+08:00", type: transcode.start, app: "1400000001", room: r1, task: t264, codec: h264, output: {width: 1920, height: 1080}, inputs: [{user: A, stream: main}]}`,
		`{time: "2024-10-01T10:00:00+08:00", type: transcode.start, app: "1400000001", room: r1, task: t265, codec: h265, output: {width: 1920, height: 1080}, inputs: [{user: A, stream: main}]}`,
		`{time: "2024-10-01T10:10:00+08:00", type: transcode.stop, app: "1400000001", room: r1, task: t264}`,
		`{time: "2024-10-01T10:10:00+08:00", type: transcode.stop, app: "1400000001", room: r1, task: t265}`,
		`{time: "2024-10-01T10:10:00+08:00", type: room.leave, app: "1400000001", room: r1, user: A}`,
	))
	expectLine(t, q, "trtc.transcode.h264.fhd", "10", "0.1399")
	expectLine(t, q, "trtc.transcode.h265.fhd", "10", "0.3799")
}

// The 2:1 rule: an output more than twice the input area adds one input of
// the output's area.
//
//	Input 640×360 (230,400), output 1280×720 (921,600 > 460,800):
//	230,400 + 921,600 = 1,152,000 → FHD.
//	Input 640×720 (460,800), output 1280×720 = exactly 2×: no extra input
//	→ 460,800 → HD.
func TestTranscodeOutputMoreThanTwiceInputs(t *testing.T) {
	cases := []struct {
		name string
		w, h int
		item string
	}{
		{"output 4x the input", 640, 360, "trtc.transcode.h264.fhd"},
		{"output exactly 2x the input", 640, 720, "trtc.transcode.h264.hd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runMeter(t, at("10:10"),
				join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", c.w, c.h),
				tcStart(at("10:00"), "mix", "h264", 1280, 720, ref("A", "main")),
				tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"))
			expectPrefix(t, r, "trtc.transcode.", map[string]int64{c.item: 10 * min})
		})
	}
}

// The black-frame input: a video output with no video input counts an
// input of the output's area. Inputs: A audio-only; output 1280×720 →
// h264 HD 10 (black frame 921,600) and the audio input 10 min.
// A task whose only input is not running at all still produces the output
// (docs/decisions.md): black frame HD 10, no audio.
func TestTranscodeBlackFrame(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 0, 0),
		tcStart(at("10:00"), "mix", "h264", 1280, 720, ref("A", "main")),
		tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.hd": 10 * min, "trtc.transcode.audio": 10 * min})

	r = runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"),
		tcStart(at("10:00"), "mix", "h265", 1920, 1080, ref("A", "main")),
		tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h265.fhd": 10 * min})
}

// Audio aggregation: when every input is audio-only, all of them count as
// one audio stream. Three audio inputs, audio output, 10 min → transcode
// audio 10 (not 30).
func TestTranscodeAudioAggregated(t *testing.T) {
	es := []livebill.Event{}
	for _, u := range []string{"A", "B", "C"} {
		es = append(es, join(at("10:00"), u, "all"), pub(at("10:00"), u, "main", 0, 0))
	}
	es = append(es, tcStart(at("10:00"), "mix", "h264", 0, 0, ref("A", "main"), ref("B", "main"), ref("C", "main")),
		tcStop(at("10:10"), "mix"))
	for _, u := range []string{"A", "B", "C"} {
		es = append(es, leave(at("10:10"), u))
	}
	r := runMeter(t, at("10:10"), es...)
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.audio": 10 * min})
}

// With a video input, each audio-only input adds its own audio minutes,
// and a video stream's own audio is not counted on top. Inputs: A video
// 640×360 (with audio), B and C audio-only; output 640×360; 10 min →
// h264 HD 10 (230,400), audio 2 × 10 = 20.
func TestTranscodeAudioPerInputWithVideo(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"), join(at("10:00"), "C", "all"),
		pub(at("10:00"), "A", "main", 640, 360), pub(at("10:00"), "B", "main", 0, 0), pub(at("10:00"), "C", "main", 0, 0),
		tcStart(at("10:00"), "mix", "h264", 640, 360, ref("A", "main"), ref("B", "main"), ref("C", "main")),
		tcStop(at("10:10"), "mix"),
		leave(at("10:10"), "A"), leave(at("10:10"), "B"), leave(at("10:10"), "C"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.hd": 10 * min, "trtc.transcode.audio": 20 * min})
}

// An input that is audio for a while and video later is billed audio, then
// video (seed: "纯音频时间段内按音频计费，视频时间段内按视频计费"). A publishes
// audio 10:00–10:05, then 640×360; output 640×360:
//
//	10:00–10:05: no video input → black frame 230,400 → HD 5, audio 5;
//	10:05–10:10: A's video 230,400 → HD 5 (output is not > 2×).
//
// h264 HD 10, audio 5.
func TestTranscodeInputAudioThenVideo(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 0, 0),
		tcStart(at("10:00"), "mix", "h264", 640, 360, ref("A", "main")),
		update(at("10:05"), "A", "main", 640, 360),
		tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.hd": 10 * min, "trtc.transcode.audio": 5 * min})
}

// transcode.update changes inputs and codec mid-task. A 640×360, B
// 1280×720, output 1280×720:
//
//	10:00–10:05 inputs [A]: 230,400, output 921,600 > 460,800 → +921,600
//	  = 1,152,000 → h264 FHD 5;
//	10:05–10:08 inputs [A, B]: 1,152,000 (output not > 2×) → h264 FHD 3;
//	10:08–10:10 codec h265, inputs [B]: 921,600 → h265 HD 2.
//
// The robot's A/V follows its inputs: 10:00–10:05 A 230,400 HD; 10:05–10:08
// 1,152,000 FHD; 10:08–10:10 921,600 HD → A/V HD 7, FHD 3 for the robot;
// A and B (all) receive each other: A gets 921,600 HD 10, B gets 230,400 HD
// 10. A/V HD 27, FHD 3.
func TestTranscodeUpdate(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
		pub(at("10:00"), "A", "main", 640, 360), pub(at("10:00"), "B", "main", 1280, 720),
		tcStart(at("10:00"), "mix", "h264", 1280, 720, ref("A", "main")),
		tcUpdate(at("10:05"), "mix", "h264", 1280, 720, ref("A", "main"), ref("B", "main")),
		tcUpdate(at("10:08"), "mix", "h265", 1280, 720, ref("B", "main")),
		tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"), leave(at("10:10"), "B"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{
		"trtc.transcode.h264.fhd": 8 * min, "trtc.transcode.h265.hd": 2 * min,
	})
	expectPrefix(t, r, "trtc.av.", map[string]int64{avHD: 27 * min, avFHD: 3 * min})
}

// Seed transcoding example 2 (SPEC §3): A 1920×1080 + B 1280×720 =
// 2,995,200 → h264 2K for each of two tasks, 10 min each, whatever the
// outputs (1920×1080 and 1280×720: neither > 2×). 20 × 25.99 / 1000 =
// 0.5198.
func TestTranscodeSeedExample2(t *testing.T) {
	r := runMeter(t, at("10:40"),
		join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 1920, 1080),
		join(at("10:30"), "B", "all"), pub(at("10:30"), "B", "main", 1280, 720),
		tcStart(at("10:30"), "mixA", "h264", 1920, 1080, ref("A", "main"), ref("B", "main")),
		tcStart(at("10:30"), "mixB", "h264", 1280, 720, ref("B", "main"), ref("A", "main")),
		tcStop(at("10:40"), "mixA"), tcStop(at("10:40"), "mixB"),
		leave(at("10:40"), "A"), leave(at("10:40"), "B"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.2k": 20 * min})
}

// relaySpec is one relay task: {room, task, dest, kbps, start, stop}, times
// as RFC 3339.
type relaySpec struct {
	room, task, dest string
	kbps             int64
	start, stop      string
}

// Relay bandwidth is the sum of running relays' bitrates; the month's peak
// is billed. third_party: 3,000 kbps 10:00–11:00 and 2,000 kbps
// 10:30–11:30 → peak 5,000 kbps = 5 Mbps × 18.99 = 94.95 USD.
func TestRelaySumOfBitrates(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-11-01",
		relaySpec{"r1", "p1", "third_party", 3000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
		relaySpec{"r2", "p2", "third_party", 2000, "2024-10-01T10:30:00+08:00", "2024-10-01T11:30:00+08:00"},
	))
	expectLine(t, q, "trtc.relay.third_party", "5", "94.95")
}

// The month's peak, not a sum of daily peaks: 5 Mbps on Oct 1 and 8 Mbps
// on Oct 15 → the October peak is 8 Mbps × 18.99 = 151.92 USD.
func TestRelayMonthPeak(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-11-01",
		relaySpec{"r1", "p1", "third_party", 5000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
		relaySpec{"r1", "p2", "third_party", 8000, "2024-10-15T10:00:00+08:00", "2024-10-15T11:00:00+08:00"},
	))
	expectLine(t, q, "trtc.relay.third_party", "8", "151.92")
}

// Peaks are per destination class: tencent 8 Mbps (below 100: free) and
// third_party 5 Mbps (94.95) at the same time are not added together.
func TestRelayPerDestination(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-11-01",
		relaySpec{"r1", "p1", "tencent", 8000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
		relaySpec{"r1", "p2", "third_party", 5000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
	))
	expectLine(t, q, "trtc.relay.tencent", "8", "0")
	expectLine(t, q, "trtc.relay.third_party", "5", "94.95")
}

// Relay to tencent is free when the month's peak is below 100 Mbps:
// 99,999 kbps = 99.999 Mbps → 0; exactly 100,000 kbps = 100 Mbps is not
// below → 100 × 18.99 = 1,899 USD.
func TestRelayTencentFreeBelow100(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-11-01",
		relaySpec{"r1", "p1", "tencent", 99999, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"}))
	expectLine(t, q, "trtc.relay.tencent", "99.999", "0")
	q = quoteYAML(t, relayDoc("2024-10-01", "2024-11-01",
		relaySpec{"r1", "p1", "tencent", 60000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
		relaySpec{"r2", "p2", "tencent", 40000, "2024-10-01T10:30:00+08:00", "2024-10-01T12:00:00+08:00"}))
	expectLine(t, q, "trtc.relay.tencent", "100", "1899")
}

// Relays that stop and start at the same instant do not overlap: 60 Mbps
// 10:00–11:00 then 60 Mbps 11:00–12:00 → peak 60 Mbps × 18.99 = 1,139.4
// USD (not 120). Checked in one room, across rooms, and for one task
// stopped and restarted at the same instant.
func TestRelayStopStartSameInstant(t *testing.T) {
	cases := map[string][]relaySpec{
		"same room": {
			{"r1", "p1", "third_party", 60000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
			{"r1", "p2", "third_party", 60000, "2024-10-01T11:00:00+08:00", "2024-10-01T12:00:00+08:00"},
		},
		"two rooms": {
			{"r1", "p1", "third_party", 60000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
			{"r2", "p2", "third_party", 60000, "2024-10-01T11:00:00+08:00", "2024-10-01T12:00:00+08:00"},
		},
		"stop listed after the start": {
			{"r1", "p2", "third_party", 60000, "2024-10-01T11:00:00+08:00", "2024-10-01T12:00:00+08:00"},
			{"r1", "p1", "third_party", 60000, "2024-10-01T10:00:00+08:00", "2024-10-01T11:00:00+08:00"},
		},
	}
	for name, rs := range cases {
		t.Run(name, func(t *testing.T) {
			q := quoteYAML(t, relayDoc("2024-10-01", "2024-11-01", rs...))
			expectLine(t, q, "trtc.relay.third_party", "60", "1139.4")
		})
	}
	t.Run("one task restarted", func(t *testing.T) {
		q := quoteYAML(t, calcYAML("2024-10-01", "2024-11-01",
			`{time: "2024-10-01T10:00:00+08:00", type: relay.start, app: "1400000001", room: r1, task: p1, destination: third_party, bitrate_kbps: 60000}`,
			`{time: "2024-10-01T11:00:00+08:00", type: relay.start, app: "1400000001", room: r1, task: p1, destination: third_party, bitrate_kbps: 60000}`,
			`{time: "2024-10-01T11:00:00+08:00", type: relay.stop, app: "1400000001", room: r1, task: p1}`,
			`{time: "2024-10-01T12:00:00+08:00", type: relay.stop, app: "1400000001", room: r1, task: p1}`,
		))
		expectLine(t, q, "trtc.relay.third_party", "60", "1139.4")
	})
}

// relayDocSorted is relayDoc with the events sorted by time (starts and
// stops interleaved as they happen; same-instant order as listed).
func relayDoc(from, to string, rs ...relaySpec) string {
	type line struct {
		t, s string
	}
	var ls []line
	for _, r := range rs {
		ls = append(ls, line{r.start, fmt.Sprintf(`{time: "%s", type: relay.start, app: "1400000001", room: %s, task: %s, destination: %s, bitrate_kbps: %d}`,
			r.start, r.room, r.task, r.dest, r.kbps)})
		ls = append(ls, line{r.stop, fmt.Sprintf(`{time: "%s", type: relay.stop, app: "1400000001", room: %s, task: %s}`, r.stop, r.room, r.task)})
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].t < ls[j-1].t; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.s)
	}
	return calcYAML(from, to, out...)
}

// Each month has its own peak: tencent 120 Mbps in October (120 × 18.99 =
// 2,278.8) and 50 Mbps in November (free). The summed line: quantity 170,
// amount 2,278.8; October's monthly bill 2,278.80, November's 0.
func TestRelayEachMonthItsPeak(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-12-01",
		relaySpec{"r1", "oct", "tencent", 120000, "2024-10-20T10:00:00+08:00", "2024-10-20T11:00:00+08:00"},
		relaySpec{"r2", "nov", "tencent", 50000, "2024-11-20T10:00:00+08:00", "2024-11-20T11:00:00+08:00"},
	))
	expectLine(t, q, "trtc.relay.tencent", "170", "2278.8")
	for _, b := range q.Bills {
		if b.Kind != livebill.BillMonthly {
			continue
		}
		want := map[string]string{"2024-10-01": "2278.80", "2024-11-01": "0"}[b.Date]
		if want == "" || !decEqual(b.Total, want) {
			t.Errorf("monthly bill %s: want %q, got %s", b.Date, want, b.Total)
		}
	}
}

// A relay that runs across a month boundary counts in both months' peaks:
// third_party 10 Mbps 2024-10-31 23:00 – 2024-11-01 01:00 (Asia/Shanghai)
// → 10 Mbps in October and 10 in November: 2 × 189.9 = 379.8 USD.
func TestRelayAcrossMonths(t *testing.T) {
	q := quoteYAML(t, relayDoc("2024-10-01", "2024-12-01",
		relaySpec{"r1", "p", "third_party", 10000, "2024-10-31T23:00:00+08:00", "2024-11-01T01:00:00+08:00"}))
	expectLine(t, q, "trtc.relay.third_party", "20", "379.8")
}

func shotLine(day, app string, n int) string {
	return fmt.Sprintf(`{time: "%sT12:00:00+08:00", type: screenshot, app: "%s", count: %d}`, day, app, n)
}

// Screenshots: per app and month, 10,000 free, billed in started thousands
// at 0.03 USD.
func TestScreenshots(t *testing.T) {
	cases := []struct {
		name      string
		lines     []string
		qty, amnt string
	}{
		// SPEC §6 erratum 1: 22,000 − 10,000 = 12,000 → 12 thousand →
		// 12 × 0.03 = 0.36 USD. The seed printed "20 thousand" and 0.6.
		{"erratum 1: 22,000", []string{shotLine("2024-10-15", app1, 22000)}, "12", "0.36"},
		// Seed example 1: 8,000 ≤ 10,000 → 0.
		{"8,000 is free", []string{shotLine("2024-10-15", app1, 8000)}, "0", "0"},
		// Exactly 10,000 → 0; 10,001 → ceil(1 / 1,000) = 1 thousand → 0.03.
		{"10,000 is free", []string{shotLine("2024-10-15", app1, 10000)}, "0", "0"},
		{"10,001 is a started thousand", []string{shotLine("2024-10-15", app1, 10001)}, "1", "0.03"},
		// Per app: 8,000 in each of two apps → 0 (account-wide it would be
		// 6,000 → 0.18).
		{"10,000 free per app", []string{shotLine("2024-10-15", app1, 8000), shotLine("2024-10-15", app2, 8000)}, "0", "0"},
		// Summed within a month: 6,000 + 6,000 = 12,000 → 2 thousand → 0.06.
		{"summed over the month", []string{shotLine("2024-10-02", app1, 6000), shotLine("2024-10-30", app1, 6000)}, "2", "0.06"},
		// Per month: 9,000 in October and 9,000 in November → 0 (over the
		// two months together it would be 8,000 → 0.24).
		{"10,000 free per month", []string{shotLine("2024-10-15", app1, 9000), shotLine("2024-11-15", app1, 9000)}, "0", "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := quoteYAML(t, calcYAML("2024-10-01", "2024-12-01", c.lines...))
			if c.qty == "0" {
				expectNoLine(t, q, "trtc.screenshot")
				return
			}
			expectLine(t, q, "trtc.screenshot", c.qty, c.amnt)
		})
	}
}

// SPEC §6 erratum 3, the seed's recording example 2 (recordings 1 and 2):
// day 1, one audio-only task for 5,000 s; day 2, two tasks of 5,000 s.
// Per-day ceil: ceil(5,000 / 60) = 84 and ceil(10,000 / 60) = 167 → 251
// minutes → 251 × 1.49 / 1000 = 0.37399 USD. The seed converted the
// month's 15,000 s to 250 minutes (0.3725 USD).
func TestErratum3RecordingPerDayCeil(t *testing.T) {
	room := func(day, r string, tasks ...string) []string {
		ls := []string{
			fmt.Sprintf(`{time: "%sT10:00:00+08:00", type: room.join, app: "1400000001", room: %s, user: A, subscribe: all}`, day, r),
			fmt.Sprintf(`{time: "%sT10:00:00+08:00", type: stream.start, app: "1400000001", room: %s, user: A, stream: main, media: video, width: 640, height: 360}`, day, r),
		}
		for _, tk := range tasks {
			ls = append(ls, fmt.Sprintf(`{time: "%sT10:00:00+08:00", type: recording.start, app: "1400000001", room: %s, task: %s, formats: [mp4], streams: all, media: audio}`, day, r, tk))
		}
		for _, tk := range tasks {
			// 10:00:00 + 5,000 s = 11:23:20
			ls = append(ls, fmt.Sprintf(`{time: "%sT11:23:20+08:00", type: recording.stop, app: "1400000001", room: %s, task: %s}`, day, r, tk))
		}
		return append(ls, fmt.Sprintf(`{time: "%sT11:23:20+08:00", type: room.leave, app: "1400000001", room: %s, user: A}`, day, r))
	}
	var lines []string
	lines = append(lines, room("2022-02-11", "d1", "rec1")...)
	lines = append(lines, room("2022-02-12", "d2", "single", "mix")...)
	q := quoteYAML(t, calcYAML("2022-02-01", "2022-03-01", lines...))
	expectLine(t, q, recAudio, "251", "0.37399")
}

// Seed delivery examples priced: 10 min of audio output to a third party
// → 10 × 0.13 / 1000 = 0.0013; 10 min of a 1920×1080 output to tencent →
// FHD 10 × 0.29 / 1000 = 0.0029; vod → no line.
func TestDeliveryPriced(t *testing.T) {
	q := quoteYAML(t, calcYAML("2024-10-01", "2024-10-02",
		`{time: "2024-10-01T10:00:00+08:00", type: room.join, app: "1400000001", room: r1, user: A, subscribe: all}`,
		`{time: "2024-10-01T10:00:00+08:00", type: stream.start, app: "1400000001", room: r1, user: A, stream: main, media: video, width: 640, height: 360}`,
		`{time: "2024-10-01T10:00:00+08:00", type: recording.start, app: "1400000001", room: r1, task: rec, formats: [mp4, hls, flv], streams: all, outputs: [{format: mp4, destination: third_party, media: audio}, {format: hls, destination: tencent, width: 1920, height: 1080}, {format: flv, destination: vod, width: 1920, height: 1080}]}`,
		`{time: "2024-10-01T10:10:00+08:00", type: recording.stop, app: "1400000001", room: r1, task: rec}`,
		`{time: "2024-10-01T10:10:00+08:00", type: room.leave, app: "1400000001", room: r1, user: A}`,
	))
	expectLine(t, q, "trtc.delivery.third_party.audio", "10", "0.0013")
	expectLine(t, q, "trtc.delivery.tencent.fhd", "10", "0.0029")
	for _, l := range q.Lines {
		if len(l.Item) > 18 && l.Item[:18] == "trtc.delivery.vod." {
			t.Errorf("vod delivery is free and not billed: got line %s", l.Item)
		}
	}
	// Recording: 3 formats × 10 min HD (230,400) = 30 × 5.99 / 1000 = 0.1797.
	expectLine(t, q, recHD, "30", "0.1797")
}

// A transcode.start and a transcode.update of one task at the same instant
// must give the same result in either input order (SPEC §7.1 canonical
// order; docs/decisions.md: "task starts and updates" share the last
// rank). Inputs after the update: A 640×360 and B 1280×720 = 1,152,000 →
// h265 FHD for 10 min.
func TestTranscodeStartAndUpdateSameInstant(t *testing.T) {
	for _, order := range []string{"start first", "update first"} {
		t.Run(order, func(t *testing.T) {
			start := tcStart(at("10:00"), "mix", "h264", 640, 360, ref("A", "main"))
			upd := tcUpdate(at("10:00"), "mix", "h265", 640, 360, ref("A", "main"), ref("B", "main"))
			es := []livebill.Event{join(at("10:00"), "A", "all"), join(at("10:00"), "B", "all"),
				pub(at("10:00"), "A", "main", 640, 360), pub(at("10:00"), "B", "main", 1280, 720)}
			if order == "start first" {
				es = append(es, start, upd)
			} else {
				es = append(es, upd, start)
			}
			es = append(es, tcStop(at("10:10"), "mix"), leave(at("10:10"), "A"), leave(at("10:10"), "B"))
			r := runMeter(t, at("10:10"), es...)
			expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h265.fhd": 10 * min})
		})
	}
}

// A stream listed twice counts once (docs/decisions.md). Transcoding A's
// 1280×720 main listed twice, audio output, 10 min: input area 921,600 →
// h264 HD 10 (not 1,843,200 → FHD). Recording A's main listed twice: one
// stream of 921,600 → recording HD 10; its robot receives it once: A/V HD.
func TestStreamListedTwiceCountsOnce(t *testing.T) {
	r := runMeter(t, at("10:10"),
		join(at("10:00"), "A", "manual"), pub(at("10:00"), "A", "main", 1280, 720),
		tcStart(at("10:00"), "mix", "h264", 0, 0, ref("A", "main"), ref("A", "main")),
		recStart(at("10:00"), "rec", mp4, "", nil, ref("A", "main"), ref("A", "main")),
		tcStop(at("10:10"), "mix"), recStop(at("10:10"), "rec"), leave(at("10:10"), "A"))
	expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.hd": 10 * min})
	expectPrefix(t, r, "trtc.recording.", map[string]int64{recHD: 10 * min})
	// A: audio 10; both robots receive 921,600: HD 2 × 10.
	expectPrefix(t, r, "trtc.av.", map[string]int64{avAudio: 10 * min, avHD: 20 * min})
}

// A transcode.update and a transcode.stop of one task at one instant are
// both accepted in either order; the update changes nothing
// (docs/decisions.md, "Events at the same instant"). A's 640×360 main,
// output 640×360, 10:00–10:10: h264 HD 10, no h265.
func TestTranscodeUpdateAndStopSameInstant(t *testing.T) {
	for _, order := range []string{"update first", "stop first"} {
		t.Run(order, func(t *testing.T) {
			upd := tcUpdate(at("10:10"), "mix", "h265", 1920, 1080, ref("A", "main"))
			stop := tcStop(at("10:10"), "mix")
			es := []livebill.Event{join(at("10:00"), "A", "all"), pub(at("10:00"), "A", "main", 640, 360),
				tcStart(at("10:00"), "mix", "h264", 640, 360, ref("A", "main"))}
			if order == "update first" {
				es = append(es, upd, stop)
			} else {
				es = append(es, stop, upd)
			}
			es = append(es, leave(at("10:20"), "A"))
			r := runMeter(t, at("10:20"), es...)
			expectPrefix(t, r, "trtc.transcode.", map[string]int64{"trtc.transcode.h264.hd": 10 * min})
		})
	}
}
