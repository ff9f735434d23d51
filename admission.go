package livebill

import (
	"context"
	"errors"
	"time"
)

// Admission decides, before something starts, whether it may: a user
// joining a room, a stream or task starting, a cloud-gaming session, a
// remote operator taking a field device (POST /v1/authorize). Media servers
// call it on their join path, so it answers from memory.

// Actions admission decides.
const (
	ActionRoomJoin          = "room.join"
	ActionStreamStart       = "stream.start"
	ActionSubscribeStart    = "subscribe.start"
	ActionRecordingStart    = "recording.start"
	ActionTranscodeStart    = "transcode.start"
	ActionRelayStart        = "relay.start"
	ActionInputStart        = "input.start"
	ActionScreenshot        = "screenshot"
	ActionFeatureUse        = "feature.use"
	ActionCloudGamingStart  = "cloudgaming.session.start"
	ActionCloudGamingPush   = "cloudgaming.push.start"
	ActionIndustrialOperate = "industrial.operate"
)

// Actions lists the actions admission knows, for messages.
var Actions = []string{ActionRoomJoin, ActionStreamStart, ActionSubscribeStart, ActionRecordingStart,
	ActionTranscodeStart, ActionRelayStart, ActionInputStart, ActionScreenshot, ActionFeatureUse,
	ActionCloudGamingStart, ActionCloudGamingPush, ActionIndustrialOperate}

// Roles of a user joining a room (live: the audience is limited per room).
const (
	RoleAudience = "audience"
	RoleAnchor   = "anchor"
)

// Denial reasons, machine-readable, besides the ServiceStatus reasons
// (account_suspended, account_reclaimed, trial_exhausted, app_disabled).
const (
	DenyAppStopped           = "app_stopped"               // the app does not serve, for a reason the status does not name
	DenyRoomFull             = "room_full"                 // the edition's users per room reached
	DenyActiveRooms          = "active_rooms_exceeded"     // a new room beyond the edition's active rooms
	DenyAudienceFull         = "audience_full"             // live: the edition's audience per room reached
	DenyPublishersFull       = "publishers_full"           // live: the edition's co-hosts reached
	DenyResolution           = "resolution_not_in_edition" // a video larger than the edition allows (2K/4K)
	DenyFeature              = "feature_not_in_edition"    // a feature the edition does not unlock
	DenyNoConcurrency        = "no_concurrency"            // nothing of that spec/quality/region (or live push) held
	DenyConcurrencyExhausted = "concurrency_exhausted"     // every purchased concurrency is leased
	DenyNoLicence            = "no_licence"                // industrial: no valid licence bound to the device
	DenyLicenceArea          = "resolution_above_licence"  // industrial: cameras above licences × 921,600 px
	DenyDeviceBusy           = "device_busy"               // industrial: another remote operator holds the device
	DenyLeaseEnded           = "lease_ended"               // the lease id names a lease already released or expired
)

// AuthorizeInput asks whether an action may start. Which fields matter
// depends on the action; Validate names the missing ones.
type AuthorizeInput struct {
	App    string `json:"app"`
	Action string `json:"action"`
	// Product whose edition decides room limits, resolutions and
	// features: rtc-engine (default), call, conference or live.
	Product string `json:"product,omitempty"`
	Room    string `json:"room,omitempty"`
	User    string `json:"user,omitempty"`
	// Role of a joining user: audience (default) or anchor; a live
	// room's audience is limited per room.
	Role      string `json:"role,omitempty"`
	Stream    string `json:"stream,omitempty"` // main, small, screen
	Media     string `json:"media,omitempty"`  // audio, video
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
	Publisher string `json:"publisher,omitempty"`
	Task      string `json:"task,omitempty"`
	// Destination of a relay: tencent or third_party.
	Destination string `json:"destination,omitempty"`
	// Feature of feature.use (admission.features of the catalog).
	Feature string `json:"feature,omitempty"`
	// Cloud gaming: spec (s1, m1, l1, ms1, mm1, mp1, ml1, or with its
	// family: desktop.s1), quality (standard, hd, uhd) and region.
	Spec    string `json:"spec,omitempty"`
	Quality string `json:"quality,omitempty"`
	Region  string `json:"region,omitempty"`
	// Industrial: the device and the cameras it pushes (default: every
	// camera registered for the device).
	Device  string       `json:"device,omitempty"`
	Cameras []CameraSize `json:"cameras,omitempty"`
	// Lease is the client's id for the lease an action takes
	// (cloud-gaming sessions and pushes, industrial operation): asking
	// again with the same id returns the same lease.
	Lease string `json:"lease,omitempty"`
	// TTLMS is how long the lease lasts without a renewal (default and
	// bounds: the server's).
	TTLMS int64 `json:"ttl_ms,omitempty"`
}

// CameraSize is a camera's resolution in requests.
type CameraSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// LeaseAction reports whether an action takes a lease.
func LeaseAction(action string) bool {
	switch action {
	case ActionCloudGamingStart, ActionCloudGamingPush, ActionIndustrialOperate:
		return true
	}
	return false
}

// Validate reports every problem with the input, joined.
func (in *AuthorizeInput) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, Errorf(EINVALID, format, args...)) }
	need := func(field, v string) {
		if v == "" {
			bad("%s: missing (needed by %s)", field, in.Action)
		}
	}
	// ids are kept in memory and in the lease tables: bounded like every
	// id (limits.go)
	for _, f := range []struct{ name, v string }{{"app", in.App}, {"action", in.Action}, {"room", in.Room}, {"user", in.User},
		{"publisher", in.Publisher}, {"task", in.Task}, {"feature", in.Feature}, {"spec", in.Spec}, {"quality", in.Quality},
		{"region", in.Region}, {"device", in.Device}, {"lease", in.Lease}, {"product", in.Product}, {"role", in.Role},
		{"stream", in.Stream}, {"media", in.Media}, {"destination", in.Destination}} {
		if err := CheckText(f.name, f.v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // the messages below quote fields
	}
	if in.App == "" {
		bad("app: missing")
	}
	switch in.Product {
	case "", "rtc-engine", "call", "conference", "live":
	default:
		bad("product: must be rtc-engine, call, conference or live, not %s", Shown(in.Product))
	}
	switch in.Role {
	case "", RoleAudience, RoleAnchor:
	default:
		bad("role: must be audience or anchor, not %s", Shown(in.Role))
	}
	if in.Width < 0 || in.Height < 0 || int64(in.Width)*int64(in.Height) > MaxVideoArea {
		bad("width, height: must not be negative, and width × height at most %d pixels", int64(MaxVideoArea))
	}
	if len(in.Cameras) > MaxListLen {
		bad("cameras: %d, at most %d", len(in.Cameras), MaxListLen)
	}
	for i, c := range in.Cameras {
		if c.Width <= 0 || c.Height <= 0 || int64(c.Width)*int64(c.Height) > MaxVideoArea {
			bad("cameras[%d]: width and height must be positive, and width × height at most %d pixels", i, int64(MaxVideoArea))
		}
	}
	if in.TTLMS < 0 {
		bad("ttl_ms: negative")
	}
	switch in.Action {
	case ActionRoomJoin:
		need("room", in.Room)
		need("user", in.User)
	case ActionStreamStart:
		need("room", in.Room)
		need("user", in.User)
		switch in.Stream {
		case "", StreamMain, StreamSmall, StreamScreen:
		default:
			bad("stream: must be main, small or screen, not %s", Shown(in.Stream))
		}
		switch in.Media {
		case MediaAudio:
		case "", MediaVideo:
			if in.Width == 0 || in.Height == 0 {
				bad("width, height: needed for a video stream (media: audio for an audio stream)")
			}
		default:
			bad("media: must be audio or video, not %s", Shown(in.Media))
		}
	case ActionSubscribeStart:
		need("room", in.Room)
		need("user", in.User)
		need("publisher", in.Publisher)
	case ActionRecordingStart, ActionTranscodeStart:
		need("room", in.Room)
	case ActionRelayStart:
		need("room", in.Room)
		switch in.Destination {
		case DestTencent, DestThirdParty:
		case "":
			bad("destination: missing (tencent or third_party)")
		default:
			bad("destination: must be tencent or third_party, not %s", Shown(in.Destination))
		}
	case ActionInputStart:
		need("room", in.Room)
	case ActionScreenshot:
	case ActionFeatureUse:
		need("feature", in.Feature)
	case ActionCloudGamingStart:
		need("spec", in.Spec)
		need("quality", in.Quality)
		need("lease", in.Lease)
	case ActionCloudGamingPush:
		need("lease", in.Lease)
	case ActionIndustrialOperate:
		need("device", in.Device)
		need("lease", in.Lease)
	case "":
		bad("action: missing (one of %v)", Actions)
	default:
		bad("action: unknown %s (one of %v)", Shown(in.Action), Actions)
	}
	return errors.Join(errs...)
}

// Decision is admission's answer. A denial is an answer, not an error:
// Allow false with a machine-readable Reason and a Message for people.
type Decision struct {
	Allow   bool   `json:"allow"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Edition is the plan whose edition table decided, when one did.
	Edition string `json:"edition,omitempty"`
	// Lease is the lease taken (or, denied with lease_ended, the lease
	// the id names).
	Lease *Lease `json:"lease,omitempty"`
}

// Allowed returns an allowing decision.
func Allowed() *Decision { return &Decision{Allow: true} }

// Denied returns a denial.
func Denied(reason, message string) *Decision {
	return &Decision{Reason: reason, Message: message}
}

// Lease is a concurrency held by one session: a slot of a pool (a
// purchased cloud-gaming concurrency of a spec, quality and region; the
// live-push concurrencies; an industrial device's one operator seat),
// until it is released or runs Ends without a renewal.
type Lease struct {
	Account string `json:"account"`
	ID      string `json:"id"`
	App     string `json:"app"`
	Kind    string `json:"kind"` // the action that took it
	Pool    string `json:"pool"`
	Slot    int    `json:"slot"`
	// Holder is the subject: the user or the device.
	Holder   string    `json:"holder,omitempty"`
	Acquired time.Time `json:"acquired"`
	// Ends is when the lease runs out unless renewed; for a released
	// lease, when it was released.
	Ends     time.Time `json:"ends"`
	Released bool      `json:"released,omitempty"`
}

// Held reports whether the lease is held at instant t.
func (l *Lease) Held(t time.Time) bool { return !l.Released && l.Ends.After(t) }

// AcquireLeaseInput takes a slot of a pool for a lease.
type AcquireLeaseInput struct {
	Account, ID, App, Kind, Pool, Holder string
	// Capacity is how many slots the pool has now (what is purchased).
	Capacity int
	Now      time.Time
	Ends     time.Time
	// Metered: the catalog meters this kind of lease, so its start and
	// stop are to be stored as usage events (LeaseMeter).
	Metered bool
}

// LeaseStore keeps leases where every server sees them: a slot is
// granted atomically in the database, so servers sharing it never grant
// more than a pool's capacity, and a lease survives a restart. Every
// lease granted stays in the history (LeaseHistory).
type LeaseStore interface {
	// AcquireLease takes a free slot (never taken, released, or expired
	// at in.Now) for lease in.ID, held until in.Ends. When the account
	// already has a lease with that id it is returned as it is (its Ends
	// moved to in.Ends if it is held and later), granted false; a
	// lease id of another pool is a conflict. With no free slot it
	// returns nil, false.
	AcquireLease(ctx context.Context, in *AcquireLeaseInput) (l *Lease, granted bool, err error)
	// RenewLease moves a held lease's end to ends (never earlier). A
	// lease that is released or expired at now cannot be renewed: a
	// conflict (its slot may be someone else's); an unknown id, or a
	// lease of another app, is not found.
	RenewLease(ctx context.Context, account, app, id string, now, ends time.Time) (*Lease, error)
	// ReleaseLease ends a held lease at now and frees its slot. Releasing
	// a lease that already ended returns it unchanged; an unknown id, or
	// a lease of another app, is not found.
	ReleaseLease(ctx context.Context, account, app, id string, now time.Time) (*Lease, error)
	// FindLease returns a lease or ENOTFOUND.
	FindLease(ctx context.Context, account, id string) (*Lease, error)
	// ListLeases returns the account's leases held at now, by pool and
	// slot.
	ListLeases(ctx context.Context, account string, now time.Time) ([]*Lease, error)
	// PageLeases returns a page of ListLeases's list (by pool and slot:
	// a slot is held by one lease at a time) and the cursor of the next.
	PageLeases(ctx context.Context, account string, now time.Time, p Page) ([]*Lease, string, error)
	// LeaseHistory returns every lease of a pool ever granted, by
	// acquisition time: held from Acquired to Ends (a lease that was
	// neither released nor renewed in time ended at its Ends).
	LeaseHistory(ctx context.Context, account, pool string) ([]*Lease, error)
	// UnmeteredLeases returns up to limit metered leases whose usage
	// events are not all stored: those not started yet (MeterStarted
	// false) and those ended at now whose stop is not stored.
	UnmeteredLeases(ctx context.Context, now time.Time, limit int) ([]UnmeteredLease, error)
	// SetLeaseMetered records that a lease's start (stopped false) or
	// stop (true) event is stored.
	SetLeaseMetered(ctx context.Context, account, id string, stopped bool) error
}

// UnmeteredLease is a metered lease and how far its usage events are
// stored.
type UnmeteredLease struct {
	Lease
	MeterStarted bool // its session.start is stored
}

// Authorizer decides admission and keeps leases.
type Authorizer interface {
	// Authorize decides whether in.Action may start now for the account
	// that owns in.App (onlyAccount "" for an operator, else the only
	// account whose apps the caller may name: another account's app is
	// not found, as an unknown one).
	Authorize(ctx context.Context, onlyAccount string, in *AuthorizeInput) (*Decision, error)
	// RenewLease renews a held lease of app for ttl (0: the default).
	RenewLease(ctx context.Context, onlyAccount, app, id string, ttl time.Duration) (*Lease, error)
	// ReleaseLease releases a lease of app.
	ReleaseLease(ctx context.Context, onlyAccount, app, id string) (*Lease, error)
	// PageLeases returns a page of the account's leases held now, by
	// pool and slot, and the cursor of the next.
	PageLeases(ctx context.Context, accountID string, p Page) ([]*Lease, string, error)
}
