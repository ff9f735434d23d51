package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

const billsSynopsis = `livebill bills show ACCOUNT [--server URL] [--key-file F] [--format table|json] [--settle [--force]]

Prints an account's issued bills from a livebill server, in issue order:
daily, monthly and purchase bills, and adjustments (a change to a settled
day, issued on a later bill). --settle asks the server to settle first,
as its ticker would: days whose events are still arriving (less than
serve --settle-quiet ago) or held by an open import wait, and a note on
stderr says until when. --force settles every closed day now regardless
(anything that arrives later becomes an adjustment).
Stored events the meter refused (a leave without a join, …) are billed
nowhere; a warning on stderr counts them. The API key comes from --key,
--key-file or $LIVEBILL_KEY (an operator key, or the account's own;
--settle needs an operator key).`

func init() {
	register("bills", command{synopsis: "show ACCOUNT  print an account's issued bills", order: 12, run: cmdBills})
}

func cmdBills(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bills", billsSynopsis, stderr)
	rem := remoteFlags(fs)
	format := fs.String("format", "table", "table or json")
	settle := fs.Bool("settle", false, "settle the account first (days whose events are still arriving wait)")
	force := fs.Bool("force", false, "with --settle: settle every closed day now, even those whose events are still arriving")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "show" {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: livebill bills show ACCOUNT")}
	}
	if *format != "table" && *format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--format must be table or json, not %q", *format)}
	}
	ctx := context.Background()
	c, err := rem.client()
	if err != nil {
		return err
	}
	if *force && !*settle {
		return &exitError{code: 2, err: errors.New("--force goes with --settle")}
	}
	if *settle {
		sr, err := c.SettleWith(ctx, pos[1], *force)
		if err != nil {
			return &exitError{code: exitFor(err), err: err}
		}
		switch sr.HeldBy {
		case "quiet":
			fmt.Fprintf(stderr, "note: bills from %s on wait until their events stop arriving (quiet until %s); --force settles them now\n",
				sr.HeldFrom, sr.HeldUntil.Local().Format(time.DateTime))
		case "import":
			fmt.Fprintf(stderr, "note: bills from %s on wait for import %s to finish (or lapse at %s); --force settles them now\n",
				sr.HeldFrom, sr.Import, sr.HeldUntil.Local().Format(time.DateTime))
		}
	}
	res, err := c.Bills(ctx, pos[1])
	if err != nil {
		return &exitError{code: exitFor(err), err: err}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	// Through is the first day not settled: the days before it are.
	settled := "nothing settled yet"
	if res.Through != "" {
		settled = "days before " + res.Through + " settled"
	}
	fmt.Fprintf(stdout, "account %s, %s\n\n", res.Account, settled)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, b := range res.Bills {
		title := fmt.Sprintf("#%d %s bill %s", b.Seq, b.Kind, b.Date)
		if b.Adjusts != "" {
			title += " (adjusts " + b.Adjusts + ")"
		}
		fmt.Fprintln(stdout, title)
		fmt.Fprintf(tw, "  item\tapp\tquantity\tunit\tamount\t\n")
		for _, l := range b.Lines {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t\n", l.Item, l.App, l.Quantity, l.Unit, l.Amount)
		}
		fmt.Fprintf(tw, "  total\t\t\t\t%s\t\n", b.Total)
		tw.Flush()
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "%d bills\n", len(res.Bills))
	// events the meter refused are billed nowhere: say so beside the bills
	if rj, err := c.Rejections(ctx, pos[1]); err == nil && len(rj.Events) > 0 {
		first := rj.Events[0]
		fmt.Fprintf(stderr, "warning: %d stored events were refused by the meter and are billed nowhere (first: event %q, %s: %s); see GET /v1/accounts/%s/rejections\n",
			len(rj.Events), first.ID, first.Field, first.Reason, pos[1])
	}
	return nil
}
