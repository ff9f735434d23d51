package console

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/internal/export"
)

// Usage charts: one chart per item family (trtc.av: audio, HD, FHD, 2K,
// 4K), the month's closed days stacked by tier, or one day's 5-minute
// windows. The numbers are GET /v1/accounts/{id}/usage's for the same
// range and granularity, embedded as they are (ms for durations); the
// script only scales them for the axis. Each chart has a table beside it.

type usageData struct {
	*head
	Month       string // YYYY-MM shown
	Day         string // the day of the 5-minute detail, "" for the month
	From, To    string // the usage range asked for: [From, To)
	Last        string // the last day of the range
	Granularity string
	Charts      []chart
	Days        []string // the days that can be detailed
	Prev, Next  string   // neighbouring months ("" for none)
	Empty       string   // why nothing is shown
}

type chart struct {
	ID      string   `json:"-"`
	Family  string   `json:"family"`
	Measure string   `json:"measure"`
	Unit    string   `json:"unit"`  // of the axis: minute, hour, or the measure
	Scale   float64  `json:"scale"` // value ÷ scale = axis unit
	X       []int64  `json:"x"`     // Unix seconds of each day or window
	Labels  []string `json:"labels"`
	Series  []series `json:"series"`
	// Rows is the chart as a table: per x, each series' value.
	Rows []usageRow `json:"-"`
}

type series struct {
	Item   string  `json:"item"`
	Label  string  `json:"label"`
	Values []int64 `json:"values"` // as the API gives them
	Total  int64   `json:"total"`
	// Quantity is the total for people, as the usage export writes it.
	Quantity string `json:"-"`
	Unit     string `json:"-"`
}

type usageRow struct {
	Label  string
	Values []string
}

// usage shows the month's closed days, or a day's 5-minute windows.
func (s *Server) usage(c *call) {
	ctx := c.ctx()
	h, err := s.head(ctx, c.r.PathValue("id"))
	if err != nil {
		c.fail(err)
		return
	}
	q := c.r.URL.Query()
	d := &usageData{head: h, Month: q.Get("month"), Day: q.Get("day"), Granularity: "day"}
	if d.Day != "" {
		day, err := time.ParseInLocation(time.DateOnly, d.Day, h.loc)
		if err != nil {
			c.fail(livebill.Errorf(livebill.EINVALID, "day: must be a date YYYY-MM-DD, not %s", livebill.Shown(d.Day)))
			return
		}
		d.Month, d.Granularity = day.Format("2006-01"), "5m"
		d.From, d.To = date(day), date(day.AddDate(0, 0, 1))
	}
	if d.Month == "" {
		d.Month = h.MonthStart.Format("2006-01")
	}
	start, err := time.ParseInLocation("2006-01", d.Month, h.loc)
	if err != nil {
		c.fail(livebill.Errorf(livebill.EINVALID, "month: must be YYYY-MM, not %s", livebill.Shown(d.Month)))
		return
	}
	end := start.AddDate(0, 1, 0)
	d.Prev = start.AddDate(0, -1, 0).Format("2006-01")
	if !end.After(h.MonthStart) { // not a month to come
		d.Next = end.Format("2006-01")
	}
	// closed days only: today is still running (the same rule as the month to date)
	last := end
	if h.Today.Before(last) {
		last = h.Today
	}
	for t := start; t.Before(last); t = t.AddDate(0, 0, 1) {
		d.Days = append(d.Days, date(t))
	}
	if d.Granularity == "day" {
		d.From, d.To = date(start), date(last)
	} else if d.From >= date(h.Today) {
		d.Empty = c.loc.T("usage.notclosed")
	}
	if !start.Before(last) {
		d.Empty = c.loc.T("usage.noday")
	}
	if d.Empty == "" {
		pts, err := s.Billing.Usage(ctx, &livebill.UsageInput{AccountID: h.ID, From: d.From, To: d.To, Granularity: d.Granularity})
		if err != nil {
			c.fail(err)
			return
		}
		from, _ := time.ParseInLocation(time.DateOnly, d.From, h.loc)
		to, _ := time.ParseInLocation(time.DateOnly, d.To, h.loc)
		d.Last = date(to.AddDate(0, 0, -1))
		v := &view{locale: c.loc}
		d.Charts, err = charts(v, h, pts, from, to, d.Granularity)
		if err != nil {
			c.fail(err)
			return
		}
		if len(d.Charts) == 0 {
			d.Empty = c.loc.T("usage.none")
		}
	}
	c.render(http.StatusOK, "usage", h.ID, d, accountTab(h.ID, "usage"))
}

// charts groups usage points by item family, on the x of every day (or
// 5-minute window) of [from, to).
func charts(v *view, h *head, pts []livebill.UsagePoint, from, to time.Time, gran string) ([]chart, error) {
	var xs []time.Time
	for t := from; t.Before(to); {
		xs = append(xs, t)
		if gran == "day" {
			t = t.AddDate(0, 0, 1)
		} else {
			t = t.Add(5 * time.Minute)
		}
	}
	index := map[int64]int{}
	for i, t := range xs {
		index[t.Unix()] = i
	}
	byItem := map[string]*series{}
	measures := map[string]string{}
	for _, p := range pts {
		t, err := time.Parse(time.RFC3339, p.Start)
		if err != nil {
			return nil, fmt.Errorf("usage point of %s: start %q: %w", p.Item, p.Start, err)
		}
		i, ok := index[t.Unix()]
		if !ok {
			return nil, fmt.Errorf("usage point of %s at %s is outside %s..%s", p.Item, p.Start, date(from), date(to))
		}
		sr := byItem[p.Item]
		if sr == nil {
			sr = &series{Item: p.Item, Label: v.ItemName(h.cat, p.Item), Values: make([]int64, len(xs))}
			byItem[p.Item] = sr
			measures[p.Item] = p.Measure
		}
		sr.Values[i] += p.Value // apps summed
		sr.Total += p.Value
	}
	fams := map[string]*chart{}
	var order []string
	items := make([]string, 0, len(byItem))
	for it := range byItem {
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool {
		oi, oj := h.cat.ItemOrder(items[i]), h.cat.ItemOrder(items[j])
		if oi != oj {
			return oi < oj
		}
		return items[i] < items[j]
	})
	for _, it := range items {
		fam := it
		if i := strings.LastIndexByte(it, '.'); i > 0 {
			fam = it[:i]
		}
		ch := fams[fam]
		if ch == nil {
			ch = &chart{ID: "chart-" + strings.NewReplacer(".", "-", "_", "-").Replace(fam), Family: fam, Measure: measures[it]}
			ch.Unit, ch.Scale = axisUnit(ch.Measure)
			for _, t := range xs {
				ch.X = append(ch.X, t.Unix())
				if gran == "day" {
					ch.Labels = append(ch.Labels, date(t))
				} else {
					ch.Labels = append(ch.Labels, t.Format("15:04"))
				}
			}
			fams[fam] = ch
			order = append(order, fam)
		}
		sr := byItem[it]
		sr.Quantity, sr.Unit = export.UsageQuantity(livebill.UsagePoint{Measure: measures[it], Value: sr.Total})
		ch.Series = append(ch.Series, *sr)
	}
	out := make([]chart, 0, len(order))
	for _, f := range order {
		ch := fams[f]
		for i := range ch.X {
			row := usageRow{Label: ch.Labels[i]}
			any := false
			for _, sr := range ch.Series {
				q, _ := export.UsageQuantity(livebill.UsagePoint{Measure: ch.Measure, Value: sr.Values[i]})
				row.Values = append(row.Values, q)
				any = any || sr.Values[i] != 0
			}
			if any || gran == "day" {
				ch.Rows = append(ch.Rows, row)
			}
		}
		out = append(out, *ch)
	}
	return out, nil
}

// axisUnit is the unit a chart's axis shows for a measure, and the
// divisor from the API's values.
func axisUnit(measure string) (string, float64) {
	switch measure {
	case "duration_ms":
		return "minute", 60000
	case "duration_us":
		return "hour", 3600e6
	}
	return measure, 1
}

// usageDownload writes the account's usage over [from, to) as CSV (one
// granularity, default day) or XLSX (a 5-minute and a daily sheet), as
// `livebill usage export` does.
func (s *Server) usageDownload(c *call) {
	q := c.r.URL.Query()
	id := c.r.PathValue("id")
	from, to := q.Get("from"), q.Get("to")
	grans := []struct{ name, g string }{{"usage", q.Get("granularity")}}
	if grans[0].g == "" {
		grans[0].g = "day"
	}
	format, ok := c.format()
	if !ok {
		return
	}
	if format == "xlsx" {
		grans = []struct{ name, g string }{{"5-minute", "5m"}, {"daily", "day"}}
	}
	var tables []export.Table
	for _, g := range grans {
		pts, err := s.Billing.Usage(c.ctx(), &livebill.UsageInput{AccountID: id, From: from, To: to, Granularity: g.g})
		if err != nil {
			c.fail(err)
			return
		}
		tables = append(tables, export.Usage(g.name, pts, g.g))
	}
	c.download(fmt.Sprintf("usage-%s-%s-%s", id, from, to), format, tables...)
}

// format reads ?format= of a download: csv or xlsx, or answers the error.
func (c *call) format() (string, bool) {
	f := c.r.URL.Query().Get("format")
	if f != "csv" && f != "xlsx" {
		c.fail(livebill.Errorf(livebill.EINVALID, "format: must be csv or xlsx, not %s", livebill.Shown(f)))
		return "", false
	}
	return f, true
}

// download answers tables as a CSV file (the first) or an XLSX workbook.
func (c *call) download(name, format string, tables ...export.Table) {
	var b bytes.Buffer
	var err error
	ctype := "text/csv; charset=utf-8"
	if format == "xlsx" {
		ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		err = export.WriteXLSX(&b, tables...)
	} else {
		err = export.WriteCSV(&b, tables[0])
	}
	if err != nil {
		c.fail(err)
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, safeFileName(name), format))
	h.Set("Cache-Control", "no-store")
	c.w.Write(b.Bytes())
}

// safeFileName keeps letters, digits and -_. of a file name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
