// Package admission decides in real time whether a join, a publish, a
// recording or a session may start (POST /v1/authorize), and holds the
// concurrency leases of cloud-gaming sessions, live pushes and industrial
// remote operation.
//
// Decide is the rules, pure: it reads Facts (the app's service status, its
// editions, its rooms' occupancy, what it has purchased) and answers allow
// or deny with a reason, and what lease or reservation an allowed action
// takes. Service keeps the facts in memory, current from the store and the
// ingested events, and takes leases in the store (livebill.LeaseStore),
// where servers sharing a database see them.
package admission

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// Facts are what a decision about one app reads, all in memory.
type Facts struct {
	Now time.Time
	// Status is the app's service status; nil is serving.
	Status  *livebill.ServiceStatus
	Catalog *catalog.Catalog
	// Editions maps a product (rtc-engine, call, conference, live) to the
	// app's plan of it valid now; a product missing is on its trial.
	Editions map[string]string
	// Rooms is the app's live occupancy; nil is empty rooms.
	Rooms *Rooms
	// Concurrency is the units held now by pool: cloud-gaming plans by
	// PoolOf (plan and region), live push by PoolLivePush.
	Concurrency map[string]int
	// Licences are the valid industrial licences bound to each device.
	Licences map[string]int
	// Cameras are each registered device's cameras.
	Cameras map[string][]livebill.Size
}

// Verdict is a decision and what an allowed action takes.
type Verdict struct {
	*livebill.Decision
	// Lease, when the action takes one: the pool and its capacity.
	Lease *LeaseNeed
	// ReserveJoin / ReservePublish: count the user in the room (as a
	// publisher) until its event arrives.
	ReserveJoin, ReservePublish bool
}

// LeaseNeed is the lease an allowed action takes.
type LeaseNeed struct {
	Pool     string
	Capacity int
	Holder   string
}

// Pools.
const (
	// PoolLivePush is the pool of cloud-gaming live-push concurrencies.
	PoolLivePush = "cloudgaming.live_push"
	// LivePushPlan is the live-push concurrency plan.
	LivePushPlan = "cloudgaming.live_push"
)

// PoolOf names the pool of a cloud-gaming concurrency plan in a region.
func PoolOf(plan, region string) string { return plan + "@" + region }

// operatorPool names an industrial device's operator seat.
func operatorPool(device string) string { return "industrial.operator@" + device }

// DefaultProduct is the product whose edition decides when a request
// names none.
const DefaultProduct = "rtc-engine"

// edition returns the app's edition of a product now: its plan id and
// table (nil when the catalog has none for it).
func (f *Facts) edition(product string) (string, *catalog.Edition) {
	if product == "" {
		product = DefaultProduct
	}
	plan := f.Editions[product]
	if plan == "" {
		plan = product + ".trial"
	}
	e, _ := f.Catalog.Edition(plan)
	return plan, e
}

// noRooms is the occupancy of an app with no room: read, never changed.
var noRooms = NewRooms()

func (f *Facts) roomsOrNone() *Rooms {
	if f.Rooms == nil {
		return noRooms
	}
	return f.Rooms
}

func allow() Verdict { return Verdict{Decision: livebill.Allowed()} }

func deny(reason, edition, format string, args ...any) Verdict {
	d := livebill.Denied(reason, fmt.Sprintf(format, args...))
	d.Edition = edition
	return Verdict{Decision: d}
}

// Decide applies the admission rules to one request. An error is a
// request that cannot be decided (an unknown cloud-gaming spec, device or
// feature), not a denial.
func Decide(in *livebill.AuthorizeInput, f *Facts) (Verdict, error) {
	if st := f.Status; st != nil && !st.Serving() {
		reason := st.Reason
		if reason == "" {
			reason = livebill.DenyAppStopped
		}
		return deny(reason, "", "app %s does not serve: account %s, app %s", in.App, st.AccountState, orDash(st.AppState)), nil
	}
	now := f.Now.UnixMilli()
	switch in.Action {
	case livebill.ActionRoomJoin:
		return decideJoin(in, f, now), nil
	case livebill.ActionStreamStart:
		return decidePublish(in, f, now), nil
	case livebill.ActionSubscribeStart:
		if in.Width > 0 && in.Height > 0 {
			return checkArea(in, f, "receiving"), nil
		}
		return allow(), nil
	case livebill.ActionRecordingStart, livebill.ActionTranscodeStart:
		return allow(), nil // basic functions of every edition (seed 003)
	case livebill.ActionRelayStart:
		if in.Destination == livebill.DestThirdParty {
			return needFeature(f, DefaultProduct, "third_party_relay"), nil
		}
		return allow(), nil
	case livebill.ActionInputStart:
		return needFeature(f, DefaultProduct, "input_stream"), nil
	case livebill.ActionScreenshot:
		return needFeature(f, DefaultProduct, "screenshot"), nil
	case livebill.ActionFeatureUse:
		if !f.Catalog.HasFeature(in.Feature) {
			return Verdict{}, livebill.Errorf(livebill.EINVALID, "feature: catalog %s declares no feature %q%s", f.Catalog.Name, in.Feature, featureList(f.Catalog))
		}
		return needFeature(f, in.Product, in.Feature), nil
	case livebill.ActionCloudGamingStart:
		return decideSession(in, f)
	case livebill.ActionCloudGamingPush:
		if _, ok := f.Catalog.Plan(LivePushPlan); !ok {
			return Verdict{}, livebill.Errorf(livebill.EINVALID, "action: catalog %s sells no live-push concurrency", f.Catalog.Name)
		}
		n := f.Concurrency[PoolLivePush]
		if n == 0 {
			return deny(livebill.DenyNoConcurrency, "", "no live-push concurrency is held now: a push beyond the purchased count is refused (seed 000)"), nil
		}
		v := allow()
		v.Lease = &LeaseNeed{Pool: PoolLivePush, Capacity: n, Holder: in.User}
		return v, nil
	case livebill.ActionIndustrialOperate:
		return decideOperate(in, f)
	}
	return Verdict{}, livebill.Errorf(livebill.EINVALID, "action: unknown %q", in.Action)
}

// decideJoin: room size, active rooms and a live room's audience (seed
// 003: conference 单房间最大人数 and 活跃房间数, live 最大直播间数量 and 每个
// 房间最大观众数; a call 1v1 edition has no group calls). A user already in
// the room is let in again without counting twice.
func decideJoin(in *livebill.AuthorizeInput, f *Facts, now int64) Verdict {
	plan, e := f.edition(in.Product)
	rooms := f.roomsOrNone()
	if rooms.Present(in.Room, in.User, now) {
		return allow()
	}
	if e != nil {
		users := rooms.Users(in.Room, now)
		if e.MaxRoomUsers != nil && int64(users) >= *e.MaxRoomUsers {
			return deny(livebill.DenyRoomFull, plan, "room %s has %d users, the most %s allows in one room", in.Room, users, plan)
		}
		if users == 0 && e.ActiveRooms != nil {
			if n := rooms.ActiveRooms(now); int64(n) >= *e.ActiveRooms {
				return deny(livebill.DenyActiveRooms, plan, "app %s has %d active rooms, the most %s allows; room %s would be one more", in.App, n, plan, in.Room)
			}
		}
		if e.AudiencePerRoom != nil && in.Role != livebill.RoleAnchor {
			if a := users - rooms.Publishers(in.Room, now); int64(a) >= *e.AudiencePerRoom {
				return deny(livebill.DenyAudienceFull, plan, "room %s has an audience of %d, the most %s allows", in.Room, a, plan)
			}
		}
	}
	v := allow()
	// a reservation only where a room limit could refuse the next join
	v.ReserveJoin = e != nil && (e.MaxRoomUsers != nil || e.ActiveRooms != nil || e.AudiencePerRoom != nil)
	return v
}

// decidePublish: the video size the edition allows (2K/4K only in
// rtc-engine pro, 1080P in live lite/standard, HD/FHD in conference
// lite/standard) and a live room's co-hosts (连麦).
func decidePublish(in *livebill.AuthorizeInput, f *Facts, now int64) Verdict {
	if in.Media != livebill.MediaAudio {
		if v := checkArea(in, f, "publishing"); !v.Allow {
			return v
		}
	}
	plan, e := f.edition(in.Product)
	rooms := f.roomsOrNone()
	if e != nil && e.MaxPublishers != nil && !rooms.Publishing(in.Room, in.User, now) {
		if n := rooms.Publishers(in.Room, now); int64(n) >= *e.MaxPublishers {
			return deny(livebill.DenyPublishersFull, plan, "room %s has %d users publishing, the most %s allows", in.Room, n, plan)
		}
	}
	v := allow()
	v.ReservePublish = e != nil && e.MaxPublishers != nil
	return v
}

// checkArea refuses a video larger than the edition's max_video_area.
func checkArea(in *livebill.AuthorizeInput, f *Facts, what string) Verdict {
	plan, e := f.edition(in.Product)
	area := int64(in.Width) * int64(in.Height)
	if e != nil && e.MaxVideoArea != nil && area > *e.MaxVideoArea {
		return deny(livebill.DenyResolution, plan, "%s %d×%d (%d px) is above the %d px %s allows (2K and 4K need an edition that has them)",
			what, in.Width, in.Height, area, *e.MaxVideoArea, plan)
	}
	return allow()
}

// needFeature allows an action only if the product's edition unlocks the
// feature.
func needFeature(f *Facts, product, feature string) Verdict {
	plan, e := f.edition(product)
	if f.Catalog.Admission == nil {
		return allow() // a catalog without edition tables limits nothing
	}
	if e == nil || !e.Has(feature) {
		return deny(livebill.DenyFeature, plan, "%s is not in %s (%s)", feature, plan, f.Catalog.Admission.Features[feature])
	}
	return allow()
}

func featureList(c *catalog.Catalog) string {
	if c.Admission == nil || len(c.Admission.Features) == 0 {
		return ""
	}
	names := make([]string, 0, len(c.Admission.Features))
	for n := range c.Admission.Features {
		names = append(names, n)
	}
	sort.Strings(names)
	return " (features: " + strings.Join(names, ", ") + ")"
}

// decideSession: a cloud-gaming session takes a lease on a concurrency of
// its spec, quality and region (seed 000: one concurrency runs one player
// at a time).
func decideSession(in *livebill.AuthorizeInput, f *Facts) (Verdict, error) {
	plan, err := SessionPlan(f.Catalog, in.Spec, in.Quality)
	if err != nil {
		return Verdict{}, err
	}
	pool := PoolOf(plan, in.Region)
	n := f.Concurrency[pool]
	if n == 0 {
		return deny(livebill.DenyNoConcurrency, "", "no %s concurrency is held in region %q now", plan, in.Region), nil
	}
	v := allow()
	v.Lease = &LeaseNeed{Pool: pool, Capacity: n, Holder: in.User}
	return v, nil
}

// SessionPlan finds the cloud-gaming concurrency plan of a spec and
// quality: cloudgaming.<family>.<spec>.<quality>, the spec with its family
// (desktop.s1) or without (s1).
func SessionPlan(c *catalog.Catalog, spec, quality string) (string, error) {
	var found []string
	for _, p := range c.Plans {
		if !strings.HasPrefix(p.ID, "cloudgaming.") || p.ID == LivePushPlan {
			continue
		}
		if p.ID == "cloudgaming."+spec+"."+quality || strings.HasSuffix(p.ID, "."+spec+"."+quality) && p.Edition == spec+"."+quality {
			found = append(found, p.ID)
		}
	}
	if len(found) != 1 {
		var known []string
		for _, p := range c.Plans {
			if strings.HasPrefix(p.ID, "cloudgaming.") && p.ID != LivePushPlan {
				known = append(known, strings.TrimPrefix(p.ID, "cloudgaming."))
			}
		}
		if len(found) > 1 {
			return "", livebill.Errorf(livebill.EINVALID, "spec: %q with quality %q is ambiguous (%s): give its family, e.g. desktop.%s", spec, quality, strings.Join(found, ", "), spec)
		}
		if len(known) == 0 {
			return "", livebill.Errorf(livebill.EINVALID, "action: catalog %s sells no cloud-gaming concurrency", c.Name)
		}
		return "", livebill.Errorf(livebill.EINVALID, "spec, quality: catalog %s has no concurrency %q in quality %q (known: %s)", c.Name, spec, quality, strings.Join(known, ", "))
	}
	return found[0], nil
}

// decideOperate: a device serves at most its valid licences × 921,600 px
// of camera video, none with no licence, and one remote operator at a
// time (seed 001: 同一时刻只能有一个远端设备进行操控).
func decideOperate(in *livebill.AuthorizeInput, f *Facts) (Verdict, error) {
	cams, ok := f.Cameras[in.Device]
	if !ok {
		return Verdict{}, livebill.Errorf(livebill.ENOTFOUND, "device: %q is not a registered device of the account", in.Device)
	}
	var area int64
	if len(in.Cameras) > 0 {
		for _, c := range in.Cameras {
			area += int64(c.Width) * int64(c.Height)
		}
	} else {
		for _, c := range cams {
			area += c.Area()
		}
	}
	lic := f.Licences[in.Device]
	per := f.Catalog.LicenceArea
	if per <= 0 {
		per = 921600
	}
	if lic == 0 {
		return deny(livebill.DenyNoLicence, "", "device %s has no valid licence: no service (seed 001)", in.Device), nil
	}
	if area > int64(lic)*per {
		return deny(livebill.DenyLicenceArea, "", "device %s pushes %d px of camera video; its %d valid licences serve at most %d px", in.Device, area, lic, int64(lic)*per), nil
	}
	v := allow()
	v.Lease = &LeaseNeed{Pool: operatorPool(in.Device), Capacity: 1, Holder: in.User}
	return v, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
