package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlstore/storetest"
)

var schemaN atomic.Int64

// dsn returns the test database from LIVEBILL_TEST_POSTGRES, with a fresh
// schema for this test (dropped afterwards).
func dsn(t *testing.T) string {
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	if base == "" {
		t.Skip("LIVEBILL_TEST_POSTGRES is not set (a postgres://… DSN of a scratch database): skipping the PostgreSQL half of the store suite")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := fmt.Sprintf("lbtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaN.Add(1))
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestStore(t *testing.T) {
	dsn(t) // skip early when not configured
	storetest.Run(t, func(t *testing.T, clock livebill.Clock) livebill.Store {
		s, err := postgres.Open(context.Background(), dsn(t), clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
