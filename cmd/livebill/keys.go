package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

	lbhttp "github.com/livebill/livebill/http"
)

const keysSynopsis = `livebill keys create [--account ID] [--name N] | list | revoke ID [--server URL] [--key-file F]

Manages the API keys of a livebill server, with an operator key (from
--key, --key-file or $LIVEBILL_KEY).

  create   makes a key: an operator key, or with --account a key that reads
           only that account and pushes events only for its apps. The key
           is printed on stdout, once: the server keeps only its hash.
  list     lists the keys: id, account, name, when made and revoked.
  revoke   revokes the key with that id at once.`

func init() {
	register("keys", command{synopsis: "create|list|revoke  manage API keys", order: 14, run: cmdKeys})
}

func cmdKeys(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys", keysSynopsis, stderr)
	rem := remoteFlags(fs)
	account := fs.String("account", "", "create: the account the key is limited to (none: an operator key)")
	name := fs.String("name", "", "create: a name to tell the key by")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	usage := func(msg string) error {
		fs.Usage()
		return &exitError{code: 2, err: errors.New(msg)}
	}
	if len(pos) == 0 {
		return usage("usage: livebill keys create|list|revoke")
	}
	c, err := rem.client()
	if err != nil {
		return err
	}
	ctx := context.Background()
	fail := func(err error) error { return &exitError{code: exitFor(err), err: err} }
	switch pos[0] {
	case "create":
		if len(pos) != 1 {
			return usage("usage: livebill keys create [--account ID] [--name N]")
		}
		var k lbhttp.KeyJSON
		if err := c.Do(ctx, "POST", "/v1/keys", map[string]string{"account": *account, "name": *name}, &k); err != nil {
			return fail(err)
		}
		scope := "an operator key"
		if k.Account != "" {
			scope = "a key of account " + k.Account
		}
		fmt.Fprintf(stderr, "made %s, id %s; it is shown only this once:\n", scope, k.ID)
		fmt.Fprintln(stdout, k.Key)
	case "list":
		if len(pos) != 1 {
			return usage("usage: livebill keys list")
		}
		keys, err := c.Keys(ctx)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tNAME\tCREATED\tREVOKED")
		for _, k := range keys {
			acct := k.Account
			if acct == "" {
				acct = "(operator)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, acct, k.Name, k.CreatedAt, k.RevokedAt)
		}
		tw.Flush()
	case "revoke":
		if len(pos) != 2 {
			return usage("usage: livebill keys revoke ID")
		}
		var k lbhttp.KeyJSON
		if err := c.Do(ctx, "DELETE", "/v1/keys/"+url.PathEscape(pos[1]), nil, &k); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "revoked key %s (%s)\n", k.ID, k.RevokedAt)
	default:
		return usage(fmt.Sprintf("unknown keys command %q: create, list or revoke", pos[0]))
	}
	return nil
}
