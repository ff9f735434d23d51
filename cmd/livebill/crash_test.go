package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

// startServer runs the built binary's serve on a loopback port and returns
// its URL once it listens.
func startServer(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", dataDir, "--addr", "127.0.0.1:0", "--settle-every", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	re := regexp.MustCompile(`listening on (http://\S+)`)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return cmd, u
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, ""
}

// TestCrashSafety kills the server with SIGKILL while a client pushes
// events, restarts it on the same data directory, pushes again the events
// that were not acknowledged, and checks every event is counted exactly
// once: an acknowledged event lost would leave the count short, one stored
// twice would push it over.
func TestCrashSafety(t *testing.T) {
	crashSafety(t, filepath.Join(t.TempDir(), "data"))
}

// TestCrashSafetyPostgres is the same on PostgreSQL, in a fresh schema of
// the database LIVEBILL_TEST_POSTGRES names.
func TestCrashSafetyPostgres(t *testing.T) {
	crashSafety(t, postgresSchema(t))
}

// postgresSchema returns the DSN of a fresh schema of the database
// LIVEBILL_TEST_POSTGRES names (dropped after the test), or skips.
func postgresSchema(t *testing.T) string {
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	if base == "" {
		t.Skip("LIVEBILL_TEST_POSTGRES is not set: skipping the PostgreSQL server test")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := fmt.Sprintf("lbcrash_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
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

// buildBinary builds the livebill command for a test that runs it.
func buildBinary(t *testing.T) string {
	if testing.Short() {
		t.Skip("builds the binary and runs a server")
	}
	bin := filepath.Join(t.TempDir(), "livebill")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func crashSafety(t *testing.T, data string) {
	bin := buildBinary(t)
	srv, url := startServer(t, bin, data)
	c := lbhttp.NewClient(url)
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
	// kill -9 once a good part is acknowledged, while pushes are in flight
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
	must(srv.Process.Kill())
	srv.Wait()
	<-done
	mu.Lock()
	k := ackedN
	mu.Unlock()
	if k == 0 || k == len(acked) {
		t.Fatalf("kill came at a useless moment: %d of %d batches acknowledged", k, len(acked))
	}
	t.Logf("killed after %d of %d batches acknowledged", k, len(acked))

	_, url = startServer(t, bin, data)
	c = lbhttp.NewClient(url)
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
	if got := count(); got < int64(k*batch) || got > n {
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
