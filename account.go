package livebill

import "time"

// Account is a customer of the platform. Dates are calendar dates in the
// billing zone (time.Time at 00:00 of that zone).
type Account struct {
	ID        string
	Created   time.Time // decides the free-pack ratio table and free tiers
	Activated time.Time // anchors the monthly free pack; defaults to Created
	Balance   string    // decimal, in the catalog currency
	Timezone  string    // overrides the catalog's billing zone when set
}

// Device is an industrial field device and its cameras.
type Device struct {
	ID      string
	Cameras []Size
}

// Size is a video resolution.
type Size struct {
	Width, Height int
}

// Area is the pixel area w×h that resolution tiers are decided on.
func (s Size) Area() int64 { return int64(s.Width) * int64(s.Height) }

// Purchase is a prepaid thing bought: a TRTC plan, cloud-gaming or
// live-push concurrency, an industrial licence.
type Purchase struct {
	ID        string
	App       string
	Plan      string // plan id, e.g. "rtc-engine.pro", "industrial.license"
	Count     int    // concurrencies or licences; 0 = default (1, or derived)
	Region    string
	Device    string
	Start     time.Time // purchase instant (a date means 00:00 in the billing zone)
	AutoRenew bool
}

// RefundRequest asks to return (part of) a purchase.
type RefundRequest struct {
	Plan  string // purchase id
	Count int
	Time  time.Time
}
