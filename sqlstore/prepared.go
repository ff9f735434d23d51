package sqlstore

import (
	"context"
	"database/sql"
)

// SQLite (modernc, pure Go) parses a statement in tens of microseconds,
// and database/sql prepares one for every query with arguments; settling
// an account runs a dozen. On SQLite the service's frequent queries are
// therefore prepared once and kept (at most maxPrepared statements).
// PostgreSQL's driver (pgx) keeps its own statement cache.
//
// These helpers must not be called by a goroutine holding a transaction:
// preparing takes a connection, and the SQLite pool has one.

// stmt returns q prepared on the database, or nil when statements are not
// kept (PostgreSQL, or the cache is full).
func (s *DB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s.dialect.Numbered {
		return nil, nil
	}
	if err := s.prepare(ctx, q); err != nil {
		return nil, err
	}
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	return nil, nil
}

// queryRow is db.QueryRowContext through a kept statement.
func (s *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, q)
	if err != nil || st == nil {
		return s.db.QueryRowContext(ctx, s.q(q), args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query is db.QueryContext through a kept statement.
func (s *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryContext(ctx, s.q(q), args...)
	}
	return st.QueryContext(ctx, args...)
}

// txStmt returns q for use in tx: the kept statement prepared before the
// transaction began (see prepareAll), or q to be prepared in tx.
func (s *DB) txStmt(ctx context.Context, tx *sql.Tx, q string) *sql.Stmt {
	if v, ok := s.stmts.Load(q); ok && !s.dialect.Numbered {
		return tx.StmtContext(ctx, v.(*sql.Stmt))
	}
	return nil
}

// prepareAll prepares qs before a transaction that will use them.
func (s *DB) prepareAll(ctx context.Context, qs ...string) error {
	if s.dialect.Numbered {
		return nil
	}
	for _, q := range qs {
		if err := s.prepare(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
