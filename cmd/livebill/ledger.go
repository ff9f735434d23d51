package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

	lbhttp "github.com/livebill/livebill/http"
)

const ledgerSynopsis = `livebill ledger ACCOUNT [--format table|json|csv] [--server URL] [--key-file F]

Prints an account's ledger from a livebill server: its opening balance,
then every charge (each issued bill, charged when its day or month closes)
and credit (top-up, refund) with the balance after it, in the order the
balance moved, and the account's state. csv is the export (seq, at,
kind, ref, date, amount, balance, recorded_at). The API key comes from
--key, --key-file or $LIVEBILL_KEY (an operator key, or the account's
own).`

func init() {
	register("ledger", command{synopsis: "ACCOUNT [--format table|json|csv]  an account's balance, charges and credits", order: 15, run: cmdLedger})
}

func cmdLedger(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ledger", ledgerSynopsis, stderr)
	rem := remoteFlags(fs)
	format := fs.String("format", "table", "table, json or csv")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return &exitError{code: 2, err: errors.New("usage: livebill ledger ACCOUNT")}
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return &exitError{code: 2, err: fmt.Errorf("--format must be table, json or csv, not %q", *format)}
	}
	ctx := context.Background()
	c, err := rem.client()
	if err != nil {
		return err
	}
	if *format == "csv" {
		if err := c.LedgerCSV(ctx, pos[0], stdout); err != nil {
			return &exitError{code: exitFor(err), err: err}
		}
		return nil
	}
	es, err := c.Ledger(ctx, pos[0])
	if err != nil {
		return &exitError{code: exitFor(err), err: err}
	}
	var acct lbhttp.AccountJSON
	if err := c.Do(ctx, "GET", "/v1/accounts/"+url.PathEscape(pos[0]), nil, &acct); err != nil {
		return &exitError{code: exitFor(err), err: err}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"account": acct.ID, "state": acct.StatusJSON, "ledger": es})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "seq\tat\tkind\tref\tamount\tbalance\t\n")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", e.Seq, e.At.UTC().Format("2006-01-02 15:04Z"), e.Kind, e.Ref, e.Amount, e.Balance)
	}
	tw.Flush()
	st := acct.StatusJSON
	line := fmt.Sprintf("account %s: %s since %s, balance %s (opening %s)", acct.ID, st.State, st.Since, st.Balance, st.OpeningBalance)
	switch {
	case st.GraceUntil != "":
		line += ", suspended at " + st.GraceUntil + " unless topped up to zero or more"
	case st.ReclaimAt != "":
		line += ", reclaimed at " + st.ReclaimAt + " unless topped up"
	}
	fmt.Fprintln(stdout, line)
	return nil
}
