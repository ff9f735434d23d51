package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
)

// PutQuarantine records, or replaces, an account's quarantine.
func (s *DB) PutQuarantine(ctx context.Context, q *livebill.Quarantine) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO quarantines (account_id, revision, error, since) VALUES (?, ?, ?, ?)
ON CONFLICT (account_id) DO UPDATE SET revision = excluded.revision, error = excluded.error, since = excluded.since`),
		q.AccountID, q.Revision, q.Error, q.Since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("cannot quarantine account %q: %w", q.AccountID, err)
	}
	return nil
}

// DeleteQuarantine releases an account.
func (s *DB) DeleteQuarantine(ctx context.Context, accountID string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM quarantines WHERE account_id = ?`), accountID); err != nil {
		return fmt.Errorf("cannot release account %q: %w", accountID, err)
	}
	return nil
}

const quarantineCols = `account_id, revision, error, since`

func scanQuarantine(sc interface{ Scan(...any) error }) (*livebill.Quarantine, error) {
	var q livebill.Quarantine
	var since string
	if err := sc.Scan(&q.AccountID, &q.Revision, &q.Error, &since); err != nil {
		return nil, err
	}
	q.Since, _ = time.Parse(time.RFC3339Nano, since)
	return &q, nil
}

// FindQuarantine returns the account's quarantine, nil if none.
func (s *DB) FindQuarantine(ctx context.Context, accountID string) (*livebill.Quarantine, error) {
	q, err := scanQuarantine(s.queryRow(ctx, `SELECT `+quarantineCols+` FROM quarantines WHERE account_id = ?`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find the quarantine of account %q: %w", accountID, err)
	}
	return q, nil
}

// quarantinesList is the quarantines by account id (one an account).
func quarantinesList() listQuery {
	return listQuery{name: "quarantine", cols: "revision, error, since", from: "quarantines", key: []string{"account_id"}, ints: []bool{false}}
}

func scanQuarantineRow(sc func(...any) error, key []any) (*livebill.Quarantine, error) {
	var q livebill.Quarantine
	var since string
	if err := sc(append([]any{&q.Revision, &q.Error, &since}, key...)...); err != nil {
		return nil, err
	}
	q.AccountID = *key[0].(*string)
	q.Since, _ = time.Parse(time.RFC3339Nano, since)
	return &q, nil
}

// ListQuarantines returns every quarantine by account id.
func (s *DB) ListQuarantines(ctx context.Context) ([]*livebill.Quarantine, error) {
	return all(ctx, s, quarantinesList(), scanQuarantineRow)
}

// PageQuarantines returns a page of the quarantines by account id.
func (s *DB) PageQuarantines(ctx context.Context, p livebill.Page) ([]*livebill.Quarantine, string, error) {
	return readList(ctx, s, quarantinesList(), &p, scanQuarantineRow)
}
