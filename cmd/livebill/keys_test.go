package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
)

// The operator key comes from $LIVEBILL_ADMIN_KEY or --admin-key-file
// (trimmed), not both, and must be long enough.
func TestAdminKeyFrom(t *testing.T) {
	long := strings.Repeat("k", livebill.MinAdminKeyLen)
	file := filepath.Join(t.TempDir(), "key")
	os.WriteFile(file, []byte(long+"\n"), 0o600)
	for _, c := range []struct {
		env, file, want, err string
	}{
		{"", "", "", ""},
		{long, "", long, ""},
		{" " + long + "\n", "", long, ""},
		{"", file, long, ""},
		{long, file, "", "not both"},
		{"short", "", "", "at least 32"},
		{"", filepath.Join(t.TempDir(), "missing"), "", "--admin-key-file"},
	} {
		got, err := adminKeyFrom(c.env, c.file)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("adminKeyFrom(%q, %q) = %q, %v; want %q, error with %q", c.env, c.file, got, err, c.want, c.err)
		}
	}
}

// A first start makes an operator key, prints it once with how to use it,
// and the printed key is the stored one; a second start prints nothing.
// A revoked operator key does not count: the next start makes another.
func TestEnsureAdminKeyFirstStartOnly(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var first bytes.Buffer
	if err := ensureAdminKey(ctx, store, livebill.SystemClock{}, "127.0.0.1:8080", &first); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`\n\s+(lbk_\S+)\n`).FindStringSubmatch(first.String())
	if m == nil || !strings.Contains(first.String(), "export LIVEBILL_KEY="+m[1]) || !strings.Contains(first.String(), "only this once") {
		t.Fatalf("first start printed:\n%s", first.String())
	}
	id, ok := livebill.KeyID(m[1])
	k, err := store.FindKey(ctx, id)
	if !ok || err != nil || !k.Admin() || !k.Matches(m[1]) {
		t.Fatalf("the printed key is not the stored operator key: %+v %v", k, err)
	}
	var second bytes.Buffer
	if err := ensureAdminKey(ctx, store, livebill.SystemClock{}, "127.0.0.1:8080", &second); err != nil || second.Len() != 0 {
		t.Fatalf("second start printed %q (%v)", second.String(), err)
	}
	store.RevokeKey(ctx, id)
	var third bytes.Buffer
	if err := ensureAdminKey(ctx, store, livebill.SystemClock{}, "127.0.0.1:8080", &third); err != nil || !strings.Contains(third.String(), "lbk_") {
		t.Fatalf("with the operator key revoked, a start printed %q (%v)", third.String(), err)
	}
}

// keys create, list and revoke through the API: create prints the key
// alone on stdout; the key works until revoked; list shows it and when
// it was revoked, never the key; an account key cannot manage keys.
func TestKeysCommand(t *testing.T) {
	ctx := context.Background()
	clock := fixedClock{time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC)}
	store, err := sqlite.Open(ctx, ":memory:", clock)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	api := lbhttp.NewServer(store, billing.New(store, clock))
	api.AdminKey = testAdminKey
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	admin := lbhttp.NewClient(srv.URL)
	admin.Key = testAdminKey
	if err := admin.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	os.WriteFile(keyFile, []byte(testAdminKey+"\n"), 0o600)
	stdout, stderr, code := runCLI(t, "keys", "create", "--account", "acct", "--name", "reports", "--server", srv.URL, "--key-file", keyFile)
	key := strings.TrimSpace(stdout)
	id, ok := livebill.KeyID(key)
	if code != 0 || !ok || !strings.Contains(stderr, "account acct") || !strings.Contains(stderr, id) {
		t.Fatalf("keys create: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	acct := lbhttp.NewClient(srv.URL)
	acct.Key = key
	if err := acct.Do(ctx, "GET", "/v1/accounts/acct", nil, nil); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if _, _, code := runCLI(t, "keys", "list", "--server", srv.URL, "--key", key); code == 0 {
		t.Fatal("an account key listed the keys")
	}
	t.Setenv("LIVEBILL_KEY", testAdminKey)
	if stdout, stderr, code := runCLI(t, "keys", "revoke", id, "--server", srv.URL); code != 0 || !strings.Contains(stdout, "revoked key "+id) {
		t.Fatalf("keys revoke: exit %d %q %q", code, stdout, stderr)
	}
	if err := acct.Do(ctx, "GET", "/v1/accounts/acct", nil, nil); livebill.ErrorCode(err) != livebill.EUNAUTHORIZED {
		t.Fatalf("the revoked key: %v", err)
	}
	stdout, _, code = runCLI(t, "keys", "list", "--server", srv.URL)
	if code != 0 || !strings.Contains(stdout, id) || !strings.Contains(stdout, "reports") || !strings.Contains(stdout, "2024-10-02T12:00:00Z") || strings.Contains(stdout, key[len(key)-20:]) {
		t.Fatalf("keys list:\n%s", stdout)
	}
	if _, stderr, code := runCLI(t, "keys", "list", "--server", srv.URL, "--key", "x", "--key-file", keyFile); code != 2 || !strings.Contains(stderr, "not both") {
		t.Fatalf("--key and --key-file: exit %d %q", code, stderr)
	}
}
