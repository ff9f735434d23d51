package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/money"
)

// The account lifecycle (migration 0013). Every write that moves a
// balance runs the lifecycle's Machine on the account's state inside its
// own transaction, with the state's row locked (PostgreSQL: FOR UPDATE;
// SQLite: the transaction holds the write lock from BEGIN): the ledger
// entry, the new state, the transitions and their notifications commit
// with the thing they record, or not at all.

var _ livebill.LifecycleService = (*DB)(nil)

const stateCols = `account_id, state, since_ms, grace_ms, reclaim_ms, balance, opening, last_ms, terms_grace_ms, terms_reclaim_ms`

func scanState(sc interface{ Scan(...any) error }) (*livebill.AccountState, error) {
	var st livebill.AccountState
	var since, grace, reclaim, last, tg, tr int64
	if err := sc.Scan(&st.AccountID, &st.State, &since, &grace, &reclaim, &st.Balance, &st.Opening, &last, &tg, &tr); err != nil {
		return nil, err
	}
	setStateTimes(&st, since, grace, reclaim, last, tg, tr)
	return &st, nil
}

// setStateTimes sets st's instants (Unix ms, 0 for none) and terms (ms)
// as stored.
func setStateTimes(st *livebill.AccountState, since, grace, reclaim, last, termsGrace, termsReclaim int64) {
	st.Since, st.GraceUntil, st.ReclaimAt, st.Last = fromMS(since), fromMS(grace), fromMS(reclaim), fromMS(last)
	st.Terms = livebill.Terms{Grace: time.Duration(termsGrace) * time.Millisecond, ReclaimAfter: time.Duration(termsReclaim) * time.Millisecond}
}

// accountStateCols are an account's columns and its state row's, for
// accounts a LEFT JOIN account_states s (scanAccountState): one read
// whether the account has a state row or not.
const accountStateCols = `a.id, a.balance AS account_balance, a.created_at, ` +
	`s.state, COALESCE(s.since_ms, 0) AS since_ms, COALESCE(s.grace_ms, 0) AS grace_ms, COALESCE(s.reclaim_ms, 0) AS reclaim_ms, ` +
	`COALESCE(s.balance, '') AS balance, COALESCE(s.opening, '') AS opening, COALESCE(s.last_ms, 0) AS last_ms, ` +
	`COALESCE(s.terms_grace_ms, 0) AS terms_grace_ms, COALESCE(s.terms_reclaim_ms, 0) AS terms_reclaim_ms`

// scanAccountState reads a row of accountStateCols: the account's state,
// or the opening state of an account without a state row.
func scanAccountState(sc interface{ Scan(...any) error }) (*livebill.AccountState, error) {
	var id, accountBalance, createdAt string
	var state sql.NullString
	var st livebill.AccountState
	var since, grace, reclaim, last, tg, tr int64
	if err := sc.Scan(&id, &accountBalance, &createdAt, &state, &since, &grace, &reclaim, &st.Balance, &st.Opening, &last, &tg, &tr); err != nil {
		return nil, err
	}
	if !state.Valid {
		return openingState(id, accountBalance, createdAt), nil
	}
	st.AccountID, st.State = id, state.String
	setStateTimes(&st, since, grace, reclaim, last, tg, tr)
	return &st, nil
}

// openingState is the state of an account without a state row (no
// settlement or top-up has charged it yet): active since it was made, at
// its opening balance.
func openingState(id, balance, createdAt string) *livebill.AccountState {
	at, _ := time.Parse(time.RFC3339Nano, createdAt)
	return &livebill.AccountState{AccountID: id, State: livebill.AccountActive, Since: at, Last: at, Balance: balance, Opening: balance, Terms: defaultTerms}
}

// ms is an instant as stored (0 for none).
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func stateArgs(st *livebill.AccountState) []any {
	return []any{st.AccountID, st.State, ms(st.Since), ms(st.GraceUntil), ms(st.ReclaimAt), ms(st.Due()), st.Balance, st.Opening, ms(st.Last),
		st.Terms.Grace.Milliseconds(), st.Terms.ReclaimAfter.Milliseconds()}
}

const stateInsert = `INSERT INTO account_states (account_id, state, since_ms, grace_ms, reclaim_ms, due_ms, balance, opening, last_ms, terms_grace_ms, terms_reclaim_ms) VALUES `

// saveStates writes states (new or changed) in multi-row upserts.
func (s *DB) saveStates(ctx context.Context, tx *sql.Tx, sts []*livebill.AccountState) error {
	rows := make([][]any, len(sts))
	for i, st := range sts {
		rows[i] = stateArgs(st)
	}
	return s.insertRows(ctx, tx, stateInsert, ` ON CONFLICT (account_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms,
		grace_ms = excluded.grace_ms, reclaim_ms = excluded.reclaim_ms, due_ms = excluded.due_ms, balance = excluded.balance,
		last_ms = excluded.last_ms, terms_grace_ms = excluded.terms_grace_ms, terms_reclaim_ms = excluded.terms_reclaim_ms`, rows)
}

// insertRows inserts rows (each as many values as the head's columns) by
// multi-row VALUES, a few hundred rows a statement.
func (s *DB) insertRows(ctx context.Context, tx *sql.Tx, head, tail string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, 4000/len(rows[0]))
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(rows[0])), ", ") + ")"
	statement := func(n int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(one)
		}
		b.WriteString(tail)
		return s.q(b.String())
	}
	// The full chunks share one statement, prepared once in tx: parsing
	// a statement of 4,000 parameters costs more than inserting its rows
	// (SQLite), and a settlement writes many chunks of rollups.
	var full *sql.Stmt
	if len(rows) >= 2*per {
		st, err := tx.PrepareContext(ctx, statement(per))
		if err != nil {
			return err
		}
		defer st.Close()
		full = st
	}
	args := make([]any, 0, min(per, len(rows))*len(rows[0]))
	for len(rows) > 0 {
		n := min(per, len(rows))
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		var err error
		if n == per && full != nil {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, statement(n), args...)
		}
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// defaultTerms are the terms of an account no settlement has charged yet.
var defaultTerms = livebill.Terms{Grace: livebill.DefaultGrace, ReclaimAfter: livebill.DefaultReclaimAfter}

// lockStates reads the states of accounts ids in tx, locking their rows
// in id order. An account without a state row (made before migration
// 0013's Go step could see it, or written by hand) gets one: active, its
// balance the opening one.
func (s *DB) lockStates(ctx context.Context, tx *sql.Tx, ids []string) (map[string]*livebill.AccountState, error) {
	out := make(map[string]*livebill.AccountState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ids = slices.Clone(ids)
	sort.Strings(ids)
	ids = slices.Compact(ids)
	var rows *sql.Rows
	var err error
	if s.dialect.Numbered {
		rows, err = tx.QueryContext(ctx, `SELECT `+stateCols+` FROM account_states WHERE account_id = ANY($1) ORDER BY account_id FOR UPDATE`, ids)
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT `+stateCols+` FROM account_states WHERE account_id IN (`+marks(len(ids))+`)`, anys(ids)...)
	}
	if err := scanStates(rows, err, out); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if out[id] != nil {
			continue
		}
		var bal, createdAt string
		err := tx.QueryRowContext(ctx, s.q(`SELECT balance, created_at FROM accounts WHERE id = ?`), id).Scan(&bal, &createdAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, livebill.Errorf(livebill.ENOTFOUND, "account %q not found", id)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot read account %q: %w", id, err)
		}
		st := openingState(id, bal, createdAt)
		if _, err := tx.ExecContext(ctx, s.q(stateInsert+`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id) DO NOTHING`), stateArgs(st)...); err != nil {
			return nil, fmt.Errorf("cannot make the state of account %q: %w", id, err)
		}
		out[id] = st
	}
	return out, nil
}

// scanStates reads the rows of a states query (err its error) into out,
// and closes them.
func scanStates(rows *sql.Rows, err error, out map[string]*livebill.AccountState) error {
	if err != nil {
		return fmt.Errorf("cannot read account states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return fmt.Errorf("cannot read account state: %w", err)
		}
		out[st.AccountID] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read account states: %w", err)
	}
	return nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// journal writes what a transaction records of the lifecycle: ledger
// entries, transitions and the notifications of both.
type journal struct {
	ctx context.Context
	s   *DB
	tx  *sql.Tx
	now time.Time
	out *outbox
}

func (s *DB) journal(ctx context.Context, tx *sql.Tx) *journal {
	now := s.clock.Now()
	return &journal{ctx: ctx, s: s, tx: tx, now: now, out: &outbox{ctx: ctx, s: s, tx: tx, now: now}}
}

const ledgerInsert = `INSERT INTO ledger (account_id, kind, ref, bill_date, amount, balance, at_ms, recorded_at) VALUES `

func ledgerArgs(e *livebill.LedgerEntry, now time.Time) []any {
	return []any{e.AccountID, e.Kind, e.Ref, e.Date, e.Amount, e.Balance, e.At.UnixMilli(), now.UTC().Format(time.RFC3339Nano)}
}

// transitions records transitions (in order) and notifies each.
func (j *journal) transitions(trs []livebill.Transition) error {
	for i := range trs {
		tr := &trs[i]
		tr.RecordedAt = j.now
		err := j.tx.QueryRowContext(j.ctx, j.s.q(`INSERT INTO transitions (account_id, app, from_state, to_state, reason, at_ms, cause, balance, grace_ms, reclaim_ms, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`),
			tr.AccountID, tr.App, tr.From, tr.To, tr.Reason, tr.At.UnixMilli(), tr.Cause, tr.Balance, ms(tr.GraceUntil), ms(tr.ReclaimAt),
			j.now.UTC().Format(time.RFC3339Nano)).Scan(&tr.Seq)
		if err != nil {
			return fmt.Errorf("cannot record the transition of account %q to %s: %w", tr.AccountID, tr.To, err)
		}
		if err := j.out.notify(tr.AccountID, tr.EventType(), tr.At, tr); err != nil {
			return err
		}
	}
	return nil
}

// post applies a ledger movement to the machine of an account: the
// time-driven transitions up to its instant, then the entry and the
// transition it causes. It returns the entry (not yet written) and the
// transitions.
func post(m *lifecycle.Machine, e livebill.LedgerEntry, amount money.Decimal, cause string) (livebill.LedgerEntry, []livebill.Transition) {
	trs := m.Advance(e.At, false)
	trs = append(trs, m.Post(amount, e.At, cause)...)
	e.Amount, e.Balance = lifecycle.Format(amount), lifecycle.Format(m.Balance())
	return e, trs
}

// chargeBills charges the settlements' bills to their accounts' balances,
// in the transaction that issues them (Machine.Charge: a ledger entry per
// bill that moves money, the transitions they cause under the write's
// terms), and notifies the issued bills and refunds.
func (s *DB) chargeBills(ctx context.Context, tx *sql.Tx, writes []livebill.SettleWrite) error {
	j := s.journal(ctx, tx)
	var ids []string
	for _, w := range writes {
		for _, b := range w.Bills {
			if t, err := money.Parse(b.Total); err == nil && !t.IsZero() {
				ids = append(ids, w.Settlement.AccountID)
				break
			}
		}
	}
	states, err := s.lockStates(ctx, tx, ids)
	if err != nil {
		return err
	}
	var entries [][]any
	var changed []*livebill.AccountState
	var trs []livebill.Transition
	for _, w := range writes {
		id := w.Settlement.AccountID
		if st := states[id]; st != nil {
			if st.State == livebill.AccountReclaimed {
				return livebill.Errorf(livebill.EGONE, "account %q was reclaimed: it is billed no more", id)
			}
			m, err := lifecycle.New(*st)
			if err != nil {
				return err
			}
			if w.Terms != (livebill.Terms{}) {
				m.SetTerms(w.Terms)
			}
			es, t, err := m.Charge(w.Bills)
			if err != nil {
				return fmt.Errorf("account %q: %w", id, err)
			}
			for i := range es {
				entries = append(entries, ledgerArgs(&es[i], j.now))
			}
			trs = append(trs, t...)
			ns := m.State()
			changed = append(changed, &ns)
		}
		for _, b := range w.Bills {
			if err := j.out.notify(id, livebill.EventBillIssued, b.IssuedAt, b); err != nil {
				return err
			}
			if lifecycle.EntryKind(&b.Bill) == livebill.LedgerRefund {
				if err := j.out.notify(id, livebill.EventPurchaseRefunded, b.IssuedAt, refundOf(b)); err != nil {
					return err
				}
			}
		}
	}
	if err := s.insertRows(ctx, tx, ledgerInsert, "", entries); err != nil {
		return fmt.Errorf("cannot write the ledger: %w", err)
	}
	if err := s.saveStates(ctx, tx, changed); err != nil {
		return fmt.Errorf("cannot write account states: %w", err)
	}
	return j.transitions(trs)
}

// refund is the data of a purchase.refunded notification.
type refund struct {
	Bill   string          `json:"bill"`
	Date   string          `json:"date"`
	Amount string          `json:"amount"`
	Lines  []livebill.Line `json:"lines"`
}

func refundOf(b livebill.IssuedBill) refund {
	return refund{Bill: b.Key, Date: b.Date, Amount: b.Total, Lines: b.Lines}
}

// FindAccountState returns an account's state.
func (s *DB) FindAccountState(ctx context.Context, accountID string) (*livebill.AccountState, error) {
	sts, err := s.FindAccountStates(ctx, []string{accountID})
	if err != nil {
		return nil, err
	}
	if st := sts[accountID]; st != nil {
		return st, nil
	}
	return nil, livebill.Errorf(livebill.ENOTFOUND, "account %q not found", accountID)
}

// FindAccountStates returns the states of the accounts of ids that exist
// (an account without a state row, which no settlement or top-up has
// charged yet, is active at its opening balance), in one read: ingestion
// asks for every batch's accounts.
func (s *DB) FindAccountStates(ctx context.Context, ids []string) (map[string]*livebill.AccountState, error) {
	out := make(map[string]*livebill.AccountState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, accountStateCols, "accounts a LEFT JOIN account_states s ON s.account_id = a.id", "a.id", "", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot read account states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st, err := scanAccountState(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read account state: %w", err)
		}
		out[st.AccountID] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read account states: %w", err)
	}
	return out, nil
}

// DueAccounts returns the accounts whose grace ended or whose reclaim is
// due by now, earliest first (at most 1,000 a call).
func (s *DB) DueAccounts(ctx context.Context, now time.Time) ([]*livebill.AccountState, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+stateCols+` FROM account_states WHERE due_ms > 0 AND due_ms <= ? ORDER BY due_ms, account_id LIMIT 1000`), now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("cannot list accounts due: %w", err)
	}
	defer rows.Close()
	var out []*livebill.AccountState
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read account state: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// inTx runs f in a transaction, again when PostgreSQL reports a deadlock
// or a serialization failure.
func (s *DB) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		err = f(tx)
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			if transient(err) && attempt < maxAttempts {
				continue
			}
			return err
		}
		return nil
	}
}

// AdvanceAccount records the account's time-driven transitions up to to
// (the end of its grace), not a reclaim.
func (s *DB) AdvanceAccount(ctx context.Context, accountID string, to time.Time) ([]livebill.Transition, error) {
	var trs []livebill.Transition
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		sts, err := s.lockStates(ctx, tx, []string{accountID})
		if err != nil {
			return err
		}
		m, err := lifecycle.New(*sts[accountID])
		if err != nil {
			return err
		}
		if trs = m.Advance(to, false); len(trs) == 0 {
			return nil
		}
		st := m.State()
		if err := s.saveStates(ctx, tx, []*livebill.AccountState{&st}); err != nil {
			return err
		}
		return s.journal(ctx, tx).transitions(trs)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot advance account %q: %w", accountID, err)
	}
	return trs, nil
}

// ReclaimAccount purges a suspended account whose reclaim is due by at:
// its events, apps (and their vendor webhook configuration and states),
// devices, purchases, refunds, API keys, pack alerts, quarantine, ingest
// and import records and own catalog document. The account's row stays (so it answers 410 Gone and
// its id is not made again), with its state, bills, ledger, top-ups and
// history: financial records are kept (docs/decisions.md).
func (s *DB) ReclaimAccount(ctx context.Context, accountID string, at time.Time) (*livebill.Transition, error) {
	var tr *livebill.Transition
	var apps []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		sts, err := s.lockStates(ctx, tx, []string{accountID})
		if err != nil {
			return err
		}
		st := sts[accountID]
		if st.State != livebill.AccountSuspended || st.ReclaimAt.IsZero() || st.ReclaimAt.After(at) {
			return livebill.Errorf(livebill.ECONFLICT, "account %q is %s, not suspended past its reclaim date", accountID, st.State)
		}
		m, err := lifecycle.New(*st)
		if err != nil {
			return err
		}
		trs := m.Advance(at, true)
		if len(trs) == 0 {
			return livebill.Errorf(livebill.ECONFLICT, "account %q: nothing to reclaim", accountID)
		}
		tr = &trs[len(trs)-1]
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM apps WHERE account_id = ?`), accountID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			apps = append(apps, id)
		}
		rows.Close()
		for _, q := range []string{
			`DELETE FROM events WHERE account_id = ?`,
			`DELETE FROM webhook_configs WHERE app_id IN (SELECT id FROM apps WHERE account_id = ?)`,
			`DELETE FROM app_states WHERE account_id = ?`,
			`DELETE FROM apps WHERE account_id = ?`,
			`DELETE FROM devices WHERE account_id = ?`,
			`DELETE FROM refunds WHERE account_id = ?`,
			`DELETE FROM purchases WHERE account_id = ?`,
			`DELETE FROM api_keys WHERE account_id = ?`,
			`DELETE FROM pack_alerts WHERE account_id = ?`,
			`DELETE FROM quarantines WHERE account_id = ?`,
			`DELETE FROM ingest_days WHERE account_id = ?`,
			`DELETE FROM import_accounts WHERE account_id = ?`,
			// what metering kept of who was there (usage rollups stay, as bills do)
			`DELETE FROM checkpoints WHERE account_id = ?`,
			`DELETE FROM login_rollups WHERE account_id = ?`,
			`DELETE FROM relay_rollups WHERE account_id = ?`,
			`DELETE FROM lease_slots WHERE account_id = ?`,
			`DELETE FROM leases WHERE account_id = ?`,
			`DELETE FROM event_conflicts WHERE account_id = ?`,
			// the settlement and the revision stay: the account is not due
			// again but once a day (and then found reclaimed)
			`UPDATE accounts SET catalog_yaml = '', event_count = 0, first_ms = 0, last_ms = 0 WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), accountID); err != nil {
				return fmt.Errorf("cannot purge: %w", err)
			}
		}
		ns := m.State()
		if err := s.saveStates(ctx, tx, []*livebill.AccountState{&ns}); err != nil {
			return err
		}
		return s.journal(ctx, tx).transitions(trs)
	})
	if err != nil {
		return nil, fmt.Errorf("cannot reclaim account %q: %w", accountID, err)
	}
	for _, id := range apps { // purged: this server must not find them any more
		if _, ok := s.apps.LoadAndDelete(id); ok {
			s.nApps.Add(-1)
		}
	}
	return tr, nil
}

// ---- apps

const appStateCols = `app_id, account_id, disabled_ms, stopped_ms, last_ms`

func scanAppState(sc interface{ Scan(...any) error }) (*livebill.AppState, int64, error) {
	var a livebill.AppState
	var dis, stop, last int64
	if err := sc.Scan(&a.AppID, &a.AccountID, &dis, &stop, &last); err != nil {
		return nil, 0, err
	}
	a.Disabled, a.Stopped = fromMS(dis), fromMS(stop)
	return &a, last, nil
}

// ListAppStates returns the states of the account's apps that were ever
// stopped or disabled, by app id.
func (s *DB) ListAppStates(ctx context.Context, accountID string) ([]*livebill.AppState, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+appStateCols+` FROM app_states WHERE account_id = ? ORDER BY app_id`), accountID)
	if err != nil {
		return nil, fmt.Errorf("cannot list app states: %w", err)
	}
	defer rows.Close()
	var out []*livebill.AppState
	for rows.Next() {
		a, _, err := scanAppState(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read app state: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ListAppStatesOf returns the app states of several accounts.
func (s *DB) ListAppStatesOf(ctx context.Context, ids []string) (map[string][]*livebill.AppState, error) {
	out := map[string][]*livebill.AppState{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, appStateCols, "app_states", "account_id", "app_id", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot list app states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, _, err := scanAppState(rows)
		if err != nil {
			return nil, fmt.Errorf("cannot read app state: %w", err)
		}
		out[a.AccountID] = append(out[a.AccountID], a)
	}
	return out, rows.Err()
}

// FindAppState returns an app's state.
func (s *DB) FindAppState(ctx context.Context, appID string) (*livebill.AppState, error) {
	app, err := s.FindApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	a, _, err := scanAppState(s.db.QueryRowContext(ctx, s.q(`SELECT `+appStateCols+` FROM app_states WHERE app_id = ?`), appID))
	if errors.Is(err, sql.ErrNoRows) {
		return &livebill.AppState{AppID: appID, AccountID: app.AccountID}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the state of app %q: %w", appID, err)
	}
	return a, nil
}

// SetAppState applies changes to an app's state in order (each dated no
// earlier than the app's last change) and records a transition for each
// change of its state: disable/enable by an operator; stop/start of its
// trial. A disabled app stopped by its trial stays disabled (and is
// stopped once enabled).
func (s *DB) SetAppState(ctx context.Context, appID string, changes []livebill.AppChange) ([]livebill.Transition, error) {
	app, err := s.FindApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	var trs []livebill.Transition
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		trs = nil
		// the account's state row is the lock of everything lifecycle of
		// the account, apps included
		if _, err := s.lockStates(ctx, tx, []string{app.AccountID}); err != nil {
			return err
		}
		a, last, err := scanAppState(tx.QueryRowContext(ctx, s.q(`SELECT `+appStateCols+` FROM app_states WHERE app_id = ?`), appID))
		if errors.Is(err, sql.ErrNoRows) {
			a, last, err = &livebill.AppState{AppID: appID, AccountID: app.AccountID}, 0, nil
		}
		if err != nil {
			return err
		}
		for _, c := range changes {
			at := c.At
			if at.UnixMilli() < last {
				at = time.UnixMilli(last).UTC()
			}
			before, _, _ := a.State()
			switch c.Action {
			case livebill.AppDisable:
				if a.Disabled.IsZero() {
					a.Disabled = at
				}
			case livebill.AppEnable:
				a.Disabled = time.Time{}
			case livebill.AppStop:
				if a.Stopped.IsZero() {
					a.Stopped = at
				}
			case livebill.AppStart:
				a.Stopped = time.Time{}
			default:
				return livebill.Errorf(livebill.EINVALID, "app %q: unknown action %q", appID, c.Action)
			}
			after, reason, _ := a.State()
			if after == before {
				continue
			}
			last = at.UnixMilli()
			trs = append(trs, livebill.Transition{AccountID: app.AccountID, App: appID, From: before, To: after, Reason: reason, At: at, Cause: c.Cause})
		}
		if len(trs) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO app_states (`+appStateCols+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (app_id) DO UPDATE SET disabled_ms = excluded.disabled_ms, stopped_ms = excluded.stopped_ms, last_ms = excluded.last_ms`),
			appID, app.AccountID, ms(a.Disabled), ms(a.Stopped), last); err != nil {
			return fmt.Errorf("cannot write the state of app %q: %w", appID, err)
		}
		return s.journal(ctx, tx).transitions(trs)
	})
	if err != nil {
		return nil, err
	}
	return trs, nil
}

// RecordPackAlert records a pack's crossing of a threshold once and
// notifies it.
func (s *DB) RecordPackAlert(ctx context.Context, accountID string, alert livebill.PackAlert) (bool, error) {
	var fresh bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := s.clock.Now()
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO pack_alerts (account_id, pack_id, threshold, at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			accountID, alert.Pack, alert.Threshold, now.UnixMilli())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			fresh = false
			return err
		}
		fresh = true
		return s.journal(ctx, tx).out.notify(accountID, livebill.EventPackThreshold, now, alert)
	})
	if err != nil {
		return false, fmt.Errorf("cannot record the alert of pack %q: %w", alert.Pack, err)
	}
	return fresh, nil
}

// ---- history and ledger lists

const transitionCols = `account_id, app, from_state, to_state, reason, at_ms, cause, balance, grace_ms, reclaim_ms, recorded_at`

func transitionsList(accountID string) listQuery {
	return listQuery{name: "transitions", cols: transitionCols, from: "transitions", where: "account_id = ?", args: []any{accountID},
		key: []string{"seq"}, ints: []bool{true}}
}

func scanTransitionRow(sc func(...any) error, key []any) (livebill.Transition, error) {
	var t livebill.Transition
	var at, grace, reclaim int64
	var rec string
	if err := sc(append([]any{&t.AccountID, &t.App, &t.From, &t.To, &t.Reason, &at, &t.Cause, &t.Balance, &grace, &reclaim, &rec}, key...)...); err != nil {
		return t, err
	}
	t.Seq = *key[0].(*int64)
	t.At, t.GraceUntil, t.ReclaimAt = fromMS(at), fromMS(grace), fromMS(reclaim)
	t.RecordedAt, _ = time.Parse(time.RFC3339Nano, rec)
	return t, nil
}

// ListTransitions returns an account's transitions in order.
func (s *DB) ListTransitions(ctx context.Context, accountID string) ([]livebill.Transition, error) {
	return all(ctx, s, transitionsList(accountID), scanTransitionRow)
}

// PageTransitions returns a page of an account's transitions.
func (s *DB) PageTransitions(ctx context.Context, accountID string, p livebill.Page) ([]livebill.Transition, string, error) {
	return readList(ctx, s, transitionsList(accountID), &p, scanTransitionRow)
}

// ListTransitionsOf returns the transitions of several accounts, each
// account's in order.
func (s *DB) ListTransitionsOf(ctx context.Context, ids []string) (map[string][]livebill.Transition, error) {
	out := map[string][]livebill.Transition{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.queryIDs(ctx, transitionCols+`, seq`, "transitions", "account_id", "seq", ids)
	if err != nil {
		return nil, fmt.Errorf("cannot list transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		t, err := scanTransitionRow(rows.Scan, []any{&seq})
		if err != nil {
			return nil, fmt.Errorf("cannot read transition: %w", err)
		}
		out[t.AccountID] = append(out[t.AccountID], t)
	}
	return out, rows.Err()
}

func ledgerList(accountID string) listQuery {
	return listQuery{name: "ledger", cols: "account_id, kind, ref, bill_date, amount, balance, at_ms, recorded_at", from: "ledger",
		where: "account_id = ?", args: []any{accountID}, key: []string{"seq"}, ints: []bool{true}}
}

func scanLedgerRow(sc func(...any) error, key []any) (livebill.LedgerEntry, error) {
	var e livebill.LedgerEntry
	var at int64
	var rec string
	if err := sc(append([]any{&e.AccountID, &e.Kind, &e.Ref, &e.Date, &e.Amount, &e.Balance, &at, &rec}, key...)...); err != nil {
		return e, err
	}
	e.Seq = *key[0].(*int64)
	e.At = fromMS(at)
	e.RecordedAt, _ = time.Parse(time.RFC3339Nano, rec)
	return e, nil
}

// ListLedger returns an account's ledger in order.
func (s *DB) ListLedger(ctx context.Context, accountID string) ([]livebill.LedgerEntry, error) {
	return all(ctx, s, ledgerList(accountID), scanLedgerRow)
}

// PageLedger returns a page of an account's ledger.
func (s *DB) PageLedger(ctx context.Context, accountID string, p livebill.Page) ([]livebill.LedgerEntry, string, error) {
	return readList(ctx, s, ledgerList(accountID), &p, scanLedgerRow)
}

// ---- migration 0013's Go step

// backfillLifecycle gives every account made before migration 0013 its
// state and ledger: the opening balance, its top-ups (by time) and its
// issued bills (by issue; when charged is not known, so at their issue
// time), summed exactly. An account left below zero enters arrears at the
// upgrade, not at some past bill: its grace starts now, so an upgrade
// never suspends or reclaims an account at once.
func backfillLifecycle(ctx context.Context, s *DB, tx *sql.Tx) error {
	now := s.clock.Now()
	rows, err := tx.QueryContext(ctx, `SELECT id, balance, created_at FROM accounts ORDER BY id`)
	if err != nil {
		return err
	}
	type acct struct{ id, balance, createdAt string }
	var accts []acct
	for rows.Next() {
		var a acct
		if err := rows.Scan(&a.id, &a.balance, &a.createdAt); err != nil {
			rows.Close()
			return err
		}
		accts = append(accts, a)
	}
	rows.Close()
	j := s.journal(ctx, tx)
	for _, a := range accts {
		created, _ := time.Parse(time.RFC3339Nano, a.createdAt)
		opening, err := money.Parse(a.balance)
		if err != nil {
			opening = money.Zero
		}
		type mv struct {
			e      livebill.LedgerEntry
			amount money.Decimal
		}
		var mvs []mv
		trows, err := tx.QueryContext(ctx, s.q(`SELECT id, amount, at FROM topups WHERE account_id = ? ORDER BY seq`), a.id)
		if err != nil {
			return err
		}
		for trows.Next() {
			var id, amount, at string
			if err := trows.Scan(&id, &amount, &at); err != nil {
				trows.Close()
				return err
			}
			t, _ := time.Parse(time.RFC3339Nano, at)
			if d, err := money.Parse(amount); err == nil {
				mvs = append(mvs, mv{livebill.LedgerEntry{Kind: livebill.LedgerTopUp, Ref: id, At: t}, d})
			}
		}
		trows.Close()
		brows, err := tx.QueryContext(ctx, s.q(`SELECT bill_key, kind, bill_date, total, issued_at FROM bills WHERE account_id = ? ORDER BY seq`), a.id)
		if err != nil {
			return err
		}
		for brows.Next() {
			var b livebill.Bill
			var key, at string
			if err := brows.Scan(&key, &b.Kind, &b.Date, &b.Total, &at); err != nil {
				brows.Close()
				return err
			}
			t, _ := time.Parse(time.RFC3339Nano, at)
			if d, err := money.Parse(b.Total); err == nil && !d.IsZero() {
				mvs = append(mvs, mv{livebill.LedgerEntry{Kind: lifecycle.EntryKind(&b), Ref: key, Date: b.Date, At: t}, d.Neg()})
			}
		}
		brows.Close()
		sort.SliceStable(mvs, func(i, j int) bool { return mvs[i].e.At.Before(mvs[j].e.At) })
		bal := opening
		entries := [][]any{ledgerArgs(&livebill.LedgerEntry{AccountID: a.id, Kind: livebill.LedgerOpening, Amount: lifecycle.Format(opening),
			Balance: lifecycle.Format(opening), At: created}, now)}
		for _, m := range mvs {
			bal = bal.Add(m.amount)
			e := m.e
			e.AccountID, e.Amount, e.Balance = a.id, lifecycle.Format(m.amount), lifecycle.Format(bal)
			entries = append(entries, ledgerArgs(&e, now))
		}
		if err := s.insertRows(ctx, tx, ledgerInsert, "", entries); err != nil {
			return err
		}
		m, err := lifecycle.New(livebill.AccountState{AccountID: a.id, Since: created, Last: now, Opening: a.balance, Terms: defaultTerms})
		if err != nil {
			return err
		}
		trs := m.Post(bal, now, "upgrade") // below zero: arrears from now
		st := m.State()
		if err := s.saveStates(ctx, tx, []*livebill.AccountState{&st}); err != nil {
			return err
		}
		if err := j.transitions(trs); err != nil {
			return err
		}
	}
	return nil
}
