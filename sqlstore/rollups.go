package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Rollups and checkpoints (livebill.RollupStore): written by IssueBills
// and IssueBillsEach in the settlement's transaction (writeRollups), read
// by the service for settled time.

var _ livebill.RollupStore = (*DB)(nil)

// writeRollups replaces each write's rollups of its span and stores its
// checkpoint, in tx.
func (s *DB) writeRollups(ctx context.Context, tx *sql.Tx, writes []livebill.SettleWrite) error {
	var usage, days, relays, logins, cps [][]any
	var spans []rollupSpan
	for _, w := range writes {
		r := w.Rollup
		if r == nil {
			continue
		}
		acct := w.Settlement.AccountID
		if r.From < r.To && !r.Fresh {
			spans = append(spans, rollupSpan{acct, r.From, r.To})
		}
		for _, u := range r.Usage {
			usage = append(usage, []any{acct, u.Window, u.App, u.Item, u.Value})
		}
		for _, d := range r.Days {
			days = append(days, []any{acct, d.Day, d.App, d.Item, d.Value})
		}
		for _, p := range r.Relays {
			relays = append(relays, []any{acct, p.App, p.Room, p.Task, p.Destination, p.Kbps, p.Start, p.End})
		}
		for _, l := range r.Logins {
			logins = append(logins, []any{acct, l.App, l.Month, l.User, l.First})
		}
		if cp := r.Checkpoint; cp != nil {
			var monthStart int64
			if r.MonthStart(cp.At) {
				monthStart = 1
			}
			cps = append(cps, []any{acct, cp.At, cp.Seq, string(cp.Meter), cp.Fingerprint, string(cp.Deduction), monthStart, cp.MadeAt.UnixMilli()})
		}
	}
	if err := s.deleteRollups(ctx, tx, spans); err != nil {
		return err
	}
	for _, ins := range []struct {
		table string
		cols  []rollupColumn
		rows  [][]any
	}{
		{"usage_rollups", usageColumns, usage},
		{"usage_days", dayColumns, days},
		{"relay_rollups", relayColumns, relays},
		{"login_rollups", loginColumns, logins},
		{"checkpoints", checkpointColumns, cps},
	} {
		tail := ""
		if ins.table == "checkpoints" {
			tail = ` ON CONFLICT (account_id, at_ms) DO UPDATE SET seq = excluded.seq, meter = excluded.meter, fingerprint = excluded.fingerprint,
				deduction = excluded.deduction, month_start = excluded.month_start, made_ms = excluded.made_ms`
		}
		if err := s.insertColumns(ctx, tx, ins.table, ins.cols, tail, ins.rows); err != nil {
			return fmt.Errorf("cannot store rollups: %w", err)
		}
	}
	return nil
}

// rollupColumn is a column of a rollup table and its type in PostgreSQL
// (text or bigint).
type rollupColumn struct{ name, pgType string }

// The columns of the rollup tables, in the order writeRollups gives
// their values.
var (
	usageColumns = []rollupColumn{{"account_id", "text"}, {"window_ms", "bigint"}, {"app", "text"}, {"item", "text"}, {"value", "bigint"}}
	dayColumns   = []rollupColumn{{"account_id", "text"}, {"day_ms", "bigint"}, {"app", "text"}, {"item", "text"}, {"value", "bigint"}}
	relayColumns = []rollupColumn{{"account_id", "text"}, {"app", "text"}, {"room", "text"}, {"task", "text"}, {"destination", "text"},
		{"kbps", "bigint"}, {"start_ms", "bigint"}, {"end_ms", "bigint"}}
	loginColumns      = []rollupColumn{{"account_id", "text"}, {"app", "text"}, {"month", "text"}, {"user_id", "text"}, {"first_ms", "bigint"}}
	checkpointColumns = []rollupColumn{{"account_id", "text"}, {"at_ms", "bigint"}, {"seq", "bigint"}, {"meter", "text"}, {"fingerprint", "text"},
		{"deduction", "text"}, {"month_start", "bigint"}, {"made_ms", "bigint"}}
)

// insertColumns inserts rows (each a value per column, strings for text
// columns and int64 for bigint ones) into table, in tx. SQLite takes them
// by multi-row VALUES (insertRows); PostgreSQL takes each column as one
// array, the whole group in one statement (INSERT … SELECT FROM unnest):
// parsing and planning VALUES lists of thousands of parameters took the
// server longer than inserting their rows.
func (s *DB) insertColumns(ctx context.Context, tx *sql.Tx, table string, cols []rollupColumn, tail string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	names := make([]string, len(cols))
	for j, c := range cols {
		names[j] = c.name
	}
	head := `INSERT INTO ` + table + ` (` + strings.Join(names, ", ") + `) `
	if !s.dialect.Numbered {
		return s.insertRows(ctx, tx, head+`VALUES `, tail, rows)
	}
	arrays := make([]any, len(cols))
	casts := make([]string, len(cols))
	for j, c := range cols {
		casts[j] = fmt.Sprintf("$%d::%s[]", j+1, c.pgType)
		var ok bool
		switch c.pgType {
		case "text":
			arrays[j], ok = column[string](rows, j)
		case "bigint":
			arrays[j], ok = column[int64](rows, j)
		}
		if !ok {
			return fmt.Errorf("column %s of %s: a value is not of type %s", c.name, table, c.pgType)
		}
	}
	_, err := tx.ExecContext(ctx, head+`SELECT * FROM unnest(`+strings.Join(casts, ", ")+`)`+tail, arrays...)
	return err
}

// column is the values of column j of rows, false if one is not a T.
func column[T any](rows [][]any, j int) ([]T, bool) {
	out := make([]T, len(rows))
	for i, r := range rows {
		v, ok := r[j].(T)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// rollupSpan is an account's span [from, to) whose rollups a settlement
// replaces.
type rollupSpan struct {
	account  string
	from, to int64
}

// rollupTables are the rollup tables and the column each is replaced by.
var rollupTables = []struct{ table, col string }{
	{"usage_rollups", "window_ms"},
	{"usage_days", "day_ms"},
	{"relay_rollups", "start_ms"},
	{"login_rollups", "first_ms"},
}

// deleteRollups deletes the rollups of the spans, in tx. PostgreSQL takes
// every span of a table in one statement (one round trip); SQLite runs
// one statement per span, prepared once per table (parsing it for every
// account took more than the deletes).
func (s *DB) deleteRollups(ctx context.Context, tx *sql.Tx, spans []rollupSpan) error {
	if len(spans) == 0 {
		return nil
	}
	if s.dialect.Numbered {
		accts := make([]string, len(spans))
		froms, tos := make([]int64, len(spans)), make([]int64, len(spans))
		for i, sp := range spans {
			accts[i], froms[i], tos[i] = sp.account, sp.from, sp.to
		}
		for _, t := range rollupTables {
			q := `DELETE FROM ` + t.table + ` r USING unnest($1::text[], $2::bigint[], $3::bigint[]) AS d(a, f, t)
				WHERE r.account_id = d.a AND r.` + t.col + ` >= d.f AND r.` + t.col + ` < d.t`
			if _, err := tx.ExecContext(ctx, q, accts, froms, tos); err != nil {
				return fmt.Errorf("cannot replace the rollups of accounts %q to %q: %w", spans[0].account, spans[len(spans)-1].account, err)
			}
		}
		return nil
	}
	for _, t := range rollupTables {
		st, err := tx.PrepareContext(ctx, `DELETE FROM `+t.table+` WHERE account_id = ? AND `+t.col+` >= ? AND `+t.col+` < ?`)
		if err != nil {
			return fmt.Errorf("cannot replace rollups: %w", err)
		}
		for _, sp := range spans {
			if _, err := st.ExecContext(ctx, sp.account, sp.from, sp.to); err != nil {
				st.Close()
				return fmt.Errorf("cannot replace the rollups of account %q: %w", sp.account, err)
			}
		}
		st.Close()
	}
	return nil
}

// ListUsageRollups returns the account's usage windows in [from, to), in
// the table's order (window, app, item): its callers sort as they need.
func (s *DB) ListUsageRollups(ctx context.Context, accountID string, from, to int64, items []string) ([]livebill.UsageWindow, error) {
	q := `SELECT app, item, window_ms, value FROM usage_rollups WHERE account_id = ? AND window_ms >= ? AND window_ms < ?`
	args := []any{accountID, from, to}
	if len(items) > 0 {
		q += ` AND item IN (?` + strings.Repeat(", ?", len(items)-1) + `)`
		for _, it := range items {
			args = append(args, it)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list the usage rollups of account %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []livebill.UsageWindow
	for rows.Next() {
		var u livebill.UsageWindow
		if err := rows.Scan(&u.App, &u.Item, &u.Window, &u.Value); err != nil {
			return nil, fmt.Errorf("cannot read a usage rollup of account %q: %w", accountID, err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ListUsageDays returns the account's daily usage of the days starting in
// [from, to), and the instant from which its days have daily rows
// (migration 0017).
func (s *DB) ListUsageDays(ctx context.Context, accountID string, from, to int64) ([]livebill.UsageDay, int64, error) {
	var complete int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT usage_days_from FROM accounts WHERE id = ?`), accountID).Scan(&complete)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("cannot list the daily usage of account %q: %w", accountID, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT app, item, day_ms, value FROM usage_days WHERE account_id = ? AND day_ms >= ? AND day_ms < ?`),
		accountID, from, to)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot list the daily usage of account %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []livebill.UsageDay
	for rows.Next() {
		var d livebill.UsageDay
		if err := rows.Scan(&d.App, &d.Item, &d.Day, &d.Value); err != nil {
			return nil, 0, fmt.Errorf("cannot read the daily usage of account %q: %w", accountID, err)
		}
		out = append(out, d)
	}
	return out, complete, rows.Err()
}

// ListRelayRollups returns the relay pieces starting in [from, to).
func (s *DB) ListRelayRollups(ctx context.Context, accountID string, from, to int64) ([]livebill.RelayPiece, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT app, room, task, destination, kbps, start_ms, end_ms FROM relay_rollups WHERE account_id = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms, app, room, task`),
		accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("cannot list the relay rollups of account %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []livebill.RelayPiece
	for rows.Next() {
		var p livebill.RelayPiece
		if err := rows.Scan(&p.App, &p.Room, &p.Task, &p.Destination, &p.Kbps, &p.Start, &p.End); err != nil {
			return nil, fmt.Errorf("cannot read a relay rollup of account %q: %w", accountID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ListLoginRollups returns the first logins in [from, to).
func (s *DB) ListLoginRollups(ctx context.Context, accountID string, from, to int64) ([]livebill.FirstLogin, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT app, month, user_id, first_ms FROM login_rollups WHERE account_id = ? AND first_ms >= ? AND first_ms < ?`),
		accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("cannot list the login rollups of account %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []livebill.FirstLogin
	for rows.Next() {
		var l livebill.FirstLogin
		if err := rows.Scan(&l.App, &l.Month, &l.User, &l.First); err != nil {
			return nil, fmt.Errorf("cannot read a login rollup of account %q: %w", accountID, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// FindCheckpoint returns the account's newest checkpoint at or before at
// (its meter state, a few KB to MBs, only when asked).
func (s *DB) FindCheckpoint(ctx context.Context, accountID string, at int64, meter bool) (*livebill.Checkpoint, error) {
	cp, err := s.findCheckpoint(ctx, accountID, `at_ms <= ?`, at, meter)
	return cp, err
}

// FindCheckpointMade returns the account's newest checkpoint made (stored)
// at or before instant made; ENOTFOUND if none.
func (s *DB) FindCheckpointMade(ctx context.Context, accountID string, made int64) (*livebill.Checkpoint, error) {
	return s.findCheckpoint(ctx, accountID, `made_ms <= ?`, made, false)
}

func (s *DB) findCheckpoint(ctx context.Context, accountID, cond string, v int64, full bool) (*livebill.Checkpoint, error) {
	cp := livebill.Checkpoint{AccountID: accountID}
	var meter, ded string
	var made int64
	col := `''`
	if full {
		col = `meter`
	}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT at_ms, seq, `+col+`, fingerprint, deduction, made_ms FROM checkpoints WHERE account_id = ? AND `+cond+` ORDER BY at_ms DESC LIMIT 1`), accountID, v).
		Scan(&cp.At, &cp.Seq, &meter, &cp.Fingerprint, &ded, &made)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "account %q has no checkpoint before %d", accountID, v)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find a checkpoint of account %q: %w", accountID, err)
	}
	cp.Meter, cp.Deduction = []byte(meter), []byte(ded)
	cp.MadeAt = time.UnixMilli(made)
	return &cp, nil
}

// PurgeEvents deletes the account's events before instant before and its
// checkpoints before boundary (at or after before; they could not be
// resumed from), and records boundary as the account's purge boundary,
// in one transaction; it returns how many events it deleted, which it
// takes off the account's event count.
func (s *DB) PurgeEvents(ctx context.Context, accountID string, before, boundary, anchor int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// under the account's lock, which ingestion takes: no event is
		// stored between this look and the delete
		if err := s.lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var late int
		err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE account_id = ? AND seq > ? AND time_ms < ? LIMIT 1) x`),
			accountID, anchor, boundary).Scan(&late)
		if err != nil || late > 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM events WHERE account_id = ? AND time_ms < ?`), accountID, before)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM checkpoints WHERE account_id = ? AND at_ms < ?`), accountID, boundary); err != nil {
			return err
		}
		// the count is of the events stored; the span (first_ms, last_ms)
		// stays, as livebill.EventSpan says
		_, err = tx.ExecContext(ctx, s.q(`UPDATE accounts SET event_count = event_count - ?,
			purged_ms = CASE WHEN purged_ms < ? THEN ? ELSE purged_ms END WHERE id = ?`), n, boundary, boundary, accountID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cannot purge the events of account %q before %d: %w", accountID, before, err)
	}
	return n, nil
}

// SetPurged sets the account's purge boundary (0: every event is there
// again, restored from an archive).
func (s *DB) SetPurged(ctx context.Context, accountID string, purged int64) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE accounts SET purged_ms = ? WHERE id = ?`), purged, accountID); err != nil {
		return fmt.Errorf("cannot set the purge boundary of account %q: %w", accountID, err)
	}
	return nil
}

// PruneCheckpoints deletes the checkpoints more than keepDays days before
// their account's newest, but those at the first midnight of a month.
func (s *DB) PruneCheckpoints(ctx context.Context, keepDays int) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM checkpoints WHERE month_start = 0 AND at_ms < (SELECT MAX(c.at_ms) FROM checkpoints c WHERE c.account_id = checkpoints.account_id) - ?`),
		int64(max(keepDays, 1))*24*3600*1000)
	if err != nil {
		return fmt.Errorf("cannot prune checkpoints: %w", err)
	}
	return nil
}

// HasCheckpoints reports which of the accounts ids have a checkpoint.
func (s *DB) HasCheckpoints(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, `account_id`, "checkpoints", "account_id", "", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot look for checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// EarliestAfter returns the earliest time of the account's events after
// seq. The index on (account_id, seq, time_ms) answers it from the rows
// after seq alone (time_ms is written +time_ms so that the index on
// times, which would read the account's whole history, is not used).
func (s *DB) EarliestAfter(ctx context.Context, accountID string, seq int64) (int64, bool, error) {
	var t sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT MIN(+time_ms) FROM events WHERE account_id = ? AND seq > ?`), accountID, seq).Scan(&t)
	if err != nil {
		return 0, false, fmt.Errorf("cannot look for late events of account %q: %w", accountID, err)
	}
	return t.Int64, t.Valid, nil
}
