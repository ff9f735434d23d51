package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/livebill/livebill"
)

// VerifyTRTC checks the Sign header of a TRTC callback:
// base64(HMAC-SHA256(key, raw body)), compared in constant time.
// https://cloud.tencent.com/document/product/647/90450 (签名校验示例).
func VerifyTRTC(body []byte, sign, key string) error {
	if sign == "" || key == "" {
		return ErrSignature
	}
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return ErrSignature
	}
	if !hmac.Equal(got, SignTRTC(body, key)) {
		return ErrSignature
	}
	return nil
}

// SignTRTC computes the raw HMAC-SHA256 of body with key.
func SignTRTC(body []byte, key string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return m.Sum(nil)
}

// TRTC room and media callback event types
// (https://cloud.tencent.com/document/product/647/51586).
const (
	trtcCreateRoom  = 101
	trtcDismissRoom = 102
	trtcEnterRoom   = 103
	trtcExitRoom    = 104
	trtcChangeRole  = 105
	trtcStartVideo  = 201
	trtcStopVideo   = 202
	trtcStartAudio  = 203
	trtcStopAudio   = 204
	trtcStartAssist = 205
	trtcStopAssist  = 206
	trtcStartRecord = 301
	trtcStopRecord  = 302

	trtcRoleAudience = 21
)

// TRTCCallback is the documented envelope.
type TRTCCallback struct {
	EventGroupId int           `json:"EventGroupId"`
	EventType    int           `json:"EventType"`
	CallbackTs   int64         `json:"CallbackTs"`
	EventInfo    TRTCEventInfo `json:"EventInfo"`
}

// TRTCEventInfo is EventInfo; RoomId is a number or a string.
type TRTCEventInfo struct {
	RoomId       flexString `json:"RoomId"`
	EventTs      int64      `json:"EventTs"`   // s
	EventMsTs    int64      `json:"EventMsTs"` // ms
	UserId       flexString `json:"UserId"`
	UniqueId     flexString `json:"UniqueId"`
	Role         int        `json:"Role"`
	TerminalType int        `json:"TerminalType"`
	UserType     int        `json:"UserType"`
	Reason       int        `json:"Reason"`
	TaskId       flexString `json:"TaskId"`
}

// MapTRTC maps one verified TRTC callback to events. Event types it does
// not bill (101 room creation, other groups) give none. The event time is
// EventMsTs (EventTs in seconds when absent), never the callback time:
// Tencent's own example sends an exit's callback before the enter's.
func MapTRTC(cfg *Config, body []byte) ([]Event, error) {
	var cb TRTCCallback
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "trtc callback: %v", err)
	}
	in := cb.EventInfo
	ms := in.EventMsTs
	if ms == 0 {
		ms = in.EventTs * 1000
	}
	room, user := string(in.RoomId), string(in.UserId)
	if cb.EventType == trtcCreateRoom || cb.EventType/100 > 3 || cb.EventType < 100 {
		return nil, nil
	}
	if ms <= 0 {
		return nil, livebill.Errorf(livebill.EINVALID, "trtc callback %d: EventInfo.EventMsTs: missing", cb.EventType)
	}
	if room == "" {
		return nil, livebill.Errorf(livebill.EINVALID, "trtc callback %d: EventInfo.RoomId: missing", cb.EventType)
	}
	needUser := cb.EventType != trtcDismissRoom && cb.EventType != trtcStartRecord && cb.EventType != trtcStopRecord
	if needUser && user == "" {
		return nil, livebill.Errorf(livebill.EINVALID, "trtc callback %d: EventInfo.UserId: missing", cb.EventType)
	}
	// Tencent gives no event id: the vendor fields that make the event
	// unique do (a retry repeats them exactly).
	b := &builder{cfg: cfg, ms: ms, base: makeID(TRTC, cfg.App, strconv.Itoa(cb.EventType), room, user,
		strconv.FormatInt(ms, 10), string(in.TaskId), strconv.Itoa(in.Role))}
	switch cb.EventType {
	case trtcDismissRoom:
		b.leave(room, Everyone)
	case trtcEnterRoom:
		b.join(room, user)
	case trtcExitRoom:
		b.leave(room, user) // a leave stops the user's streams (SPEC §7.1)
	case trtcChangeRole:
		if in.Role == trtcRoleAudience { // an audience member publishes nothing
			b.stop(room, user, livebill.StreamMain, "")
			b.stop(room, user, livebill.StreamScreen, "")
		}
	case trtcStartVideo:
		b.start(room, user, livebill.StreamMain, livebill.MediaVideo, cfg.Main)
	case trtcStopVideo:
		b.stop(room, user, livebill.StreamMain, livebill.MediaVideo)
	case trtcStartAudio:
		b.start(room, user, livebill.StreamMain, livebill.MediaAudio, Size{})
	case trtcStopAudio:
		b.stop(room, user, livebill.StreamMain, livebill.MediaAudio)
	case trtcStartAssist:
		b.start(room, user, livebill.StreamScreen, livebill.MediaVideo, cfg.Screen)
	case trtcStopAssist:
		b.stop(room, user, livebill.StreamScreen, "")
	case trtcStartRecord, trtcStopRecord:
		task := string(in.TaskId)
		if task == "" {
			return nil, livebill.Errorf(livebill.EINVALID, "trtc callback %d: EventInfo.TaskId: missing", cb.EventType)
		}
		b.recording(cb.EventType == trtcStartRecord, room, task)
	default:
		return nil, nil
	}
	return b.out, nil
}

// String names a callback for logs.
func (cb *TRTCCallback) String() string {
	return fmt.Sprintf("trtc %d room %s user %s", cb.EventType, cb.EventInfo.RoomId, cb.EventInfo.UserId)
}
