package admission

import (
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/rating"
)

// Limits is what an account's purchases allow at an instant, and until
// when that holds: its apps' editions, its cloud-gaming and live-push
// concurrencies, its devices' licences and cameras. It changes only at a
// period's start or end or a refund, so it is computed once per such
// instant (or purchase, refund or device added), not per decision.
type Limits struct {
	At, Until   time.Time
	Editions    map[string]map[string]string // app → product → plan id
	Concurrency map[string]int               // pool → units held
	Licences    map[string]int               // device → valid licences
	Cameras     map[string][]livebill.Size   // device → cameras
}

// editionProducts are the products whose plans are editions with tables.
func editionProduct(cat *catalog.Catalog, p *catalog.Plan) bool {
	if p.Product == "" || strings.HasPrefix(p.ID, "cloudgaming.") || p.Product == "industrial" {
		return false
	}
	_, ok := cat.Edition(p.ID)
	return ok || strings.HasSuffix(p.ID, ".trial")
}

// ComputeLimits works out the limits of an account's purchases at instant
// at (rating.Schedule's periods, auto-renewals and refunds). A refund of a
// TRTC plan (a 5-day refund) ends its edition at the refund's time:
// admission does not run the deduction that decides whether the gift
// minutes were untouched.
func ComputeLimits(in *rating.Input, at time.Time) (*Limits, error) {
	cat, loc := in.Catalog, in.Location
	if loc == nil {
		loc = cat.Location()
	}
	l := &Limits{At: at, Until: at.Add(time.Hour), Editions: map[string]map[string]string{},
		Concurrency: map[string]int{}, Licences: map[string]int{}, Cameras: map[string][]livebill.Size{}}
	for _, d := range in.Devices {
		l.Cameras[d.ID] = d.Cameras
	}
	byID := map[string]livebill.Purchase{}
	for _, p := range in.Purchases {
		byID[p.ID] = p
	}
	// TRTC plan refunds end the plan; the others go through Schedule.
	planEnds := map[string]time.Time{}
	var refunds []livebill.RefundRequest
	for _, rf := range in.Refunds {
		p, ok := byID[rf.Plan]
		if plan, known := cat.Plan(p.Plan); ok && known && plan.RefundDays > 0 {
			if e, had := planEnds[rf.Plan]; !had || rf.Time.Before(e) {
				planEnds[rf.Plan] = rf.Time
			}
			continue
		}
		refunds = append(refunds, rf)
	}
	insts, err := rating.Schedule(cat, loc, in.Purchases, refunds, in.Devices, at.Add(time.Nanosecond))
	if err != nil {
		return nil, fmt.Errorf("cannot work out the purchases valid at %s: %w", at.Format(time.RFC3339), err)
	}
	next := func(t time.Time) {
		if t.After(at) && t.Before(l.Until) {
			l.Until = t
		}
	}
	type pick struct {
		plan  string
		start time.Time
		trial bool
	}
	picks := map[[2]string]pick{}
	for i := range insts {
		x := &insts[i]
		end := x.End
		if e, ok := planEnds[x.Purchase.ID]; ok && e.Before(end) {
			end = e
		}
		next(x.Start)
		next(end)
		for _, r := range x.Returned {
			next(r.Time)
		}
		if at.Before(x.Start) || !at.Before(end) {
			continue
		}
		p := x.Plan
		switch {
		case p.ID == LivePushPlan:
			l.Concurrency[PoolLivePush] += x.CountAt(at)
		case strings.HasPrefix(p.ID, "cloudgaming."):
			l.Concurrency[PoolOf(p.ID, x.Purchase.Region)] += x.CountAt(at)
		case p.Product == "industrial":
			if x.Purchase.Device != "" {
				l.Licences[x.Purchase.Device] += x.CountAt(at)
			}
		case editionProduct(cat, p):
			// one edition per product at a time (SPEC §4); should two be
			// valid, a paid one wins over a trial, then the later start
			k := [2]string{x.Purchase.App, p.Product}
			old, had := picks[k]
			if !had || (old.trial && !p.Trial) || (old.trial == p.Trial && x.Start.After(old.start)) {
				picks[k] = pick{p.ID, x.Start, p.Trial}
			}
		}
	}
	for k, p := range picks {
		if l.Editions[k[0]] == nil {
			l.Editions[k[0]] = map[string]string{}
		}
		l.Editions[k[0]][k[1]] = p.plan
	}
	return l, nil
}
