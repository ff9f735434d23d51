package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

// startServer runs the built binary's serve on a loopback port and returns
// its URL once it listens, and the operator key it printed ("" if it
// printed none: only a first start makes one).
func startServer(t *testing.T, bin, dataDir string) (*serveProc, string, string) {
	t.Helper()
	p := startServe(t, bin, nil, "--db", dataDir, "--settle-every", "0")
	return p, p.url, p.key
}

// TestCrashSafety kills the server with SIGKILL while a client pushes
// events, restarts it on the same data directory, pushes again the events
// that were not acknowledged, and checks every event is counted exactly
// once: an acknowledged event lost would leave the count short, one stored
// twice would push it over.
func TestCrashSafety(t *testing.T) {
	crashSafety(t, filepath.Join(t.TempDir(), "data"), syscall.SIGKILL)
}

// TestGracefulShutdown is the same with SIGTERM, with the settle loop
// running: the server answers the batch in flight, exits 0 within its
// --shutdown-timeout, and the events stored are exactly the acknowledged
// ones (none was stored without its answer reaching the client).
func TestGracefulShutdown(t *testing.T) {
	crashSafety(t, filepath.Join(t.TempDir(), "data"), syscall.SIGTERM)
}

// TestGracefulShutdownPostgres is the same on PostgreSQL.
func TestGracefulShutdownPostgres(t *testing.T) {
	crashSafety(t, freshPostgres(t, "the PostgreSQL shutdown test"), syscall.SIGTERM)
}

// TestCrashSafetyPostgres is the same on PostgreSQL, in a fresh schema of
// the database LIVEBILL_TEST_POSTGRES names.
func TestCrashSafetyPostgres(t *testing.T) {
	crashSafety(t, freshPostgres(t, "the PostgreSQL crash test"), syscall.SIGKILL)
}

var schemaN atomic.Int64

// onPostgres runs create on the database base names and, after the test,
// drop.
func onPostgres(t *testing.T, base, create, drop string) error {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(create); err != nil {
		return err
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec(drop)
			db.Close()
		}
	})
	return nil
}

// freshPostgres returns the URL of a fresh schema (dropped after the test)
// in the database LIVEBILL_TEST_POSTGRES names, or skips what the test is.
func freshPostgres(t *testing.T, what string) string {
	t.Helper()
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	if base == "" {
		t.Skipf("LIVEBILL_TEST_POSTGRES is not set: skipping %s", what)
	}
	schema := fmt.Sprintf("lbcmd_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaN.Add(1))
	if err := onPostgres(t, base, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// crashSafety pushes events, stops the server with sig (SIGKILL: a crash;
// SIGTERM: a graceful shutdown) once a third is acknowledged, and checks
// what was stored after a restart.
func crashSafety(t *testing.T, data string, sig syscall.Signal) {
	bin := livebillBinary(t)
	const grace = 20 * time.Second
	srv := startServe(t, bin, nil, "--db", data, "--settle-every", "100ms", "--shutdown-timeout", grace.String())
	if srv.key == "" {
		t.Fatal("the first start printed no operator key")
	}
	key := srv.key
	c := lbhttp.NewClient(srv.url)
	c.Key = key
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "crash", "catalog": "trtc", "mode": "calculator", "created": "2024-01-01"}, nil))
	must(c.Do(ctx, "POST", "/v1/accounts/crash/apps", map[string]any{"id": "app1"}, nil))

	// N screenshot events of count 1: the day's screenshot usage counts
	// them. They are dated two days ago, within the times the server
	// accepts around its clock.
	const n, batch = 40000, 250
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	events := make([]string, n)
	for i := range events {
		tm := day.Add(time.Duration(i) * time.Second)
		events[i] = fmt.Sprintf(`{"id":"s%d","type":"screenshot","app":"app1","time":%q,"count":1}`, i, tm.Format(time.RFC3339))
	}
	acked := make([]bool, n/batch)
	var mu sync.Mutex
	var ackedN int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range acked {
			body := strings.Join(events[b*batch:(b+1)*batch], "\n")
			res, err := c.PushEvents(ctx, []byte(body))
			if err != nil {
				return // the server died under us
			}
			if res.Accepted+res.Duplicate != batch {
				t.Errorf("batch %d: %+v", b, res)
				return
			}
			mu.Lock()
			acked[b] = true
			ackedN++
			mu.Unlock()
		}
	}()
	// stop once a good part is acknowledged, while pushes are in flight
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		k := ackedN
		mu.Unlock()
		if k >= len(acked)/3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sent := time.Now()
	must(srv.cmd.Process.Signal(sig))
	<-srv.exited
	took := time.Since(sent)
	<-done
	mu.Lock()
	k := ackedN
	mu.Unlock()
	if k == 0 || k == len(acked) {
		t.Fatalf("%v came at a useless moment: %d of %d batches acknowledged", sig, k, len(acked))
	}
	t.Logf("stopped (%v) after %d of %d batches acknowledged, in %s", sig, k, len(acked), took)
	if sig == syscall.SIGTERM {
		log := srv.stderr.String()
		if code := srv.cmd.ProcessState.ExitCode(); code != 0 || took > grace ||
			!strings.Contains(log, "terminated signal received: shutting down") || !strings.Contains(log, "requests in flight: all answered") || !strings.Contains(log, "database closed") {
			t.Fatalf("exit status %d after %s (deadline %s); log:\n%s", code, took, grace, log)
		}
	}

	_, url, again := startServer(t, bin, data)
	if again != "" {
		t.Fatal("the restart printed an operator key again")
	}
	c = lbhttp.NewClient(url)
	c.Key = key
	count := func() int64 {
		var u struct {
			Usage []livebill.UsagePoint `json:"usage"`
		}
		must(c.Do(ctx, "GET", "/v1/accounts/crash/usage?from="+day.AddDate(0, 0, -1).Format(time.DateOnly)+"&to="+day.AddDate(0, 0, 2).Format(time.DateOnly)+"&granularity=day", nil, &u))
		var sum int64
		for _, p := range u.Usage {
			if p.Item == "trtc.screenshot" {
				sum += p.Value
			}
		}
		return sum
	}
	if got := count(); got < int64(k*batch) || got > n || (sig == syscall.SIGTERM && got != int64(k*batch)) {
		t.Fatalf("after restart %d events counted; %d were acknowledged", got, k*batch)
	}
	var dup int
	for b, ok := range acked {
		if ok {
			continue
		}
		res, err := c.PushEvents(ctx, []byte(strings.Join(events[b*batch:(b+1)*batch], "\n")))
		must(err)
		if res.Rejected != 0 {
			t.Fatalf("re-push batch %d: %+v", b, res)
		}
		dup += res.Duplicate
	}
	t.Logf("re-push of unacknowledged batches: %d were already stored (committed, answer lost)", dup)
	if got := count(); got != n {
		t.Fatalf("%d events counted after re-push, want exactly %d", got, n)
	}
}
