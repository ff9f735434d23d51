package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/livebill/livebill/internal/export"
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
	fetch := func(name, g string) (export.Table, error) {
		pts, err := c.Usage(ctx, pos[1], *from, *to, g)
		if err != nil {
			return export.Table{}, err
		}
		return export.Usage(name, pts, g), nil
	}
	// every table is fetched before --out is written: a refused request
	// leaves a file already there as it was
	var sheets []export.Table
	if *format == "csv" {
		t, err := fetch("usage", *gran)
		if err != nil {
			return &exitError{code: exitFor(err), err: err}
		}
		sheets = append(sheets, t)
	} else {
		for _, s := range []struct{ name, g string }{{"5-minute", "5m"}, {"daily", "day"}} {
			t, err := fetch(s.name, s.g)
			if err != nil {
				return &exitError{code: exitFor(err), err: err}
			}
			sheets = append(sheets, t)
		}
	}
	write := func(w io.Writer) error {
		if *format == "csv" {
			return export.WriteCSV(w, sheets[0])
		}
		return export.WriteXLSX(w, sheets...)
	}
	if *out == "" {
		return write(stdout)
	}
	return writeOut(*out, write)
}
