package rating

import (
	"fmt"
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
	Count      int
	Start, End time.Time
}

// Instances expands purchases into their paid periods within [from, to):
// the first period starts at 00:00 of the purchase day; auto-renewing
// purchases renew at each period's end, keeping the anchor day.
func Instances(cat *catalog.Catalog, loc *time.Location, purchases []livebill.Purchase, devices []livebill.Device, to time.Time) ([]Instance, error) {
	var out []Instance
	for _, p := range purchases {
		plan, ok := cat.Plan(p.Plan)
		if !ok {
			return nil, livebill.Errorf(livebill.ENOTFOUND, "purchase %s: catalog %s has no plan %q", p.ID, cat.Name, p.Plan)
		}
		count, err := purchaseCount(cat, p, devices)
		if err != nil {
			return nil, err
		}
		mo, yr, dy, _ := catalog.ParsePeriod(plan.Period)
		start := midnight(p.Start, loc)
		for n := 0; ; n++ {
			s := AddPeriod(start, mo, yr, dy, n)
			if n > 0 && (!p.AutoRenew || !s.Before(to)) {
				break
			}
			out = append(out, Instance{Purchase: p, Plan: plan, Count: count, Start: s, End: AddPeriod(start, mo, yr, dy, n+1)})
		}
	}
	return out, nil
}

// purchaseCount is the number bought; an industrial licence's count is
// derived from its device's cameras unless given (SPEC §5).
func purchaseCount(cat *catalog.Catalog, p livebill.Purchase, devices []livebill.Device) (int, error) {
	if p.Count < 0 {
		return 0, livebill.Errorf(livebill.EINVALID, "purchase %s: count must not be negative", p.ID)
	}
	if p.Count > 0 {
		return p.Count, nil
	}
	if p.Device == "" {
		return 1, nil
	}
	for _, d := range devices {
		if d.ID == p.Device {
			return LicencesFor(d.Cameras, cat.LicenceArea), nil
		}
	}
	return 0, livebill.Errorf(livebill.ENOTFOUND, "purchase %s: unknown device %q", p.ID, p.Device)
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
// quote's period, and a refund bill for every refund request.
func (q *quoter) purchases() error {
	insts, err := Instances(q.cat, q.loc, q.in.Purchases, q.in.Devices, q.in.To)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.Start.Before(q.in.From) || !in.Start.Before(q.in.To) {
			continue
		}
		q.seq++
		bk := billKey{kind: livebill.BillPurchase, date: in.Start.Format(time.DateOnly), seq: q.seq}
		n := money.Int(int64(in.Count))
		price := in.Plan.PriceValue()
		q.line(bk, in.Plan.ID, unitOf(q.cat, in.Plan), price, money.One, n, n.Mul(price))
	}
	for _, rf := range q.in.Refunds {
		if err := q.refund(rf, insts); err != nil {
			return err
		}
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

// refund returns part of a purchase at the plan's hourly rate (cloud gaming,
// SPEC §5): max(0, price − ceil(hours since the period's start) × rate)
// per unit returned.
func (q *quoter) refund(rf livebill.RefundRequest, insts []Instance) error {
	var in *Instance
	for i := range insts {
		x := &insts[i]
		if x.Purchase.ID == rf.Plan && !rf.Time.Before(x.Start) && rf.Time.Before(x.End) {
			in = x
		}
	}
	if in == nil {
		return livebill.Errorf(livebill.ENOTFOUND, "refund: no running purchase %q at %s", rf.Plan, rf.Time.Format(time.RFC3339))
	}
	count := rf.Count
	if count == 0 {
		count = in.Count
	}
	if count < 0 || count > in.Count {
		return livebill.Errorf(livebill.EINVALID, "refund of %s: count %d is more than the %d bought", rf.Plan, count, in.Count)
	}
	rate, ok := in.Plan.HourlyRefundValue()
	if !ok {
		return livebill.Errorf(livebill.ECONFLICT, "refund of %s: plan %s has no refund rule in catalog %s", rf.Plan, in.Plan.ID, q.cat.Name)
	}
	perUnit := RefundPerUnit(in.Plan.PriceValue(), rate, in.Start, rf.Time)
	q.seq++
	bk := billKey{kind: livebill.BillPurchase, date: rf.Time.In(q.loc).Format(time.DateOnly), seq: q.seq}
	n := money.Int(int64(count))
	q.line(bk, in.Plan.ID+".refund", unitOf(q.cat, in.Plan), perUnit.Neg(), money.One, n, perUnit.Mul(n).Neg())
	return nil
}

// RefundPerUnit is max(0, price − ceil(hours from start to at) × hourly).
func RefundPerUnit(price, hourly money.Decimal, start, at time.Time) money.Decimal {
	ms := at.Sub(start).Milliseconds()
	hours := money.CeilDiv(ms, int64(time.Hour/time.Millisecond))
	r := price.Sub(money.Int(hours).Mul(hourly))
	if r.IsNegative() {
		return money.Zero
	}
	return r
}

var _ = fmt.Sprint
