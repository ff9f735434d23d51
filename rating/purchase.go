package rating

import (
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/money"
)

// Instance is one paid period of a purchase: the purchase itself or an
// auto-renewal.
type Instance struct {
	Purchase   livebill.Purchase
	Plan       *catalog.Plan
	Count      int // units paid for this period (renewals renew what was not returned)
	Start, End time.Time
	// Returned lists the units refunded during this period, in time order.
	Returned []Returned
	// Refunded: a TRTC plan period refunded in full (SPEC §4); its gift
	// minutes go back with the money, so it grants no pack.
	Refunded bool
}

// Returned is a refund applied to a period: count units returned at Time.
type Returned struct {
	Time  time.Time
	Count int
	// PerUnit is the refund of one unit (SPEC §5), never negative.
	PerUnit money.Decimal
}

// CountAt returns the units of the period held at instant t: the period's
// count less the units returned at or before t. It does not check that t is
// inside the period.
func (in *Instance) CountAt(t time.Time) int {
	n := in.Count
	for _, r := range in.Returned {
		if !r.Time.After(t) {
			n -= r.Count
		}
	}
	return n
}

// Instances expands purchases into their paid periods, the renewals
// starting before to included: the first period starts at 00:00 of the
// purchase day; auto-renewing purchases renew at each period's end, keeping
// the anchor day (SPEC §1).
func Instances(cat *catalog.Catalog, loc *time.Location, purchases []livebill.Purchase, devices []livebill.Device, to time.Time) ([]Instance, error) {
	return Schedule(cat, loc, purchases, nil, devices, to)
}

// Schedule is Instances with refund requests applied: each refund is
// checked against the period running at its time (the units still held in
// that period) and recorded in the period's Returned; an auto-renewal
// renews only the units not returned, and a purchase whose units were all
// returned does not renew. A refund that names no purchase, falls outside
// every period, asks for more units than are held, or targets a plan with
// no refund rule is an error naming the purchase and the plan.
func Schedule(cat *catalog.Catalog, loc *time.Location, purchases []livebill.Purchase, refunds []livebill.RefundRequest, devices []livebill.Device, to time.Time) ([]Instance, error) {
	byPurchase := map[string][]livebill.RefundRequest{}
	ids := map[string]bool{}
	for _, p := range purchases {
		ids[p.ID] = true
	}
	for _, rf := range refunds {
		if !ids[rf.Plan] {
			known := make([]string, 0, len(purchases))
			for _, p := range purchases {
				known = append(known, p.ID)
			}
			sort.Strings(known)
			return nil, livebill.Errorf(livebill.ENOTFOUND, "refund of %q: no purchase with that id (purchases: %s)", rf.Plan, listOrNone(known))
		}
		if rf.Count < 0 {
			return nil, livebill.Errorf(livebill.EINVALID, "refund of %s: count %d must not be negative", rf.Plan, rf.Count)
		}
		byPurchase[rf.Plan] = append(byPurchase[rf.Plan], rf)
	}
	var out []Instance
	for _, p := range purchases {
		plan, ok := cat.Plan(p.Plan)
		if !ok {
			return nil, livebill.Errorf(livebill.ENOTFOUND, "purchase %s: catalog %s has no plan %q", p.ID, cat.Name, p.Plan)
		}
		count, err := purchaseCount(cat, p, plan, devices)
		if err != nil {
			return nil, err
		}
		rfs := byPurchase[p.ID]
		sort.SliceStable(rfs, func(i, j int) bool { return rfs[i].Time.Before(rfs[j].Time) })
		// Renewals are generated up to the quote's end and, for refunds,
		// up to the last refund of the purchase.
		horizon := to
		if len(rfs) > 0 && !rfs[len(rfs)-1].Time.Before(horizon) {
			horizon = rfs[len(rfs)-1].Time.Add(time.Nanosecond)
		}
		mo, yr, dy, _ := catalog.ParsePeriod(plan.Period)
		start := midnight(p.Start, loc)
		next := 0 // next refund of rfs to apply
		held := count
		for n := 0; held > 0; n++ {
			s, e := AddPeriod(start, mo, yr, dy, n), AddPeriod(start, mo, yr, dy, n+1)
			if n > 0 && (!p.AutoRenew || !s.Before(horizon)) {
				break
			}
			in := Instance{Purchase: p, Plan: plan, Count: held, Start: s, End: e}
			for ; next < len(rfs) && rfs[next].Time.Before(e); next++ {
				rf := rfs[next]
				if rf.Time.Before(s) {
					return nil, notRunning(p, plan, rf, start, AddPeriod(start, mo, yr, dy, 1), p.AutoRenew)
				}
				if held == 0 {
					return nil, livebill.Errorf(livebill.EINVALID,
						"refund of %s (plan %s) at %s: every unit was already returned", p.ID, plan.ID, rf.Time.Format(time.RFC3339))
				}
				c := rf.Count
				if c == 0 {
					c = held // a refund without a count returns every unit held
				}
				if c > held {
					return nil, livebill.Errorf(livebill.EINVALID,
						"refund of %s (plan %s) at %s: count %d is more than the %d units held (%d bought for the period starting %s)",
						p.ID, plan.ID, rf.Time.Format(time.RFC3339), c, held, in.Count, s.Format(time.DateOnly))
				}
				rate, ok := plan.HourlyRefundValue()
				if !ok {
					return nil, livebill.Errorf(livebill.ECONFLICT,
						"refund of %s: plan %s is not refundable (catalog %s has no refund rule for it)", p.ID, plan.ID, cat.Name)
				}
				held -= c
				in.Returned = append(in.Returned, Returned{Time: rf.Time, Count: c,
					PerUnit: RefundPerUnit(plan.PriceValue(), rate, s, rf.Time)})
			}
			out = append(out, in)
		}
		if next < len(rfs) {
			rf := rfs[next]
			if held == 0 {
				return nil, livebill.Errorf(livebill.EINVALID,
					"refund of %s (plan %s) at %s: every unit was already returned", p.ID, plan.ID, rf.Time.Format(time.RFC3339))
			}
			return nil, notRunning(p, plan, rf, start, AddPeriod(start, mo, yr, dy, 1), p.AutoRenew)
		}
	}
	return out, nil
}

func notRunning(p livebill.Purchase, plan *catalog.Plan, rf livebill.RefundRequest, start, end time.Time, renews bool) error {
	when := "its period runs from " + start.Format(time.RFC3339) + " to " + end.Format(time.RFC3339)
	if renews {
		when = "it runs from " + start.Format(time.RFC3339) + ", renewing"
	}
	return livebill.Errorf(livebill.ECONFLICT, "refund of %s (plan %s): not running at %s (%s)",
		p.ID, plan.ID, rf.Time.Format(time.RFC3339), when)
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// purchaseCount is the number bought; an industrial licence's count is
// derived from its device's cameras unless given (SPEC §5), and a licence
// must name its device.
func purchaseCount(cat *catalog.Catalog, p livebill.Purchase, plan *catalog.Plan, devices []livebill.Device) (int, error) {
	if p.Count < 0 {
		return 0, livebill.Errorf(livebill.EINVALID, "purchase %s: count must not be negative", p.ID)
	}
	licence := DeviceBound(cat, plan)
	if licence && p.Device == "" {
		return 0, livebill.Errorf(livebill.EINVALID, "purchase %s: plan %s needs the device the licences are bound to", p.ID, plan.ID)
	}
	var dev *livebill.Device
	if p.Device != "" {
		for i := range devices {
			if devices[i].ID == p.Device {
				dev = &devices[i]
			}
		}
		if dev == nil {
			return 0, livebill.Errorf(livebill.ENOTFOUND, "purchase %s: unknown device %q", p.ID, p.Device)
		}
	}
	if p.Count > 0 {
		return p.Count, nil
	}
	if dev == nil {
		return 1, nil
	}
	for i, c := range dev.Cameras {
		if c.Width <= 0 || c.Height <= 0 {
			return 0, livebill.Errorf(livebill.EINVALID, "device %s: cameras[%d]: width and height must be positive", dev.ID, i)
		}
	}
	return LicencesFor(dev.Cameras, cat.LicenceArea), nil
}

// DeviceBound reports whether a plan's units are bound to a field device:
// an industrial licence (SPEC §5), whose purchase names its device.
func DeviceBound(cat *catalog.Catalog, plan *catalog.Plan) bool {
	return cat.LicenceArea > 0 && plan.Product == "industrial"
}

// PerApp reports whether a plan is bought for one app: a TRTC plan, whose
// gift minutes, MAU allowance or trial belong to the app it was bought
// for (SPEC §4: "plans are per app"). Other plans — the monitoring
// dashboard, cloud-gaming concurrencies, industrial licences — are
// account-wide: their purchase may name an app, and need not.
func PerApp(cat *catalog.Catalog, plan *catalog.Plan) bool {
	return isTRTCPlans(cat) && (plan.Trial || plan.GiftMinutes > 0 || plan.MAU > 0)
}

// LicencesFor returns max(1, round_half_up(Σ camera areas / licenceArea)):
// the industrial licences a device needs (seed 001: 1.67 → 2).
func LicencesFor(cameras []livebill.Size, licenceArea int64) int {
	if licenceArea <= 0 {
		licenceArea = 921600
	}
	var sum int64
	for _, c := range cameras {
		sum += c.Area()
	}
	// round half up of sum/area in integers: floor((2·sum + area) / (2·area))
	n := int((2*sum + licenceArea) / (2 * licenceArea))
	return max(n, 1)
}

// purchases adds a purchase bill for every paid period starting in the
// quote's period, and a refund bill for every refund made in it.
func (q *quoter) purchases() error {
	insts, err := Schedule(q.cat, q.loc, q.in.Purchases, q.in.Refunds, q.in.Devices, q.in.To)
	if err != nil {
		return err
	}
	type refundLine struct {
		in *Instance
		r  Returned
	}
	var refunds []refundLine
	for i := range insts {
		in := &insts[i]
		for _, r := range in.Returned {
			refunds = append(refunds, refundLine{in, r})
		}
		if in.Start.Before(q.in.From) || !in.Start.Before(q.in.To) {
			continue
		}
		q.seq++
		bk := billKey{kind: livebill.BillPurchase, date: in.Start.Format(time.DateOnly), seq: q.seq}
		n := money.Int(int64(in.Count))
		price := in.Plan.PriceValue()
		q.line(bk, in.Plan.ID, unitOf(q.cat, in.Plan), price, 1, n, n.Mul(price))
	}
	// Refund bills in the order of the requests' times.
	sort.SliceStable(refunds, func(i, j int) bool { return refunds[i].r.Time.Before(refunds[j].r.Time) })
	for _, rl := range refunds {
		if rl.r.Time.Before(q.in.From) || !rl.r.Time.Before(q.in.To) {
			continue
		}
		q.seq++
		bk := billKey{kind: livebill.BillPurchase, date: rl.r.Time.In(q.loc).Format(time.DateOnly), seq: q.seq}
		n := money.Int(int64(rl.r.Count))
		q.line(bk, rl.in.Plan.ID+".refund", unitOf(q.cat, rl.in.Plan), rl.r.PerUnit.Neg(), 1, n, rl.r.PerUnit.Mul(n).Neg())
	}
	return nil
}

func unitOf(cat *catalog.Catalog, p *catalog.Plan) string {
	if it, ok := cat.Item(p.ID); ok && it.Unit != "" {
		return it.Unit
	}
	switch cat.Name {
	case "cloudgaming":
		return "concurrency"
	case "industrial":
		return "licence"
	}
	return "plan"
}

// RefundPerUnit is max(0, price − ceil(hours from start to at) × hourly):
// every started hour of the period counts in full (100 h 1 ms → 101 h).
func RefundPerUnit(price, hourly money.Decimal, start, at time.Time) money.Decimal {
	d := at.Sub(start)
	hours := int64(d / time.Hour)
	if d%time.Hour > 0 {
		hours++
	}
	if hours < 0 {
		hours = 0
	}
	r := price.Sub(money.Int(hours).Mul(hourly))
	if r.IsNegative() {
		return money.Zero
	}
	return r
}
