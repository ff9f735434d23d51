package livebill

import (
	"fmt"
	"time"
)

// EventType is the type of a usage event (SPEC §7.1).
type EventType uint8

// Event types.
const (
	EventUnknown EventType = iota
	RoomJoin
	RoomLeave
	StreamStart
	StreamUpdate
	StreamStop
	SubscribeStart
	SubscribeStop
	RecordingStart
	RecordingStop
	TranscodeStart
	TranscodeUpdate
	TranscodeStop
	RelayStart
	RelayStop
	InputStart
	InputStop
	Screenshot
	Login
	Signal
	MatchmakingRequest
	MatchmakingEvaluation
	SessionStart
	SessionStop
	numEventTypes
)

var eventTypeNames = [numEventTypes]string{
	"", "room.join", "room.leave", "stream.start", "stream.update", "stream.stop",
	"subscribe.start", "subscribe.stop", "recording.start", "recording.stop",
	"transcode.start", "transcode.update", "transcode.stop", "relay.start", "relay.stop",
	"input.start", "input.stop", "screenshot", "login", "signal",
	"matchmaking.request", "matchmaking.evaluation", "session.start", "session.stop",
}

func (t EventType) String() string {
	if t < numEventTypes {
		return eventTypeNames[t]
	}
	return "unknown"
}

// ParseEventType returns the type named s, or EventUnknown.
func ParseEventType(s string) EventType {
	for i, n := range eventTypeNames {
		if i > 0 && n == s {
			return EventType(i)
		}
	}
	return EventUnknown
}

// RobotPrefix starts the participant id of a task's robot,
// robot:<kind>:<task> (SPEC §2); users may not take such ids.
const RobotPrefix = "robot:"

// Stream kinds, media and subscription modes.
const (
	StreamMain   = "main"
	StreamSmall  = "small"
	StreamScreen = "screen"

	MediaAudio = "audio"
	MediaVideo = "video"

	SubscribeManual = "manual"
	SubscribeAll    = "all"
	SubscribeAudio  = "audio"

	DestVOD        = "vod"
	DestTencent    = "tencent"
	DestThirdParty = "third_party"
)

// Event is one usage event. Time is Unix milliseconds; the offset the
// source wrote is not needed once the instant is known (billing days come
// from the catalog's or account's zone).
type Event struct {
	Line int    // where it came from, for error messages (not part of the schema)
	ID   string `json:"id,omitempty"`
	Type EventType
	Time int64 // Unix ms
	App  string

	Room      string
	User      string
	Subscribe string // room.join: manual (default), all, audio
	Client    string // room.join: HST endpoint kind, e.g. "miniprogram"

	Stream    string // main, small, screen
	Media     string // audio, video
	NoAudio   bool   // stream.start main video with "audio": false
	Width     int
	Height    int
	Publisher string // subscribe.*

	Task        string
	Formats     []string
	AllStreams  bool        // streams: "all" (or omitted where that is the default)
	Streams     []StreamRef // streams: explicit list
	Outputs     []Output    // recording outputs
	Codec       string      // transcode: h264, h265
	OutputAudio bool        // transcode output "audio"
	Output      Size        // transcode output size
	Inputs      []StreamRef // transcode inputs
	Destination string      // relay destination
	BitrateKbps int64

	Count      int64 // screenshot, signal, matchmaking.evaluation (default 1)
	Players    int64 // matchmaking.request
	DurationUS int64 // matchmaking.evaluation

	// Session and Kind: a session.start/stop names the session (an
	// admission lease) and, at its start, its kind (SessionKinds).
	Session string
	Kind    string
}

// Session kinds: what an admission lease holds. A catalog item with
// `sessions: <kind>` meters the time sessions of that kind run.
const (
	SessionCloudGaming = "cloudgaming.session"
	SessionLivePush    = "cloudgaming.push"
	SessionOperation   = "industrial.operation"
)

// StreamRef names a publisher's stream.
type StreamRef struct {
	User   string `json:"user" yaml:"user"`
	Stream string `json:"stream" yaml:"stream"`
}

// Output is a recording output file: format × destination, at a size or
// audio-only.
type Output struct {
	Format      string `json:"format" yaml:"format"`
	Destination string `json:"destination" yaml:"destination"`
	Width       int    `json:"width,omitempty" yaml:"width"`
	Height      int    `json:"height,omitempty" yaml:"height"`
	Media       string `json:"media,omitempty" yaml:"media"`
}

// AudioOnly reports whether the output file has no video.
func (o Output) AudioOnly() bool { return o.Media == MediaAudio || o.Width == 0 || o.Height == 0 }

// Size returns the video size of a stream event.
func (e *Event) Size() Size { return Size{e.Width, e.Height} }

// Validate checks the fields SPEC §7.1 requires for the event's type. It
// does not check state (a leave without a join is the meter's to find).
func (e *Event) Validate() error {
	bad := func(field, reason string) error {
		return &EventError{Line: e.Line, ID: e.ID, Field: field, Reason: reason}
	}
	if e.Type == EventUnknown {
		return bad("type", "unknown or missing event type")
	}
	if e.Time == 0 {
		return bad("time", "missing")
	}
	if e.Time < earliestMS || e.Time >= latestMS {
		return bad("time", fmt.Sprintf("%s is outside the years %d to %d", time.UnixMilli(e.Time).UTC().Format(time.RFC3339Nano),
			EarliestTime.Year(), LatestTime.Year()-1))
	}
	if !e.smallNumbers() {
		if err := e.checkNumbers(); err != nil {
			return err
		}
	}
	if e.App == "" {
		return bad("app", "missing")
	}
	needRoom := func() error {
		if e.Room == "" {
			return bad("room", "missing")
		}
		return nil
	}
	needUser := func() error {
		if err := needRoom(); err != nil {
			return err
		}
		if e.User == "" {
			return bad("user", "missing")
		}
		if len(e.User) >= len(RobotPrefix) && e.User[:len(RobotPrefix)] == RobotPrefix {
			return e.reservedUser()
		}
		return nil
	}
	needTask := func() error {
		if err := needRoom(); err != nil {
			return err
		}
		if e.Task == "" {
			return bad("task", "missing")
		}
		return nil
	}
	needStream := func() error {
		switch e.Stream {
		case StreamMain, StreamSmall, StreamScreen:
			return nil
		case "":
			return bad("stream", "missing")
		}
		return bad("stream", "must be main, small or screen, not "+quote(e.Stream))
	}
	sizeOK := func(required bool) error {
		if e.Width < 0 {
			return bad("width", "negative")
		}
		if e.Height < 0 {
			return bad("height", "negative")
		}
		if required && e.Width == 0 {
			return bad("width", "missing for a video stream")
		}
		if required && e.Height == 0 {
			return bad("height", "missing for a video stream")
		}
		return nil
	}
	refsOK := func(field string, refs []StreamRef) error {
		for _, r := range refs {
			if r.User == "" {
				return bad(field, "a stream reference has no user")
			}
			switch r.Stream {
			case StreamMain, StreamSmall, StreamScreen:
			default:
				return bad(field, "stream must be main, small or screen, not "+quote(r.Stream))
			}
		}
		return nil
	}
	switch e.Type {
	case RoomJoin:
		if err := needUser(); err != nil {
			return err
		}
		switch e.Subscribe {
		case "", SubscribeManual, SubscribeAll, SubscribeAudio:
		default:
			return bad("subscribe", "must be manual, all or audio, not "+quote(e.Subscribe))
		}
	case RoomLeave:
		return needUser()
	case StreamStart:
		if err := needUser(); err != nil {
			return err
		}
		if err := needStream(); err != nil {
			return err
		}
		switch e.Media {
		case MediaVideo:
			return sizeOK(true)
		case MediaAudio:
			if e.Stream != StreamMain {
				return bad("media", "only a main stream can be audio-only")
			}
			return sizeOK(false)
		case "":
			return bad("media", "missing")
		}
		return bad("media", "must be audio or video, not "+quote(e.Media))
	case StreamUpdate:
		if err := needUser(); err != nil {
			return err
		}
		if err := needStream(); err != nil {
			return err
		}
		return sizeOK(true)
	case StreamStop:
		if err := needUser(); err != nil {
			return err
		}
		return needStream()
	case SubscribeStart, SubscribeStop:
		if err := needUser(); err != nil {
			return err
		}
		if e.Publisher == "" {
			return bad("publisher", "missing")
		}
		if err := needStream(); err != nil {
			return err
		}
		return sizeOK(false)
	case RecordingStart:
		if err := needTask(); err != nil {
			return err
		}
		if len(e.Formats) == 0 {
			return bad("formats", "missing: at least one output format")
		}
		if !e.AllStreams && len(e.Streams) == 0 {
			return bad("streams", `missing: a list of {user, stream} or "all"`)
		}
		if e.Media != "" && e.Media != MediaAudio && e.Media != MediaVideo {
			return bad("media", "must be audio or omitted, not "+quote(e.Media))
		}
		if err := refsOK("streams", e.Streams); err != nil {
			return err
		}
		for _, o := range e.Outputs {
			switch o.Destination {
			case DestVOD, DestTencent, DestThirdParty:
			default:
				return bad("outputs", "destination must be vod, tencent or third_party, not "+quote(o.Destination))
			}
			if o.Width < 0 || o.Height < 0 {
				return bad("outputs", "negative size")
			}
			if o.Media != MediaAudio && (o.Width == 0 || o.Height == 0) {
				return bad("outputs", `needs width and height, or media: audio`)
			}
		}
	case TranscodeStart, TranscodeUpdate:
		if err := needTask(); err != nil {
			return err
		}
		if e.Codec != "h264" && e.Codec != "h265" {
			if e.Codec == "" {
				return bad("codec", "missing")
			}
			return bad("codec", "must be h264 or h265, not "+quote(e.Codec))
		}
		if !e.OutputAudio && (e.Output.Width <= 0 || e.Output.Height <= 0) {
			return bad("output", `needs {width, height} or "audio"`)
		}
		return refsOK("inputs", e.Inputs)
	case RecordingStop, TranscodeStop, RelayStop, InputStop:
		return needTask()
	case RelayStart:
		if err := needTask(); err != nil {
			return err
		}
		if e.Destination != DestTencent && e.Destination != DestThirdParty {
			return bad("destination", "must be tencent or third_party, not "+quote(e.Destination))
		}
		if e.BitrateKbps <= 0 {
			return bad("bitrate_kbps", "must be positive")
		}
		return refsOK("streams", e.Streams)
	case InputStart:
		if err := needTask(); err != nil {
			return err
		}
		switch e.Media {
		case MediaVideo:
			return sizeOK(true)
		case MediaAudio:
			return sizeOK(false)
		}
		return bad("media", "must be audio or video")
	case Screenshot, Signal:
		if e.Count < 0 {
			return bad("count", "negative")
		}
	case Login:
		if e.User == "" {
			return bad("user", "missing")
		}
	case MatchmakingRequest:
		if e.Players <= 0 {
			return bad("players", "must be positive")
		}
	case MatchmakingEvaluation:
		if e.DurationUS < 0 {
			return bad("duration_us", "negative")
		}
		if e.Count < 0 {
			return bad("count", "negative")
		}
	case SessionStart, SessionStop:
		if e.Session == "" {
			return bad("session", "missing")
		}
		if e.Type == SessionStart && e.Kind == "" {
			return bad("kind", "missing (the session's kind, e.g. "+SessionCloudGaming+")")
		}
	}
	return nil
}

func quote(s string) string { return Shown(s) }

// reservedUser rejects a user event naming a task's robot,
// robot:<kind>:<task> (SPEC §2): it would act for the task. (Apart from
// Validate, whose per-event path it would slow.)
func (e *Event) reservedUser() error {
	return &EventError{Line: e.Line, ID: e.ID, Field: "user",
		Reason: quote(e.User) + " is reserved: ids starting with " + quote(RobotPrefix) + " name tasks' robots"}
}

// CheckText checks the event's strings (Input limits, limits.go): the id
// and every string field, those of its lists too, must be valid ids
// (TextProblem). The parsers call it for what they decode (eventio; its
// fast path takes only short printable ASCII, which passes), so Validate,
// which the meter runs on every event, does not scan strings again. An
// error about the id does not carry the id: it would echo the bad input.
func (e *Event) CheckText() error {
	if p := TextProblem(e.ID); p != "" {
		return &EventError{Line: e.Line, Field: "id", Reason: p}
	}
	bad := func(field, reason string) error {
		return &EventError{Line: e.Line, ID: e.ID, Field: field, Reason: reason}
	}
	for _, f := range [...]struct{ name, v string }{
		{"app", e.App}, {"room", e.Room}, {"user", e.User}, {"subscribe", e.Subscribe}, {"client", e.Client},
		{"stream", e.Stream}, {"media", e.Media}, {"publisher", e.Publisher}, {"task", e.Task},
		{"codec", e.Codec}, {"destination", e.Destination},
	} {
		if p := TextProblem(f.v); p != "" {
			return bad(f.name, p)
		}
	}
	for _, f := range e.Formats {
		if p := TextProblem(f); p != "" {
			return bad("formats", p)
		}
	}
	for _, refs := range [...]struct {
		name string
		refs []StreamRef
	}{{"streams", e.Streams}, {"inputs", e.Inputs}} {
		for _, r := range refs.refs {
			if p := TextProblem(r.User); p != "" {
				return bad(refs.name, "user "+p)
			}
			if p := TextProblem(r.Stream); p != "" {
				return bad(refs.name, "stream "+p)
			}
		}
	}
	for _, o := range e.Outputs {
		for _, v := range [...]string{o.Format, o.Destination, o.Media} {
			if p := TextProblem(v); p != "" {
				return bad("outputs", p)
			}
		}
	}
	return nil
}

// smallNumbers reports, in a few ORs, that the event's lists are short,
// it has no recording outputs and its numbers are small — the usual event,
// within every bound of checkNumbers. (An OR is at least each of its
// terms; a negative number is a huge unsigned one.)
func (e *Event) smallNumbers() bool {
	return len(e.Formats)|len(e.Streams)|len(e.Inputs) <= MaxListLen && len(e.Outputs) == 0 &&
		uint64(e.Width|e.Height|e.Output.Width|e.Output.Height) < 1<<16 &&
		uint64(e.BitrateKbps|e.Count|e.Players|e.DurationUS) < 1<<26
}

// checkNumbers checks what every event must satisfy whatever its type
// (Input limits, limits.go): its lists' lengths and its numbers.
func (e *Event) checkNumbers() error {
	bad := func(field, reason string) error {
		return &EventError{Line: e.Line, ID: e.ID, Field: field, Reason: reason}
	}
	if len(e.Formats)|len(e.Streams)|len(e.Outputs)|len(e.Inputs) > MaxListLen {
		for _, l := range [...]struct {
			name string
			n    int
		}{{"formats", len(e.Formats)}, {"streams", len(e.Streams)}, {"outputs", len(e.Outputs)}, {"inputs", len(e.Inputs)}} {
			if l.n > MaxListLen {
				return bad(l.name, fmt.Sprintf("more than %d entries", MaxListLen))
			}
		}
	}
	for _, o := range e.Outputs {
		if !sizeInBounds(o.Width, o.Height) {
			return bad("outputs", fmt.Sprintf("width × height must be at most %d pixels", int64(MaxVideoArea)))
		}
	}
	switch {
	case !sizeInBounds(e.Width, e.Height):
		return bad("width", fmt.Sprintf("width × height must be at most %d pixels", int64(MaxVideoArea)))
	case !sizeInBounds(e.Output.Width, e.Output.Height):
		return bad("output", fmt.Sprintf("width × height must be at most %d pixels", int64(MaxVideoArea)))
	case e.BitrateKbps > MaxBitrateKbps:
		return bad("bitrate_kbps", fmt.Sprintf("must be at most %d", MaxBitrateKbps))
	case e.Count > MaxEventCount:
		return bad("count", fmt.Sprintf("must be at most %d", int64(MaxEventCount)))
	case e.Players > MaxEventCount:
		return bad("players", fmt.Sprintf("must be at most %d", int64(MaxEventCount)))
	case e.DurationUS > MaxEvaluationUS:
		return bad("duration_us", fmt.Sprintf("must be at most %d (an hour)", MaxEvaluationUS))
	case e.DurationUS > 0 && e.Count > MaxEvaluationTotalUS/e.DurationUS:
		return bad("count", fmt.Sprintf("count × duration_us must be at most %d", int64(MaxEvaluationTotalUS)))
	}
	return nil
}

// IsRoomEvent reports whether the event changes a room's state.
func (t EventType) IsRoomEvent() bool { return t >= RoomJoin && t <= InputStop }

// IsTask reports whether the event starts, changes or stops a task.
func (t EventType) IsTask() bool { return t >= RecordingStart && t <= InputStop }

// VideoArea is the output's video area (0 for audio-only outputs).
func (o Output) VideoArea() int64 {
	if o.AudioOnly() {
		return 0
	}
	return int64(o.Width) * int64(o.Height)
}

// sizeInBounds reports whether a size's sides and area are at most
// MaxVideoArea (negative sides are the type checks' to report).
func sizeInBounds(w, h int) bool {
	if int64(w) > MaxVideoArea || int64(h) > MaxVideoArea {
		return false
	}
	return int64(w)*int64(h) <= MaxVideoArea
}
