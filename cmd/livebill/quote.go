package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/scenario"
)

const quoteSynopsis = `livebill quote FILE [--format table|json] [--skip-invalid]

Prices a scenario file (SPEC §7.2): its catalog, period, account, purchases
and events (inline or an NDJSON events_file, streamed). The table is for
people: per-bill lines, totals and notices. JSON is the public contract of
SPEC §7.3. Invalid events are listed on stderr with their line and field,
and the exit status is 2, unless --skip-invalid quotes the valid ones.`

func init() {
	register("quote", command{synopsis: "FILE [--format table|json]  price a scenario file (SPEC §7.2)", order: 1, run: cmdQuote})
}

func cmdQuote(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quote", quoteSynopsis, stderr)
	format := fs.String("format", "table", "output format: table or json")
	skip := fs.Bool("skip-invalid", false, "quote the valid events even if some are invalid (notice events_rejected)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("quote needs exactly one scenario file")}
	}
	if *format != "table" && *format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--format must be table or json, not %q", *format)}
	}
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(quoteGCPercent))
	}
	res, err := quoteFile(pos[0])
	if err != nil {
		return &exitError{code: exitFor(err), err: err}
	}
	if n := res.RejectedCount(); n > 0 {
		for _, e := range res.Rejected {
			fmt.Fprintln(stderr, e)
		}
		if res.Unlisted > 0 {
			fmt.Fprintf(stderr, "… and %d more events that could not be read (the first %d are listed)\n", res.Unlisted, scenario.MaxListed)
		}
		if !*skip {
			return &exitError{code: 2, err: fmt.Errorf("%d of %d events rejected; nothing quoted (use --skip-invalid to quote the rest)", n, res.Events)}
		}
		res.Quote.Notices = append(res.Quote.Notices, livebill.Notice{Code: "events_rejected",
			Message: fmt.Sprintf("%d of %d events were invalid and left out", n, res.Events)})
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res.Quote)
	}
	printTable(stdout, res.Quote)
	return nil
}

// quoteGCPercent is the garbage collector's target while a file is
// quoted (GOGC; Go's default is 100): the heap may grow by half its live
// size between collections, not by all of it. What a quote keeps is the
// state of the rooms open at the point of the file it reads, and its
// garbage the events it decoded; at the default a large file's quote
// takes twice the memory it holds. The collections this adds run on the
// core the metering leaves to the decoder, for about 7 % more CPU time
// and the same time to answer. GOGC set in the environment wins.
const quoteGCPercent = 50

func quoteFile(path string) (*scenario.Result, error) {
	f, err := scenario.Load(path)
	if err != nil {
		return nil, err
	}
	return f.Run()
}

func exitFor(err error) int {
	switch livebill.ErrorCode(err) {
	case livebill.EINVALID, livebill.ENOTFOUND, livebill.EUNPUBLISHED, livebill.ECONFLICT:
		return 2
	}
	return 1
}

func printTable(w io.Writer, q *livebill.Quote) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, b := range q.Bills {
		title := b.Kind + " bill " + b.Date
		if b.Kind == livebill.BillMonthly {
			title = "monthly bill " + b.Date[:7]
		}
		fmt.Fprintf(w, "%s\n", title)
		fmt.Fprintf(tw, "  item\tquantity\tunit\tunit price\tamount\t\n")
		for _, l := range b.Lines {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", l.Item, l.Quantity, l.Unit, perLabel(l), l.Amount)
		}
		fmt.Fprintf(tw, "  total\t\t\t\t%s %s\t\n", b.Total, q.Currency)
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(q.Usage) > 0 {
		fmt.Fprintln(w, "usage (metered, covered by packages, blocked while stopped)")
		for _, u := range q.Usage {
			b := u.Blocked
			if b == "" {
				b = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", u.Item, u.Quantity, u.Covered, b)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if a := q.Account; a != nil {
		fmt.Fprintf(w, "balance %s %s → %s %s, %s at the period's end\n", a.OpeningBalance, q.Currency, a.ClosingBalance, q.Currency, a.State)
		for _, e := range a.Ledger {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", e.At.Format("2006-01-02 15:04"), e.Kind, e.Ref, e.Amount, e.Balance)
		}
		tw.Flush()
		for _, t := range a.Transitions {
			line := fmt.Sprintf("  %s  %s → %s", t.At.Format("2006-01-02 15:04"), t.From, t.To)
			if t.App != "" {
				line = fmt.Sprintf("  %s  app %s: %s → %s", t.At.Format("2006-01-02 15:04"), t.App, t.From, t.To)
			}
			if !t.GraceUntil.IsZero() {
				line += " (grace until " + t.GraceUntil.Format("2006-01-02 15:04") + ")"
			}
			fmt.Fprintln(w, line)
		}
		fmt.Fprintln(w)
	}
	for _, p := range q.Packs {
		fmt.Fprintf(w, "pack %s (%s) %s..%s: granted %s, used %s, remaining %s\n", p.ID, p.Kind, p.Start, p.End, p.Granted, p.Used, p.Remaining)
	}
	for _, n := range q.Notices {
		parts := []string{"notice: " + n.Code}
		for _, s := range []string{n.App, n.Item, n.Time, n.Message} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		fmt.Fprintln(w, strings.Join(parts, "  "))
	}
	fmt.Fprintf(w, "TOTAL %s %s (%d bills)\n", q.Total, q.Currency, len(q.Bills))
}

func perLabel(l livebill.Line) string {
	if l.Per == "1" || l.Per == "" {
		return l.UnitPrice + "/" + l.Unit
	}
	return l.UnitPrice + "/" + l.Per + " " + l.Unit
}
