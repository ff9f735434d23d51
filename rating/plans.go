package rating

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/deduct"
	"github.com/livebill/livebill/meter"
	"github.com/livebill/livebill/money"
)

// TRTC plans and packages (SPEC §4). In account mode a TRTC catalog's
// purchases are checked (one edition per product per app at a time, the
// starter promotion's eligibility and cap), the packs are granted (the
// monthly free pack, the gift minutes of paid periods), the deduction
// engine (package deduct) covers A/V, recording, transcoding and delivery
// minutes, apps without a paid plan stop when packs fall short, and MAU is
// compared with the plans' allowances. TRTC plan refunds (5 days, unused,
// once per account) are decided here in every mode.

// Notice codes of plans and packs.
const (
	NoticePlanDowngraded = "plan_downgraded"
	NoticeMAUExceeded    = "mau_exceeded"
)

// GiftPromoUntil is the last purchase day (in the billing zone) whose gift
// minutes cover every app of the account (seed 003: "即日起至2024年12月31日").
// From the next day, gift minutes cover the plan's app only.
const GiftPromoUntil = "2024-12-31"

// ItemMAU is the MAU overage item.
const ItemMAU = "trtc.mau"

// planState is a quote's view of its TRTC plans, packs and refunds.
type planState struct {
	insts   []Instance // TRTC plan periods, ends cut by refunds
	ded     *deduct.Result
	refunds []refundDecision
}

// refundDecision is the outcome of a TRTC plan refund request.
type refundDecision struct {
	req  livebill.RefundRequest
	inst *Instance
	err  error // the refusal, a coded ECONFLICT error; nil if refunded
}

// isTRTCPlans reports whether the catalog sells TRTC plans (SPEC §4).
func isTRTCPlans(cat *catalog.Catalog) bool { return cat.Metering == "trtc" }

// paidAV reports whether a plan is a paid A/V plan: one that keeps an app
// running past its packs (postpaid overage instead of a service stop).
func paidAV(p *catalog.Plan) bool { return !p.Trial && p.GiftMinutes > 0 }

// plans prepares the TRTC plans of the quote: it takes the TRTC plan
// refunds out of the generic refund path, decides them, checks the plan
// rules and runs the deduction engine (account mode).
func (q *quoter) plans() error {
	if !isTRTCPlans(q.cat) {
		return nil
	}
	q.pl = &q.plans0
	st := q.pl
	// TRTC plan refunds are decided here; the others stay in q.in.Refunds.
	byID := map[string]livebill.Purchase{}
	for _, p := range q.in.Purchases {
		byID[p.ID] = p
	}
	var mine, rest []livebill.RefundRequest
	for _, rf := range q.in.Refunds {
		p, ok := byID[rf.Plan]
		plan, known := q.cat.Plan(p.Plan)
		if ok && known && plan.RefundDays > 0 {
			mine = append(mine, rf)
		} else {
			rest = append(rest, rf)
		}
	}
	q.in.Refunds = rest
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Time.Before(mine[j].Time) })

	insts, err := Instances(q.cat, q.loc, q.in.Purchases, q.in.Devices, q.in.To)
	if err != nil {
		return fmt.Errorf("cannot schedule plans: %w", err)
	}
	st.insts = insts
	account := q.in.Mode == ModeAccount
	refunded := false
	for _, rf := range mine {
		if account {
			if st.ded, err = q.deduct(st.insts); err != nil {
				return err
			}
		}
		d := refundDecision{req: rf}
		for i := range st.insts {
			x := &st.insts[i]
			// A refund before the purchase instant (same day) finds no plan.
			if x.Purchase.ID == rf.Plan && !rf.Time.Before(boughtAt(x, q.loc)) && rf.Time.Before(x.End) {
				d.inst = x
			}
		}
		if d.inst == nil {
			return livebill.Errorf(livebill.ECONFLICT, "refund of %s at %s: the plan is not running then", rf.Plan, rf.Time.Format(time.RFC3339))
		}
		d.err = CheckRefund(d.inst, rf.Time, q.loc, refunded, st.ded)
		if d.err == nil {
			refunded = true
			// The refunded period ends now and does not renew.
			// The purchase stops renewing after the refunded period.
			for i := range st.insts {
				x := &st.insts[i]
				if x.Purchase.ID == rf.Plan && x.Start.After(d.inst.Start) {
					x.End = x.Start
				}
			}
			d.inst.End = rf.Time
			d.inst.Refunded = true
			q.stopRenewals(rf.Plan, d.inst.Start)
		}
		st.refunds = append(st.refunds, d)
	}
	if !account {
		return nil
	}
	if err := CheckPlans(q.cat, st.insts, q.loc); err != nil {
		return err
	}
	if st.ded, err = q.deduct(st.insts); err != nil {
		return err
	}
	q.stopNotices()
	q.downgradeNotices()
	return nil
}

// stopRenewals makes purchase id renew no more after its period starting
// at last: a purchase refunded in its first period loses auto_renew; one
// refunded in a renewal becomes one non-renewing purchase per period up to
// that renewal (same id, so the purchase bills stay the same).
func (q *quoter) stopRenewals(id string, last time.Time) {
	var out []livebill.Purchase
	for _, p := range q.in.Purchases {
		if p.ID != id || !p.AutoRenew {
			out = append(out, p)
			continue
		}
		plan, _ := q.cat.Plan(p.Plan)
		mo, yr, dy, _ := catalog.ParsePeriod(plan.Period)
		start := midnight(p.Start, q.loc)
		p.AutoRenew = false
		out = append(out, p)
		for n := 1; ; n++ {
			s := AddPeriod(start, mo, yr, dy, n)
			if s.After(last) {
				break
			}
			r := p
			r.Start = s
			out = append(out, r)
		}
	}
	q.in.Purchases = out
}

// deduct grants the packs of the plan periods and runs the engine over
// the quote's duration records up to its end.
func (q *quoter) deduct(insts []Instance) (*deduct.Result, error) {
	grants, err := Grants(q.cat, q.loc, q.in.Account, q.in.From, q.in.To, insts)
	if err != nil {
		return nil, err
	}
	to := q.in.To.UnixMilli()
	deducted := func(r *meter.Record) bool {
		it, ok := q.cat.Item(r.Item)
		return ok && it.Measure == catalog.MeasureDuration && it.Rounding != catalog.RoundMonth && r.Window < to
	}
	n := 0
	for i := range q.in.Records {
		if deducted(&q.in.Records[i]) {
			n++
		}
	}
	usage := slices.Grow(q.windows[:0], n)
	for i := range q.in.Records {
		if r := &q.in.Records[i]; deducted(r) {
			usage = append(usage, deduct.Window{App: r.App, Item: r.Item, Start: r.Window, MS: r.Value})
		}
	}
	order := q.cat.ItemOrder
	deduct.SortWindows(usage, order) // ours: Run reads it in place
	q.windows = usage                // kept for the next quote (Run's result does not point into it)
	var paid map[string][]Instance
	for _, in := range insts {
		if paidAV(in.Plan) && in.Start.Before(in.End) {
			if paid == nil {
				paid = map[string][]Instance{}
			}
			paid[in.Purchase.App] = append(paid[in.Purchase.App], in)
		}
	}
	// Without paid plans the answers are constant: functions without
	// captures, which need no allocation.
	opt := deduct.Options{Location: q.loc, ItemOrder: order, Paid: noPaidPlan, Resume: noResume, Opening: q.in.Opening}
	if !q.in.StateAt.IsZero() {
		opt.StatesAt = []int64{q.in.StateAt.UnixMilli()}
	}
	if paid != nil {
		loc := q.loc
		opt.Paid = func(app string, at int64) bool {
			for _, in := range paid[app] {
				if at >= in.Start.UnixMilli() && at < in.End.UnixMilli() {
					return true
				}
			}
			return false
		}
		opt.Resume = func(app string, stopped int64) int64 {
			var best int64
			for _, in := range paid[app] {
				b := boughtAt(&in, loc).UnixMilli()
				if b >= stopped && in.End.UnixMilli() > b && (best == 0 || b < best) {
					best = b
				}
			}
			return best
		}
	}
	res, err := deduct.Run(grants, usage, opt)
	if err != nil {
		return nil, fmt.Errorf("cannot deduct packages: %w", err)
	}
	return res, nil
}

func noPaidPlan(string, int64) bool { return false }

func noResume(string, int64) int64 { return 0 }

// Grants returns the packs of an account: a free pack per month for
// free_pack.months months from the activation day (ratio table by the
// creation day; an account without dates is taken as created on the
// period's first day), and the gift minutes of every paid period (A/V
// ratios; scope the plan's app, or every app for periods starting on or
// before GiftPromoUntil). The grants' Ratios are the catalog's parsed
// tables, shared by every account: read-only.
func Grants(cat *catalog.Catalog, loc *time.Location, acct livebill.Account, from, to time.Time, insts []Instance) ([]deduct.Grant, error) {
	var out []deduct.Grant
	created, activated := acct.Created, acct.Activated
	if created.IsZero() {
		created = from
	}
	if activated.IsZero() {
		activated = created
	}
	if fp := cat.FreePack; fp != nil && fp.Minutes > 0 {
		ratios, err := cat.FreePackRatios(midnight(created, loc))
		if err != nil {
			return nil, fmt.Errorf("cannot read the free pack's ratios: %w", err)
		}
		months := fp.Months
		if months <= 0 {
			months = 12
		}
		anchor := midnight(activated, loc)
		for n := 0; n < months; n++ {
			s, e := AddPeriod(anchor, 1, 0, 0, n), AddPeriod(anchor, 1, 0, 0, n+1)
			if !s.Before(to) {
				break
			}
			if out == nil {
				out = make([]deduct.Grant, 0, 1+len(insts)) // a day's free pack, and the periods' gifts
			}
			var id [32]byte
			out = append(out, deduct.Grant{ID: string(s.AppendFormat(append(id[:0], "free-"...), time.DateOnly)), Kind: deduct.KindFree,
				Start: s, End: e, Bought: s, Minutes: fp.Minutes, Ratios: ratios, Seq: len(out)})
		}
	}
	gift, err := cat.GiftRatioValues()
	if err != nil {
		return nil, fmt.Errorf("cannot read gift_ratios: %w", err)
	}
	var promoEnd time.Time // the day after GiftPromoUntil, once a period needs it
	for _, in := range insts {
		if in.Plan.GiftMinutes <= 0 || !in.Start.Before(in.End) || in.Refunded {
			continue
		}
		if promoEnd.IsZero() {
			promoEnd, _ = time.ParseInLocation(time.DateOnly, GiftPromoUntil, loc)
			promoEnd = promoEnd.AddDate(0, 0, 1)
		}
		id := in.Purchase.ID
		if !in.Start.Equal(midnight(in.Purchase.Start, loc)) {
			id += "@" + in.Start.Format(time.DateOnly) // a renewal
		}
		app := in.Purchase.App
		if in.Start.Before(promoEnd) {
			app = ""
		}
		count := max(in.Count, 1)
		out = append(out, deduct.Grant{ID: id, Kind: deduct.KindGift, App: app, Start: in.Start, End: in.End,
			Bought: boughtAt(&in, loc), Minutes: in.Plan.GiftMinutes * int64(count), Ratios: gift, Seq: len(out)})
	}
	return out, nil
}

// CheckPlans enforces the plan rules of SPEC §4 on the TRTC plan periods:
// one edition per product per app at a time (trial editions give way to a
// paid edition), and promotional editions only for accounts that never
// bought one of the plans they exclude, at most promo_max periods.
func CheckPlans(cat *catalog.Catalog, insts []Instance, loc *time.Location) error {
	sorted := make([]*Instance, 0, len(insts))
	for i := range insts {
		if insts[i].Start.Before(insts[i].End) {
			sorted = append(sorted, &insts[i])
		}
	}
	slices.SortStableFunc(sorted, func(a, b *Instance) int { return boughtAt(a, loc).Compare(boughtAt(b, loc)) })
	day := func(t time.Time) string { return t.In(loc).Format(time.DateOnly) }
	for j, b := range sorted {
		if b.Plan.Trial {
			continue
		}
		for _, a := range sorted[:j] {
			if a.Plan.Trial || a.Purchase.ID == b.Purchase.ID || a.Purchase.App != b.Purchase.App ||
				a.Plan.Product != b.Plan.Product || !boughtAt(b, loc).Before(a.End) {
				continue
			}
			return livebill.Errorf(livebill.ECONFLICT,
				"cannot buy %s for app %s (purchase %s, %s): the app's %s edition %s (purchase %s) is valid until %s; one %s edition per app at a time",
				b.Plan.ID, b.Purchase.App, b.Purchase.ID, day(b.Start), a.Plan.Product, a.Plan.ID, a.Purchase.ID, day(a.End), a.Plan.Product)
		}
	}
	count := map[string]int{}
	for _, b := range sorted {
		p := b.Plan
		if len(p.PromoExcludes) == 0 && p.PromoMax == 0 {
			continue
		}
		for _, a := range sorted {
			if !boughtAt(a, loc).Before(boughtAt(b, loc)) {
				break
			}
			for _, x := range p.PromoExcludes {
				if a.Plan.ID == x {
					return livebill.Errorf(livebill.ECONFLICT,
						"cannot buy %s (purchase %s, %s): only for accounts that never bought %s, and purchase %s bought %s on %s",
						p.ID, b.Purchase.ID, day(b.Start), strings.Join(p.PromoExcludes, ", "), a.Purchase.ID, a.Plan.ID, day(a.Start))
				}
			}
		}
		count[p.ID]++
		if p.PromoMax > 0 && count[p.ID] > p.PromoMax {
			what := "purchase"
			if !b.Start.Equal(midnight(b.Purchase.Start, loc)) {
				what = "auto-renewal of purchase"
			}
			return livebill.Errorf(livebill.ECONFLICT,
				"cannot buy %s (%s %s, %s): at most %d purchases per account, this would be the %s",
				p.ID, what, b.Purchase.ID, day(b.Start), p.PromoMax, ordinal(count[p.ID]))
		}
	}
	return nil
}

// boughtAt is the instant a period was bought: the purchase's own time for
// its first period, the period's start for an auto-renewal.
func boughtAt(in *Instance, loc *time.Location) time.Time {
	if in.Start.Equal(midnight(in.Purchase.Start, loc)) {
		return in.Purchase.Start
	}
	return in.Start
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 1:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

// CheckRefund decides a TRTC plan refund (SPEC §4, seed 003 退费说明): the
// period must have started at most refund_days calendar days before the
// request (bought on the 1st: refundable through the 6th), its gift minutes
// must be untouched before the request, and the account must not have had
// such a refund already. ded may be nil (calculator mode: no packs). The
// refusal is an ECONFLICT error naming the reason.
func CheckRefund(in *Instance, at time.Time, loc *time.Location, alreadyRefunded bool, ded *deduct.Result) error {
	plan := in.Plan
	if alreadyRefunded {
		return livebill.Errorf(livebill.ECONFLICT,
			"cannot refund %s (purchase %s): the account already had its one 5-day refund", plan.ID, in.Purchase.ID)
	}
	days := daysBetween(in.Start.In(loc), at.In(loc))
	if days > plan.RefundDays {
		return livebill.Errorf(livebill.ECONFLICT,
			"cannot refund %s (purchase %s): bought on %s, %d days before the request on %s; refunds within %d days only",
			plan.ID, in.Purchase.ID, in.Start.In(loc).Format(time.DateOnly), days, at.In(loc).Format(time.DateOnly), plan.RefundDays)
	}
	if ded != nil {
		for _, p := range ded.Packs {
			if p.Kind == deduct.KindGift && p.Start.Equal(in.Start) && giftOf(p.ID, in) && p.UsedBefore(at) {
				return livebill.Errorf(livebill.ECONFLICT,
					"cannot refund %s (purchase %s): its gift minutes were used (%s pack minutes by %s)",
					plan.ID, in.Purchase.ID, p.Used.String(), at.In(loc).Format(time.RFC3339))
			}
		}
	}
	return nil
}

func giftOf(packID string, in *Instance) bool {
	return packID == in.Purchase.ID || strings.HasPrefix(packID, in.Purchase.ID+"@")
}

// daysBetween counts calendar days from a's date to b's date.
func daysBetween(a, b time.Time) int {
	da := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	db := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

// blocksInPeriod reports whether a stop blocks any of the app's usage in
// the quote's period.
func (q *quoter) blocksInPeriod(app string) bool {
	for _, r := range q.in.Records {
		if r.App == app && q.inPeriod(r.Window) && q.pl.ded.Blocked(app, r.Window) {
			return true
		}
	}
	if !q.in.WithClosed || q.in.Opening == nil {
		return false
	}
	// the records of the closed days are not given: the stops tell
	// whether they blocked usage there
	from := q.in.From.UnixMilli()
	for _, s := range q.pl.ded.Stops {
		if s.App != app || s.FirstBlocked == 0 || s.FirstBlocked >= q.in.Opening.At {
			continue
		}
		if s.FirstBlocked >= from {
			return true
		}
		if s.Resume == 0 || s.Resume > from {
			q.closedUnknown = true // blocking before and after from: unknown
		}
	}
	return false
}

// stopNotices reports service stops and the usage they blocked.
func (q *quoter) stopNotices() {
	for _, s := range q.pl.ded.Stops {
		if s.At > q.in.To.UnixMilli() {
			continue
		}
		if s.At < q.in.From.UnixMilli() && !q.blocksInPeriod(s.App) {
			continue // a stop before the period that blocks nothing in it
		}
		msg := "usage exceeded what packs cover and the app has no paid plan: service stopped at the end of this 5-minute window"
		if s.Resume > 0 {
			msg += fmt.Sprintf("; a new pack or paid plan resumed it at %s", q.fmtTime(s.Resume))
		}
		q.notices = append(q.notices, livebill.Notice{Code: livebill.NoticeServiceStop, App: s.App, Time: q.fmtTime(s.At), Message: msg})
		if s.FirstBlocked == 0 {
			continue
		}
		items := make([]string, 0, len(s.Blocked))
		for it := range s.Blocked {
			items = append(items, it)
		}
		sort.Slice(items, func(i, j int) bool { return q.less(items[i], items[j]) })
		parts := make([]string, 0, len(items))
		for _, it := range items {
			parts = append(parts, fmt.Sprintf("%s %s", it, msString(s.Blocked[it])))
		}
		q.notices = append(q.notices, livebill.Notice{Code: livebill.NoticeBlockedUsage, App: s.App, Time: q.fmtTime(s.FirstBlocked),
			Message: "usage after the service stop was blocked and is not billed: " + strings.Join(parts, ", ")})
	}
}

// downgradeNotices reports rtc-engine paid editions that expire in the
// period without a following paid edition: the app is back on the trial.
func (q *quoter) downgradeNotices() {
	for _, a := range q.pl.insts {
		if a.Plan.Product != "rtc-engine" || a.Plan.Trial || a.End.Before(q.in.From) || !a.End.Before(q.in.To) {
			continue
		}
		next := false
		for _, b := range q.pl.insts {
			if b.Plan.Product == "rtc-engine" && !b.Plan.Trial && b.Purchase.App == a.Purchase.App &&
				!b.Start.After(a.End) && b.End.After(a.End) {
				next = true
			}
		}
		if !next {
			q.notices = append(q.notices, livebill.Notice{Code: NoticePlanDowngraded, App: a.Purchase.App, Time: q.fmtTime(a.End.UnixMilli()),
				Message: fmt.Sprintf("%s (purchase %s) expired; the app is back on rtc-engine.trial", a.Plan.ID, a.Purchase.ID)})
		}
	}
}

func (q *quoter) fmtTime(ms int64) string { return time.UnixMilli(ms).In(q.loc).Format(time.RFC3339) }

func msString(ms int64) string {
	return money.Div(money.Int(ms), money.Int(60000)).String() + " min"
}

// planBills adds the TRTC plan refunds (a refund line, or the notice
// refund_refused with the reason) and the MAU overage.
func (q *quoter) planBills() error {
	if q.pl == nil {
		return nil
	}
	for _, d := range q.pl.refunds {
		if d.req.Time.Before(q.in.From) || !d.req.Time.Before(q.in.To) {
			continue
		}
		if d.err != nil {
			q.notices = append(q.notices, livebill.Notice{Code: livebill.NoticeRefundRefused, App: d.inst.Purchase.App,
				Item: d.inst.Plan.ID, Time: d.req.Time.In(q.loc).Format(time.RFC3339), Message: d.err.Error()})
			continue
		}
		q.seq++
		bk := billKey{kind: livebill.BillPurchase, date: d.req.Time.In(q.loc).Format(time.DateOnly), seq: q.seq}
		n := money.Int(int64(max(d.inst.Count, 1)))
		price := d.inst.Plan.PriceValue()
		q.line(bk, d.inst.Plan.ID+".refund", unitOf(q.cat, d.inst.Plan), price.Neg(), 1, n, price.Mul(n).Neg())
	}
	if q.in.Mode != ModeAccount {
		return nil
	}
	return q.mau()
}

// mau compares each app's monthly active users with the allowance of its
// plans valid in the month (per product the largest allowance among its
// periods that month; products add up). Apps without an MAU plan are not
// metered for MAU. Over the allowance: with a paid MAU plan the excess is
// billed as trtc.mau (unpublished: an error unless a catalog override
// prices it); with trial plans only the app stops (notice).
func (q *quoter) mau() error {
	apps := make([]string, 0, len(q.in.MAU))
	for app := range q.in.MAU {
		apps = append(apps, app)
	}
	sort.Strings(apps)
	for _, app := range apps {
		months := make([]string, 0, len(q.in.MAU[app]))
		for m := range q.in.MAU[app] {
			months = append(months, m)
		}
		sort.Strings(months)
		for _, m := range months {
			start, err := time.ParseInLocation("2006-01", m, q.loc)
			if err != nil {
				return fmt.Errorf("cannot read MAU month %q: %w", m, err)
			}
			end := start.AddDate(0, 1, 0)
			if !end.After(q.in.From) || !start.Before(q.in.To) {
				continue
			}
			byProduct := map[string]int64{}
			anyPlan, paid := false, false
			for _, in := range q.pl.insts {
				if in.Purchase.App != app || in.Plan.MAU <= 0 || !in.Start.Before(end) || !in.End.After(start) || !in.Start.Before(in.End) {
					continue
				}
				anyPlan = true
				if !in.Plan.Trial {
					paid = true
				}
				byProduct[in.Plan.Product] = max(byProduct[in.Plan.Product], in.Plan.MAU)
			}
			if !anyPlan {
				continue
			}
			var allowance int64
			for _, a := range byProduct {
				allowance += a
			}
			n := int64(q.in.MAU[app][m])
			q.addUsage(ItemMAU, money.Int(n), money.Int(min(n, allowance)))
			if n <= allowance {
				continue
			}
			if !paid {
				q.notices = append(q.notices, livebill.Notice{Code: livebill.NoticeServiceStop, App: app, Item: ItemMAU,
					Message: fmt.Sprintf("%s: %d monthly active users exceed the trial allowance of %d; the trial stops", m, n, allowance)})
				continue
			}
			it, err := q.item(ItemMAU)
			if err != nil {
				return fmt.Errorf("cannot bill MAU of app %s: %w", app, err)
			}
			q.notices = append(q.notices, livebill.Notice{Code: NoticeMAUExceeded, App: app, Item: ItemMAU,
				Message: fmt.Sprintf("%s: %d monthly active users, allowance %d", m, n, allowance)})
			if err := q.addLine(billKey{kind: livebill.BillMonthly, date: start.Format(time.DateOnly)}, it, money.Int(n-allowance), false); err != nil {
				return fmt.Errorf("cannot bill %d MAU above the allowance of %d for app %s in %s: %w", n-allowance, allowance, app, m, err)
			}
		}
	}
	return nil
}

// packStates reports the packs valid during the period.
func (q *quoter) packStates() []livebill.PackState {
	if q.pl == nil || q.pl.ded == nil {
		return nil
	}
	var out []livebill.PackState
	for _, p := range q.pl.ded.Packs {
		if !p.End.After(q.in.From) || !p.Start.Before(q.in.To) {
			continue
		}
		if out == nil {
			out = make([]livebill.PackState, 0, len(q.pl.ded.Packs))
		}
		// Start and End are cut from one string.
		var buf [64]byte
		b := p.Start.In(q.loc).AppendFormat(buf[:0], time.DateOnly)
		n := len(b)
		dates := string(p.End.In(q.loc).AppendFormat(b, time.DateOnly))
		granted := strconv.FormatInt(p.Minutes, 10) // p.Granted().String()
		used, remaining := decString(p.Used), granted
		if !p.Used.IsZero() {
			remaining = decString(p.Remaining())
		}
		out = append(out, livebill.PackState{ID: p.ID, Kind: p.Kind, App: p.App, Start: dates[:n], End: dates[n:],
			Granted: granted, Used: used, Remaining: remaining})
	}
	return out
}
