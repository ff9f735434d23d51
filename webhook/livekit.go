package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// LiveKitClaims are the claims of a LiveKit webhook's Authorization JWT
// that matter here.
type LiveKitClaims struct {
	Issuer string `json:"iss"` // the API key
	Sha256 string `json:"sha256"`
	Exp    int64  `json:"exp"`
	Nbf    int64  `json:"nbf"`
}

// ParseLiveKitToken reads a JWT's claims without verifying it, to find
// the API key (and so the secret) it claims to be signed with.
func ParseLiveKitToken(token string) (*LiveKitClaims, error) {
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bearer "))
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, ErrSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, ErrSignature
	}
	var c LiveKitClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, ErrSignature
	}
	if livebill.TextProblem(c.Issuer) != "" { // it is looked up as an API key
		return nil, ErrSignature
	}
	return &c, nil
}

// jwtLeeway allows for clock skew between LiveKit and livebill.
const jwtLeeway = time.Minute

// VerifyLiveKit checks a LiveKit webhook: the Authorization header is an
// HS256 JWT signed with the API secret (compared in constant time), valid
// at now, issued by key (when key is not empty), whose sha256 claim is
// base64(SHA-256(raw body)). This is what LiveKit's own receivers check
// (livekit/protocol webhook/verifier.go), except that exp and nbf are
// required here (LiveKit always sets them; see CheckLiveKitTime).
func VerifyLiveKit(body []byte, authorization, key, secret string, now time.Time) error {
	token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(authorization), "Bearer "))
	parts := strings.Split(token, ".")
	if len(parts) != 3 || secret == "" {
		return ErrSignature
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return ErrSignature
	}
	var head struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &head) != nil || head.Alg != "HS256" {
		return ErrSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return ErrSignature
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return ErrSignature
	}
	c, err := ParseLiveKitToken(token)
	if err != nil {
		return err
	}
	if key != "" && c.Issuer != key {
		return ErrSignature
	}
	// LiveKit's tokens always carry exp and nbf; one without them would
	// be valid forever
	if c.Exp == 0 || c.Nbf == 0 {
		return fmt.Errorf("%w: the token has no exp or nbf claim", ErrSignature)
	}
	if now.After(time.Unix(c.Exp, 0).Add(jwtLeeway)) {
		return fmt.Errorf("%w: the token expired at %s", ErrSignature, time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	}
	if now.Add(jwtLeeway).Before(time.Unix(c.Nbf, 0)) {
		return fmt.Errorf("%w: the token is not valid before %s", ErrSignature, time.Unix(c.Nbf, 0).UTC().Format(time.RFC3339))
	}
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if !hmac.Equal([]byte(c.Sha256), []byte(want)) {
		return ErrSignature
	}
	return nil
}

// SignLiveKit makes the Authorization token LiveKit would send for body
// (HS256, claims iss, nbf, exp and sha256), for tests and tools.
func SignLiveKit(body []byte, key, secret string, now time.Time) string {
	return SignLiveKitClaims(body, secret, map[string]any{"iss": key, "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
}

// SignLiveKitClaims makes an HS256 token with claims and the body's
// sha256 claim, for tests of tokens LiveKit would not send.
func SignLiveKitClaims(body []byte, secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	sum := sha256.Sum256(body)
	c := map[string]any{"sha256": base64.StdEncoding.EncodeToString(sum[:])}
	for k, v := range claims {
		c[k] = v
	}
	cj, _ := json.Marshal(c)
	p := head + "." + enc.EncodeToString(cj)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p))
	return p + "." + enc.EncodeToString(m.Sum(nil))
}

// LiveKitEvent is the webhook body (protojson of livekit.WebhookEvent;
// int64 fields arrive as strings, enums as names or numbers).
type LiveKitEvent struct {
	Event       string `json:"event"`
	ID          string `json:"id"`
	CreatedAt   flexString
	Room        *struct{ Name, Sid string } `json:"room"`
	Participant *struct {
		Identity string `json:"identity"`
		Sid      string `json:"sid"`
	} `json:"participant"`
	Track      *lkTrack `json:"track"`
	EgressInfo *struct {
		EgressID string `json:"egressId"`
		RoomName string `json:"roomName"`
	} `json:"egressInfo"`
}

// UnmarshalJSON reads createdAt (a string or a number).
func (e *LiveKitEvent) UnmarshalJSON(b []byte) error {
	type plain LiveKitEvent
	var aux struct {
		plain
		CreatedAt flexString `json:"createdAt"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = LiveKitEvent(aux.plain)
	e.CreatedAt = aux.CreatedAt
	return nil
}

// stream returns the livebill stream and media of a LiveKit track, or ok
// false for tracks not billed (screen-share audio, unknown sources).
func (t *lkTrack) stream() (stream, media string, ok bool) {
	switch strings.ToUpper(string(t.Source)) {
	case "CAMERA", "1":
		return livebill.StreamMain, livebill.MediaVideo, true
	case "MICROPHONE", "2":
		return livebill.StreamMain, livebill.MediaAudio, true
	case "SCREEN_SHARE", "3":
		return livebill.StreamScreen, livebill.MediaVideo, true
	case "", "UNKNOWN", "0": // by type: VIDEO (1) a camera, else a microphone
		if strings.EqualFold(string(t.Type), "VIDEO") || t.Type == "1" {
			return livebill.StreamMain, livebill.MediaVideo, true
		}
		return livebill.StreamMain, livebill.MediaAudio, true
	}
	return "", "", false
}

type lkTrack struct {
	Sid    string     `json:"sid"`
	Type   flexString `json:"type"`
	Source flexString `json:"source"`
	Width  int        `json:"width"`
	Height int        `json:"height"`
}

// MapLiveKit maps one verified LiveKit webhook to events. The event time
// is createdAt (seconds, the same clock for every event kind, so a
// participant's events keep their order); the id derives from the
// webhook's unique id, which LiveKit repeats on retries.
func MapLiveKit(cfg *Config, body []byte) ([]Event, error) {
	var ev LiveKitEvent
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&ev); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "livekit webhook: %v", err)
	}
	ms := ev.CreatedAt.int() * 1000
	room := ""
	if ev.Room != nil {
		room = ev.Room.Name
	}
	user := ""
	if ev.Participant != nil {
		user = ev.Participant.Identity
	}
	switch ev.Event {
	case "participant_joined", "participant_left", "participant_connection_aborted",
		"track_published", "track_unpublished", "room_finished", "egress_started", "egress_ended":
	default:
		return nil, nil // room_started, track_subscribed, ingress_*, …: nothing to bill
	}
	if ms <= 0 {
		return nil, livebill.Errorf(livebill.EINVALID, "livekit webhook %s: createdAt: missing", ev.Event)
	}
	unique := ev.ID
	if unique == "" {
		unique = string(body)
	}
	b := &builder{cfg: cfg, ms: ms, base: makeID(LiveKit, cfg.App, unique)}
	need := func(what string, v string) error {
		if v == "" {
			return livebill.Errorf(livebill.EINVALID, "livekit webhook %s: %s: missing", ev.Event, what)
		}
		return nil
	}
	switch ev.Event {
	case "participant_joined", "participant_left", "participant_connection_aborted":
		if err := errors.Join(need("room.name", room), need("participant.identity", user)); err != nil {
			return nil, err
		}
		if ev.Event == "participant_joined" {
			b.join(room, user)
		} else {
			b.leave(room, user)
		}
	case "track_published", "track_unpublished":
		if err := errors.Join(need("room.name", room), need("participant.identity", user)); err != nil {
			return nil, err
		}
		if ev.Track == nil {
			return nil, livebill.Errorf(livebill.EINVALID, "livekit webhook %s: track: missing", ev.Event)
		}
		t := ev.Track
		stream, media, ok := t.stream()
		if !ok {
			return nil, nil
		}
		if ev.Event == "track_unpublished" {
			b.stop(room, user, stream, media)
			break
		}
		sz := Size{t.Width, t.Height}
		if sz.Width <= 0 || sz.Height <= 0 {
			sz = cfg.Main
			if stream == livebill.StreamScreen {
				sz = cfg.Screen
			}
		}
		b.start(room, user, stream, media, sz)
	case "room_finished":
		if err := need("room.name", room); err != nil {
			return nil, err
		}
		b.leave(room, Everyone)
	case "egress_started", "egress_ended":
		if ev.EgressInfo == nil || ev.EgressInfo.EgressID == "" {
			return nil, livebill.Errorf(livebill.EINVALID, "livekit webhook %s: egressInfo.egressId: missing", ev.Event)
		}
		r := ev.EgressInfo.RoomName
		if r == "" {
			r = room
		}
		if err := need("egressInfo.roomName", r); err != nil {
			return nil, err
		}
		b.recording(ev.Event == "egress_started", r, ev.EgressInfo.EgressID)
	}
	return b.out, nil
}
