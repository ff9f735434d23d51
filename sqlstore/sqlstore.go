// Package sqlstore implements livebill.Store over database/sql. The SQL is
// written once with ? placeholders in the dialect SQLite and PostgreSQL
// share; the backend packages (sqlite, postgres) open the connection, bring
// their own migrations and say how placeholders are written.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/lifecycle"
	"github.com/livebill/livebill/money"
)

// Dialect is what differs between backends.
type Dialect struct {
	Name string
	// Numbered placeholders ($1, $2, …) instead of ?.
	Numbered bool
}

// DB is a livebill.Store on a *sql.DB.
type DB struct {
	db      *sql.DB
	reads   *sql.DB // the batched reads' pool, if not db (UseReadPool)
	dialect Dialect
	clock   livebill.Clock
	stmts   sync.Map // SQL text → *sql.Stmt (SQLite ingestion statements)
	apps    sync.Map // app id → *livebill.App found (apps never change)
	nApps   atomic.Int64
	// leaseGroup queues lease writes for group commit (leasebatch.go)
	leaseGroup leaseGroup
}

var (
	_ livebill.Store  = (*DB)(nil)
	_ livebill.Pinger = (*DB)(nil)
)

// New wraps an open database; clock stamps created and issued times.
func New(db *sql.DB, d Dialect, clock livebill.Clock) *DB {
	if clock == nil {
		clock = livebill.SystemClock{}
	}
	return &DB{db: db, dialect: d, clock: clock}
}

// SQL returns the underlying database.
func (s *DB) SQL() *sql.DB { return s.db }

// Ping checks that the database answers (PostgreSQL: a round trip on a
// connection of the pool; SQLite: the connection, once the transaction
// holding it ends).
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// UseReadPool has the batched reads of many accounts at once (a
// settlement group's inputs, and every read built on queryIDs, such as
// ingestion's account states; all read committed state outside a
// transaction) go through pool r, which Close closes. r must be
// connections to the same database that see each commit made through
// the store once it returns: SQLite's in WAL mode, where readers run
// beside the one writer, so that one group's reads do not wait for
// another group's writing on the store's single connection.
func (s *DB) UseReadPool(r *sql.DB) { s.reads = r }

// reader is the pool of the batched reads: the read pool, else the
// database.
func (s *DB) reader() *sql.DB {
	if s.reads != nil {
		return s.reads
	}
	return s.db
}

// Close closes the database.
func (s *DB) Close() error {
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	if s.reads != nil {
		s.reads.Close()
	}
	return s.db.Close()
}

// Rebind writes query, whose parameters are ?, in the dialect's
// placeholders ($1, $2, … on PostgreSQL).
func (s *DB) Rebind(query string) string { return s.q(query) }

func (s *DB) q(query string) string {
	if !s.dialect.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Migrate applies, in version order, the migrations NNNN_name.sql in dir
// of fsys that are not yet recorded in schema_migrations. Each migration
// runs in its own transaction. A database that records a migration fsys
// does not hold (written by a newer livebill) is refused with a
// *SchemaError before anything is applied.
func (s *DB) Migrate(ctx context.Context, fsys fs.FS, dir string) error {
	if s.dialect.Numbered {
		// PostgreSQL: servers starting at once take turns (a session lock
		// on one connection; SQLite serializes writers by itself).
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7262281)`); err != nil {
			return fmt.Errorf("migrations: cannot lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7262281)`)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := s.CheckSchema(ctx, fsys, dir); err != nil {
		return err
	}
	ms, err := Migrations(fsys, dir)
	if err != nil {
		return err
	}
	for _, m := range ms {
		v, name := m.Version, m.Name
		var have int
		if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), v).Scan(&have); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		if have > 0 {
			continue
		}
		body, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, stmt := range splitSQL(string(body)) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if step := goSteps[v]; step != nil {
			if err := step(ctx, s, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), v, name, s.clock.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// goSteps are migrations' steps SQL cannot take (exact decimal sums):
// run after the version's SQL, in its transaction.
var goSteps = map[int64]func(ctx context.Context, s *DB, tx *sql.Tx) error{
	13: backfillLifecycle,
}

// splitSQL splits a migration on semicolons at line ends; comments are
// dropped. Migrations keep to that (no procedural bodies).
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func now(c livebill.Clock) string { return c.Now().UTC().Format(time.RFC3339Nano) }

// ---- accounts and apps

// CreateAccount stores a new account; an existing id is a conflict.
func (s *DB) CreateAccount(ctx context.Context, in *livebill.CreateAccountInput) (*livebill.AccountRecord, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if a, _ := s.FindAccount(ctx, in.ID); a != nil {
		return nil, livebill.Errorf(livebill.ECONFLICT, "account %q already exists", in.ID)
	}
	bal := in.Balance
	if bal == "" {
		bal = "0"
	}
	opening, err := money.Parse(bal)
	if err != nil {
		return nil, livebill.Errorf(livebill.EINVALID, "balance: %v", err)
	}
	// The account, its state and the ledger's opening entry are made
	// together; an opening balance below zero puts it in arrears at once.
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		at := s.clock.Now()
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO accounts (id, catalog, catalog_yaml, mode, created, activated, balance, timezone, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			in.ID, in.Catalog, in.CatalogYAML, in.Mode, in.Created, in.Activated, bal, in.Timezone, at.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
		terms := defaultTerms
		if in.Terms != nil {
			terms = *in.Terms // an opening balance below zero is in arrears under its catalog's grace
		}
		m, err := lifecycle.New(livebill.AccountState{AccountID: in.ID, Since: at, Last: at, Opening: bal, Terms: terms})
		if err != nil {
			return err
		}
		j := s.journal(ctx, tx)
		e, trs := post(m, livebill.LedgerEntry{AccountID: in.ID, Kind: livebill.LedgerOpening, At: at}, opening, lifecycle.CauseOpening)
		if err := s.insertRows(ctx, tx, ledgerInsert, "", [][]any{ledgerArgs(&e, at)}); err != nil {
			return err
		}
		st := m.State()
		if err := s.saveStates(ctx, tx, []*livebill.AccountState{&st}); err != nil {
			return err
		}
		return j.transitions(trs)
	})
	if err != nil {
		if a, _ := s.FindAccount(ctx, in.ID); a != nil {
			return nil, livebill.Errorf(livebill.ECONFLICT, "account %q already exists", in.ID)
		}
		return nil, err
	}
	return s.FindAccount(ctx, in.ID)
}

const accountCols = `id, catalog, catalog_yaml, mode, created, activated, balance, timezone, created_at, revision, event_count, first_ms, last_ms, purged_ms`

func scanAccount(sc interface{ Scan(...any) error }) (*livebill.AccountRecord, error) {
	var a livebill.AccountRecord
	var created, activated, createdAt string
	if err := sc.Scan(&a.ID, &a.Catalog, &a.CatalogYAML, &a.Mode, &created, &activated, &a.Balance, &a.Timezone, &createdAt, &a.Revision, &a.Events.Count, &a.Events.First, &a.Events.Last, &a.Purged); err != nil {
		return nil, err
	}
	loc := time.UTC
	if a.Timezone != "" {
		if l, err := time.LoadLocation(a.Timezone); err == nil {
			loc = l
		}
	}
	// Dates are kept as written; Created/Activated here are in UTC or the
	// account's zone. The billing service re-reads them in the billing zone.
	a.Created, _ = time.ParseInLocation(time.DateOnly, created, loc)
	if activated != "" {
		a.Activated, _ = time.ParseInLocation(time.DateOnly, activated, loc)
	}
	a.CreatedAt, _ = time.Parse(time.RFC3339Nano, createdAt)
	return &a, nil
}

// FindAccount returns an account or ENOTFOUND.
func (s *DB) FindAccount(ctx context.Context, id string) (*livebill.AccountRecord, error) {
	a, err := scanAccount(s.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "account %q not found", id)
	}
	return a, err
}

// ListAccounts returns every account by id.
func (s *DB) ListAccounts(ctx context.Context) ([]*livebill.AccountRecord, error) {
	return all(ctx, s, accountsList(), scanAccountRow)
}

// CreateApp registers an app; an app id is global (events name only it).
func (s *DB) CreateApp(ctx context.Context, in *livebill.CreateAppInput) (*livebill.App, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.FindAccount(ctx, in.AccountID); err != nil {
		return nil, err
	}
	if a, _ := s.FindApp(ctx, in.ID); a != nil {
		return nil, livebill.Errorf(livebill.ECONFLICT, "app %q already exists (account %q)", in.ID, a.AccountID)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO apps (id, account_id, name, created_at) VALUES (?, ?, ?, ?)`), in.ID, in.AccountID, in.Name, now(s.clock)); err != nil {
		if a, _ := s.FindApp(ctx, in.ID); a != nil {
			return nil, livebill.Errorf(livebill.ECONFLICT, "app %q already exists", in.ID)
		}
		return nil, err
	}
	return s.FindApp(ctx, in.ID)
}

func scanApp(sc interface{ Scan(...any) error }) (*livebill.App, error) {
	var a livebill.App
	var at string
	if err := sc.Scan(&a.ID, &a.AccountID, &a.Name, &at); err != nil {
		return nil, err
	}
	a.CreatedAt, _ = time.Parse(time.RFC3339Nano, at)
	return &a, nil
}

// maxCachedApps bounds the apps FindApp keeps.
const maxCachedApps = 100_000

// FindApp returns an app or ENOTFOUND.
//
// Ingestion finds every batch's apps (the account of each event), so apps
// found are kept in memory: an app is never changed or deleted once made,
// so a kept one stays true, whichever server made it. An app not found is
// not kept (it may be made later).
func (s *DB) FindApp(ctx context.Context, id string) (*livebill.App, error) {
	if v, ok := s.apps.Load(id); ok {
		a := *v.(*livebill.App)
		return &a, nil
	}
	a, err := scanApp(s.queryRow(ctx, `SELECT id, account_id, name, created_at FROM apps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "app %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot find app %q: %w", id, err)
	}
	if s.nApps.Load() < maxCachedApps {
		kept := *a
		if _, loaded := s.apps.LoadOrStore(id, &kept); !loaded {
			s.nApps.Add(1)
		}
	}
	return a, nil
}

// ListApps returns an account's apps by id.
func (s *DB) ListApps(ctx context.Context, accountID string) ([]*livebill.App, error) {
	return all(ctx, s, appsList(accountID), scanAppRow)
}

func (s *DB) bump(ctx context.Context, tx *sql.Tx, accountID string) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE accounts SET revision = revision + 1 WHERE id = ?`), accountID)
	return err
}

// ---- purchases and refunds

// CreatePurchase stores a purchase; a purchase id is unique per account.
func (s *DB) CreatePurchase(ctx context.Context, in *livebill.CreatePurchaseInput) (*livebill.StoredPurchase, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.FindAccount(ctx, in.AccountID); err != nil {
		return nil, err
	}
	// Concurrent purchases of one account take turns on the account's row
	// (createPurchaseOnce); a transaction PostgreSQL still rolls back as a
	// deadlock or serialization failure, or that lost the race for the id
	// (a conflict) or for a place in the order made, is judged again.
	for attempt := 1; ; attempt++ {
		p, err := s.createPurchaseOnce(ctx, in)
		if !uniqueViolation(err) && !transient(err) {
			return p, err
		}
		var n int
		if e := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM purchases WHERE account_id = ? AND id = ?`), in.AccountID, in.ID).Scan(&n); e == nil && n > 0 {
			return nil, livebill.Errorf(livebill.ECONFLICT, "purchase %q already exists", in.ID)
		}
		if attempt == maxAttempts {
			return nil, err
		}
	}
}

func (s *DB) createPurchaseOnce(ctx context.Context, in *livebill.CreatePurchaseInput) (*livebill.StoredPurchase, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The account's row is locked first, so the place in the order made
	// (MAX(seq) + 1) is read after any concurrent purchase of the account
	// committed: read before, two purchases took the same place and one
	// failed on the unique index (PostgreSQL; SQLite's transaction holds
	// the write lock from BEGIN).
	if err := s.lockAccount(ctx, tx, in.AccountID); err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM purchases WHERE account_id = ? AND id = ?`), in.AccountID, in.ID).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, livebill.Errorf(livebill.ECONFLICT, "purchase %q already exists", in.ID)
	}
	auto := 0
	if in.AutoRenew {
		auto = 1
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(seq), 0) + 1 FROM purchases WHERE account_id = ?`), in.AccountID).Scan(&seq); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO purchases (account_id, id, app, plan, count, region, device, start, auto_renew, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		in.AccountID, in.ID, in.App, in.Plan, in.Count, in.Region, in.Device, in.Start, auto, seq); err != nil {
		return nil, err
	}
	if err := s.bump(ctx, tx, in.AccountID); err != nil {
		return nil, err
	}
	// the purchase changes bills from its day: settling them waits for quiet
	if err := s.touchDay(ctx, tx, in.AccountID, livebill.EffectiveDay(in.Start)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &livebill.StoredPurchase{AccountID: in.AccountID, ID: in.ID, App: in.App, Plan: in.Plan, Count: in.Count,
		Region: in.Region, Device: in.Device, Start: in.Start, AutoRenew: in.AutoRenew}, nil
}

// lockAccount locks an account's row for the transaction (PostgreSQL; on
// SQLite the transaction holds the database's write lock from BEGIN): the
// lock the revision bump takes anyway, taken first. ENOTFOUND if there is
// no such account.
func (s *DB) lockAccount(ctx context.Context, tx *sql.Tx, accountID string) error {
	q := `SELECT id FROM accounts WHERE id = ?`
	if s.dialect.Numbered {
		q += ` FOR NO KEY UPDATE`
	}
	var id string
	err := tx.QueryRowContext(ctx, s.q(q), accountID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return livebill.Errorf(livebill.ENOTFOUND, "account %q not found", accountID)
	}
	if err != nil {
		return fmt.Errorf("cannot lock account %q: %w", accountID, err)
	}
	return nil
}

// purchaseCols are the columns scanPurchase reads.
const purchaseCols = `account_id, id, app, plan, count, region, device, start, auto_renew, cancelled_at`

func scanPurchase(sc interface{ Scan(...any) error }) (*livebill.StoredPurchase, error) {
	var p livebill.StoredPurchase
	var auto int
	if err := sc.Scan(&p.AccountID, &p.ID, &p.App, &p.Plan, &p.Count, &p.Region, &p.Device, &p.Start, &auto, &p.Cancelled); err != nil {
		return nil, err
	}
	p.AutoRenew = auto != 0
	return &p, nil
}

// ListPurchases returns an account's purchases in the order made,
// cancelled ones included.
func (s *DB) ListPurchases(ctx context.Context, accountID string) ([]*livebill.StoredPurchase, error) {
	return all(ctx, s, purchasesList(accountID), scanPurchaseRow)
}

// CancelPurchase marks a purchase cancelled and bumps the account's
// revision in one transaction; a purchase already cancelled is returned
// unchanged.
func (s *DB) CancelPurchase(ctx context.Context, accountID, id string) (*livebill.StoredPurchase, error) {
	return retried(func() (*livebill.StoredPurchase, error) { return s.cancelPurchaseOnce(ctx, accountID, id) })
}

func (s *DB) cancelPurchaseOnce(ctx context.Context, accountID, id string) (*livebill.StoredPurchase, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot begin cancelling purchase %q: %w", id, err)
	}
	defer tx.Rollback()
	if err := s.lockAccount(ctx, tx, accountID); err != nil {
		return nil, err
	}
	p, err := scanPurchase(tx.QueryRowContext(ctx, s.q(`SELECT `+purchaseCols+` FROM purchases WHERE account_id = ? AND id = ?`), accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "purchase %q of account %q not found", id, accountID)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read purchase %q: %w", id, err)
	}
	if p.Cancelled != "" {
		return p, nil
	}
	p.Cancelled = now(s.clock)
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE purchases SET cancelled_at = ? WHERE account_id = ? AND id = ?`), p.Cancelled, accountID, id); err != nil {
		return nil, fmt.Errorf("cannot cancel purchase %q: %w", id, err)
	}
	if err := s.bump(ctx, tx, accountID); err != nil {
		return nil, fmt.Errorf("cannot bump account %q: %w", accountID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cannot commit cancelling purchase %q: %w", id, err)
	}
	return p, nil
}

// CreateRefund stores a refund request for a stored purchase and returns
// it as stored (with its seq).
//
// Whether a refund is granted is decided when the account is rated, from
// every request in order (a TRTC plan's once-per-account 5-day refund is
// refused there with its reason). What the store refuses is what would
// make the account unratable: a purchase that does not exist, and, for a
// purchase of a given count, more units back than were bought (the sum of
// the requests' counts; SPEC decisions: "more than held … is invalid").
// That check and the insert are one atomic step: the purchase row is
// locked first (PostgreSQL: FOR UPDATE; SQLite: the transaction holds the
// database's write lock from BEGIN), so two concurrent requests for the
// last units cannot both pass it. The stored row is read back by
// INSERT … RETURNING, not as "the account's last refund", which under
// concurrency can be another request's.
func (s *DB) CreateRefund(ctx context.Context, in *livebill.CreateRefundInput) (*livebill.StoredRefund, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return retried(func() (*livebill.StoredRefund, error) { return s.createRefundOnce(ctx, in) })
}

func (s *DB) createRefundOnce(ctx context.Context, in *livebill.CreateRefundInput) (*livebill.StoredRefund, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot begin refund: %w", err)
	}
	defer tx.Rollback()
	lock := `SELECT count, cancelled_at FROM purchases WHERE account_id = ? AND id = ?`
	if s.dialect.Numbered {
		lock += ` FOR UPDATE`
	}
	var bought int64
	var cancelled string
	err = tx.QueryRowContext(ctx, s.q(lock), in.AccountID, in.Purchase).Scan(&bought, &cancelled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, livebill.Errorf(livebill.ENOTFOUND, "purchase: %q of account %q not found", in.Purchase, in.AccountID)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read purchase %q: %w", in.Purchase, err)
	}
	if cancelled != "" {
		return nil, livebill.Errorf(livebill.ECONFLICT, "purchase: %q was cancelled on %s; there is nothing to refund", in.Purchase, cancelled)
	}
	if bought > 0 {
		var returned int64
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(count), 0) FROM refunds WHERE account_id = ? AND purchase = ?`), in.AccountID, in.Purchase).Scan(&returned); err != nil {
			return nil, fmt.Errorf("cannot sum refunds of purchase %q: %w", in.Purchase, err)
		}
		if returned >= bought {
			return nil, livebill.Errorf(livebill.EINVALID, "cannot refund purchase %q: all %d units bought were already returned", in.Purchase, bought)
		}
		if returned+int64(in.Count) > bought {
			return nil, livebill.Errorf(livebill.EINVALID, "cannot refund %d units of purchase %q: %d bought, %d already returned, %d left",
				in.Count, in.Purchase, bought, returned, bought-returned)
		}
	}
	r := livebill.StoredRefund{AccountID: in.AccountID, Purchase: in.Purchase, Count: in.Count, Time: in.Time}
	if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO refunds (account_id, purchase, count, at) VALUES (?, ?, ?, ?) RETURNING seq`),
		in.AccountID, in.Purchase, in.Count, in.Time).Scan(&r.Seq); err != nil {
		return nil, fmt.Errorf("cannot store refund of purchase %q: %w", in.Purchase, err)
	}
	if err := s.bump(ctx, tx, in.AccountID); err != nil {
		return nil, fmt.Errorf("cannot bump account %q: %w", in.AccountID, err)
	}
	if err := s.touchDay(ctx, tx, in.AccountID, livebill.EffectiveDay(in.Time)); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cannot commit refund of purchase %q: %w", in.Purchase, err)
	}
	return &r, nil
}

// ListRefunds returns an account's refund requests in the order made.
func (s *DB) ListRefunds(ctx context.Context, accountID string) ([]*livebill.StoredRefund, error) {
	return all(ctx, s, refundsList(accountID), scanRefundRow)
}

// ---- events

// ListEvents returns events in time order, ties in arrival order.
func (s *DB) ListEvents(ctx context.Context, accountID string, from, to int64) ([]livebill.StoredEvent, error) {
	if to == 0 {
		to = 1<<62 - 1
	}
	rows, err := s.query(ctx, `SELECT seq, id, time_ms, app, body FROM events WHERE account_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, seq`, accountID, from, to)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// ListEventsPage returns a page of what ListEvents returns: at most limit
// events after the event after (nil: from the first). The page is read
// as ranges of the index on (account_id, time_ms, seq), however far in
// the list it is: the events at after's instant with a later seq, then
// those after that instant. (A row value (time_ms, seq) > (?, ?) is not
// an index range on SQLite: it read from the period's start each page.)
func (s *DB) ListEventsPage(ctx context.Context, accountID string, from, to int64, after *livebill.StoredEvent, limit int) ([]livebill.StoredEvent, error) {
	if limit <= 0 {
		return nil, livebill.Errorf(livebill.EINVALID, "limit: must be positive, not %d", limit)
	}
	if to == 0 {
		to = 1<<62 - 1
	}
	const cols = `SELECT seq, id, time_ms, app, body FROM events WHERE account_id = ? AND `
	var out []livebill.StoredEvent
	read := func(q string, args ...any) error {
		rows, err := s.query(ctx, cols+q, append([]any{accountID}, args...)...)
		if err != nil {
			return fmt.Errorf("cannot list the events of account %q: %w", accountID, err)
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return fmt.Errorf("cannot list the events of account %q: %w", accountID, err)
		}
		out = append(out, evs...)
		return nil
	}
	if after != nil {
		if after.Time >= from && after.Time < to {
			if err := read(`time_ms = ? AND seq > ? ORDER BY seq LIMIT ?`, after.Time, after.Seq, limit); err != nil {
				return nil, err
			}
		}
		from = max(from, after.Time+1)
	}
	if len(out) < limit {
		if err := read(`time_ms >= ? AND time_ms < ? ORDER BY time_ms, seq LIMIT ?`, from, to, limit-len(out)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// EventSpan returns the count and time span of an account's events, as
// ingestion keeps them on the account's row (migration 0009); zero for an
// account that does not exist.
func (s *DB) EventSpan(ctx context.Context, accountID string) (livebill.EventSpan, error) {
	var sp livebill.EventSpan
	err := s.queryRow(ctx, `SELECT event_count, first_ms, last_ms FROM accounts WHERE id = ?`, accountID).Scan(&sp.Count, &sp.First, &sp.Last)
	if errors.Is(err, sql.ErrNoRows) {
		return livebill.EventSpan{}, nil
	}
	return sp, err
}

// ---- bills

// IssueBills stores bills and the settlement in one transaction, and
// charges the bills to the account's balance there (chargeBills).
func (s *DB) IssueBills(ctx context.Context, w livebill.SettleWrite) error {
	st, bills := w.Settlement, w.Bills
	const (
		qCount  = `SELECT COUNT(*) FROM bills WHERE account_id = ? AND bill_key = ?`
		qInsert = `INSERT INTO bills (account_id, bill_key, kind, bill_date, total, lines, adjusts, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
		qSettle = `INSERT INTO settlements (account_id, through, revision, held) VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET through = excluded.through, revision = excluded.revision, held = excluded.held`
	)
	if err := s.prepareAll(ctx, qCount, qInsert, qSettle); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	queryRow := func(q string, args ...any) *sql.Row {
		if st := s.txStmt(ctx, tx, q); st != nil {
			return st.QueryRowContext(ctx, args...)
		}
		return tx.QueryRowContext(ctx, s.q(q), args...)
	}
	exec := func(q string, args ...any) error {
		var err error
		if st := s.txStmt(ctx, tx, q); st != nil {
			_, err = st.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.q(q), args...)
		}
		return err
	}
	for _, b := range bills {
		var n int
		if err := queryRow(qCount, st.AccountID, b.Key).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return livebill.Errorf(livebill.ECONFLICT, "bill %q of account %q is already issued", b.Key, st.AccountID)
		}
		lines, err := json.Marshal(b.Lines)
		if err != nil {
			return err
		}
		if err := exec(qInsert, st.AccountID, b.Key, b.Kind, b.Date, b.Total, string(lines), b.Adjusts, b.IssuedAt.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
	}
	if err := exec(qSettle, st.AccountID, st.Through, st.Revision, st.Held); err != nil {
		return err
	}
	if err := s.writeRollups(ctx, tx, []livebill.SettleWrite{w}); err != nil {
		return err
	}
	if err := s.chargeBills(ctx, tx, []livebill.SettleWrite{w}); err != nil {
		return err
	}
	return tx.Commit()
}

// ListBills returns an account's issued bills in issue order.
func (s *DB) ListBills(ctx context.Context, accountID string) ([]livebill.IssuedBill, error) {
	return all(ctx, s, billsList(accountID), scanBillRow)
}

// FindSettlement returns an account's settlement; a zero one if none yet.
func (s *DB) FindSettlement(ctx context.Context, accountID string) (*livebill.Settlement, error) {
	st := livebill.Settlement{AccountID: accountID}
	err := s.queryRow(ctx, `SELECT through, revision, held FROM settlements WHERE account_id = ?`, accountID).Scan(&st.Through, &st.Revision, &st.Held)
	if errors.Is(err, sql.ErrNoRows) {
		return &st, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// ---- devices

type cameraJSON struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// CreateDevice registers a field device; a device id is unique per account.
func (s *DB) CreateDevice(ctx context.Context, in *livebill.CreateDeviceInput) (*livebill.Device, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.FindAccount(ctx, in.AccountID); err != nil {
		return nil, err
	}
	cams := make([]cameraJSON, len(in.Cameras))
	for i, c := range in.Cameras {
		cams[i] = cameraJSON{c.Width, c.Height}
	}
	b, _ := json.Marshal(cams)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM devices WHERE account_id = ? AND id = ?`), in.AccountID, in.ID).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, livebill.Errorf(livebill.ECONFLICT, "device %q already exists", in.ID)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO devices (account_id, id, cameras) VALUES (?, ?, ?)`), in.AccountID, in.ID, string(b)); err != nil {
		if uniqueViolation(err) { // created concurrently
			return nil, livebill.Errorf(livebill.ECONFLICT, "device %q already exists", in.ID)
		}
		return nil, err
	}
	if err := s.bump(ctx, tx, in.AccountID); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &livebill.Device{ID: in.ID, Cameras: append([]livebill.Size(nil), in.Cameras...)}, nil
}

// ListDevices returns an account's devices by id.
func (s *DB) ListDevices(ctx context.Context, accountID string) ([]*livebill.Device, error) {
	return all(ctx, s, devicesList(accountID), scanDeviceRow)
}

// ---- top-ups

// CreateTopUp stores a top-up once per (account, id).
func (s *DB) CreateTopUp(ctx context.Context, in *livebill.CreateTopUpInput) (*livebill.TopUp, bool, error) {
	if err := in.Validate(); err != nil {
		return nil, false, err
	}
	if _, err := s.FindAccount(ctx, in.AccountID); err != nil {
		return nil, false, err
	}
	at := in.Time
	if at == "" {
		at = now(s.clock)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO topups (account_id, id, amount, at) VALUES (?, ?, ?, ?) ON CONFLICT (account_id, id) DO NOTHING`), in.AccountID, in.ID, in.Amount, at)
	if err != nil {
		return nil, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, err
	}
	var t livebill.TopUp
	if err := tx.QueryRowContext(ctx, s.q(`SELECT seq, account_id, id, amount, at FROM topups WHERE account_id = ? AND id = ?`), in.AccountID, in.ID).
		Scan(&t.Seq, &t.AccountID, &t.ID, &t.Amount, &t.Time); err != nil {
		return nil, false, err
	}
	if n == 0 && t.Amount != in.Amount {
		return nil, false, livebill.Errorf(livebill.ECONFLICT, "top-up %q was already made with amount %s", in.ID, t.Amount)
	}
	if n == 1 {
		if err := s.credit(ctx, tx, &t); err != nil {
			return nil, false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	return &t, n == 1, nil
}

// credit enters a new top-up in the ledger and moves the account's state:
// time-driven transitions up to the top-up's instant first (a grace that
// ended before it suspended the account), then back to active if the
// balance is zero or more. A reclaimed account takes no money.
func (s *DB) credit(ctx context.Context, tx *sql.Tx, t *livebill.TopUp) error {
	sts, err := s.lockStates(ctx, tx, []string{t.AccountID})
	if err != nil {
		return err
	}
	st := sts[t.AccountID]
	if st.State == livebill.AccountReclaimed {
		return livebill.Errorf(livebill.EGONE, "account %q was reclaimed on %s", t.AccountID, st.Since.Format(time.RFC3339))
	}
	amount, err := money.Parse(t.Amount)
	if err != nil {
		return livebill.Errorf(livebill.EINVALID, "amount: %v", err)
	}
	at, err := time.Parse(time.RFC3339Nano, t.Time)
	if err != nil {
		return livebill.Errorf(livebill.EINVALID, "time: %v", err)
	}
	m, err := lifecycle.New(*st)
	if err != nil {
		return err
	}
	j := s.journal(ctx, tx)
	if at.After(j.now) {
		at = j.now // a top-up counts from when it is made, not before it arrives
	}
	e, trs := post(m, livebill.LedgerEntry{AccountID: t.AccountID, Kind: livebill.LedgerTopUp, Ref: t.ID, At: at}, amount, "topup "+t.ID)
	if err := s.insertRows(ctx, tx, ledgerInsert, "", [][]any{ledgerArgs(&e, j.now)}); err != nil {
		return err
	}
	ns := m.State()
	if err := s.saveStates(ctx, tx, []*livebill.AccountState{&ns}); err != nil {
		return err
	}
	return j.transitions(trs)
}

// ListTopUps returns an account's top-ups in the order made.
func (s *DB) ListTopUps(ctx context.Context, accountID string) ([]*livebill.TopUp, error) {
	return all(ctx, s, topUpsList(accountID), scanTopUpRow)
}
