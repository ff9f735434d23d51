// Package webhook turns real RTC servers' webhooks into livebill usage
// events (SPEC §7.1): Tencent TRTC room and media callbacks, LiveKit
// webhooks and Agora NCS channel events. Each adapter verifies the
// vendor's signature over the raw body, then maps the documented payload
// to events whose ids are derived from the vendor's own unique fields, so
// a vendor's retry is a duplicate for the (already idempotent) ingestion.
//
// Webhooks report presence and publishing, not who receives what: the
// per-app Config states the assumption (by default everyone receives
// every camera and screen stream, as the SDKs' auto-receive does) and the
// resolutions the vendor does not report. Bills of such apps carry the
// notice estimated_subscriptions.
//
// Callbacks are stateless and arrive out of order, so the adapters store
// what the vendor said and Normalizer, applied when an account's events
// are replayed in time order, turns it into a consistent event stream
// (a room dismissal ends everyone's presence, duplicate enters and exits
// of a user not present are dropped, TRTC's separate audio and video
// events become one main stream, Agora's clientSeq orders a user's
// events).
package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Vendors.
const (
	TRTC    = "trtc"
	LiveKit = "livekit"
	Agora   = "agora"
)

// IDPrefix starts the id of every event made from a webhook; Normalizer
// only reshapes events with it.
const IDPrefix = "wh:"

// DefaultLateness is how long after an event's time its callback may
// still arrive and make the day's own bill (the settle delay is at least
// this); later callbacks are stored and re-rated as adjustments.
const DefaultLateness = 60 * time.Second

// NoticeEstimated is the bill notice of an app billed from webhooks.
const NoticeEstimated = "estimated_subscriptions"

// Size is a video resolution.
type Size struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Config is an app's webhook configuration.
type Config struct {
	App    string `json:"app"`
	Vendor string `json:"vendor"` // trtc, livekit, agora
	// Key is LiveKit's API key (the JWT issuer), which finds the app on
	// POST /v1/ingest/livekit.
	Key string `json:"key,omitempty"`
	// Secret: TRTC's callback key, LiveKit's API secret, Agora's NCS secret.
	Secret string `json:"secret,omitempty"`
	// Subscribe is what every joining user is assumed to receive: all
	// (default: every camera and screen stream of the others), audio, or
	// manual (nothing unless POST /v1/events says subscribe.start).
	Subscribe string `json:"subscribe,omitempty"`
	// Main and Screen are the resolutions assumed where the vendor does
	// not report one (TRTC, Agora; LiveKit tracks without a size).
	Main   Size `json:"main"`
	Screen Size `json:"screen"`
	// RecordingFormats are the formats a recording is billed in (TRTC
	// 301, LiveKit egress); default ["mp4"].
	RecordingFormats []string `json:"recording_formats,omitempty"`
	// Publish is what an Agora broadcaster (or communication user) is
	// assumed to publish: video (default, at Main) or audio.
	Publish   string    `json:"publish,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Defaults fills what is unset.
func (c *Config) Defaults() {
	if c.Subscribe == "" {
		c.Subscribe = livebill.SubscribeAll
	}
	if c.Main.Width == 0 && c.Main.Height == 0 {
		c.Main = Size{1280, 720}
	}
	if c.Screen.Width == 0 && c.Screen.Height == 0 {
		c.Screen = Size{1920, 1080}
	}
	if len(c.RecordingFormats) == 0 {
		c.RecordingFormats = []string{"mp4"}
	}
	if c.Publish == "" {
		c.Publish = livebill.MediaVideo
	}
}

// Validate reports every problem with the configuration, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, livebill.Errorf(livebill.EINVALID, f, a...)) }
	if c.App == "" {
		bad("app: missing")
	}
	switch c.Vendor {
	case TRTC, Agora:
	case LiveKit:
		if c.Key == "" {
			bad("key: missing (the LiveKit API key that signs the webhooks)")
		}
	case "":
		bad("vendor: missing (trtc, livekit or agora)")
	default:
		bad("vendor: must be trtc, livekit or agora, not %q", c.Vendor)
	}
	if c.Secret == "" {
		bad("secret: missing (callbacks are verified with it)")
	}
	for _, f := range []struct{ name, v string }{{"app", c.App}, {"key", c.Key}, {"secret", c.Secret}} {
		if err := livebill.CheckText(f.name, f.v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.RecordingFormats) > livebill.MaxListLen {
		bad("recording_formats: more than %d", livebill.MaxListLen)
	}
	for i, f := range c.RecordingFormats {
		if err := livebill.CheckText(fmt.Sprintf("recording_formats[%d]", i), f); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Subscribe {
	case "", livebill.SubscribeAll, livebill.SubscribeAudio, livebill.SubscribeManual:
	default:
		bad("subscribe: must be all, audio or manual, not %q", c.Subscribe)
	}
	for _, s := range []struct {
		name string
		v    Size
	}{{"main", c.Main}, {"screen", c.Screen}} {
		if s.v.Width < 0 || s.v.Height < 0 || (s.v.Width == 0) != (s.v.Height == 0) {
			bad("%s: needs a positive width and height", s.name)
		}
	}
	switch c.Publish {
	case "", livebill.MediaVideo, livebill.MediaAudio:
	default:
		bad("publish: must be video or audio, not %q", c.Publish)
	}
	return errors.Join(errs...)
}

// Redacted returns a copy without the secret, for responses.
func (c *Config) Redacted() *Config {
	cp := *c
	if cp.Secret != "" {
		cp.Secret = "(set)"
	}
	return &cp
}

// ConfigStore stores apps' webhook configurations (implemented by
// sqlstore).
type ConfigStore interface {
	// PutWebhookConfig stores (or replaces) the app's configuration.
	PutWebhookConfig(ctx context.Context, c *Config) error
	// FindWebhookConfig returns the app's configuration or ENOTFOUND.
	FindWebhookConfig(ctx context.Context, app string) (*Config, error)
	// ListWebhookConfigs returns the configurations of a vendor, by app;
	// key, when not empty, selects those with that key, and limit, when
	// above 0, returns only the first limit of them.
	ListWebhookConfigs(ctx context.Context, vendor, key string, limit int) ([]*Config, error)
}

// ErrSignature is returned for a missing or wrong signature (HTTP 401).
var ErrSignature = errors.New("webhook signature missing or invalid")

// Event is one livebill event made from a callback (SPEC §7.1 fields).
type Event struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Time      string   `json:"time"`
	App       string   `json:"app"`
	Room      string   `json:"room,omitempty"`
	User      string   `json:"user,omitempty"`
	Subscribe string   `json:"subscribe,omitempty"`
	Stream    string   `json:"stream,omitempty"`
	Media     string   `json:"media,omitempty"`
	Width     int      `json:"width,omitempty"`
	Height    int      `json:"height,omitempty"`
	Task      string   `json:"task,omitempty"`
	Formats   []string `json:"formats,omitempty"`
	Streams   string   `json:"streams,omitempty"`
}

// Everyone is the user of the room.leave a room's dismissal is stored as;
// Normalizer makes it a leave of every user present.
const Everyone = "*"

// Raw returns the events as raw events for ingestion.
func Raw(evs []Event) []livebill.RawEvent {
	out := make([]livebill.RawEvent, len(evs))
	for i := range evs {
		b, _ := json.Marshal(&evs[i])
		out[i] = livebill.RawEvent{Line: i + 1, Body: b}
	}
	return out
}

// makeID derives an event id from the vendor's unique fields.
func makeID(vendor string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return IDPrefix + vendor + ":" + hex.EncodeToString(h[:10])
}

func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// builder makes the events of one callback with ids base/0, base/1, …
type builder struct {
	cfg  *Config
	base string
	ms   int64
	out  []Event
}

func (b *builder) add(e Event) {
	e.ID = fmt.Sprintf("%s/%d", b.base, len(b.out))
	e.Time = msTime(b.ms)
	e.App = b.cfg.App
	b.out = append(b.out, e)
}

func (b *builder) join(room, user string) {
	b.add(Event{Type: "room.join", Room: room, User: user, Subscribe: b.cfg.Subscribe})
}

func (b *builder) leave(room, user string) {
	b.add(Event{Type: "room.leave", Room: room, User: user})
}

func (b *builder) start(room, user, stream, media string, sz Size) {
	e := Event{Type: "stream.start", Room: room, User: user, Stream: stream, Media: media}
	if media == livebill.MediaVideo {
		e.Width, e.Height = sz.Width, sz.Height
	}
	b.add(e)
}

// stop stores the media stopped (audio or video of the main stream; ""
// for all of it): Normalizer needs it to merge TRTC's audio and video.
func (b *builder) stop(room, user, stream, media string) {
	b.add(Event{Type: "stream.stop", Room: room, User: user, Stream: stream, Media: media})
}

func (b *builder) recording(start bool, room, task string) {
	if start {
		b.add(Event{Type: "recording.start", Room: room, Task: task, Formats: b.cfg.RecordingFormats, Streams: "all"})
	} else {
		b.add(Event{Type: "recording.stop", Room: room, Task: task})
	}
}

// flexString accepts a JSON string or number (TRTC room ids, LiveKit's
// int64 fields, which protojson writes as strings).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

func (f flexString) int() int64 {
	var n int64
	fmt.Sscan(string(f), &n)
	return n
}
