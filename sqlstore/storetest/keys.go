package storetest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
)

// testKeys: a key is stored as its hash only, found by its public id,
// matches its own secret and no other, can be revoked (once: revoking
// again keeps the first time); a key of an account that does not exist is
// refused; HasAdminKey sees only operator keys that are not revoked.
func testKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, clock)
	if has, err := s.HasAdminKey(ctx); err != nil || has {
		t.Fatalf("empty store has an admin key: %v %v", has, err)
	}
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	acct, acctSecret, err := livebill.NewKey(&livebill.CreateKeyInput{AccountID: "a1", Name: "reporting"}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasAdminKey(ctx); has {
		t.Fatal("an account key counted as an admin key")
	}
	admin, adminSecret, _ := livebill.NewKey(&livebill.CreateKeyInput{Name: "ops"}, clock.Now())
	if err := s.CreateKey(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.HasAdminKey(ctx); !has {
		t.Fatal("no admin key after storing one")
	}
	ghost, _, _ := livebill.NewKey(&livebill.CreateKeyInput{AccountID: "nobody"}, clock.Now())
	if err := s.CreateKey(ctx, ghost); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("key of a missing account: %v, want not found", err)
	}
	if err := s.CreateKey(ctx, acct); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("same key id twice: %v, want conflict", err)
	}

	id, ok := livebill.KeyID(acctSecret)
	if !ok || id != acct.ID {
		t.Fatalf("KeyID(%q) = %q %v, want %q", acctSecret, id, ok, acct.ID)
	}
	got, err := s.FindKey(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountID != "a1" || got.Name != "reporting" || got.Admin() || got.Revoked() || !got.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("found %+v", got)
	}
	if bytes.Contains(got.Hash, []byte(acctSecret)) || len(got.Hash) != 32 {
		t.Fatalf("stored hash %x is not a SHA-256", got.Hash)
	}
	if !got.Matches(acctSecret) || got.Matches(adminSecret) || got.Matches(acctSecret[:len(acctSecret)-1]+"x") {
		t.Fatal("Matches accepts another key or refuses its own")
	}
	// the secret is stored nowhere: no column holds its random part
	if db, ok := s.(*sqlstore.DB); ok {
		rows, err := db.SQL().QueryContext(ctx, `SELECT id, name, account_id, hash, created_at, revoked_at FROM api_keys`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var cols [6]string
			if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4], &cols[5]); err != nil {
				t.Fatal(err)
			}
			row := strings.Join(cols[:], "|")
			if strings.Contains(row, acctSecret[21:]) || strings.Contains(row, adminSecret[21:]) {
				t.Fatalf("a key's secret is stored: %s", row)
			}
		}
		rows.Close()
	}
	if _, err := s.FindKey(ctx, "0000000000000000"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("unknown key: %v", err)
	}

	clock.Set(clock.Now().Add(time.Hour))
	r1, err := s.RevokeKey(ctx, admin.ID)
	if err != nil || !r1.Revoked() || !r1.RevokedAt.Equal(clock.Now()) {
		t.Fatalf("revoke: %+v %v", r1, err)
	}
	clock.Set(clock.Now().Add(time.Hour))
	r2, err := s.RevokeKey(ctx, admin.ID)
	if err != nil || !r2.RevokedAt.Equal(r1.RevokedAt) {
		t.Fatalf("revoke again moved the time: %v → %v (%v)", r1.RevokedAt, r2.RevokedAt, err)
	}
	if has, _ := s.HasAdminKey(ctx); has {
		t.Fatal("a revoked admin key still counts")
	}
	if _, err := s.RevokeKey(ctx, "0000000000000000"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("revoke unknown: %v", err)
	}

	for name, in := range map[string]livebill.CreateKeyInput{
		"long name": {Name: strings.Repeat("n", livebill.MaxKeyNameLen+1)},
		"NUL":       {Name: "a\x00b"},
		"bad UTF-8": {AccountID: "\xff"},
	} {
		if _, _, err := livebill.NewKey(&in, clock.Now()); livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

// testIdempotencyStore: the first reservation of (principal, key) wins and
// later ones get the record (in progress, then the stored answer); the
// same key of another principal is another record; a released key can be
// reserved again; an expired record, or one left in progress past the
// stale time, is replaced; purge deletes what is older than its time.
func testIdempotencyStore(t *testing.T, open Opener) {
	ctx := context.Background()
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)
	s := open(t, NewClock(t0))
	rec := func(principal, key, fp string, at time.Time) *livebill.IdempotencyRecord {
		return &livebill.IdempotencyRecord{Principal: principal, Key: key, Fingerprint: fp, CreatedAt: at}
	}
	never := time.Time{}
	reserve := func(r *livebill.IdempotencyRecord, expired, stale time.Time) *livebill.IdempotencyRecord {
		t.Helper()
		got, err := s.ReserveIdempotencyKey(ctx, r, expired, stale)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := reserve(rec("k1", "abc", "fp1", t0), never, never); got != nil {
		t.Fatalf("first reservation found %+v", got)
	}
	got := reserve(rec("k1", "abc", "fp2", t0), never, never)
	if got == nil || got.Status != 0 || got.Fingerprint != "fp1" {
		t.Fatalf("second reservation: %+v, want the first in progress", got)
	}
	if got := reserve(rec("k2", "abc", "fp1", t0), never, never); got != nil {
		t.Fatalf("another principal's key taken: %+v", got)
	}
	done := rec("k1", "abc", "fp1", t0)
	done.Status, done.ContentType, done.Body = 201, "application/json", []byte(`{"id":"a"}`+"\n")
	if err := s.CompleteIdempotencyKey(ctx, done); err != nil {
		t.Fatal(err)
	}
	got = reserve(rec("k1", "abc", "fp1", t0.Add(time.Minute)), never, t0.Add(time.Hour))
	if got == nil || got.Status != 201 || got.ContentType != "application/json" || string(got.Body) != `{"id":"a"}`+"\n" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after completion: %+v", got)
	}

	// released: free again
	if err := s.ReleaseIdempotencyKey(ctx, "k2", "abc"); err != nil {
		t.Fatal(err)
	}
	if got := reserve(rec("k2", "abc", "fp9", t0), never, never); got != nil {
		t.Fatalf("released key still held: %+v", got)
	}
	// left in progress (its request died): replaced once stale
	if got := reserve(rec("k2", "abc", "fp8", t0.Add(time.Minute)), never, t0); got == nil {
		t.Fatal("a fresh reservation was replaced")
	}
	if got := reserve(rec("k2", "abc", "fp8", t0.Add(10*time.Minute)), never, t0.Add(time.Second)); got != nil {
		t.Fatalf("a stale reservation was kept: %+v", got)
	}
	// an answered record is not stale, only expired
	if got := reserve(rec("k1", "abc", "fp5", t0.Add(time.Hour)), never, t0.Add(time.Minute)); got == nil || got.Status != 201 {
		t.Fatalf("an answered record was taken as stale: %+v", got)
	}
	if got := reserve(rec("k1", "abc", "fp5", t0.Add(25*time.Hour)), t0.Add(time.Hour), never); got != nil {
		t.Fatalf("an expired record was kept: %+v", got)
	}

	n, err := s.PurgeIdempotencyKeys(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 { // k2/abc made at t0+10m; k1/abc at t0+25h stays
		t.Fatalf("purge: %d %v, want 1", n, err)
	}
	if got := reserve(rec("k1", "abc", "fp6", t0.Add(25*time.Hour)), never, never); got == nil || got.Fingerprint != "fp5" {
		t.Fatalf("purge took a record it should have left: %+v", got)
	}
}
