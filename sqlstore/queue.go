package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/livebill/livebill"
)

// What an event queue (package nats) needs of the store: judging events
// already stored before they are queued, the conflicts its workers find,
// and the leases on its partitions (livebill.PartitionStore).

var (
	_ livebill.EventChecker       = (*DB)(nil)
	_ livebill.EventConflictStore = (*DB)(nil)
	_ livebill.PartitionStore     = (*DB)(nil)
)

// CheckEvents judges each event against what is stored (see
// livebill.EventChecker): one query per account and 1,000 ids, the read
// StoreEvents makes for the events it could not insert.
func (s *DB) CheckEvents(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	out := make([]livebill.IngestStatus, len(events))
	byAcct := map[string][]string{}
	seen := map[[2]string]bool{}
	for i, in := range events {
		out[i] = livebill.IngestStatus{Index: i, Line: in.Event.Line, ID: in.Event.ID}
		k := [2]string{in.AccountID, in.Event.ID}
		if in.AccountID == "" || in.Event.ID == "" || seen[k] {
			continue
		}
		seen[k] = true
		byAcct[in.AccountID] = append(byAcct[in.AccountID], in.Event.ID)
	}
	stored := map[[2]string][]byte{}
	for acct, ids := range byAcct {
		for lo := 0; lo < len(ids); lo += selectChunk {
			chunk := ids[lo:min(lo+selectChunk, len(ids))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, acct)
			for _, id := range chunk {
				args = append(args, id)
			}
			rows, err := s.db.QueryContext(ctx, s.selectBodiesSQL(len(chunk)), args...)
			if err != nil {
				return nil, fmt.Errorf("cannot read the stored events of account %q: %w", acct, err)
			}
			for rows.Next() {
				var id, body string
				var seq int64
				if err := rows.Scan(&id, &seq, &body); err != nil {
					rows.Close()
					return nil, fmt.Errorf("cannot read the stored events of account %q: %w", acct, err)
				}
				stored[[2]string{acct, id}] = []byte(body)
			}
			if err := rows.Close(); err != nil {
				return nil, err
			}
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("cannot read the stored events of account %q: %w", acct, err)
			}
		}
	}
	for i, in := range events {
		if body, ok := stored[[2]string{in.AccountID, in.Event.ID}]; ok {
			out[i].JudgeRepeat(body, in.Body)
		}
	}
	return out, nil
}

// PutEventConflicts records the conflicts, each (account, id, body) once.
func (s *DB) PutEventConflicts(ctx context.Context, cs []livebill.EventConflict) error {
	for _, c := range cs {
		sum := sha256.Sum256(c.Body)
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO event_conflicts (account_id, event_id, digest, body, seen_ms) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (account_id, event_id, digest) DO NOTHING`), c.AccountID, c.EventID, hex.EncodeToString(sum[:]), string(c.Body), c.Seen.UnixMilli()); err != nil {
			return fmt.Errorf("cannot record the conflict of event %q of account %q: %w", c.EventID, c.AccountID, err)
		}
	}
	return nil
}

// ListEventConflicts returns the account's conflicts in the order seen.
func (s *DB) ListEventConflicts(ctx context.Context, accountID string) ([]livebill.EventConflict, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT event_id, body, seen_ms FROM event_conflicts WHERE account_id = ? ORDER BY seen_ms, event_id`), accountID)
	if err != nil {
		return nil, fmt.Errorf("cannot list the event conflicts of account %q: %w", accountID, err)
	}
	defer rows.Close()
	var out []livebill.EventConflict
	for rows.Next() {
		c := livebill.EventConflict{AccountID: accountID}
		var body string
		var seen int64
		if err := rows.Scan(&c.EventID, &body, &seen); err != nil {
			return nil, fmt.Errorf("cannot list the event conflicts of account %q: %w", accountID, err)
		}
		c.Body, c.Seen = []byte(body), time.UnixMilli(seen).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// JoinQueue records the worker's heartbeat.
func (s *DB) JoinQueue(ctx context.Context, queue, worker string, until time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO queue_workers (queue, worker, expires_ms) VALUES (?, ?, ?)
ON CONFLICT (queue, worker) DO UPDATE SET expires_ms = excluded.expires_ms`), queue, worker, until.UnixMilli()); err != nil {
		return fmt.Errorf("cannot record worker %q of queue %q: %w", worker, queue, err)
	}
	return nil
}

// LeaveQueue forgets the worker and frees its partitions, in one
// transaction; workers long dead are forgotten with it.
func (s *DB) LeaveQueue(ctx context.Context, queue, worker string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE queue_partitions SET owner = '', expires_ms = 0 WHERE queue = ? AND owner = ?`), queue, worker); err != nil {
		return fmt.Errorf("cannot free the partitions of worker %q: %w", worker, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM queue_workers WHERE queue = ? AND (worker = ? OR expires_ms < ?)`),
		queue, worker, s.clock.Now().Add(-24*time.Hour).UnixMilli()); err != nil {
		return fmt.Errorf("cannot remove worker %q: %w", worker, err)
	}
	return tx.Commit()
}

// ListWorkers returns the workers whose heartbeat lasts past now.
func (s *DB) ListWorkers(ctx context.Context, queue string, now time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT worker FROM queue_workers WHERE queue = ? AND expires_ms > ? ORDER BY worker`), queue, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("cannot list the workers of queue %q: %w", queue, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// ListPartitions returns the queue's recorded leases by partition.
func (s *DB) ListPartitions(ctx context.Context, queue string) ([]livebill.PartitionLease, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT part, owner, generation, expires_ms FROM queue_partitions WHERE queue = ? ORDER BY part`), queue)
	if err != nil {
		return nil, fmt.Errorf("cannot list the partitions of queue %q: %w", queue, err)
	}
	defer rows.Close()
	var out []livebill.PartitionLease
	for rows.Next() {
		var l livebill.PartitionLease
		var exp int64
		if err := rows.Scan(&l.Partition, &l.Owner, &l.Generation, &exp); err != nil {
			return nil, err
		}
		l.Expires = time.UnixMilli(exp).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// ClaimPartition takes the partition if it is free or its lease expired,
// in one statement: the row is made on the first claim, and a row held
// by a live lease is left as it is (no row returned).
func (s *DB) ClaimPartition(ctx context.Context, queue string, p int, worker string, now, until time.Time) (int64, bool, error) {
	var gen int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO queue_partitions (queue, part, owner, generation, expires_ms) VALUES (?, ?, ?, 1, ?)
ON CONFLICT (queue, part) DO UPDATE SET owner = excluded.owner, generation = queue_partitions.generation + 1, expires_ms = excluded.expires_ms
WHERE queue_partitions.owner = '' OR queue_partitions.expires_ms <= ?
RETURNING generation`), queue, p, worker, until.UnixMilli(), now.UnixMilli()).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("cannot claim partition %d of queue %q: %w", p, queue, err)
	}
	return gen, true, nil
}

// RenewPartition extends the lease if the worker still holds it at gen.
func (s *DB) RenewPartition(ctx context.Context, queue string, p int, worker string, gen int64, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE queue_partitions SET expires_ms = ? WHERE queue = ? AND part = ? AND owner = ? AND generation = ?`),
		until.UnixMilli(), queue, p, worker, gen)
	if err != nil {
		return false, fmt.Errorf("cannot renew partition %d of queue %q: %w", p, queue, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// ReleasePartition frees the lease if the worker still holds it at gen.
func (s *DB) ReleasePartition(ctx context.Context, queue string, p int, worker string, gen int64) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE queue_partitions SET owner = '', expires_ms = 0 WHERE queue = ? AND part = ? AND owner = ? AND generation = ?`),
		queue, p, worker, gen); err != nil {
		return fmt.Errorf("cannot release partition %d of queue %q: %w", p, queue, err)
	}
	return nil
}
