// Package postgres is the PostgreSQL storage backend, through pgx's
// database/sql driver.
package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema migrations Open applies, in directory
// "migrations" (for tests that start from an older schema).
func Migrations() fs.FS { return migrations }

// Open connects to the database at dsn (postgres://…) and applies the
// migrations.
//
// Sessions run with jit=off unless the dsn sets jit (as a parameter or in
// options=-c jit=…; a jit set for the role or database is overridden):
// every statement here
// is a short indexed one, and the planner's cost of the settlement's
// per-group array joins crossed jit_above_cost, so each paid ~10 ms of
// compiling for a few ms of work.
func Open(ctx context.Context, dsn string, clock livebill.Clock) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot parse the dsn: %w", err)
	}
	if _, ok := cfg.RuntimeParams["jit"]; !ok && !strings.Contains(cfg.RuntimeParams["options"], "jit") {
		cfg.RuntimeParams["jit"] = "off"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	// as many kept idle as may be open: database/sql keeps 2 by default, so
	// with more requests at once every other one closed its connection and
	// opened a new one (a SCRAM handshake, milliseconds of CPU)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Numbered: true}, clock)
	if err := s.Migrate(ctx, migrations, "migrations"); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
