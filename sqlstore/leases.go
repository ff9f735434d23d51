package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/livebill/livebill"
)

var _ livebill.LeaseStore = (*DB)(nil)

// Leases (migration 0014). lease_slots is the lock: one row per (account,
// pool, slot) naming the lease that holds it, since when (since_ms) and
// until when (ends_ms; negated once the lease is released: -ends_ms is
// the release instant). A lease takes a slot by an upsert that succeeds
// only if the slot is free — never taken, released, or expired at the
// acquirer's instant (ends_ms ≤ now) — so the database, not a server's
// memory, decides, and servers sharing it never hand out one slot twice.
//
// The slot row is kept after its lease ends, so the next lease of the
// slot starts no earlier than the last one ended: since = the later of
// the acquirer's instant and the release instant. (An acquirer's instant
// is read before its statement runs, and may be older than a release
// another server committed meanwhile; the slot is free — it was released —
// and the new lease counts from the release.) So the history never shows
// a slot held twice at one instant.
//
// leases is the history: every lease granted, with the instant it was
// acquired and the instant it ends (moved by renewals, set by a release).
// A renewal or release changes the slot row and the lease row in one
// statement (PostgreSQL) or one transaction (SQLite), the slot row first:
// it decides.
//
// On PostgreSQL each operation is one statement's work (data-modifying
// CTEs), taking row locks only on the slot it changes; concurrent
// acquirers that pick the same free slot are serialized by the slot's
// primary key and the loser tries another. The acquisitions' first tries,
// the renewals and the releases asked at once share statements (group
// commit: leasebatch.go). On SQLite (one writer) each is a short
// transaction.

const leaseCols = `account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, released`

func scanLease(sc interface{ Scan(...any) error }) (*livebill.Lease, error) {
	var l livebill.Lease
	var acquired, ends int64
	var released int
	if err := sc.Scan(&l.Account, &l.ID, &l.App, &l.Kind, &l.Pool, &l.Slot, &l.Holder, &acquired, &ends, &released); err != nil {
		return nil, err
	}
	l.Acquired, l.Ends, l.Released = time.UnixMilli(acquired).UTC(), time.UnixMilli(ends).UTC(), released != 0
	return &l, nil
}

// acquireAttempts bounds the tries of one acquisition that keeps losing a
// free slot to concurrent acquirers (each loss means another lease was
// granted, so the pool is filling up, unless releases keep emptying it).
const acquireAttempts = 32

// AcquireLease takes a free slot of the pool (see livebill.LeaseStore).
func (s *DB) AcquireLease(ctx context.Context, in *livebill.AcquireLeaseInput) (*livebill.Lease, bool, error) {
	if in.Account == "" || in.ID == "" || in.Pool == "" {
		return nil, false, livebill.Errorf(livebill.EINVALID, "a lease needs an account, an id and a pool")
	}
	now, ends := in.Now.UnixMilli(), in.Ends.UnixMilli()
	if ends <= now {
		return nil, false, livebill.Errorf(livebill.EINVALID, "lease %q: it must end after it starts", in.ID)
	}
	for attempt := 0; attempt < acquireAttempts; attempt++ {
		var t taken
		var err error
		if in.Capacity > 0 {
			if s.dialect.Numbered {
				// first a random slot alone (in a pool with room, most
				// often free: one row of a grouped statement), then a
				// search of the free ones
				t, err = s.takeSlotGrouped(ctx, in, now, ends)
				if errors.Is(err, sql.ErrNoRows) {
					t, err = s.acquirePG(ctx, in, now, ends, -1)
				}
			} else {
				t, err = s.acquireSQLite(ctx, in, now, ends)
			}
		} else {
			err = sql.ErrNoRows
		}
		if err == nil {
			l := &livebill.Lease{Account: in.Account, ID: in.ID, App: in.App, Kind: in.Kind, Pool: in.Pool, Slot: t.slot,
				Holder: in.Holder, Acquired: time.UnixMilli(t.since).UTC(), Ends: time.UnixMilli(t.ends).UTC()}
			return l, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) && !uniqueViolation(err) && !transient(err) {
			return nil, false, fmt.Errorf("cannot acquire lease %q of pool %s: %w", in.ID, in.Pool, err)
		}
		// Nothing granted: the id is taken (by an earlier call, or a
		// concurrent one with the same id), every slot is held, or a
		// concurrent acquirer took the slot this one picked.
		had, ferr := s.FindLease(ctx, in.Account, in.ID)
		if ferr == nil {
			return s.again(ctx, had, in)
		}
		if livebill.ErrorCode(ferr) != livebill.ENOTFOUND {
			return nil, false, ferr
		}
		held, err := s.heldSlots(ctx, in.Account, in.Pool, now)
		if err != nil {
			return nil, false, err
		}
		if held >= in.Capacity {
			return nil, false, nil
		}
	}
	return nil, false, nil // lost every race: the pool is as good as full
}

// again answers an acquisition under an id the account already has: the
// same lease, its end moved to the new one if it is held; a conflict if the
// id names a lease of another pool or app.
func (s *DB) again(ctx context.Context, had *livebill.Lease, in *livebill.AcquireLeaseInput) (*livebill.Lease, bool, error) {
	if had.Pool != in.Pool || had.App != in.App {
		return nil, false, livebill.Errorf(livebill.ECONFLICT, "lease %q is a lease of app %s in pool %s, not of app %s in pool %s: use a new lease id",
			in.ID, had.App, had.Pool, in.App, in.Pool)
	}
	if !had.Held(in.Now) || !in.Ends.After(had.Ends) {
		return had, false, nil
	}
	l, err := s.RenewLease(ctx, in.Account, in.App, in.ID, in.Now, in.Ends)
	if livebill.ErrorCode(err) == livebill.ECONFLICT { // it ended in between
		l, err = s.FindLease(ctx, in.Account, in.ID)
	}
	return l, false, err
}

// taken is the slot a lease took and its span there.
type taken struct {
	slot        int
	since, ends int64
}

// takeSlot is the upsert that takes a free slot (its values: account,
// pool, slot, lease id, since, ends; $6 is the acquirer's instant):
// on an existing row only if it is free at $6, the new lease counting
// from the later of $6 and the release of the last one (-ends_ms), and
// ending after that.
const takeSlot = `ON CONFLICT (account_id, pool, slot) DO UPDATE SET lease_id = EXCLUDED.lease_id,
		since_ms = GREATEST(EXCLUDED.since_ms, -lease_slots.ends_ms),
		ends_ms = GREATEST(EXCLUDED.ends_ms, -lease_slots.ends_ms + 1)
	WHERE lease_slots.ends_ms <= $6
	RETURNING slot, since_ms, ends_ms`

// acquirePG takes a slot and records the lease in one statement: slot
// probe, or with probe < 0 a free slot picked at random (so acquirers
// racing for one pool mostly pick different ones), unless the id is
// already a lease of the account. The upsert takes the slot only if it is
// still free when its row is locked (a concurrent acquirer may have taken
// it: no row).
func (s *DB) acquirePG(ctx context.Context, in *livebill.AcquireLeaseInput, now, ends int64, probe int) (taken, error) {
	const search = `WITH free AS (
	SELECT n FROM generate_series(0, $5::int - 1) AS n
	WHERE NOT EXISTS (SELECT 1 FROM lease_slots x WHERE x.account_id = $1 AND x.pool = $2 AND x.slot = n AND x.ends_ms > $6)
	  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = $1 AND l.id = $3)
	ORDER BY random() LIMIT 1
), taken AS (
	INSERT INTO lease_slots (account_id, pool, slot, lease_id, since_ms, ends_ms)
	SELECT $1, $2, n, $3, $6, $7 FROM free
	` + takeSlot + `
)
INSERT INTO leases (account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, meter_state)
SELECT $1, $3, $4, $8, $2, slot, $9, since_ms, ends_ms, $10 FROM taken
RETURNING slot, acquired_ms, ends_ms`
	const one = `WITH taken AS (
	INSERT INTO lease_slots (account_id, pool, slot, lease_id, since_ms, ends_ms)
	SELECT $1, $2, $5::int, $3, $6, $7
	WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = $1 AND l.id = $3)
	` + takeSlot + `
)
INSERT INTO leases (account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, meter_state)
SELECT $1, $3, $4, $8, $2, slot, $9, since_ms, ends_ms, $10 FROM taken
RETURNING slot, acquired_ms, ends_ms`
	q, n := search, in.Capacity
	if probe >= 0 {
		q, n = one, probe
	}
	var t taken
	err := s.db.QueryRowContext(ctx, q, in.Account, in.Pool, in.ID, in.App, n, now, ends, in.Kind, in.Holder, meterState(in)).Scan(&t.slot, &t.since, &t.ends)
	return t, err
}

// acquireSQLite is acquirePG as a transaction of two statements (SQLite
// has no data-modifying CTEs; its one writer makes them atomic anyway):
// first one slot picked at random (in a pool with room, most often free:
// one look-up), then, if it is held, a search of every slot (a look-up
// each: the cost of a full pool's last free slots).
func (s *DB) acquireSQLite(ctx context.Context, in *livebill.AcquireLeaseInput, now, ends int64) (taken, error) {
	var t taken
	_ = s.prepareAll(ctx, sqliteProbeSlot, sqliteSearchSlot, sqliteInsertLease) // else parsed in tx
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return t, err
	}
	defer tx.Rollback()
	err = s.queryRowTx(ctx, tx, sqliteProbeSlot, rand.IntN(in.Capacity), in.Account, in.Pool, in.ID, now, ends).Scan(&t.slot, &t.since, &t.ends)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.queryRowTx(ctx, tx, sqliteSearchSlot, in.Capacity, in.Account, in.Pool, in.ID, now, ends).Scan(&t.slot, &t.since, &t.ends)
	}
	if err != nil {
		return t, err
	}
	if _, err := s.execTx(ctx, tx, sqliteInsertLease,
		in.Account, in.ID, in.App, in.Kind, in.Pool, t.slot, in.Holder, t.since, t.ends, meterState(in)); err != nil {
		return t, err
	}
	return t, tx.Commit()
}

// SQLite's lease statements (acquireSQLite). The upsert takes the slot
// only while it is free at ?5 (see takeSlot).
const (
	sqliteTakeSlot = `
ON CONFLICT (account_id, pool, slot) DO UPDATE SET lease_id = excluded.lease_id,
	since_ms = max(excluded.since_ms, -lease_slots.ends_ms),
	ends_ms = max(excluded.ends_ms, -lease_slots.ends_ms + 1)
WHERE lease_slots.ends_ms <= ?5
RETURNING slot, since_ms, ends_ms`
	sqliteProbeSlot = `INSERT INTO lease_slots (account_id, pool, slot, lease_id, since_ms, ends_ms)
SELECT ?2, ?3, ?1, ?4, ?5, ?6
WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = ?2 AND l.id = ?4)` + sqliteTakeSlot
	sqliteSearchSlot = `WITH RECURSIVE series(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM series WHERE n + 1 < ?1)
INSERT INTO lease_slots (account_id, pool, slot, lease_id, since_ms, ends_ms)
SELECT ?2, ?3, n, ?4, ?5, ?6 FROM series
WHERE NOT EXISTS (SELECT 1 FROM lease_slots x WHERE x.account_id = ?2 AND x.pool = ?3 AND x.slot = n AND x.ends_ms > ?5)
  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = ?2 AND l.id = ?4)
ORDER BY random() LIMIT 1` + sqliteTakeSlot
	sqliteInsertLease = `INSERT INTO leases (account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, meter_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqliteEndSlot     = `UPDATE lease_slots SET ends_ms = CASE WHEN ?1 = 1 THEN -max(?2, since_ms) ELSE max(ends_ms, ?3) END
WHERE account_id = ?4 AND (pool, slot) = (SELECT pool, slot FROM leases WHERE account_id = ?4 AND id = ?5 AND app = ?6)
  AND lease_id = ?5 AND ends_ms > ?2 RETURNING abs(ends_ms)`
	sqliteEndLease = `UPDATE leases SET ends_ms = ?, released = ? WHERE account_id = ? AND id = ? RETURNING ` + leaseCols
)

// queryRowTx and execTx run q in tx through its kept statement when one
// was prepared before tx began (prepareAll: parsing the lease statements
// was a third of a lease's CPU time on SQLite).
func (s *DB) queryRowTx(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.txStmt(ctx, tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, q, args...)
}

func (s *DB) execTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.txStmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, q, args...)
}

// meterState is a new lease's meter_state: 0 (its start and stop events
// to be stored) when its kind is metered, else 2 (nothing to store).
func meterState(in *livebill.AcquireLeaseInput) int {
	if in.Metered {
		return 0
	}
	return 2
}

// heldSlots counts the pool's slots held at now.
func (s *DB) heldSlots(ctx context.Context, account, pool string, now int64) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM lease_slots WHERE account_id = ? AND pool = ? AND ends_ms > ?`, account, pool, now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("cannot count the held slots of pool %s: %w", pool, err)
	}
	return n, nil
}

// RenewLease moves a held lease's end (see livebill.LeaseStore).
func (s *DB) RenewLease(ctx context.Context, account, app, id string, now, ends time.Time) (*livebill.Lease, error) {
	return s.endLease(ctx, account, app, id, now.UnixMilli(), ends.UnixMilli(), false)
}

// ReleaseLease ends a held lease now (see livebill.LeaseStore).
func (s *DB) ReleaseLease(ctx context.Context, account, app, id string, now time.Time) (*livebill.Lease, error) {
	ms := now.UnixMilli()
	l, err := s.endLease(ctx, account, app, id, ms, ms, true)
	if livebill.ErrorCode(err) == livebill.ECONFLICT {
		return s.FindLease(ctx, account, id) // already ended: unchanged
	}
	return l, err
}

// endLease sets a held lease's end: a renewal moves it to ends (never
// earlier), a release sets it to now (not before the lease began) and
// marks the slot and the lease released. The slot row is updated first,
// and only while the lease holds it at now; the lease row follows in the
// same statement or transaction.
func (s *DB) endLease(ctx context.Context, account, app, id string, now, ends int64, release bool) (*livebill.Lease, error) {
	rel := 0
	if release {
		rel = 1
	}
	var l *livebill.Lease
	var err error
	if s.dialect.Numbered {
		l, err = s.endLeaseGrouped(ctx, account, app, id, now, ends, release)
	} else {
		l, err = s.endLeaseSQLite(ctx, account, app, id, now, ends, rel)
	}
	if errors.Is(err, sql.ErrNoRows) {
		had, ferr := s.FindLease(ctx, account, id)
		if ferr != nil {
			return nil, ferr
		}
		if had.App != app {
			return nil, livebill.Errorf(livebill.ENOTFOUND, "lease %q not found", id)
		}
		what := "expired at " + had.Ends.Format(time.RFC3339Nano)
		if had.Released {
			what = "was released at " + had.Ends.Format(time.RFC3339Nano)
		}
		return nil, livebill.Errorf(livebill.ECONFLICT, "lease %q %s; acquire a new lease", id, what)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot update lease %q: %w", id, err)
	}
	return l, nil
}

// leaseColsOfLeases is leaseCols of the table leases, in a statement
// that joins it.
const leaseColsOfLeases = `leases.account_id, leases.id, leases.app, leases.kind, leases.pool, leases.slot, leases.holder, leases.acquired_ms, leases.ends_ms, leases.released`

// endLeasePG is endLease's statement on PostgreSQL for one lease (what
// endLeases does for many).
func (s *DB) endLeasePG(ctx context.Context, account, app, id string, now, ends int64, release bool) (*livebill.Lease, error) {
	rel := 0
	if release {
		rel = 1
	}
	const q = `WITH s AS (
	UPDATE lease_slots SET ends_ms = CASE WHEN $5 = 1 THEN -GREATEST($4, since_ms) ELSE GREATEST(ends_ms, $3) END
	WHERE account_id = $1 AND (pool, slot) = (SELECT pool, slot FROM leases WHERE account_id = $1 AND id = $2 AND app = $6)
	  AND lease_id = $2 AND ends_ms > $4
	RETURNING lease_id, ends_ms
)
UPDATE leases SET ends_ms = abs(s.ends_ms), released = $5 FROM s
WHERE leases.account_id = $1 AND leases.id = $2
RETURNING ` + leaseColsOfLeases
	return scanLease(s.db.QueryRowContext(ctx, q, account, id, ends, now, rel, app))
}

func (s *DB) endLeaseSQLite(ctx context.Context, account, app, id string, now, ends int64, rel int) (*livebill.Lease, error) {
	_ = s.prepareAll(ctx, sqliteEndSlot, sqliteEndLease) // else parsed in tx
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var newEnds int64
	err = s.queryRowTx(ctx, tx, sqliteEndSlot, rel, now, ends, account, id, app).Scan(&newEnds)
	if err != nil {
		return nil, err
	}
	l, err := scanLease(s.queryRowTx(ctx, tx, sqliteEndLease, newEnds, rel, account, id))
	if err != nil {
		return nil, err
	}
	return l, tx.Commit()
}

// FindLease returns a lease or ENOTFOUND.
func (s *DB) FindLease(ctx context.Context, account, id string) (*livebill.Lease, error) {
	l, err := scanLease(s.queryRow(ctx, `SELECT `+leaseCols+` FROM leases WHERE account_id = ? AND id = ?`, account, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "lease %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find lease %q: %w", id, err)
	}
	return l, nil
}

// leasesList is the account's leases held at now, by pool and slot (the
// slot rows' key: one lease holds a slot at a time, and a lease granted
// while a client pages comes in its slot's place, never shifting a page).
func leasesList(account string, now time.Time) listQuery {
	return listQuery{name: "leases", cols: `l.account_id, l.id, l.app, l.kind, l.pool, l.slot, l.holder, l.acquired_ms, l.ends_ms, l.released`,
		from:  `lease_slots x JOIN leases l ON l.account_id = x.account_id AND l.id = x.lease_id`,
		where: `x.account_id = ? AND x.ends_ms > ?`, args: []any{account, now.UnixMilli()},
		key: []string{"x.pool", "x.slot"}, ints: []bool{false, true}}
}

func scanLeaseRow(sc func(...any) error, key []any) (*livebill.Lease, error) {
	return scanLease(scanFunc(func(dest ...any) error { return sc(append(dest, key...)...) }))
}

// ListLeases returns the account's leases held at now, by pool and slot.
func (s *DB) ListLeases(ctx context.Context, account string, now time.Time) ([]*livebill.Lease, error) {
	return all(ctx, s, leasesList(account, now), scanLeaseRow)
}

// PageLeases returns a page of the account's leases held at now, by pool
// and slot, and the cursor of the next.
func (s *DB) PageLeases(ctx context.Context, account string, now time.Time, p livebill.Page) ([]*livebill.Lease, string, error) {
	return readList(ctx, s, leasesList(account, now), &p, scanLeaseRow)
}

// LeaseHistory returns every lease of a pool by acquisition.
func (s *DB) LeaseHistory(ctx context.Context, account, pool string) ([]*livebill.Lease, error) {
	return s.leases(ctx, `SELECT `+leaseCols+` FROM leases WHERE account_id = ? AND pool = ? ORDER BY acquired_ms, id`, account, pool)
}

func (s *DB) leases(ctx context.Context, q string, args ...any) ([]*livebill.Lease, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list leases: %w", err)
	}
	defer rows.Close()
	var out []*livebill.Lease
	for rows.Next() {
		l, err := scanLease(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// UnmeteredLeases returns metered leases whose start, or whose stop now
// that they ended, is not stored yet (see livebill.LeaseStore).
func (s *DB) UnmeteredLeases(ctx context.Context, now time.Time, limit int) ([]livebill.UnmeteredLease, error) {
	rows, err := s.query(ctx, `SELECT `+leaseCols+`, meter_state FROM leases
WHERE meter_state < 2 AND (meter_state = 0 OR ends_ms <= ?) ORDER BY ends_ms, account_id, id LIMIT ?`, now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("cannot list the leases to meter: %w", err)
	}
	defer rows.Close()
	var out []livebill.UnmeteredLease
	for rows.Next() {
		var state int
		var l *livebill.Lease
		l, err = scanLease(scanFunc(func(dest ...any) error { return rows.Scan(append(dest, &state)...) }))
		if err != nil {
			return nil, err
		}
		out = append(out, livebill.UnmeteredLease{Lease: *l, MeterStarted: state >= 1})
	}
	return out, rows.Err()
}

// SetLeaseMetered records that a lease's start or stop event is stored.
func (s *DB) SetLeaseMetered(ctx context.Context, account, id string, stopped bool) error {
	state := 1
	if stopped {
		state = 2
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE leases SET meter_state = ? WHERE account_id = ? AND id = ? AND meter_state < ?`), state, account, id, state)
	if err != nil {
		return fmt.Errorf("cannot record the metering of lease %q: %w", id, err)
	}
	return nil
}
