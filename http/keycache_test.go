package http_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// countingStore counts the key reads that reach the store.
type countingStore struct {
	livebill.Store
	finds atomic.Int64
}

func (c *countingStore) FindKey(ctx context.Context, id string) (*livebill.Key, error) {
	c.finds.Add(1)
	return c.Store.FindKey(ctx, id)
}

// Two servers share one store (as two `livebill serve` share PostgreSQL).
// A stored key is read from the store once per KeyCacheTTL, not on every
// request. Revoked through server A, it is refused by A from the next
// request on; server B, which read it before, accepts it until
// KeyCacheTTL after that read and refuses it from then on (and at once if
// its clock goes back before its read).
func TestKeyCacheRevocation(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, ":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := &countingStore{Store: db}
	clock := storetest.NewClock(time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC))
	serve := func() *lbhttp.Client {
		s := lbhttp.NewServer(store, billing.New(store, clock))
		s.AdminKey = testAdminKey
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(srv.Close)
		c := lbhttp.NewClient(srv.URL)
		c.Key = testAdminKey
		return c
	}
	adminA, adminB := serve(), serve()
	if err := adminA.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil); err != nil {
		t.Fatal(err)
	}
	var k lbhttp.KeyJSON
	if err := adminA.Do(ctx, "POST", "/v1/keys", map[string]any{"account": "acct"}, &k); err != nil {
		t.Fatal(err)
	}
	as := func(admin *lbhttp.Client) *lbhttp.Client {
		c := *admin
		c.Key = k.Key
		return &c
	}
	a, b := as(adminA), as(adminB)
	get := func(c *lbhttp.Client) error { return c.Do(ctx, "GET", "/v1/accounts/acct", nil, nil) }

	// 10 requests to each server, within one TTL: one store read each
	before := store.finds.Load()
	for range 10 {
		if err := get(a); err != nil {
			t.Fatal(err)
		}
		if err := get(b); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.finds.Load() - before; n != 2 {
		t.Errorf("20 requests on two servers read the key %d times, want 2 (once per server)", n)
	}
	// a TTL later: read again
	clock.Set(clock.Now().Add(lbhttp.KeyCacheTTL))
	if err := get(b); err != nil {
		t.Fatal(err)
	}
	if n := store.finds.Load() - before; n != 3 {
		t.Errorf("after the TTL: %d reads, want 3", n)
	}
	readB := clock.Now() // B's last read of the key

	// revoked through A: A refuses it at once, though it read it within the TTL
	clock.Set(clock.Now().Add(100 * time.Millisecond))
	if err := get(a); err != nil {
		t.Fatal(err)
	}
	if err := adminA.Do(ctx, "DELETE", "/v1/keys/"+k.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := get(a); livebill.ErrorCode(err) != livebill.EUNAUTHORIZED {
		t.Fatalf("server A right after the revocation: %v, want unauthorized", err)
	}
	// B still holds its read until KeyCacheTTL after it, then refuses
	clock.Set(readB.Add(lbhttp.KeyCacheTTL - time.Millisecond))
	if err := get(b); err != nil {
		t.Fatalf("server B within the TTL of its read: %v, want the key still accepted", err)
	}
	clock.Set(readB.Add(lbhttp.KeyCacheTTL))
	if err := get(b); livebill.ErrorCode(err) != livebill.EUNAUTHORIZED {
		t.Fatalf("server B %s after its read: %v, want unauthorized", lbhttp.KeyCacheTTL, err)
	}

	// a clock set back does not stretch a read's life: revoked in the
	// store by another server, a key read "in the future" is read again
	var k2 lbhttp.KeyJSON
	if err := adminA.Do(ctx, "POST", "/v1/keys", map[string]any{"account": "acct"}, &k2); err != nil {
		t.Fatal(err)
	}
	b.Key = k2.Key
	if err := get(b); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().Add(-time.Millisecond))
	if err := get(b); livebill.ErrorCode(err) != livebill.EUNAUTHORIZED {
		t.Fatalf("server B, its clock set back after its read: %v, want unauthorized", err)
	}
}
