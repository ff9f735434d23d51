package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// What holds settlement (livebill.HoldService; migration 0012): ingest
// activity per (account, billing day) in ingest_days, written in the
// transaction that stores the events (or the purchase, or the refund),
// and imports with the accounts their batches sent events for.

// dayKey is one (account, billing day) of ingest activity.
type dayKey struct{ acct, day string }

// touchDays records ingest activity now on each (account, day) of days,
// in tx. The last time only moves forward (servers' clocks may differ).
func (s *DB) touchDays(ctx context.Context, tx *sql.Tx, days map[dayKey]bool) error {
	if len(days) == 0 {
		return nil
	}
	keys := make([]dayKey, 0, len(days))
	for k := range days {
		keys = append(keys, k)
	}
	// one order for every writer (rows of one account are already
	// serialized by its lock; this keeps any two batches from crossing)
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].acct != keys[j].acct {
			return keys[i].acct < keys[j].acct
		}
		return keys[i].day < keys[j].day
	})
	at := s.clock.Now().UnixMilli()
	if s.dialect.Numbered {
		accts, ds, ats := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			accts[i], ds[i], ats[i] = k.acct, k.day, at
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ingest_days (account_id, day, last_ms) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
			ON CONFLICT (account_id, day) DO UPDATE SET last_ms = GREATEST(ingest_days.last_ms, excluded.last_ms)`, accts, ds, ats)
		return err
	}
	const rowsPerInsert = 1000
	for lo := 0; lo < len(keys); lo += rowsPerInsert {
		chunk := keys[lo:min(lo+rowsPerInsert, len(keys))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ingest_days (account_id, day, last_ms) VALUES `)
		args := make([]any, 0, 3*len(chunk))
		for i, k := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?, ?, ?)`)
			args = append(args, k.acct, k.day, at)
		}
		b.WriteString(` ON CONFLICT (account_id, day) DO UPDATE SET last_ms = MAX(last_ms, excluded.last_ms)`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// touchDay records ingest activity on one account's day (a purchase or a
// refund taking effect then); "" records nothing.
func (s *DB) touchDay(ctx context.Context, tx *sql.Tx, acct, day string) error {
	if day == "" {
		return nil
	}
	if err := s.touchDays(ctx, tx, map[dayKey]bool{{acct, day}: true}); err != nil {
		return fmt.Errorf("cannot record the activity of account %q on %s: %w", acct, day, err)
	}
	return nil
}

// holdImports renews, in tx, the expiry of the imports the events were
// sent under and records the accounts they hold. An import that does not
// exist or is finished refuses the batch.
func (s *DB) holdImports(ctx context.Context, tx *sql.Tx, events []livebill.IncomingEvent) error {
	held := map[string]map[string]bool{} // import → accounts
	for _, e := range events {
		if e.Import == "" || e.AccountID == "" {
			continue
		}
		if held[e.Import] == nil {
			held[e.Import] = map[string]bool{}
		}
		held[e.Import][e.AccountID] = true
	}
	if len(held) == 0 {
		return nil
	}
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	now := s.clock.Now().UnixMilli()
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE imports SET expires_ms = ? + timeout_ms WHERE id = ? AND finished_ms = 0`), now, id)
		if err != nil {
			return fmt.Errorf("cannot renew import %q: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("cannot renew import %q: %w", id, err)
		} else if n == 0 {
			var finished int64
			err := tx.QueryRowContext(ctx, s.q(`SELECT finished_ms FROM imports WHERE id = ?`), id).Scan(&finished)
			if errors.Is(err, sql.ErrNoRows) {
				return livebill.Errorf(livebill.ENOTFOUND, "import %q not found", id)
			}
			if err != nil {
				return fmt.Errorf("cannot read import %q: %w", id, err)
			}
			return livebill.Errorf(livebill.ECONFLICT, "import %q is finished: start a new import to send more events", id)
		}
		accts := make([]string, 0, len(held[id]))
		for a := range held[id] {
			accts = append(accts, a)
		}
		sort.Strings(accts)
		var b strings.Builder
		b.WriteString(`INSERT INTO import_accounts (import_id, account_id) VALUES `)
		args := make([]any, 0, 2*len(accts))
		for i, a := range accts {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?, ?)`)
			args = append(args, id, a)
		}
		b.WriteString(` ON CONFLICT (import_id, account_id) DO NOTHING`)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return fmt.Errorf("cannot record the accounts of import %q: %w", id, err)
		}
	}
	return nil
}

// CreateImport records a new open import expiring timeout from now.
func (s *DB) CreateImport(ctx context.Context, in *livebill.CreateImportInput) (*livebill.Import, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now, timeout := s.clock.Now().UnixMilli(), in.Timeout.Milliseconds()
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO imports (id, name, account_id, created_ms, timeout_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)`),
		in.ID, in.Name, in.Account, now, timeout, now+timeout); err != nil {
		if uniqueViolation(err) {
			return nil, livebill.Errorf(livebill.ECONFLICT, "import %q already exists", in.ID)
		}
		return nil, fmt.Errorf("cannot create import %q: %w", in.ID, err)
	}
	return s.FindImport(ctx, in.ID)
}

// FindImport returns an import, its state at now, or ENOTFOUND.
func (s *DB) FindImport(ctx context.Context, id string) (*livebill.Import, error) {
	var created, expires, finished int64
	var name, owner string
	var accounts int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, account_id, created_ms, expires_ms, finished_ms, (SELECT COUNT(*) FROM import_accounts WHERE import_id = ?) FROM imports WHERE id = ?`), id, id).
		Scan(&name, &owner, &created, &expires, &finished, &accounts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "import %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find import %q: %w", id, err)
	}
	im := &livebill.Import{ID: id, Name: name, Account: owner, CreatedAt: time.UnixMilli(created).UTC(), ExpiresAt: time.UnixMilli(expires).UTC(), Accounts: accounts}
	switch {
	case finished > 0:
		im.State, im.FinishedAt = livebill.ImportFinished, time.UnixMilli(finished).UTC()
	case expires <= s.clock.Now().UnixMilli():
		im.State = livebill.ImportExpired
	default:
		im.State = livebill.ImportOpen
	}
	return im, nil
}

// FinishImport marks an import finished; finishing it again changes
// nothing.
func (s *DB) FinishImport(ctx context.Context, id string) (*livebill.Import, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE imports SET finished_ms = ? WHERE id = ? AND finished_ms = 0`), s.clock.Now().UnixMilli(), id); err != nil {
		return nil, fmt.Errorf("cannot finish import %q: %w", id, err)
	}
	return s.FindImport(ctx, id)
}

// FindSettleHolds returns what holds each of the accounts ids: the first
// day with ingest after quietSince, and an open import (the smallest id
// if several). One query, a look-up per account through the primary keys.
func (s *DB) FindSettleHolds(ctx context.Context, ids []string, quietSince time.Time) (map[string]livebill.SettleHold, error) {
	out := map[string]livebill.SettleHold{}
	if len(ids) == 0 {
		return out, nil
	}
	now := s.clock.Now().UnixMilli()
	const cols = `SELECT c.k,
		COALESCE((SELECT MIN(d.day) FROM ingest_days d WHERE d.account_id = c.k AND d.last_ms > ?), ''),
		COALESCE((SELECT MAX(d.last_ms) FROM ingest_days d WHERE d.account_id = c.k AND d.last_ms > ?), 0),
		COALESCE((SELECT MIN(i.id) FROM import_accounts a JOIN imports i ON i.id = a.import_id WHERE a.account_id = c.k AND i.finished_ms = 0 AND i.expires_ms > ?), ''),
		COALESCE((SELECT MAX(i.expires_ms) FROM import_accounts a JOIN imports i ON i.id = a.import_id WHERE a.account_id = c.k AND i.finished_ms = 0 AND i.expires_ms > ?), 0)
		FROM `
	since := quietSince.UnixMilli()
	var q string
	var args []any // in the order of the placeholders in q
	if s.dialect.Numbered {
		q = cols + `unnest(CAST(? AS TEXT[])) AS c(k)`
		args = []any{since, since, now, now, ids}
	} else {
		var b strings.Builder
		b.WriteString(`WITH c(k) AS (VALUES `)
		args = make([]any, 0, len(ids)+4)
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?)`)
			args = append(args, id)
		}
		b.WriteString(`) ` + cols + `c`)
		q = b.String()
		args = append(args, since, since, now, now)
	}
	rows, err := s.reader().QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read settlement holds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct string
		var h livebill.SettleHold
		var last, expires int64
		if err := rows.Scan(&acct, &h.Day, &last, &h.Import, &expires); err != nil {
			return nil, fmt.Errorf("cannot read settlement holds: %w", err)
		}
		if !h.Held() {
			continue
		}
		if last > 0 {
			h.LastIngest = time.UnixMilli(last).UTC()
		}
		if expires > 0 {
			h.ImportExpires = time.UnixMilli(expires).UTC()
		}
		out[acct] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read settlement holds: %w", err)
	}
	return out, nil
}

// PruneHolds deletes ingest activity older than before and the imports
// (with their accounts) finished or expired before it.
func (s *DB) PruneHolds(ctx context.Context, before time.Time) error {
	b := before.UnixMilli()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot prune settlement holds: %w", err)
	}
	defer tx.Rollback()
	const gone = `(finished_ms > 0 AND finished_ms < ?) OR expires_ms < ?`
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM ingest_days WHERE last_ms < ?`, []any{b}},
		{`DELETE FROM import_accounts WHERE import_id IN (SELECT id FROM imports WHERE ` + gone + `)`, []any{b, b}},
		{`DELETE FROM imports WHERE ` + gone, []any{b, b}},
	} {
		if _, err := tx.ExecContext(ctx, s.q(q.sql), q.args...); err != nil {
			return fmt.Errorf("cannot prune settlement holds: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot prune settlement holds: %w", err)
	}
	return nil
}
