package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
	"github.com/livebill/livebill/money"
)

// head is what every page of an account knows: the account, its catalog
// and billing zone, today and this month in that zone.
type head struct {
	ID, Catalog, Currency, Zone string
	Created                     time.Time
	Today, MonthStart, MonthEnd time.Time // 00:00 in the zone; MonthEnd is the next month's first day
	rec                         *livebill.AccountRecord
	cat                         *catalog.Catalog
	loc                         *time.Location
}

func (s *Server) head(ctx context.Context, id string) (*head, error) {
	rec, err := s.Store.FindAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	cat, loc, err := s.Billing.AccountCatalog(ctx, id)
	if err != nil {
		return nil, err
	}
	y, m, d := s.now().In(loc).Date()
	h := &head{ID: rec.ID, Catalog: rec.Catalog, Currency: cat.Currency, Zone: loc.String(), Created: rec.Created,
		Today: time.Date(y, m, d, 0, 0, 0, 0, loc), MonthStart: time.Date(y, m, 1, 0, 0, 0, 0, loc), rec: rec, cat: cat, loc: loc}
	h.MonthEnd = h.MonthStart.AddDate(0, 1, 0)
	return h, nil
}

// ClosedDays is how many days of this month have ended.
func (h *head) ClosedDays() int { return days(h.MonthStart, h.Today) }

// DaysInMonth is the number of days of this month.
func (h *head) DaysInMonth() int { return days(h.MonthStart, h.MonthEnd) }

// days counts calendar days between two midnights (DST-proof).
func days(a, b time.Time) int {
	ua := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, time.UTC)
	ub := time.Date(b.Year(), b.Month(), b.Day(), 0, 0, 0, 0, time.UTC)
	return int(ub.Sub(ua).Hours() / 24)
}

func date(t time.Time) string { return t.Format(time.DateOnly) }

// ---- standing: state and balance

// standing is an account's state and balance as the console shows it.
type standing struct {
	State      string // livebill.Account*
	Since      time.Time
	GraceUntil time.Time // in arrears: suspended then unless the balance is back to zero or more
	ReclaimAt  time.Time // suspended: reclaimed then
	Left       time.Duration
	Balance    string // the current balance (the ledger's last entry)
	Apps       []appStatus
}

type appStatus struct {
	App    *livebill.App
	Status *livebill.ServiceStatus // nil without a StatusReader
}

// standing reads the account's state and current balance from the
// ledger (as GET /v1/accounts/{id} answers them) and, with a
// StatusReader, whether each of its apps serves and why not.
func (s *Server) standing(ctx context.Context, h *head) (*standing, error) {
	as, err := s.Store.FindAccountState(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	st := &standing{State: as.State, Since: as.Since, GraceUntil: as.GraceUntil, ReclaimAt: as.ReclaimAt, Balance: as.Balance}
	if as.State != livebill.AccountArrears {
		st.GraceUntil = time.Time{}
	}
	apps, err := s.Store.ListApps(ctx, h.ID)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		ap := appStatus{App: a}
		if s.Status != nil {
			if ap.Status, err = s.Status.AppStatus(ctx, a.ID); err != nil {
				return nil, fmt.Errorf("cannot read the status of app %s: %w", a.ID, err)
			}
		}
		st.Apps = append(st.Apps, ap)
	}
	if !st.GraceUntil.IsZero() {
		st.Left = max(st.GraceUntil.Sub(s.now()), 0)
	}
	return st, nil
}

// rank orders states for the operator's list: arrears first (they need
// action before their grace ends), then suspended, active, reclaimed.
func rank(state string) int {
	switch state {
	case livebill.AccountArrears:
		return 0
	case livebill.AccountSuspended:
		return 1
	case livebill.AccountActive, "":
		return 2
	}
	return 3
}

// ---- month to date

// monthToDate is this month's cost on its closed days, and a forecast.
type monthToDate struct {
	From, To string // the quote's period: [first of the month, today)
	Last     string // the last closed day (the day before To)
	Quote    *livebill.Quote
	Total    string // the quote's total
	// Forecast is the month's cost if each remaining day costs what the
	// closed days cost on average (their daily bills); purchases and
	// monthly items billed so far count once. "" before the first day
	// closes.
	Forecast string
	Daily    string // the daily bills' total
}

// monthToDate quotes [first of the month, today) as GET
// /v1/accounts/{id}/quote?from=&to= does; on the first of the month,
// before any day closed, it is empty.
func (s *Server) monthToDate(ctx context.Context, h *head) (*monthToDate, error) {
	m := &monthToDate{From: date(h.MonthStart), To: date(h.Today), Last: date(h.Today.AddDate(0, 0, -1))}
	if h.ClosedDays() == 0 {
		return m, nil
	}
	q, err := s.Billing.QuoteBills(ctx, h.ID, m.From, m.To)
	if err != nil {
		return nil, err
	}
	m.Quote, m.Total = q, q.Total
	cur, err := money.LookupCurrency(q.Currency)
	if err != nil {
		return nil, err
	}
	daily := money.Zero
	for _, b := range q.Bills {
		if b.Kind == livebill.BillDaily {
			d, err := money.Parse(b.Total)
			if err != nil {
				return nil, err
			}
			daily = daily.Add(d)
		}
	}
	total, err := money.Parse(q.Total)
	if err != nil {
		return nil, err
	}
	m.Daily = daily.StringFixed(cur.Minor)
	m.Forecast = forecast(total, daily, h.ClosedDays(), h.DaysInMonth(), cur)
	return m, nil
}

// forecast is total + daily ÷ closed × (inMonth − closed), rounded to the
// currency's minor unit (half away from zero, as bill totals).
func forecast(total, daily money.Decimal, closed, inMonth int, cur money.Currency) string {
	rest := money.Div(daily.Mul(money.Int(int64(inMonth-closed))), money.Int(int64(closed)))
	return cur.FormatTotal(total.Add(rest))
}

// ---- packs

// packView is a pack with what its remaining minutes are worth.
type packView struct {
	livebill.PackState
	// Worth is the remaining minutes as usage minutes of each item the
	// pack covers: floor(remaining ÷ ratio) (a pack covers whole minutes).
	Worth []worth
}

type worth struct {
	Item    string
	Ratio   string
	Minutes string
}

// packs shows the quote's packs with the ratio table of each kind: the
// free pack's by the account's creation date, plans' gift ratios.
func packs(h *head, ps []livebill.PackState) ([]packView, error) {
	var out []packView
	for _, p := range ps {
		v := packView{PackState: p}
		var ratios map[string]money.Decimal
		var err error
		switch p.Kind {
		case "free":
			if h.cat.FreePack != nil {
				ratios, err = h.cat.FreePackRatios(h.Created)
			}
		case "gift":
			ratios, err = h.cat.GiftRatioValues()
		}
		if err != nil {
			return nil, err
		}
		rem, err := money.Parse(p.Remaining)
		if err != nil {
			return nil, fmt.Errorf("pack %s: remaining: %w", p.ID, err)
		}
		for _, it := range h.cat.Items {
			r, ok := ratios[it.ID]
			if !ok || !r.IsPositive() {
				continue
			}
			v.Worth = append(v.Worth, worth{Item: it.ID, Ratio: r.String(), Minutes: rem.Div(r).Floor().String()})
		}
		out = append(out, v)
	}
	return out, nil
}

// ---- the overview page

type overviewData struct {
	*head
	Standing *standing
	MTD      *monthToDate
	Packs    []packView
	Notices  []livebill.Notice
}

// overview is the account's page: this month so far and its forecast,
// the balance and state, the packs, the notices.
func (s *Server) overview(c *call) {
	ctx := c.ctx()
	h, err := s.head(ctx, c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return
	}
	d := &overviewData{head: h}
	if d.Standing, err = s.standing(ctx, h); err != nil {
		c.fail(err)
		return
	}
	if d.MTD, err = s.monthToDate(ctx, h); err != nil {
		c.fail(err)
		return
	}
	if q := d.MTD.Quote; q != nil {
		if d.Packs, err = packs(h, q.Packs); err != nil {
			c.fail(err)
			return
		}
		d.Notices = q.Notices
	}
	c.render(http.StatusOK, "overview", h.ID, d, accountTab(h.ID, "overview"))
}

// accountTab sets the account's tabs on a page.
func accountTab(id, tab string) func(*view) {
	return func(v *view) { v.Account, v.Tab = id, tab }
}

// ItemName is an item's name in the language: its family's and tier's
// names from the message file (item.trtc.av + tier.hd), else the
// catalog's name, else its id.
func (v *view) ItemName(cat *catalog.Catalog, id string) string {
	if i := strings.LastIndexByte(id, '.'); i > 0 {
		fam, tier := "family."+id[:i], "tier."+id[i+1:]
		if v.Has(fam) && v.Has(tier) {
			return v.T(fam) + " " + v.T(tier)
		}
	}
	if base, ok := strings.CutSuffix(id, ".refund"); ok {
		return v.T("item.refund", v.ItemName(cat, base))
	}
	if cat != nil {
		if it, ok := cat.Item(id); ok && it.Name != "" {
			return it.Name
		}
	}
	return id
}
