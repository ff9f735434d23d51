package console

import (
	"net/http"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/catalog"
)

// Purchases and refunds, each purchase with its catalog plan and the
// refund rule that applies to it (SPEC §4 "Refunds", §5 cloud gaming):
// TRTC plans within refund_days of the purchase day when their gift
// minutes are untouched, once per account; hourly-rate plans at the price
// less the started hours; others not at all.

type purchaseRow struct {
	*livebill.StoredPurchase
	Plan     *catalog.Plan
	Start    time.Time // in the billing zone
	RefundBy string    // last day of a refund within refund_days ("" if the plan has none)
	Gift     *livebill.PackState
}

type purchasesData struct {
	*head
	Purchases []purchaseRow
	Next      string
	Refunds   []*livebill.StoredRefund
	Refused   []livebill.Notice // refunds refused this month, with the reason
}

func (s *Server) purchases(c *call) {
	ctx := c.ctx()
	h, ps, next, ok := accountPage(s, c, s.Store.PagePurchases)
	if !ok {
		return
	}
	d := &purchasesData{head: h, Next: next}
	var err error
	if d.Refunds, err = s.Store.ListRefunds(ctx, h.ID); err != nil {
		c.fail(err)
		return
	}
	m, err := s.monthToDate(ctx, h)
	if err != nil {
		c.fail(err)
		return
	}
	var gifts []livebill.PackState
	if m.Quote != nil {
		gifts = m.Quote.Packs
		for _, n := range m.Quote.Notices {
			if n.Code == livebill.NoticeRefundRefused {
				d.Refused = append(d.Refused, n)
			}
		}
	}
	for _, sp := range ps {
		row := purchaseRow{StoredPurchase: sp}
		row.Plan, _ = h.cat.Plan(sp.Plan)
		if t, err := livebill.ParseInstant(sp.Start, h.loc); err == nil {
			row.Start = t.In(h.loc)
			if row.Plan != nil && row.Plan.RefundDays > 0 {
				y, mo, dd := row.Start.Date()
				row.RefundBy = date(time.Date(y, mo, dd+row.Plan.RefundDays, 0, 0, 0, 0, h.loc))
			}
		}
		for i := range gifts {
			g := &gifts[i]
			if g.Kind == "gift" && (g.ID == sp.ID || strings.HasPrefix(g.ID, sp.ID+"@")) {
				row.Gift = g
			}
		}
		d.Purchases = append(d.Purchases, row)
	}
	c.render(http.StatusOK, "purchases", h.ID, d, accountTab(h.ID, "purchases"))
}
