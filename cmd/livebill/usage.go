package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/internal/xlsx"
)

const usageSynopsis = `livebill usage export ACCOUNT --from DATE --to DATE [--format csv|xlsx] [--granularity 5m|day] [--out FILE] [--server URL] [--key-file F]

Exports an account's metered usage from a livebill server, per app and
item, like the TRTC console's download: durations in seconds (exact, up to
milliseconds), counts as counts. csv writes one granularity (default day);
xlsx writes a workbook with a "5-minute" sheet and a "daily" sheet. Dates
are days in the billing zone, [from, to). The API key comes from --key,
--key-file or $LIVEBILL_KEY.`

func init() {
	register("usage", command{synopsis: "export ACCOUNT  usage as csv or xlsx (5-minute and daily)", order: 13, run: cmdUsage})
}

func cmdUsage(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usage", usageSynopsis, stderr)
	rem := remoteFlags(fs)
	from := fs.String("from", "", "first day, YYYY-MM-DD")
	to := fs.String("to", "", "day after the last, YYYY-MM-DD")
	format := fs.String("format", "csv", "csv or xlsx")
	gran := fs.String("granularity", "day", "csv only: 5m or day")
	out := fs.String("out", "", "output file (default stdout for csv; required for xlsx)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "export" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: livebill usage export ACCOUNT --from DATE --to DATE")}
	}
	if *format != "csv" && *format != "xlsx" {
		return &exitError{code: 2, err: fmt.Errorf("--format must be csv or xlsx, not %q", *format)}
	}
	if *format == "xlsx" && *out == "" {
		return &exitError{code: 2, err: errors.New("--format xlsx needs --out FILE")}
	}
	ctx := context.Background()
	c, err := rem.client()
	if err != nil {
		return err
	}
	fetch := func(g string) ([][]string, error) {
		pts, err := c.Usage(ctx, pos[1], *from, *to, g)
		if err != nil {
			return nil, err
		}
		head := "time"
		if g == "day" {
			head = "date"
		}
		rows := [][]string{{head, "app", "item", "quantity", "unit"}}
		for _, p := range pts {
			q, unit := usageQuantity(p)
			t := p.Start
			if g == "day" {
				t = t[:10]
			}
			rows = append(rows, []string{t, p.App, p.Item, q, unit})
		}
		return rows, nil
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer f.Close()
		w = f
	}
	if *format == "csv" {
		rows, err := fetch(*gran)
		if err != nil {
			return &exitError{code: exitFor(err), err: err}
		}
		cw := csv.NewWriter(w)
		cw.WriteAll(rows)
		return cw.Error()
	}
	var sheets []xlsx.Sheet
	for _, s := range []struct{ name, g string }{{"5-minute", "5m"}, {"daily", "day"}} {
		rows, err := fetch(s.g)
		if err != nil {
			return &exitError{code: exitFor(err), err: err}
		}
		sh := xlsx.Sheet{Name: s.name}
		for i, r := range rows {
			row := make([]xlsx.Cell, len(r))
			for j, v := range r {
				row[j] = v
			}
			if i > 0 {
				row[3] = xlsx.Number(r[3])
			}
			sh.Rows = append(sh.Rows, row)
		}
		sheets = append(sheets, sh)
	}
	return xlsx.Write(w, sheets)
}

// usageQuantity is a usage point's quantity for people: durations in
// seconds (exact decimals), counts as they are.
func usageQuantity(p livebill.UsagePoint) (string, string) {
	switch p.Measure {
	case "duration_ms":
		return fixed(p.Value, 3), "second"
	case "duration_us":
		return fixed(p.Value, 6), "second"
	}
	return strconv.FormatInt(p.Value, 10), p.Measure
}

// fixed writes v / 10^places exactly, without trailing zeros.
func fixed(v int64, places int) string {
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
