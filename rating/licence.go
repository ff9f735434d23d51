package rating

import (
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// This file answers "how much may this account use right now?" for the
// prepaid products that admission will check: an industrial device's valid
// licences (SPEC §5: expired licences reduce what the device is served)
// and the concurrencies held of a plan (live push: a push beyond the
// purchased count is refused).

// LicenceState is what an industrial device may use at an instant.
type LicenceState struct {
	Device string
	// Licences is the count of the device's bound licences valid at the
	// instant (purchases and renewals whose period contains it).
	Licences int
	// MaxArea is Licences × the catalog's licence area (921,600 px): the
	// largest aggregate video area served. 0 means no service.
	MaxArea int64
	// NextExpiry is the end of the earliest-ending valid period, when the
	// count drops next unless renewed; zero when nothing is valid.
	NextExpiry time.Time
}

// Serves reports whether the device may push an aggregate video area now.
func (s LicenceState) Serves(area int64) bool {
	return s.Licences > 0 && area <= s.MaxArea
}

// DeviceLicences returns the licences of a device valid at instant at:
// every industrial licence purchase bound to the device whose period (or
// auto-renewal) contains at, counted as bought or derived from the
// device's cameras (LicencesFor). Periods are half-open: a licence bought
// on 2024-01-01 is valid until 2025-01-01 00:00, not at that instant.
func DeviceLicences(cat *catalog.Catalog, loc *time.Location, purchases []livebill.Purchase, devices []livebill.Device, device string, at time.Time) (LicenceState, error) {
	st := LicenceState{Device: device}
	known := false
	for _, d := range devices {
		known = known || d.ID == device
	}
	if !known {
		return st, livebill.Errorf(livebill.ENOTFOUND, "unknown device %q", device)
	}
	if loc == nil {
		loc = cat.Location()
	}
	var bound []livebill.Purchase
	for _, p := range purchases {
		if p.Device != device {
			continue
		}
		if plan, ok := cat.Plan(p.Plan); ok && plan.Product != "industrial" {
			continue
		}
		bound = append(bound, p)
	}
	insts, err := Schedule(cat, loc, bound, nil, devices, at.Add(time.Nanosecond))
	if err != nil {
		return st, err
	}
	for i := range insts {
		in := &insts[i]
		if at.Before(in.Start) || !at.Before(in.End) {
			continue
		}
		st.Licences += in.CountAt(at)
		if st.NextExpiry.IsZero() || in.End.Before(st.NextExpiry) {
			st.NextExpiry = in.End
		}
	}
	area := cat.LicenceArea
	if area <= 0 {
		area = 921600
	}
	st.MaxArea = int64(st.Licences) * area
	return st, nil
}

// Concurrency returns how many units of a plan the account holds at
// instant at: the counts of the purchases (and renewals) of that plan whose
// period contains at, less the units refunded at or before at. Cloud-gaming
// live push uses it: a push beyond this count is refused.
func Concurrency(cat *catalog.Catalog, loc *time.Location, purchases []livebill.Purchase, refunds []livebill.RefundRequest, plan string, at time.Time) (int, error) {
	if _, ok := cat.Plan(plan); !ok {
		return 0, livebill.Errorf(livebill.ENOTFOUND, "catalog %s has no plan %q", cat.Name, plan)
	}
	if loc == nil {
		loc = cat.Location()
	}
	var ps []livebill.Purchase
	ids := map[string]bool{}
	for _, p := range purchases {
		if p.Plan == plan {
			ps = append(ps, p)
			ids[p.ID] = true
		}
	}
	var rfs []livebill.RefundRequest
	for _, rf := range refunds {
		if ids[rf.Plan] {
			rfs = append(rfs, rf)
		}
	}
	insts, err := Schedule(cat, loc, ps, rfs, nil, at.Add(time.Nanosecond))
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range insts {
		in := &insts[i]
		if !at.Before(in.Start) && at.Before(in.End) {
			n += in.CountAt(at)
		}
	}
	return n, nil
}
