// Package postgres is the PostgreSQL storage backend, through pgx's
// database/sql driver.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/livebill/livebill"
	"github.com/livebill/livebill/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at dsn (postgres://…) and applies the
// migrations.
func Open(ctx context.Context, dsn string, clock livebill.Clock) (*sqlstore.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
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
