// Package export turns usage and bills into tables and writes them as CSV
// or as XLSX workbooks, for the CLI's usage export and the console's
// downloads: the same columns and the same exact quantities in both.
package export

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/internal/xlsx"
)

// Table is a named table of text cells; its first row is the header.
// Numeric lists the columns written as numbers in a workbook.
type Table struct {
	Name    string
	Rows    [][]string
	Numeric []int
}

// WriteCSV writes the table as CSV, its text cells as text (CSVText).
func WriteCSV(w io.Writer, t Table) error {
	cw := csv.NewWriter(w)
	for _, r := range t.Rows {
		row := make([]string, len(r))
		for j, v := range r {
			row[j] = CSVText(v)
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// CSVText is a cell as a spreadsheet reads it: text starting with = + -
// @, a tab or a carriage return would be taken for a formula (an app id
// "=HYPERLINK(…)" run when the operator opens the file), so it gets a
// leading apostrophe, which spreadsheets hide. Numbers, negative ones
// too, are left as they are.
func CSVText(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + v
}

// WriteXLSX writes the tables as the sheets of one workbook; numeric
// columns keep their exact decimal text.
func WriteXLSX(w io.Writer, tables ...Table) error {
	sheets := make([]xlsx.Sheet, 0, len(tables))
	for _, t := range tables {
		sh := xlsx.Sheet{Name: t.Name}
		for i, r := range t.Rows {
			row := make([]xlsx.Cell, len(r))
			for j, v := range r {
				row[j] = v
			}
			if i > 0 {
				for _, c := range t.Numeric {
					if c < len(r) && r[c] != "" {
						row[c] = xlsx.Number(r[c])
					}
				}
			}
			sh.Rows = append(sh.Rows, row)
		}
		sheets = append(sheets, sh)
	}
	return xlsx.Write(w, sheets)
}

// Usage is usage points as a table, one row per app, item and window (5m)
// or day: durations in seconds (exact), counts as counts.
func Usage(name string, pts []livebill.UsagePoint, granularity string) Table {
	head := "time"
	if granularity == "day" {
		head = "date"
	}
	rows := [][]string{{head, "app", "item", "quantity", "unit"}}
	for _, p := range pts {
		q, unit := UsageQuantity(p)
		t := p.Start
		if granularity == "day" && len(t) >= 10 {
			t = t[:10]
		}
		rows = append(rows, []string{t, p.App, p.Item, q, unit})
	}
	return Table{Name: name, Rows: rows, Numeric: []int{3}}
}

// UsageQuantity is a usage point's quantity for people: durations in
// seconds (exact decimals), counts as they are.
func UsageQuantity(p livebill.UsagePoint) (string, string) {
	switch p.Measure {
	case "duration_ms":
		return Fixed(p.Value, 3), "second"
	case "duration_us":
		return Fixed(p.Value, 6), "second"
	}
	return strconv.FormatInt(p.Value, 10), p.Measure
}

// Fixed writes v / 10^places exactly, without trailing zeros.
func Fixed(v int64, places int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	for len(s) <= places {
		s = "0" + s
	}
	whole, frac := s[:len(s)-places], strings.TrimRight(s[len(s)-places:], "0")
	if neg {
		whole = "-" + whole
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// Bills is issued bills as a table, one row per line (a bill without
// lines has one row without an item): the bill's number, kind, date, the
// bill an adjustment corrects, the line and the bill's total, as the API
// gives them.
func Bills(name string, bills []livebill.IssuedBill) Table {
	rows := [][]string{{"bill", "kind", "date", "adjusts", "issued_at", "item", "app", "quantity", "unit", "unit_price", "per", "amount", "bill_total"}}
	for _, b := range bills {
		head := []string{strconv.FormatInt(b.Seq, 10), b.Kind, b.Date, b.Adjusts, b.IssuedAt.UTC().Format("2006-01-02T15:04:05Z07:00")}
		if len(b.Lines) == 0 {
			rows = append(rows, append(head, "", "", "", "", "", "", "", b.Total))
		}
		for _, l := range b.Lines {
			rows = append(rows, append(append([]string(nil), head...), l.Item, l.App, l.Quantity, l.Unit, l.UnitPrice, l.Per, l.Amount, b.Total))
		}
	}
	return Table{Name: name, Rows: rows, Numeric: []int{0, 7, 9, 10, 11, 12}}
}

// Statement is a month's statement as tables: a summary, its bills' lines
// (Bills) and its top-ups.
func Statement(st *livebill.Statement) []Table {
	final := "no"
	if st.Final {
		final = "yes"
	}
	summary := Table{Name: "statement", Rows: [][]string{
		{"field", "value"},
		{"account", st.Account}, {"month", st.Month}, {"currency", st.Currency},
		{"opening_balance", st.OpeningBalance}, {"total", st.Total}, {"closing_balance", st.ClosingBalance}, {"final", final},
	}}
	tops := Table{Name: "top-ups", Numeric: []int{2}, Rows: [][]string{{"id", "time", "amount"}}}
	for _, t := range st.TopUps {
		tops.Rows = append(tops.Rows, []string{t.ID, t.Time, t.Amount})
	}
	return []Table{summary, Bills("bills", st.Bills), tops}
}
