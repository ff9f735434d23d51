package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/livebill/livebill"
)

// VerifyAgora checks the Agora-Signature-V2 header of an NCS
// notification: hex(HMAC-SHA256(secret, raw body)), compared in constant
// time (https://docs.agora.io/cn/Video/signature_verify).
func VerifyAgora(body []byte, sig, secret string) error {
	if sig == "" || secret == "" {
		return ErrSignature
	}
	got, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(sig)))
	if err != nil || len(got) != sha256.Size { // not an HMAC-SHA256: no need to hash the body
		return ErrSignature
	}
	if !hmac.Equal(got, SignAgora(body, secret)) {
		return ErrSignature
	}
	return nil
}

// SignAgora computes the raw HMAC-SHA256 of body with secret.
func SignAgora(body []byte, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// AgoraNotice is an NCS notification (RTC channel events, productId 1).
type AgoraNotice struct {
	NoticeID  string `json:"noticeId"`
	ProductID int    `json:"productId"`
	EventType int    `json:"eventType"`
	NotifyMs  int64  `json:"notifyMs"`
	Sid       string `json:"sid"`
	Payload   struct {
		ChannelName string     `json:"channelName"`
		UID         flexString `json:"uid"`
		Platform    int        `json:"platform"`
		ClientSeq   int64      `json:"clientSeq"`
		Ts          int64      `json:"ts"` // s
		Reason      int        `json:"reason"`
	} `json:"payload"`
}

// Agora RTC channel event types
// (https://docs.agora.io/en/video-calling/channel-management-api/webhook/channel-event-type).
const (
	agoraChannelCreate    = 101
	agoraChannelDestroy   = 102
	agoraBroadcasterJoin  = 103
	agoraBroadcasterLeave = 104
	agoraAudienceJoin     = 105
	agoraAudienceLeave    = 106
	agoraCommJoin         = 107
	agoraCommLeave        = 108
	agoraToBroadcaster    = 111
	agoraToAudience       = 112
)

// MapAgora maps one verified NCS notification to events. Agora reports
// presence and roles, not media: a broadcaster (or communication user) is
// assumed to publish the app's Publish (video at Main, or audio) while it
// is one. Times are payload.ts (seconds); a user's events are ordered by
// clientSeq, which the id carries for Normalizer. Ids derive from
// noticeId, which Agora repeats on retries.
func MapAgora(cfg *Config, body []byte) ([]Event, error) {
	var n AgoraNotice
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "agora notification: %v", err)
	}
	if n.ProductID != 1 || n.EventType < agoraChannelCreate || n.EventType > agoraToAudience {
		return nil, nil // recording, CDN push, …: not RTC channel events
	}
	p := n.Payload
	room, user := p.ChannelName, string(p.UID)
	if n.EventType == agoraChannelCreate {
		return nil, nil
	}
	if p.Ts <= 0 {
		return nil, livebill.Errorf(livebill.EINVALID, "agora notification %d: payload.ts: missing", n.EventType)
	}
	if room == "" {
		return nil, livebill.Errorf(livebill.EINVALID, "agora notification %d: payload.channelName: missing", n.EventType)
	}
	if n.EventType != agoraChannelDestroy && user == "" {
		return nil, livebill.Errorf(livebill.EINVALID, "agora notification %d: payload.uid: missing", n.EventType)
	}
	unique := n.NoticeID
	if unique == "" {
		unique = string(body)
	}
	base := makeID(Agora, cfg.App, unique, strconv.Itoa(n.EventType))
	if p.ClientSeq > 0 { // wh:agora:s<seq>:<hash>
		base = IDPrefix + Agora + ":s" + strconv.FormatInt(p.ClientSeq, 10) + ":" + strings.TrimPrefix(base, IDPrefix+Agora+":")
	}
	b := &builder{cfg: cfg, ms: p.Ts * 1000, base: base}
	publish := func() {
		b.start(room, user, livebill.StreamMain, cfg.Publish, cfg.Main)
	}
	switch n.EventType {
	case agoraChannelDestroy:
		b.leave(room, Everyone)
	case agoraBroadcasterJoin, agoraCommJoin:
		b.join(room, user)
		publish()
	case agoraAudienceJoin:
		b.join(room, user)
	case agoraBroadcasterLeave, agoraAudienceLeave, agoraCommLeave:
		b.leave(room, user)
	case agoraToBroadcaster:
		publish()
	case agoraToAudience:
		b.stop(room, user, livebill.StreamMain, "")
	default:
		return nil, nil
	}
	return b.out, nil
}

// agoraSeq reads the clientSeq an Agora event id carries (0 if none).
func agoraSeq(id string) int64 {
	rest, ok := strings.CutPrefix(id, IDPrefix+Agora+":s")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ":")
	n, _ := strconv.ParseInt(num, 10, 64)
	return n
}
