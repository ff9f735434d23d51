package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livebill/livebill"
)

// insertChunk is the most events one INSERT statement carries (5
// parameters each: within SQLite's 32,766 and PostgreSQL's 65,535).
const insertChunk = 1000

// selectChunk is the most ids one duplicate look-up names.
const selectChunk = 1000

// StoreEvents stores a batch in one transaction (see livebill.EventService).
//
// The batch is written with multi-row `INSERT … ON CONFLICT (account_id, id)
// DO NOTHING` statements (one round trip per 1,000 events instead of one
// per event; PostgreSQL: one statement of arrays, RETURNING account_id, id;
// SQLite: the count of rows added, see insertValues); only the events the
// database did not insert (already stored) are read back, in one query per
// account and 1,000 ids, to tell a duplicate from a conflict. An id repeated inside the
// batch is judged against its first occurrence, as if that one were already
// stored, which is what storing the events one by one did. Nothing is
// acknowledged before the commit.
//
// The same transaction records, per account and billing day of the events
// inserted (IncomingEvent.Day), when events last arrived for that day, and
// renews the imports the batch was sent under (IncomingEvent.Import), so
// settlement never sees a batch's events without the hold they bring.
//
// Per account, seq order is commit order. Before inserting anything the
// transaction locks the row of every account it writes to, in sorted id
// order (so two batches cannot deadlock on the locks): on PostgreSQL a
// seq (BIGSERIAL) is drawn when a row is inserted, not when it commits, so
// without the lock two concurrent batches of one account could draw seqs
// 1–1000 and 1001–2000 and commit in the other order. A reader following
// the account incrementally by `seq > last seen seq` (ListEventsAfter)
// would then see 1001–2000, move past them, and never read 1–1000. With
// the lock the second batch draws its seqs only after the first committed.
// On SQLite the transaction holds the database's write lock from BEGIN
// (_txlock=immediate), which orders every writer the same way. The price
// on PostgreSQL: two batches of one account take turns (the second waits
// for the first's commit); batches of different accounts still run side
// by side.
//
// The lock also serializes batches of one account that hold the same new
// ids in different orders, which used to deadlock on the unique index. A
// transaction PostgreSQL still rolls back as a deadlock or serialization
// failure is run again, so the client never sees the race (nothing was
// acknowledged before).
func (s *DB) StoreEvents(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	for attempt := 1; ; attempt++ {
		out, err := s.storeEventsOnce(ctx, events)
		if err == nil || attempt == maxAttempts || !transient(err) {
			return out, err
		}
	}
}

func (s *DB) storeEventsOnce(ctx context.Context, events []livebill.IncomingEvent) ([]livebill.IngestStatus, error) {
	out := make([]livebill.IngestStatus, len(events))
	if len(events) == 0 {
		return out, nil
	}
	type key struct{ acct, id string }
	first := make(map[key]int, len(events)) // index of a key's first occurrence
	rows := make([]int, 0, len(events))     // events to insert, in arrival order
	var repeats []int                       // later occurrences of a key
	for i, in := range events {
		out[i] = livebill.IngestStatus{Index: i, Line: in.Event.Line, ID: in.Event.ID}
		if in.Event.ID == "" || in.AccountID == "" {
			out[i].Status, out[i].Code, out[i].Error = livebill.IngestRejected, livebill.EINVALID, "event has no id or account"
			continue
		}
		k := key{in.AccountID, in.Event.ID}
		if _, ok := first[k]; ok {
			repeats = append(repeats, i)
			continue
		}
		first[k] = i
		rows = append(rows, i)
	}
	if !s.dialect.Numbered {
		if err := s.prepare(ctx, qLastSeq); err != nil {
			return nil, err
		}
		for lo := 0; lo < len(rows); lo += insertChunk {
			if err := s.prepare(ctx, s.insertEventsSQL(min(insertChunk, len(rows)-lo))); err != nil {
				return nil, err
			}
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := s.lockAccounts(ctx, tx, events, rows); err != nil {
		return nil, err
	}
	// under the accounts' locks: retention's purge (which takes them) has
	// not moved a boundary since ingestion checked it, or is seen here
	purged, err := s.purgeBoundaries(ctx, tx, events, rows)
	if err != nil {
		return nil, err
	}
	refused := map[key]bool{}
	if len(purged) > 0 {
		kept := rows[:0]
		for _, i := range rows {
			in := &events[i]
			if b := purged[in.AccountID]; b > 0 && in.Event.Time < b && !in.Restored {
				out[i].Status, out[i].Code = livebill.IngestRejected, livebill.EINVALID
				out[i].Error = fmt.Sprintf(`field "time": before %s, when the account's events were deleted by retention`,
					time.UnixMilli(b).UTC().Format(time.RFC3339))
				refused[key{in.AccountID, in.Event.ID}] = true
				continue
			}
			kept = append(kept, i)
		}
		rows = kept
	}
	if err := s.holdImports(ctx, tx, events); err != nil {
		return nil, err
	}
	inserted := make(map[key]bool, len(rows))
	args := make([]any, 0, 5*min(len(rows), insertChunk))
	// SQLite: the rows an INSERT adds get seqs above the largest before it
	// (rowids; the transaction holds the write lock), which tells them
	// from rows stored before when an INSERT adds fewer than it was given.
	before := int64(math.MaxInt64)
	if !s.dialect.Numbered {
		var row *sql.Row
		if st := s.txStmt(ctx, tx, qLastSeq); st != nil {
			row = st.QueryRowContext(ctx)
		} else {
			row = tx.QueryRowContext(ctx, qLastSeq)
		}
		if err := row.Scan(&before); err != nil {
			return nil, fmt.Errorf("cannot read the last seq: %w", err)
		}
	}
	chunkSize := insertChunk
	if s.dialect.Numbered {
		chunkSize = len(rows) // PostgreSQL: one statement of five arrays
	}
	for lo := 0; lo < len(rows); lo += chunkSize {
		chunk := rows[lo:min(lo+chunkSize, len(rows))]
		if !s.dialect.Numbered {
			n, err := s.insertValues(ctx, tx, events, chunk, args)
			if err != nil {
				return nil, fmt.Errorf("cannot insert events: %w", err)
			}
			if n == int64(len(chunk)) { // else the read below tells
				for _, i := range chunk {
					inserted[key{events[i].AccountID, events[i].Event.ID}] = true
				}
			}
			continue
		}
		rs, err := s.insertArrays(ctx, tx, events, chunk)
		if err != nil {
			return nil, fmt.Errorf("cannot insert events: %w", err)
		}
		for rs.Next() {
			var k key
			if err := rs.Scan(&k.acct, &k.id); err != nil {
				rs.Close()
				return nil, err
			}
			inserted[k] = true
		}
		if err := rs.Close(); err != nil {
			return nil, err
		}
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	// Bodies already stored for the events not inserted, per account; on
	// SQLite the same read finds which events of a partly inserted chunk
	// were inserted (seq > before).
	stored := map[key]string{}
	missing := map[string][]string{}
	for _, i := range rows {
		k := key{events[i].AccountID, events[i].Event.ID}
		if !inserted[k] {
			missing[k.acct] = append(missing[k.acct], k.id)
		}
	}
	for acct, ids := range missing {
		for lo := 0; lo < len(ids); lo += selectChunk {
			chunk := ids[lo:min(lo+selectChunk, len(ids))]
			args = args[:0]
			args = append(args, acct)
			for _, id := range chunk {
				args = append(args, id)
			}
			rs, err := tx.QueryContext(ctx, s.selectBodiesSQL(len(chunk)), args...)
			if err != nil {
				return nil, err
			}
			for rs.Next() {
				var id, body string
				var seq int64
				if err := rs.Scan(&id, &seq, &body); err != nil {
					rs.Close()
					return nil, err
				}
				if seq > before {
					inserted[key{acct, id}] = true
				} else {
					stored[key{acct, id}] = body
				}
			}
			if err := rs.Close(); err != nil {
				return nil, err
			}
			if err := rs.Err(); err != nil {
				return nil, err
			}
		}
	}
	touched := map[string]*livebill.EventSpan{} // of the events inserted
	days := map[dayKey]bool{}                   // their billing days
	for _, i := range rows {
		k := key{events[i].AccountID, events[i].Event.ID}
		if inserted[k] {
			out[i].Status = livebill.IngestAccepted
			if d := events[i].Day; d != "" {
				days[dayKey{k.acct, d}] = true
			}
			t := events[i].Event.Time
			if sp := touched[k.acct]; sp == nil {
				touched[k.acct] = &livebill.EventSpan{Count: 1, First: t, Last: t}
			} else {
				sp.Count++
				sp.First, sp.Last = min(sp.First, t), max(sp.Last, t)
			}
			continue
		}
		body, ok := stored[k]
		if !ok {
			// neither inserted nor found: cannot happen inside the transaction
			return nil, fmt.Errorf("event %q of account %q: not inserted and not found", k.id, k.acct)
		}
		out[i].JudgeRepeat([]byte(body), events[i].Body)
	}
	for _, i := range repeats {
		k := key{events[i].AccountID, events[i].Event.ID}
		if refused[k] {
			out[i].Status, out[i].Code, out[i].Error = out[first[k]].Status, out[first[k]].Code, out[first[k]].Error
			continue
		}
		if inserted[k] {
			out[i].JudgeRepeat(events[first[k]].Body, events[i].Body)
		} else {
			out[i].JudgeRepeat([]byte(stored[k]), events[i].Body)
		}
	}
	if err := s.addEvents(ctx, tx, touched); err != nil {
		return nil, fmt.Errorf("cannot update the accounts' revisions and event spans: %w", err)
	}
	// settlement waits until a day's ingest is quiet (livebill.HoldService)
	if err := s.touchDays(ctx, tx, days); err != nil {
		return nil, fmt.Errorf("cannot record the ingest activity of the accounts' days: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// addEvents bumps the revision of each account that got events and adds
// them to its event span (count, first and last time), in the same row
// update. SET expressions see the row as it was, so an account that never
// had an event (no count, no last time) takes the new span as it is; one
// whose events retention deleted keeps its first time.
func (s *DB) addEvents(ctx context.Context, tx *sql.Tx, spans map[string]*livebill.EventSpan) error {
	if len(spans) == 0 {
		return nil
	}
	accts := make([]string, 0, len(spans))
	for a := range spans {
		accts = append(accts, a)
	}
	sort.Strings(accts)     // already locked by lockAccounts; same order anyway
	if s.dialect.Numbered { // PostgreSQL: one round trip
		ns, los, his := make([]int64, len(accts)), make([]int64, len(accts)), make([]int64, len(accts))
		for i, a := range accts {
			ns[i], los[i], his[i] = spans[a].Count, spans[a].First, spans[a].Last
		}
		_, err := tx.ExecContext(ctx, `UPDATE accounts a SET revision = a.revision + 1, event_count = a.event_count + u.n,
			first_ms = CASE WHEN a.event_count = 0 AND a.last_ms = 0 THEN u.lo ELSE LEAST(a.first_ms, u.lo) END,
			last_ms = CASE WHEN a.event_count = 0 AND a.last_ms = 0 THEN u.hi ELSE GREATEST(a.last_ms, u.hi) END
			FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, n, lo, hi) WHERE a.id = u.id`, accts, ns, los, his)
		return err
	}
	for _, a := range accts {
		sp := spans[a]
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET revision = revision + 1, event_count = event_count + ?,
			first_ms = CASE WHEN event_count = 0 AND last_ms = 0 THEN ? ELSE MIN(first_ms, ?) END,
			last_ms = CASE WHEN event_count = 0 AND last_ms = 0 THEN ? ELSE MAX(last_ms, ?) END WHERE id = ?`,
			sp.Count, sp.First, sp.First, sp.Last, sp.Last, a); err != nil {
			return err
		}
	}
	return nil
}

// qLastSeq reads the largest seq stored (SQLite).
const qLastSeq = `SELECT COALESCE(MAX(seq), 0) FROM events`

// purgeBoundaries returns the purge boundaries (accounts.purged_ms) of
// the accounts of events (rows) that have one.
func (s *DB) purgeBoundaries(ctx context.Context, tx *sql.Tx, events []livebill.IncomingEvent, rows []int) (map[string]int64, error) {
	seen := map[string]bool{}
	var args []any
	for _, i := range rows {
		if a := events[i].AccountID; !seen[a] {
			seen[a] = true
			args = append(args, a)
		}
	}
	out := map[string]int64{}
	for lo := 0; lo < len(args); lo += selectChunk {
		chunk := args[lo:min(lo+selectChunk, len(args))]
		rs, err := tx.QueryContext(ctx, s.q(`SELECT id, purged_ms FROM accounts WHERE purged_ms > 0 AND id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`), chunk...)
		if err != nil {
			return nil, fmt.Errorf("cannot read the accounts' purge boundaries: %w", err)
		}
		for rs.Next() {
			var id string
			var b int64
			if err := rs.Scan(&id, &b); err != nil {
				rs.Close()
				return nil, err
			}
			out[id] = b
		}
		if err := rs.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lockAccounts locks, on PostgreSQL, the rows of the accounts the events
// (rows) belong to, in sorted id order, before any event is inserted; see
// StoreEvents for why. SQLite needs no lock: the transaction already
// holds the database's only write lock. The lock is the one the revision
// bump takes anyway (FOR NO KEY UPDATE): it does not hold up inserts of
// the account's purchases or refunds, whose foreign keys only share it.
//
// An account with no row (the service only stores events of existing
// accounts) is not locked, and its seqs carry no order guarantee.
func (s *DB) lockAccounts(ctx context.Context, tx *sql.Tx, events []livebill.IncomingEvent, rows []int) error {
	if !s.dialect.Numbered {
		return nil
	}
	var accts []string
	seen := map[string]bool{}
	for _, i := range rows {
		if a := events[i].AccountID; !seen[a] {
			seen[a] = true
			accts = append(accts, a)
		}
	}
	// one round trip: rows are locked as the sort returns them, so in id
	// order (ids sort byte-wise, COLLATE "C")
	locked, err := tx.QueryContext(ctx, `SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, accts)
	if err != nil {
		return fmt.Errorf("cannot lock accounts %q: %w", accts, err)
	}
	defer locked.Close()
	for locked.Next() {
	}
	if err := locked.Err(); err != nil {
		return fmt.Errorf("cannot lock accounts %q: %w", accts, err)
	}
	return nil
}

// ListEventsAfter returns an account's events with seq > afterSeq in seq
// order, at most limit of them (0: no limit). Seq order is the account's
// commit order (see StoreEvents), so a reader that passes the last seq it
// saw never skips an event committed after its previous call.
//
// The query walks the seq (primary key) range after afterSeq and keeps
// the account's rows: cheap for the intended use, reading what is new.
func (s *DB) ListEventsAfter(ctx context.Context, accountID string, afterSeq int64, limit int) ([]livebill.StoredEvent, error) {
	if limit < 0 {
		return nil, livebill.Errorf(livebill.EINVALID, "limit: must not be negative, not %d", limit)
	}
	q := `SELECT seq, id, time_ms, app, body FROM events WHERE account_id = ? AND seq > ? ORDER BY seq`
	args := []any{accountID, afterSeq}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list events of account %q after seq %d: %w", accountID, afterSeq, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("cannot list events of account %q after seq %d: %w", accountID, afterSeq, err)
	}
	return out, nil
}

// LastEventSeq returns the greatest seq of the account's stored events,
// 0 when it has none: one step down the index on (account_id, seq).
func (s *DB) LastEventSeq(ctx context.Context, accountID string) (int64, error) {
	var seq sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MAX(seq) FROM events WHERE account_id = ?`, accountID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("cannot read the last event of account %q: %w", accountID, err)
	}
	return seq.Int64, nil
}

// scanEvents reads rows of (seq, id, time_ms, app, body) and closes them.
func scanEvents(rows *sql.Rows) ([]livebill.StoredEvent, error) {
	defer rows.Close()
	var out []livebill.StoredEvent
	for rows.Next() {
		var e livebill.StoredEvent
		var body string
		if err := rows.Scan(&e.Seq, &e.ID, &e.Time, &e.App, &body); err != nil {
			return nil, err
		}
		e.Body = []byte(body)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Statement texts by row count, built once per dialect and count.
var stmtCache sync.Map // stmtKey → string

type stmtKey struct {
	kind     byte
	numbered bool
	n        int
}

func (s *DB) insertEventsSQL(n int) string {
	k := stmtKey{'i', s.dialect.Numbered, n}
	if q, ok := stmtCache.Load(k); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO events (account_id, id, time_ms, app, body) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?)`)
	}
	b.WriteString(` ON CONFLICT (account_id, id) DO NOTHING`)
	q := s.q(b.String())
	stmtCache.Store(k, q)
	return q
}

func (s *DB) selectBodiesSQL(n int) string {
	k := stmtKey{'s', s.dialect.Numbered, n}
	if q, ok := stmtCache.Load(k); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(`SELECT id, seq, body FROM events WHERE account_id = ? AND id IN (`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
	}
	b.WriteByte(')')
	q := s.q(b.String())
	stmtCache.Store(k, q)
	return q
}

// insertValues inserts events (rows, at most insertChunk) with one
// multi-row VALUES statement and returns how many it added. It has no
// RETURNING clause: SQLite would first store every returned row in a
// temporary table, and the batch read them back, for the one answer
// almost always true, "all of them"; StoreEvents finds out which only
// when some were not added.
func (s *DB) insertValues(ctx context.Context, tx *sql.Tx, events []livebill.IncomingEvent, rows []int, args []any) (int64, error) {
	args = args[:0]
	// A string made an `any` is a heap allocation; a batch names a few
	// accounts and apps many times, so each is boxed once.
	boxed := make(map[string]any, 16)
	box := func(v string) any {
		b, ok := boxed[v]
		if !ok {
			b = v
			boxed[v] = b
		}
		return b
	}
	for _, i := range rows {
		in := &events[i]
		args = append(args, box(in.AccountID), in.Event.ID, in.Event.Time, box(in.Event.App), string(in.Body))
	}
	q := s.insertEventsSQL(len(rows))
	var res sql.Result
	var err error
	if v, ok := s.stmts.Load(q); ok {
		res, err = tx.StmtContext(ctx, v.(*sql.Stmt)).ExecContext(ctx, args...)
	} else {
		res, err = tx.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// maxPrepared bounds the statements kept prepared (one per batch size).
const maxPrepared = 64

// prepare prepares q once on the database, outside any transaction (the
// SQLite pool has one connection, which a transaction holds), and keeps it
// for insertValues: SQLite parses a 1,000-row INSERT in about 2 ms, a
// tenth of the batch's time. A statement prepared on the database is reused
// by a transaction on the same connection. At most maxPrepared are kept.
func (s *DB) prepare(ctx context.Context, q string) error {
	if _, ok := s.stmts.Load(q); ok {
		return nil
	}
	n := 0
	s.stmts.Range(func(_, _ any) bool { n++; return n < maxPrepared })
	if n >= maxPrepared {
		return nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	if _, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
	}
	return nil
}

// insertArrays inserts events (rows) on PostgreSQL with one statement
// whose five parameters are arrays: one short statement, planned once,
// whatever the batch size, instead of 5 parameters per event.
func (s *DB) insertArrays(ctx context.Context, tx *sql.Tx, events []livebill.IncomingEvent, rows []int) (*sql.Rows, error) {
	accts := make([]string, len(rows))
	ids := make([]string, len(rows))
	times := make([]int64, len(rows))
	apps := make([]string, len(rows))
	bodies := make([]string, len(rows))
	for j, i := range rows {
		in := &events[i]
		accts[j], ids[j], times[j], apps[j], bodies[j] = in.AccountID, in.Event.ID, in.Event.Time, in.Event.App, string(in.Body)
	}
	return tx.QueryContext(ctx, `INSERT INTO events (account_id, id, time_ms, app, body)
SELECT a, i, t, p, b FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY AS u(a, i, t, p, b, n) ORDER BY n
ON CONFLICT (account_id, id) DO NOTHING RETURNING account_id, id`, accts, ids, times, apps, bodies)
}
