package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/internal/export"
)

// Bills as issued (GET /v1/accounts/{id}/bills), with their lines; an
// adjustment links to the bill it corrects, a corrected bill to its
// adjustments. Statements as GET /v1/accounts/{id}/statements/{month}.

type billView struct {
	livebill.IssuedBill
	Adjusts    *livebill.IssuedBill  // the bill an adjustment corrects (nil if not found)
	AdjustedBy []livebill.IssuedBill // adjustments of this bill
}

type billsData struct {
	*head
	Through string // first day not settled
	Bills   []billView
	Next    string
	Months  []string // months with bills, for the statements
}

// links finds, for each bill shown, the bill it adjusts and the
// adjustments of it, among all the account's bills.
func (s *Server) links(ctx context.Context, id string, shown []livebill.IssuedBill) ([]billView, []string, error) {
	all, err := s.Store.ListBills(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	byKey := map[string]livebill.IssuedBill{}
	adjustedBy := map[string][]livebill.IssuedBill{}
	months := []string{}
	seen := map[string]bool{}
	for _, b := range all {
		if b.Kind != livebill.BillAdjustment {
			byKey[b.Key] = b
		} else if b.Adjusts != "" {
			adjustedBy[b.Adjusts] = append(adjustedBy[b.Adjusts], b)
		}
		if len(b.Date) >= 7 && !seen[b.Date[:7]] {
			seen[b.Date[:7]] = true
			months = append(months, b.Date[:7])
		}
	}
	out := make([]billView, 0, len(shown))
	for _, b := range shown {
		v := billView{IssuedBill: b}
		if b.Adjusts != "" {
			if o, ok := byKey[b.Adjusts]; ok {
				v.Adjusts = &o
			}
		}
		if b.Kind != livebill.BillAdjustment {
			v.AdjustedBy = adjustedBy[b.Key]
		}
		out = append(out, v)
	}
	return out, months, nil
}

// bills shows a page of the account's issued bills, in issue order.
func (s *Server) bills(c *call) {
	ctx := c.ctx()
	h, bs, next, ok := accountPage(s, c, s.Store.PageBills)
	if !ok {
		return
	}
	st, err := s.Store.FindSettlement(ctx, h.ID)
	if err != nil {
		c.fail(err)
		return
	}
	d := &billsData{head: h, Through: st.Through, Next: next}
	if d.Bills, d.Months, err = s.links(ctx, h.ID, bs); err != nil {
		c.fail(err)
		return
	}
	c.render(http.StatusOK, "bills", h.ID, d, accountTab(h.ID, "bills"))
}

// bill shows one issued bill by its number.
func (s *Server) bill(c *call) {
	ctx := c.ctx()
	h, err := s.head(ctx, c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return
	}
	seq, err := strconv.ParseInt(c.r.PathValue("seq"), 10, 64)
	if err != nil {
		c.fail(livebill.Errorf(livebill.ENOTFOUND, "bill %s of account %q not found", livebill.Shown(c.r.PathValue("seq")), h.ID))
		return
	}
	all, err := s.Store.ListBills(ctx, h.ID)
	if err != nil {
		c.fail(err)
		return
	}
	for _, b := range all {
		if b.Seq != seq {
			continue
		}
		vs, _, err := s.links(ctx, h.ID, []livebill.IssuedBill{b})
		if err != nil {
			c.fail(err)
			return
		}
		c.render(http.StatusOK, "bill", h.ID, &billsData{head: h, Bills: vs}, accountTab(h.ID, "bills"))
		return
	}
	c.fail(livebill.Errorf(livebill.ENOTFOUND, "bill %d of account %q not found", seq, h.ID))
}

// billsDownload writes every issued bill (or a month's: ?month=) as CSV
// or XLSX, a row per line.
func (s *Server) billsDownload(c *call) {
	id := c.r.PathValue("id")
	month := c.r.URL.Query().Get("month")
	format, ok := c.format()
	if !ok {
		return
	}
	if _, err := s.Store.FindAccount(c.ctx(), id); err != nil {
		c.fail(err)
		return
	}
	all, err := s.Store.ListBills(c.ctx(), id)
	if err != nil {
		c.fail(err)
		return
	}
	var bs []livebill.IssuedBill
	for _, b := range all {
		if month == "" || (len(b.Date) >= 7 && b.Date[:7] == month) {
			bs = append(bs, b)
		}
	}
	name := "bills-" + id
	if month != "" {
		name += "-" + month
	}
	c.download(name, format, export.Bills("bills", bs))
}

type statementData struct {
	*head
	Statement *livebill.Statement
	Bills     []billView
	Prev      string
	Next      string
}

// statement shows a month's statement: opening balance, top-ups, the
// bills dated in the month with their lines, total and closing balance.
func (s *Server) statement(c *call) {
	ctx := c.ctx()
	h, err := s.head(ctx, c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return
	}
	month := c.r.PathValue("month")
	st, err := s.Billing.Statement(ctx, h.ID, month)
	if err != nil {
		c.fail(err)
		return
	}
	d := &statementData{head: h, Statement: st}
	if d.Bills, _, err = s.links(ctx, h.ID, st.Bills); err != nil {
		c.fail(err)
		return
	}
	if m, err := time.Parse("2006-01", month); err == nil {
		d.Prev = m.AddDate(0, -1, 0).Format("2006-01")
		if n := m.AddDate(0, 1, 0); !n.After(time.Date(h.MonthStart.Year(), h.MonthStart.Month(), 1, 0, 0, 0, 0, time.UTC)) {
			d.Next = n.Format("2006-01")
		}
	}
	c.render(http.StatusOK, "statement", h.ID, d, accountTab(h.ID, "bills"))
}

// statementDownload writes the statement: CSV its bills' lines, XLSX a
// summary, the lines and the top-ups.
func (s *Server) statementDownload(c *call) {
	format, ok := c.format()
	if !ok {
		return
	}
	st, err := s.Billing.Statement(c.ctx(), c.r.PathValue("id"), c.r.PathValue("month"))
	if err != nil {
		c.fail(err)
		return
	}
	tables := export.Statement(st)
	if format == "csv" {
		tables = tables[1:2] // the lines
	}
	c.download(fmt.Sprintf("statement-%s-%s", st.Account, st.Month), format, tables...)
}
