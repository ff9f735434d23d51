package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/livebill/livebill"
)

// adminKeyFrom returns the operator key given to serve: $LIVEBILL_ADMIN_KEY
// or the content of --admin-key-file (trimmed); "" when neither is given.
func adminKeyFrom(env, file string) (string, error) {
	key, from := strings.TrimSpace(env), "LIVEBILL_ADMIN_KEY"
	if file != "" {
		if key != "" {
			return "", fmt.Errorf("give LIVEBILL_ADMIN_KEY or --admin-key-file, not both")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--admin-key-file: %w", err)
		}
		key, from = strings.TrimSpace(string(b)), "--admin-key-file "+file
	}
	if key != "" && len(key) < livebill.MinAdminKeyLen {
		return "", fmt.Errorf("%s: the operator key has %d characters; give at least %d random ones (e.g. head -c 32 /dev/urandom | base64)", from, len(key), livebill.MinAdminKeyLen)
	}
	return key, nil
}

// ensureAdminKey makes an operator key when none was given and the store
// holds none that is valid (a first start), and prints it once on w with
// how to use it. Later starts find it stored and print nothing.
func ensureAdminKey(ctx context.Context, store livebill.KeyService, clock livebill.Clock, addr string, w io.Writer) error {
	has, err := store.HasAdminKey(ctx)
	if err != nil || has {
		return err
	}
	k, secret, err := livebill.NewKey(&livebill.CreateKeyInput{Name: "operator (made at first start)"}, clock.Now())
	if err != nil {
		return err
	}
	if err := store.CreateKey(ctx, k); err != nil {
		return fmt.Errorf("cannot store the operator key: %w", err)
	}
	fmt.Fprintf(w, `livebill: no operator key was given and none is stored, so one was made (id %s).
livebill: it is shown only this once; keep it secret:

    %s

Use it with the CLI and the API:
    export LIVEBILL_KEY=%s
    curl -H "Authorization: Bearer $LIVEBILL_KEY" http://%s/v1/accounts
Make keys for accounts with 'livebill keys create --account ID'; revoke with
'livebill keys revoke ID'. To give the operator key yourself, start with
$LIVEBILL_ADMIN_KEY or --admin-key-file.

`, k.ID, secret, secret, addr)
	return nil
}
