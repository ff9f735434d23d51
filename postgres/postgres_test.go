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
	"github.com/livebill/livebill/sqlstore"
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

// TestIDCollation: the text id columns lists are ordered by carry
// COLLATE "C" (migration 0008), so they sort byte by byte as on SQLite even
// in a database whose default collation is linguistic. (The suite's
// IDOrder case cannot tell on a database created with C or C.UTF-8.)
func TestIDCollation(t *testing.T) {
	s, err := postgres.Open(context.Background(), dsn(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cols := map[string][]string{
		"accounts":        {"id"},
		"apps":            {"id", "account_id"},
		"purchases":       {"id", "account_id"},
		"refunds":         {"account_id", "purchase"},
		"devices":         {"id", "account_id"},
		"topups":          {"id", "account_id"},
		"settlements":     {"account_id"},
		"webhook_configs": {"app_id"},
		"lease_slots":     {"account_id", "pool"},
		"quarantines":     {"account_id"},
	}
	for table, cs := range cols {
		for _, c := range cs {
			var coll sql.NullString
			err := s.SQL().QueryRow(`SELECT collation_name FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, table, c).Scan(&coll)
			if err != nil {
				t.Fatalf("%s.%s: %v", table, c, err)
			}
			if coll.String != "C" {
				t.Errorf("%s.%s: collation %q, want C", table, c, coll.String)
			}
		}
	}
}

// TestJITOff: sessions run with jit=off (postgres.Open) unless the DSN
// asks for jit itself.
func TestJITOff(t *testing.T) {
	base := dsn(t)
	for _, c := range []struct{ dsn, want string }{
		{base, "off"},
		{base + "&jit=on", "on"},
		{base + "&options=-c%20jit%3Don", "on"},
	} {
		s, err := postgres.Open(context.Background(), c.dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		var jit string
		if err := s.SQL().QueryRow(`SHOW jit`).Scan(&jit); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if jit != c.want {
			t.Errorf("jit = %q, want %q (dsn %s)", jit, c.want, c.dsn)
		}
	}
}

// emptyStore is a store on a fresh, empty schema.
func emptyStore(t *testing.T) *sqlstore.DB {
	db, err := sql.Open("pgx", dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Numbered: true}, nil)
}

// TestEventSpanBackfill: migration 0009 fills the event spans of events
// stored before it.
func TestEventSpanBackfill(t *testing.T) {
	storetest.CheckEventSpanBackfill(t, emptyStore(t), postgres.Migrations())
}

// TestEventCountRecount: migration 0018 counts again the events of the
// accounts retention purged.
func TestEventCountRecount(t *testing.T) {
	storetest.CheckEventCountRecount(t, emptyStore(t), postgres.Migrations())
}

// TestUsageDaysFrom: migration 0017 marks the days settled before it as
// read from the 5-minute rollups.
func TestUsageDaysFrom(t *testing.T) {
	storetest.CheckUsageDaysFrom(t, emptyStore(t), postgres.Migrations())
}

// TestNewerSchema: Open refuses a database a newer livebill migrated.
func TestNewerSchema(t *testing.T) {
	dsn(t) // skip early when not configured
	storetest.CheckNewerSchema(t, func(t *testing.T) (*sqlstore.DB, func() error) {
		d := dsn(t)
		db, err := sql.Open("pgx", d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Numbered: true}, nil), func() error {
			s, err := postgres.Open(context.Background(), d, nil)
			if err == nil {
				s.Close()
			}
			return err
		}
	}, postgres.Migrations())
}
