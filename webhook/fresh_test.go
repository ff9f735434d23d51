package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Freshness on the vendors' own vectors: each is accepted with the
// server's clock near its timestamp and refused (ErrStale, naming the
// field) once the clock is more than the window away, either way.
func TestFreshnessVectors(t *testing.T) {
	// TRTC's documented body (CallbackTs 1615554923704 ms), verified with
	// the Sign of TestTRTCSign; Agora's documented body (notifyMs
	// 1560408533119 ms) with its published Agora-Signature-V2; LiveKit's
	// receiver-test token (nbf 1628545903 s, exp 1628546203 s).
	const window = 5 * time.Minute
	for _, c := range []struct {
		name   string
		at     time.Time
		verify func() error
		check  func(now time.Time) error
		field  string
	}{
		{"trtc", time.UnixMilli(1615554923704),
			func() error { return VerifyTRTC([]byte(trtcDocBody), trtcDocSign, "livebillTestKey123") },
			func(now time.Time) error { return CheckTRTCTime([]byte(trtcDocBody), now, window) }, "CallbackTs"},
		{"agora", time.UnixMilli(1560408533119),
			func() error { return VerifyAgora([]byte(agoraDocBody), agoraDocSig, "secret") },
			func(now time.Time) error { return CheckAgoraTime([]byte(agoraDocBody), now, window) }, "notifyMs"},
		{"livekit", time.Unix(1628545903, 0),
			func() error {
				return VerifyLiveKit([]byte(lkBody), lkToken, "abcdefg", "abababa", time.Unix(1628545950, 0))
			},
			func(now time.Time) error { return CheckLiveKitTime(lkToken, now, window) }, "nbf"},
	} {
		if err := c.verify(); err != nil {
			t.Fatalf("%s: the vector does not verify: %v", c.name, err)
		}
		for _, ok := range []time.Duration{0, 2 * time.Second, window, -window} {
			if err := c.check(c.at.Add(ok)); err != nil {
				t.Errorf("%s: clock %s from its timestamp: %v, want fresh", c.name, ok, err)
			}
		}
		for _, off := range []time.Duration{window + time.Second, -window - time.Second, 365 * 24 * time.Hour} {
			err := c.check(c.at.Add(off))
			if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), c.field) {
				t.Errorf("%s: clock %s from its timestamp: %v, want ErrStale naming %s", c.name, off, err, c.field)
			}
		}
	}
	// a callback without its timestamp is refused too
	if err := CheckTRTCTime([]byte(`{"EventGroupId":1,"EventType":103}`), time.Now(), window); !errors.Is(err, ErrStale) {
		t.Errorf("TRTC without CallbackTs: %v", err)
	}
	if err := CheckAgoraTime([]byte(`{"noticeId":"x"}`), time.Now(), window); !errors.Is(err, ErrStale) {
		t.Errorf("Agora without notifyMs: %v", err)
	}
}

// LiveKit tokens must carry exp and nbf: one without exp would be valid
// forever.
func TestLiveKitRequiresExp(t *testing.T) {
	now := time.Unix(1628545950, 0)
	body := []byte(lkBody)
	claims := func(drop string) map[string]any {
		c := map[string]any{"iss": "abcdefg", "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		delete(c, drop)
		return c
	}
	for _, drop := range []string{"exp", "nbf"} {
		err := VerifyLiveKit(body, SignLiveKitClaims(body, "abababa", claims(drop)), "abcdefg", "abababa", now)
		if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "no exp or nbf") {
			t.Errorf("token without %s: %v, want refused", drop, err)
		}
	}
	if err := VerifyLiveKit(body, SignLiveKitClaims(body, "abababa", claims("")), "abcdefg", "abababa", now); err != nil {
		t.Errorf("token with both: %v", err)
	}
}
