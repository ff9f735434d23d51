package sqlstore

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// Group commit of leases (PostgreSQL). Each acquisition, renewal and
// release is a commit, and a commit waits for the WAL's flush to disk;
// with many at once, those flushes and each statement's fixed cost (a
// round trip, a transaction) bound the rate. So the acquisitions waiting
// are written together, one statement (one round trip, one commit) for
// all of them, and so are the renewals and releases waiting. A call is
// answered once the statement holding it is committed, as before, and
// what the statement does for each call is what the single statement did:
// a slot is taken only while it is free, a lease renewed or released only
// while it holds its slot, so servers sharing the database still never
// hand out a slot twice.
//
// No call waits for company: a call starts a statement at once unless
// maxFlushes statements are running; calls that come meanwhile wait for
// the next one, which takes every call queued by then (up to maxBatch).
// A statement locks its slot rows in key order (account, pool, slot), so
// that concurrent statements, of this server or another, seldom wait for
// each other in a cycle; should PostgreSQL break one (a deadlock), or a
// statement fail for any other reason (a lease id inserted by another
// server meanwhile), each of its calls runs alone.
//
// A call the statement did not grant (its slot is taken, its lease no
// longer held) gets no row, and its caller goes on as after a single
// statement: another slot, or the lease's state.

// Bounds of the group commit: statements running at once (each on a
// connection of the pool), and calls in one.
const (
	maxFlushes = 4
	maxBatch   = 128
)

// leaseGroup queues the lease calls waiting for a statement. The zero
// value is ready.
type leaseGroup struct {
	mu       sync.Mutex
	acquires []*acquireCall
	ends     []*endCall
	flushing int // statements running
}

// acquireCall is an acquisition's first try waiting for its statement:
// one slot of its pool, picked when the statement is made.
type acquireCall struct {
	in        *livebill.AcquireLeaseInput
	now, ends int64
	slot      int
	done      chan struct{} // closed once t and err are set
	t         taken
	err       error // sql.ErrNoRows: not granted
}

// endCall is a renewal or release waiting for its statement.
type endCall struct {
	account, app, id string
	now, ends        int64
	release          bool
	done             chan struct{} // closed once l and err are set
	l                *livebill.Lease
	err              error // sql.ErrNoRows: the lease does not hold its slot at now
}

// takeSlotGrouped tries one slot of in's pool, picked at random among
// those the statement's other acquisitions do not try: acquirePG with a
// probe, in the next grouped statement.
func (s *DB) takeSlotGrouped(ctx context.Context, in *livebill.AcquireLeaseInput, now, ends int64) (taken, error) {
	c := &acquireCall{in: in, now: now, ends: ends, done: make(chan struct{})}
	if err := await(ctx, s, &s.leaseGroup.acquires, c, c.done); err != nil {
		return taken{}, err
	}
	return c.t, c.err
}

// endLeaseGrouped renews or releases a lease in the next grouped
// statement: endLeasePG's work.
func (s *DB) endLeaseGrouped(ctx context.Context, account, app, id string, now, ends int64, release bool) (*livebill.Lease, error) {
	c := &endCall{account: account, app: app, id: id, now: now, ends: ends, release: release, done: make(chan struct{})}
	if err := await(ctx, s, &s.leaseGroup.ends, c, c.done); err != nil {
		return nil, err
	}
	return c.l, c.err
}

// await queues call c on queue (one of s's lease group's) for the next
// grouped statement and waits until done is closed. A caller whose ctx
// ends while c is still queued takes it out and gets ctx's error; once
// c's statement runs, its result stands (the caller waits for it, at
// most flushTimeout), so a lease the database granted is never reported
// as not granted.
func await[T comparable](ctx context.Context, s *DB, queue *[]T, c T, done <-chan struct{}) error {
	g := &s.leaseGroup
	g.mu.Lock()
	*queue = append(*queue, c)
	g.startFlush(s)
	g.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	n := len(*queue)
	*queue = without(*queue, c)
	queued := len(*queue) < n
	g.mu.Unlock()
	if queued {
		return ctx.Err()
	}
	<-done
	return nil
}

// without returns queue without c.
func without[T comparable](queue []T, c T) []T {
	for i, q := range queue {
		if q == c {
			return append(queue[:i:i], queue[i+1:]...)
		}
	}
	return queue
}

// startFlush starts a statement unless maxFlushes run; callers hold g.mu.
func (g *leaseGroup) startFlush(s *DB) {
	if g.flushing < maxFlushes {
		g.flushing++
		go g.flush(s)
	}
}

// flushTimeout bounds one grouped statement (it is not cancelled with any
// one of its calls).
const flushTimeout = 30 * time.Second

// flush runs statements of the queued calls, one kind at a time and the
// kinds in turn, until none is queued.
func (g *leaseGroup) flush(s *DB) {
	endsFirst := true
	for {
		g.mu.Lock()
		var ends []*endCall
		var acquires []*acquireCall
		if endsFirst || len(g.acquires) == 0 {
			ends = takeEnds(&g.ends)
		}
		if len(ends) == 0 {
			acquires = takeAcquires(&g.acquires)
		}
		if len(ends) == 0 && len(acquires) == 0 {
			g.flushing--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		endsFirst = len(ends) == 0
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if len(ends) > 0 {
			s.endLeases(ctx, ends)
		} else {
			s.takeSlots(ctx, acquires)
		}
		cancel()
	}
}

// takeEnds takes up to maxBatch queued renewals and releases, at most one
// per lease (another call of the same lease waits for the next
// statement).
func takeEnds(queue *[]*endCall) []*endCall {
	var batch, rest []*endCall
	seen := map[[2]string]bool{}
	for _, c := range *queue {
		k := [2]string{c.account, c.id}
		if len(batch) == maxBatch || seen[k] {
			rest = append(rest, c)
			continue
		}
		seen[k] = true
		batch = append(batch, c)
	}
	*queue = rest
	return batch
}

// takeAcquires takes up to maxBatch queued acquisitions, at most one per
// lease id, and picks each a slot of its pool at random among those no
// other acquisition of the statement tries (one whose pool has no slot
// left to try waits for the next statement).
func takeAcquires(queue *[]*acquireCall) []*acquireCall {
	var batch, rest []*acquireCall
	ids := map[[2]string]bool{}
	slots := map[poolSlot]bool{}
	tried := map[[2]string]int{} // slots tried per pool
	for _, c := range *queue {
		id, pool := [2]string{c.in.Account, c.in.ID}, [2]string{c.in.Account, c.in.Pool}
		if len(batch) == maxBatch || ids[id] || tried[pool] >= c.in.Capacity {
			rest = append(rest, c)
			continue
		}
		slot := rand.IntN(c.in.Capacity)
		for slots[poolSlot{pool, slot}] {
			slot = (slot + 1) % c.in.Capacity
		}
		c.slot = slot
		ids[id], slots[poolSlot{pool, slot}] = true, true
		tried[pool]++
		batch = append(batch, c)
	}
	*queue = rest
	return batch
}

type poolSlot struct {
	pool [2]string // account, pool
	slot int
}

// takeSlots runs a statement of acquisitions: each takes its slot if
// the slot is free at the acquisition's instant and the id is not a
// lease of the account yet, as acquirePG's single probe does, the slots
// locked in key order.
func (s *DB) takeSlots(ctx context.Context, calls []*acquireCall) {
	const q = `WITH req AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::bigint[], $9::bigint[], $10::int[])
		AS r(account_id, pool, id, app, kind, holder, slot, now_ms, ends_ms, meter_state)
), taken AS (
	INSERT INTO lease_slots AS x (account_id, pool, slot, lease_id, since_ms, ends_ms)
	SELECT account_id, pool, slot, id, now_ms, ends_ms FROM req
	WHERE (SELECT true FROM leases l WHERE l.account_id = req.account_id AND l.id = req.id) IS NULL
	ORDER BY account_id COLLATE "C", pool COLLATE "C", slot
	ON CONFLICT (account_id, pool, slot) DO UPDATE SET lease_id = EXCLUDED.lease_id,
		since_ms = GREATEST(EXCLUDED.since_ms, -x.ends_ms),
		ends_ms = GREATEST(EXCLUDED.ends_ms, -x.ends_ms + 1)
	WHERE x.ends_ms <= EXCLUDED.since_ms
	RETURNING account_id, pool, slot, lease_id, since_ms, ends_ms
)
INSERT INTO leases (account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, meter_state)
SELECT t.account_id, t.lease_id, r.app, r.kind, t.pool, t.slot, r.holder, t.since_ms, t.ends_ms, r.meter_state
FROM taken t JOIN req r ON r.account_id = t.account_id AND r.id = t.lease_id
RETURNING account_id, id, slot, acquired_ms, ends_ms`
	n := len(calls)
	accounts, pools, ids, apps, kinds, holders := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	slots, nows, endss, states := make([]int32, n), make([]int64, n), make([]int64, n), make([]int32, n)
	byID := make(map[[2]string]*acquireCall, n)
	for i, c := range calls {
		accounts[i], pools[i], ids[i], apps[i], kinds[i], holders[i] = c.in.Account, c.in.Pool, c.in.ID, c.in.App, c.in.Kind, c.in.Holder
		slots[i], nows[i], endss[i], states[i] = int32(c.slot), c.now, c.ends, int32(meterState(c.in))
		byID[[2]string{c.in.Account, c.in.ID}] = c
		c.err = sql.ErrNoRows // unless its row comes back
	}
	err := func() error {
		rows, err := s.db.QueryContext(ctx, q, accounts, pools, ids, apps, kinds, holders, slots, nows, endss, states)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var account, id string
			var t taken
			if err := rows.Scan(&account, &id, &t.slot, &t.since, &t.ends); err != nil {
				return err
			}
			if c := byID[[2]string{account, id}]; c != nil {
				c.t, c.err = t, nil
			}
		}
		return rows.Err()
	}()
	if err != nil { // each call alone (one whose effect was committed finds it done, as a retry would)
		for _, c := range calls {
			c.t, c.err = s.acquirePG(ctx, c.in, c.now, c.ends, c.slot)
		}
	}
	for _, c := range calls {
		close(c.done)
	}
}

// endLeases runs a statement of renewals and releases, each as
// endLeasePG's, the slots locked in key order.
func (s *DB) endLeases(ctx context.Context, calls []*endCall) {
	const q = `WITH req AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::int[])
		AS r(account_id, app, id, now_ms, ends_ms, rel)
), slots AS (
	SELECT r.*, l.pool, l.slot FROM req r
	CROSS JOIN LATERAL (SELECT pool, slot FROM leases l WHERE l.account_id = r.account_id AND l.id = r.id AND l.app = r.app LIMIT 1) l
	ORDER BY r.account_id COLLATE "C", l.pool COLLATE "C", l.slot
), held AS (
	SELECT x.* FROM slots
	CROSS JOIN LATERAL (SELECT x.account_id, x.pool, x.slot, slots.now_ms, slots.ends_ms, slots.rel FROM lease_slots x
		WHERE x.account_id = slots.account_id AND x.pool = slots.pool AND x.slot = slots.slot AND x.lease_id = slots.id AND x.ends_ms > slots.now_ms
		FOR UPDATE) x
), s AS (
	UPDATE lease_slots x SET ends_ms = CASE WHEN h.rel = 1 THEN -GREATEST(h.now_ms, x.since_ms) ELSE GREATEST(x.ends_ms, h.ends_ms) END
	FROM held h WHERE x.account_id = h.account_id AND x.pool = h.pool AND x.slot = h.slot
	RETURNING x.account_id, x.lease_id, x.ends_ms, h.rel
)
UPDATE leases SET ends_ms = abs(s.ends_ms), released = s.rel FROM s
WHERE leases.account_id = s.account_id AND leases.id = s.lease_id
RETURNING ` + leaseColsOfLeases
	n := len(calls)
	accounts, apps, ids := make([]string, n), make([]string, n), make([]string, n)
	nows, endss, rels := make([]int64, n), make([]int64, n), make([]int32, n)
	byID := make(map[[2]string]*endCall, n)
	for i, c := range calls {
		accounts[i], apps[i], ids[i], nows[i], endss[i] = c.account, c.app, c.id, c.now, c.ends
		if c.release {
			rels[i] = 1
		}
		byID[[2]string{c.account, c.id}] = c
		c.err = sql.ErrNoRows // unless its row comes back
	}
	err := func() error {
		rows, err := s.db.QueryContext(ctx, q, accounts, apps, ids, nows, endss, rels)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLease(rows)
			if err != nil {
				return err
			}
			if c := byID[[2]string{l.Account, l.ID}]; c != nil {
				c.l, c.err = l, nil
			}
		}
		return rows.Err()
	}()
	if err != nil { // each call alone, as above
		for _, c := range calls {
			c.l, c.err = s.endLeasePG(ctx, c.account, c.app, c.id, c.now, c.ends, c.release)
		}
	}
	for _, c := range calls {
		close(c.done)
	}
}
