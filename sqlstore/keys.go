package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
)

var (
	_ livebill.KeyService       = (*DB)(nil)
	_ livebill.IdempotencyStore = (*DB)(nil)
)

// ---- API keys

const keyCols = `id, name, account_id, hash, created_at, revoked_at`

func scanKey(sc interface{ Scan(...any) error }) (*livebill.Key, error) {
	var k livebill.Key
	var hash, created, revoked string
	if err := sc.Scan(&k.ID, &k.Name, &k.AccountID, &hash, &created, &revoked); err != nil {
		return nil, err
	}
	var err error
	if k.Hash, err = hex.DecodeString(hash); err != nil {
		return nil, fmt.Errorf("key %q: stored hash is not hex: %w", k.ID, err)
	}
	k.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	if revoked != "" {
		k.RevokedAt, _ = time.Parse(time.RFC3339Nano, revoked)
	}
	return &k, nil
}

// CreateKey stores a key (its hash); a key of an account needs the account.
func (s *DB) CreateKey(ctx context.Context, k *livebill.Key) error {
	if k.AccountID != "" {
		if _, err := s.FindAccount(ctx, k.AccountID); err != nil {
			return err
		}
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO api_keys (id, name, account_id, hash, created_at) VALUES (?, ?, ?, ?, ?)`),
		k.ID, k.Name, k.AccountID, hex.EncodeToString(k.Hash), k.CreatedAt.UTC().Format(time.RFC3339Nano))
	if uniqueViolation(err) { // 64 random bits met again: the caller makes another
		return livebill.Errorf(livebill.ECONFLICT, "key %q already exists", k.ID)
	}
	if err != nil {
		return fmt.Errorf("cannot store key %q: %w", k.ID, err)
	}
	return nil
}

// FindKey returns a key or ENOTFOUND.
func (s *DB) FindKey(ctx context.Context, id string) (*livebill.Key, error) {
	k, err := scanKey(s.queryRow(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "key %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find key %q: %w", id, err)
	}
	return k, nil
}

func keysList() listQuery {
	return listQuery{name: "keys", cols: keyCols, from: "api_keys", key: []string{"seq"}, ints: []bool{true}}
}

func scanKeyRow(sc func(...any) error, key []any) (*livebill.Key, error) {
	return scanKey(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
}

// ListKeys returns a page of the keys in the order made.
func (s *DB) ListKeys(ctx context.Context, p livebill.Page) ([]*livebill.Key, string, error) {
	return readList(ctx, s, keysList(), &p, scanKeyRow)
}

// RevokeKey revokes a key; revoking it again keeps the first time.
func (s *DB) RevokeKey(ctx context.Context, id string) (*livebill.Key, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = ''`), now(s.clock), id); err != nil {
		return nil, fmt.Errorf("cannot revoke key %q: %w", id, err)
	}
	return s.FindKey(ctx, id)
}

// HasAdminKey reports whether an operator key that is not revoked exists.
func (s *DB) HasAdminKey(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE account_id = '' AND revoked_at = ''`).Scan(&n); err != nil {
		return false, fmt.Errorf("cannot look for an admin key: %w", err)
	}
	return n > 0, nil
}

// ---- idempotency keys

// ReserveIdempotencyKey records rec as in progress unless its (principal,
// key) is recorded; see livebill.IdempotencyStore. Each step is one
// statement, so concurrent requests with the same key cannot both
// reserve it: the primary key lets one insert through.
func (s *DB) ReserveIdempotencyKey(ctx context.Context, rec *livebill.IdempotencyRecord, expired, stale time.Time) (*livebill.IdempotencyRecord, error) {
	for attempt := 1; ; attempt++ {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE principal = ? AND idem_key = ? AND (created_ms < ? OR (status = 0 AND created_ms < ?))`),
			rec.Principal, rec.Key, expired.UnixMilli(), stale.UnixMilli()); err != nil {
			return nil, fmt.Errorf("cannot reserve idempotency key: %w", err)
		}
		res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO idempotency_keys (principal, idem_key, fingerprint, created_ms) VALUES (?, ?, ?, ?) ON CONFLICT (principal, idem_key) DO NOTHING`),
			rec.Principal, rec.Key, rec.Fingerprint, rec.CreatedAt.UnixMilli())
		if err != nil {
			return nil, fmt.Errorf("cannot reserve idempotency key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("cannot reserve idempotency key: %w", err)
		} else if n == 1 {
			return nil, nil
		}
		var got livebill.IdempotencyRecord
		var body string
		var ms int64
		err = s.db.QueryRowContext(ctx, s.q(`SELECT principal, idem_key, fingerprint, status, content_type, body, created_ms FROM idempotency_keys WHERE principal = ? AND idem_key = ?`),
			rec.Principal, rec.Key).Scan(&got.Principal, &got.Key, &got.Fingerprint, &got.Status, &got.ContentType, &body, &ms)
		if errors.Is(err, sql.ErrNoRows) && attempt < maxAttempts {
			continue // released in between: reserve again
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read idempotency key: %w", err)
		}
		got.Body, got.CreatedAt = []byte(body), time.UnixMilli(ms).UTC()
		return &got, nil
	}
}

// CompleteIdempotencyKey stores the answer of a reserved request.
func (s *DB) CompleteIdempotencyKey(ctx context.Context, rec *livebill.IdempotencyRecord) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE idempotency_keys SET status = ?, content_type = ?, body = ? WHERE principal = ? AND idem_key = ? AND fingerprint = ?`),
		rec.Status, rec.ContentType, string(rec.Body), rec.Principal, rec.Key, rec.Fingerprint)
	if err != nil {
		return fmt.Errorf("cannot store the answer of idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey forgets a request still in progress.
func (s *DB) ReleaseIdempotencyKey(ctx context.Context, principal, key string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE principal = ? AND idem_key = ? AND status = 0`), principal, key)
	if err != nil {
		return fmt.Errorf("cannot release idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes the records made before t.
func (s *DB) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE created_ms < ?`), before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("cannot purge idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
