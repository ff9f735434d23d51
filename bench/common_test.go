package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/gen"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
)

// backends lists the stores a benchmark runs on: SQLite always (a file
// in a temporary directory, the server's durable settings), PostgreSQL
// when LIVEBILL_TEST_POSTGRES holds a DSN (a fresh schema per run).
type backend struct {
	name string
	// place makes a new empty database and returns its opener: each call
	// opens the same data afresh (as a restarted server does), closed at
	// cleanup.
	place func(tb testing.TB) func(tb testing.TB, clock livebill.Clock) *sqlstore.DB
}

// open opens a new empty database.
func (be backend) open(tb testing.TB, clock livebill.Clock) *sqlstore.DB {
	return be.place(tb)(tb, clock)
}

func backends() []backend {
	bs := []backend{{"sqlite", func(tb testing.TB) func(testing.TB, livebill.Clock) *sqlstore.DB {
		dir := tb.TempDir()
		return func(tb testing.TB, clock livebill.Clock) *sqlstore.DB {
			s, err := sqlite.Open(context.Background(), dir, clock)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}
	}}}
	if os.Getenv("LIVEBILL_TEST_POSTGRES") != "" {
		bs = append(bs, backend{"postgres", func(tb testing.TB) func(testing.TB, livebill.Clock) *sqlstore.DB {
			dsn := pgSchema(tb)
			return func(tb testing.TB, clock livebill.Clock) *sqlstore.DB {
				s, err := postgres.Open(context.Background(), dsn, clock)
				if err != nil {
					tb.Fatal(err)
				}
				tb.Cleanup(func() { s.Close() })
				return s
			}
		}})
	}
	return bs
}

var schemaN int

// pgSchema makes a fresh schema in the LIVEBILL_TEST_POSTGRES database,
// dropped at cleanup, and returns a DSN using it.
func pgSchema(tb testing.TB) string {
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	db, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	schemaN++
	schema := fmt.Sprintf("lbbench_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6, schemaN)
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", benchApp) // its backends' CPU: pgCPU
	u.RawQuery = q.Encode()
	return u.String()
}

// workload returns n generated events (livebill gen, seed 1, 10 apps) as
// NDJSON lines without ids; withID gives one an id.
func workload(tb testing.TB, n int64, apps int) [][]byte {
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: n, Apps: apps, Seed: 1, Tasks: 0.3}); err != nil {
		tb.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	return lines
}

// withID writes line with the id id prepended to w.
func withID(w *bytes.Buffer, line []byte, id string) {
	w.WriteString(`{"id":"`)
	w.WriteString(id)
	w.WriteString(`",`)
	w.Write(line[1:])
	w.WriteByte('\n')
}

// appIDs are gen's app ids.
func appIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(1400000001 + i)
	}
	return out
}

// peakRSS is the process's peak resident set (VmHWM), in bytes; 0 if unknown.
func peakRSS() int64 { return procStatus("VmHWM:") }

// procStatus is a size field of /proc/self/status (VmHWM:, VmRSS:), in
// bytes; 0 if unknown.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field) {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
