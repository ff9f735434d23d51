package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livebill/livebill"
)

// Grouped settlement (livebill.SettleStore): the inputs of a group of
// accounts are read with one query per table (see queryIDs), and the
// group's bills and settlements are written in one transaction (one
// commit, one fsync) with multi-row statements.

var _ livebill.SettleStore = (*DB)(nil)

// billRows is how many bills one INSERT writes on SQLite (9 parameters
// each; SQLite allows 32,766).
const billRows = 500

// queryIDs runs "SELECT cols FROM table WHERE col = id ORDER BY order"
// for each of ids at once; order "" means col is the table's key (one
// row per id). SQLite: `col IN (…)`. PostgreSQL: each distinct id is
// looked up by itself, through a LATERAL subquery the planner cannot
// flatten into a join (it has an ORDER BY, or LIMIT 1 on a key). A join
// or `col = ANY(…)` is planned from statistics, and without them (a
// table just bulk-loaded, or bills and settlements, which grow during a
// settlement) PostgreSQL chose a scan of the whole table per group.
func (s *DB) queryIDs(ctx context.Context, cols, table, col, order string, ids []string) (*sql.Rows, error) {
	if s.dialect.Numbered {
		tail := " LIMIT 1"
		if order != "" {
			tail = " ORDER BY " + order
		}
		return s.reader().QueryContext(ctx, `SELECT t.* FROM (SELECT DISTINCT unnest($1::text[]) AS k) AS c CROSS JOIN LATERAL (SELECT `+
			cols+` FROM `+table+` WHERE `+col+` = c.k`+tail+`) AS t`, ids)
	}
	var b strings.Builder
	b.Grow(len(cols) + len(table) + len(col) + len(order) + 42 + 2*len(ids))
	b.WriteString("SELECT " + cols + " FROM " + table + " WHERE " + col + " IN (")
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args[i] = id
	}
	b.WriteByte(')')
	if order != "" {
		b.WriteString(" ORDER BY " + order)
	}
	return s.reader().QueryContext(ctx, b.String(), args...)
}

// FindAccounts returns the accounts of ids that exist.
func (s *DB) FindAccounts(ctx context.Context, ids []string) (map[string]*livebill.AccountRecord, error) {
	out := make(map[string]*livebill.AccountRecord, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, accountCols, "accounts", "id", "", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot find accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read account: %w", err)
		}
		out[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot find accounts: %w", err)
	}
	return out, nil
}

// FindSettlements returns each account's settlement, a zero one if none.
func (s *DB) FindSettlements(ctx context.Context, ids []string) (map[string]*livebill.Settlement, error) {
	out := make(map[string]*livebill.Settlement, len(ids))
	for _, id := range ids {
		out[id] = &livebill.Settlement{AccountID: id}
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, `account_id, through, revision, held`, "settlements", "account_id", "", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot find settlements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st livebill.Settlement
		if err := rows.Scan(&st.AccountID, &st.Through, &st.Revision, &st.Held); err != nil {
			return nil, fmt.Errorf("cannot read settlement: %w", err)
		}
		out[st.AccountID] = &st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot find settlements: %w", err)
	}
	return out, nil
}

// ListPurchasesOf returns each account's purchases in the order made (the
// order of ListPurchases).
func (s *DB) ListPurchasesOf(ctx context.Context, ids []string) (map[string][]*livebill.StoredPurchase, error) {
	out := map[string][]*livebill.StoredPurchase{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, purchaseCols, "purchases", "account_id", "seq, id", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot list purchases: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPurchase(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read purchase: %w", err)
		}
		out[p.AccountID] = append(out[p.AccountID], p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list purchases: %w", err)
	}
	return out, nil
}

// ListDevicesOf returns each account's devices by id (the order of
// ListDevices).
func (s *DB) ListDevicesOf(ctx context.Context, ids []string) (map[string][]*livebill.Device, error) {
	out := map[string][]*livebill.Device{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, `account_id, id, cameras`, "devices", "account_id", "id", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot list devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var acct, b string
		var d livebill.Device
		if err := rows.Scan(&acct, &d.ID, &b); err != nil {
			return nil, fmt.Errorf("cannot read device: %w", err)
		}
		var cams []cameraJSON
		if err := json.Unmarshal([]byte(b), &cams); err != nil {
			return nil, fmt.Errorf("cannot read the cameras of device %q: %w", d.ID, err)
		}
		for _, c := range cams {
			d.Cameras = append(d.Cameras, livebill.Size{Width: c.Width, Height: c.Height})
		}
		out[acct] = append(out[acct], &d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list devices: %w", err)
	}
	return out, nil
}

// ListRefundsOf returns each account's refund requests in the order made.
func (s *DB) ListRefundsOf(ctx context.Context, ids []string) (map[string][]*livebill.StoredRefund, error) {
	out := map[string][]*livebill.StoredRefund{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, `seq, account_id, purchase, count, at`, "refunds", "account_id", "seq", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot list refunds: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r livebill.StoredRefund
		if err := rows.Scan(&r.Seq, &r.AccountID, &r.Purchase, &r.Count, &r.Time); err != nil {
			return nil, fmt.Errorf("cannot read refund: %w", err)
		}
		out[r.AccountID] = append(out[r.AccountID], &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list refunds: %w", err)
	}
	return out, nil
}

// ListBillsOf returns each account's issued bills in issue order; with
// since[account] (a date), those dated from it on and the monthly bill of
// its month: settlement reads the bills it may still adjust, not an
// account's whole history.
func (s *DB) ListBillsOf(ctx context.Context, ids []string, since map[string]string) (map[string][]livebill.IssuedBill, error) {
	out := map[string][]livebill.IssuedBill{}
	if len(ids) == 0 {
		return out, nil
	}
	var all, from []string
	for _, id := range ids {
		if _, ok := since[id]; ok {
			from = append(from, id)
		} else {
			all = append(all, id)
		}
	}
	if err := s.listBillsOf(ctx, all, nil, out); err != nil {
		return nil, err
	}
	if err := s.listBillsOf(ctx, from, since, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *DB) listBillsOf(ctx context.Context, ids []string, since map[string]string, out map[string][]livebill.IssuedBill) error {
	if len(ids) == 0 {
		return nil
	}
	const cols = `seq, account_id, bill_key, kind, bill_date, total, lines, adjusts, issued_at`
	var rows *sql.Rows
	var err error
	if since == nil {
		rows, err = s.queryIDs(ctx, cols, "bills", "account_id", "seq", ids)
	} else {
		dates := make([]string, len(ids))
		for i, id := range ids {
			dates[i] = since[id]
		}
		// from the month's first day (the index's range), the days from
		// since and the month's bill
		rows, err = s.queryCursors(ctx, cols, "bills", "bill_date >= substr($v, 1, 8) || '01' AND (bill_date >= $v OR kind = 'monthly')", "seq", ids, dates)
	}
	if err != nil {
		return fmt.Errorf("cannot list bills: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b livebill.IssuedBill
		var lines, at string
		if err := rows.Scan(&b.Seq, &b.AccountID, &b.Key, &b.Kind, &b.Date, &b.Total, &lines, &b.Adjusts, &at); err != nil {
			return fmt.Errorf("cannot read bill: %w", err)
		}
		if err := json.Unmarshal([]byte(lines), &b.Lines); err != nil {
			return fmt.Errorf("cannot read the lines of bill %q of account %q: %w", b.Key, b.AccountID, err)
		}
		if b.Lines == nil {
			b.Lines = []livebill.Line{}
		}
		b.IssuedAt, _ = time.Parse(time.RFC3339Nano, at)
		out[b.AccountID] = append(out[b.AccountID], b)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot list bills: %w", err)
	}
	return nil
}

// queryCursors is queryIDs with one more condition per id, cond, in
// which $v stands for the id's value. Rows come ordered by id, then
// order.
func (s *DB) queryCursors(ctx context.Context, cols, table, cond, order string, ids, values []string) (*sql.Rows, error) {
	if s.dialect.Numbered {
		return s.reader().QueryContext(ctx, `SELECT t.* FROM unnest($1::text[], $2::text[]) AS c(k, v) CROSS JOIN LATERAL (SELECT `+
			cols+` FROM `+table+` WHERE account_id = c.k AND `+strings.ReplaceAll(cond, "$v", "c.v")+` ORDER BY `+order+`) AS t`, ids, values)
	}
	var b strings.Builder
	b.WriteString(`WITH c(k, v) AS (VALUES `)
	args := make([]any, 0, 2*len(ids))
	for i := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?)`)
		args = append(args, ids[i], values[i])
	}
	b.WriteString(`) SELECT ` + cols + ` FROM c JOIN ` + table + ` ON account_id = c.k AND ` + strings.ReplaceAll(cond, "$v", "c.v") + ` ORDER BY account_id, ` + order)
	return s.reader().QueryContext(ctx, b.String(), args...)
}

// ListEventsAfterEach returns each account's events after its seq, in seq
// order. The cursors are a table joined to events (through the index on
// account_id): unnest of two arrays joined LATERAL on PostgreSQL, a
// VALUES list on SQLite.
func (s *DB) ListEventsAfterEach(ctx context.Context, after map[string]int64) (map[string][]livebill.StoredEvent, error) {
	out := make(map[string][]livebill.StoredEvent, len(after))
	if len(after) == 0 {
		return out, nil
	}
	// the cursors are numbered, and a row names its account by number
	accts := make([]string, 0, len(after))
	seqs := make([]int64, 0, len(after))
	for a, seq := range after {
		accts = append(accts, a)
		seqs = append(seqs, seq)
	}
	const cols = `SELECT c.n, e.seq, e.id, e.time_ms, e.app, e.body FROM `
	var q string
	var args []any
	if s.dialect.Numbered {
		// LATERAL, one index range per account (see queryIDs; the ORDER
		// BY keeps the subquery from being flattened into a join, which
		// without statistics was a hash join over every event)
		q = cols + `unnest(CAST(? AS TEXT[]), CAST(? AS BIGINT[])) WITH ORDINALITY AS c(a, s, n) CROSS JOIN LATERAL (SELECT seq, id, time_ms, app, body FROM events WHERE account_id = c.a AND seq > c.s ORDER BY seq) AS e`
		args = []any{accts, seqs}
	} else {
		var b strings.Builder
		b.WriteString(`WITH c(a, s, n) AS (VALUES `)
		args = make([]any, 0, 2*len(accts))
		for i := range accts {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?, ?, `)
			b.WriteString(strconv.Itoa(i + 1))
			b.WriteByte(')')
			args = append(args, accts[i], seqs[i])
		}
		b.WriteString(`) ` + cols + `c JOIN events e ON e.account_id = c.a AND e.seq > c.s`)
		q = b.String()
	}
	rows, err := s.reader().QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot list new events: %w", err)
	}
	defer rows.Close()
	// sized for a few events per account: growing by doubling copied
	// the group's rows about twice
	evs := make([]livebill.StoredEvent, 0, 8*len(accts))
	of := make([]int32, 0, 8*len(accts)) // evs[i] is of account accts[of[i]]
	for rows.Next() {
		var e livebill.StoredEvent
		var n int
		if err := rows.Scan(&n, &e.Seq, &e.ID, &e.Time, &e.App, &e.Body); err != nil {
			return nil, fmt.Errorf("cannot read event: %w", err)
		}
		if n < 1 || n > len(accts) {
			return nil, fmt.Errorf("cannot list new events: cursor %d of %d", n, len(accts))
		}
		evs = append(evs, e)
		of = append(of, int32(n-1))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot list new events: %w", err)
	}
	groupEvents(accts, evs, of, out)
	return out, nil
}

// groupEvents puts evs, evs[i] of account accts[of[i]], into out by
// account, each account's in seq order. The rows usually come one
// account after another (the join walks the cursors), and then each
// account's events are a slice of evs; otherwise they are first moved
// into account order (stable). No ORDER BY in SQL: it would sort the
// bodies.
func groupEvents(accts []string, evs []livebill.StoredEvent, of []int32, out map[string][]livebill.StoredEvent) {
	seen := make([]bool, len(accts))
	grouped := true
	for i := range of {
		if i == 0 || of[i] != of[i-1] {
			if seen[of[i]] {
				grouped = false
				break
			}
			seen[of[i]] = true
		}
	}
	if !grouped {
		// counting sort by account
		start := make([]int, len(accts)+1)
		for _, n := range of {
			start[n+1]++
		}
		for n := range accts {
			start[n+1] += start[n]
		}
		sorted := make([]livebill.StoredEvent, len(evs))
		byAcct := make([]int32, len(of))
		for i, n := range of {
			sorted[start[n]] = evs[i]
			byAcct[start[n]] = n
			start[n]++
		}
		evs, of = sorted, byAcct
	}
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && of[j] == of[i] {
			j++
		}
		run := evs[i:j:j]
		if !slices.IsSortedFunc(run, bySeq) {
			slices.SortFunc(run, bySeq)
		}
		out[accts[of[i]]] = run
		i = j
	}
}

func bySeq(x, y livebill.StoredEvent) int { return cmp.Compare(x.Seq, y.Seq) }

// IssueBillsEach stores the bills and settlements of several accounts in
// one transaction. The bills' uniqueness per (account, key) is the
// table's: a key already issued fails the insert and nothing is stored
// (ECONFLICT). Bills are inserted in the order given, so each account's
// bills keep their issue order (seq).
func (s *DB) IssueBillsEach(ctx context.Context, writes []livebill.SettleWrite) error {
	if len(writes) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot begin issuing bills: %w", err)
	}
	defer tx.Rollback()
	if err := s.insertBills(ctx, tx, writes); err != nil {
		if uniqueViolation(err) {
			return livebill.Errorf(livebill.ECONFLICT, "a bill of the group is already issued: %v", err)
		}
		return fmt.Errorf("cannot issue bills: %w", err)
	}
	if err := s.upsertSettlements(ctx, tx, writes); err != nil {
		return fmt.Errorf("cannot record settlements: %w", err)
	}
	if err := s.writeRollups(ctx, tx, writes); err != nil {
		return err
	}
	if err := s.chargeBills(ctx, tx, writes); err != nil {
		return fmt.Errorf("cannot charge bills: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("cannot commit bills: %w", err)
	}
	return nil
}

func (s *DB) insertBills(ctx context.Context, tx *sql.Tx, writes []livebill.SettleWrite) error {
	const head = `INSERT INTO bills (account_id, bill_key, kind, bill_date, total, lines, adjusts, issued_at) `
	if s.dialect.Numbered {
		var accts, keys, kinds, dates, totals, lines, adjusts, ats []string
		for _, w := range writes {
			for _, b := range w.Bills {
				l, err := json.Marshal(b.Lines)
				if err != nil {
					return err
				}
				accts = append(accts, w.Settlement.AccountID)
				keys = append(keys, b.Key)
				kinds = append(kinds, b.Kind)
				dates = append(dates, b.Date)
				totals = append(totals, b.Total)
				lines = append(lines, string(l))
				adjusts = append(adjusts, b.Adjusts)
				ats = append(ats, b.IssuedAt.UTC().Format(time.RFC3339Nano))
			}
		}
		if len(accts) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, head+`SELECT a, k, d, t, o, l, j, i FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY AS u(a, k, d, t, o, l, j, i, n) ORDER BY n`,
			accts, keys, kinds, dates, totals, lines, adjusts, ats)
		return err
	}
	var b strings.Builder
	args := make([]any, 0, 8*billRows)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, b.String(), args...)
		b.Reset()
		args = args[:0]
		return err
	}
	for _, w := range writes {
		for _, bill := range w.Bills {
			l, err := json.Marshal(bill.Lines)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				b.WriteString(head + `VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
			} else {
				b.WriteString(`, (?, ?, ?, ?, ?, ?, ?, ?)`)
			}
			args = append(args, w.Settlement.AccountID, bill.Key, bill.Kind, bill.Date, bill.Total, string(l), bill.Adjusts, bill.IssuedAt.UTC().Format(time.RFC3339Nano))
			if len(args) == 8*billRows {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

func (s *DB) upsertSettlements(ctx context.Context, tx *sql.Tx, writes []livebill.SettleWrite) error {
	const tail = ` ON CONFLICT (account_id) DO UPDATE SET through = excluded.through, revision = excluded.revision, held = excluded.held`
	if s.dialect.Numbered {
		accts := make([]string, len(writes))
		throughs := make([]string, len(writes))
		revs := make([]int64, len(writes))
		helds := make([]string, len(writes))
		for i, w := range writes {
			accts[i], throughs[i], revs[i], helds[i] = w.Settlement.AccountID, w.Settlement.Through, w.Settlement.Revision, w.Settlement.Held
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO settlements (account_id, through, revision, held) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`+tail, accts, throughs, revs, helds)
		return err
	}
	for start := 0; start < len(writes); start += billRows {
		end := min(start+billRows, len(writes))
		var b strings.Builder
		b.WriteString(`INSERT INTO settlements (account_id, through, revision, held) VALUES `)
		args := make([]any, 0, 4*(end-start))
		for i, w := range writes[start:end] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?)")
			args = append(args, w.Settlement.AccountID, w.Settlement.Through, w.Settlement.Revision, w.Settlement.Held)
		}
		b.WriteString(tail)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
