package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Freshness: a signed callback can be replayed by whoever captured it, so
// a callback whose own timestamp (the time the vendor sent or signed it,
// not its event time) is further than a window from the server's clock,
// in either direction, is refused. The vendors retry within about a
// minute (TRTC: for one minute; Agora: three retries; LiveKit: a few,
// with a token valid five minutes), so the default window covers their
// retries and ordinary clock skew.

// DefaultWindow is the freshness window when the server sets none.
const DefaultWindow = 5 * time.Minute

// ErrStale is returned for a callback whose timestamp is missing or
// outside the window (HTTP 401, like a bad signature).
var ErrStale = errors.New("webhook callback is not fresh")

// checkWindow reports whether at (the callback's timestamp named field,
// Unix ms; 0 if absent) is within window of now.
func checkWindow(field string, at int64, now time.Time, window time.Duration) error {
	if at <= 0 {
		return fmt.Errorf("%w: %s missing", ErrStale, field)
	}
	t := time.UnixMilli(at)
	d := now.Sub(t)
	switch {
	case d > window:
		return fmt.Errorf("%w: %s %s is %s before the server's clock (window %s)", ErrStale, field, t.UTC().Format(time.RFC3339), d.Round(time.Second), window)
	case -d > window:
		return fmt.Errorf("%w: %s %s is %s after the server's clock (window %s)", ErrStale, field, t.UTC().Format(time.RFC3339), (-d).Round(time.Second), window)
	}
	return nil
}

// CheckTRTCTime checks a verified TRTC callback's CallbackTs (ms: when
// Tencent sent it, in the signed body) against now. TRTC's room and media
// callbacks carry no other timestamp of their own (headers: Sign and
// SdkAppId only).
func CheckTRTCTime(body []byte, now time.Time, window time.Duration) error {
	return checkBodyTime(body, "CallbackTs", now, window)
}

// CheckAgoraTime checks a verified Agora NCS notification's notifyMs (ms:
// when Agora sent it, in the signed body) against now.
func CheckAgoraTime(body []byte, now time.Time, window time.Duration) error {
	return checkBodyTime(body, "notifyMs", now, window)
}

// checkBodyTime checks the body's top-level field, a time in Unix ms.
func checkBodyTime(body []byte, field string, now time.Time, window time.Duration) error {
	var top map[string]json.RawMessage
	var ms int64
	if err := json.Unmarshal(body, &top); err != nil {
		return fmt.Errorf("%w: %s unreadable", ErrStale, field)
	}
	if raw, ok := top[field]; ok {
		if err := json.Unmarshal(raw, &ms); err != nil {
			return fmt.Errorf("%w: %s must be a time in milliseconds", ErrStale, field)
		}
	}
	return checkWindow(field, ms, now, window)
}

// CheckLiveKitTime checks a verified LiveKit webhook token's nbf (when
// LiveKit signed it: its tokens are valid from their minting for five
// minutes) against now. VerifyLiveKit already requires exp and nbf and
// checks the token is valid at now.
func CheckLiveKitTime(authorization string, now time.Time, window time.Duration) error {
	c, err := ParseLiveKitToken(authorization)
	if err != nil {
		return err
	}
	if c.Nbf > math.MaxInt64/1000 {
		return fmt.Errorf("%w: token nbf %d is after the server's clock (window %s)", ErrStale, c.Nbf, window)
	}
	return checkWindow("token nbf", c.Nbf*1000, now, window)
}
