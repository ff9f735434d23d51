package main

import (
	"bufio"
	"context"
	"fmt"
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
// its URL once it listens, and the operator key it printed ("" if it
// printed none: only a first start makes one).
func startServer(t *testing.T, bin, dataDir string) (*exec.Cmd, string, string) {
	return startServerKey(t, bin, dataDir, "")
}

// startServerKey is startServer with an operator key in
// $LIVEBILL_ADMIN_KEY ("" for none).
func startServerKey(t *testing.T, bin, dataDir, adminKey string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", dataDir, "--addr", "127.0.0.1:0", "--settle-every", "0")
	cmd.Env = append(os.Environ(), "LIVEBILL_ADMIN_KEY="+adminKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := regexp.MustCompile(`listening on (http://\S+)`)
	printed := regexp.MustCompile(`^\s+(lbk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})\s*$`)
	type started struct{ url, key string }
	ready := make(chan started, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		key := ""
		for sc.Scan() {
			if m := printed.FindStringSubmatch(sc.Text()); m != nil {
				key = m[1]
			}
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				ready <- started{m[1], key}
			}
		}
	}()
	select {
	case s := <-ready:
		return cmd, s.url, s.key
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start")
	}
	return nil, "", ""
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
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	if base == "" {
		t.Skip("LIVEBILL_TEST_POSTGRES is not set: skipping the PostgreSQL crash test")
	}
	dsn, _ := freshSchema(t, base)
	crashSafety(t, dsn)
}

func crashSafety(t *testing.T, data string) {
	if testing.Short() {
		t.Skip("builds the binary and runs a server")
	}
	bin := buildLivebill(t)
	srv, url, key := startServer(t, bin, data)
	if key == "" {
		t.Fatal("the first start printed no operator key")
	}
	c := lbhttp.NewClient(url)
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

	// N screenshot events of count 1: the day's screenshot usage counts them.
	const n, batch = 40000, 250
	events := make([]string, n)
	for i := range events {
		tm := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
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
		must(c.Do(ctx, "GET", "/v1/accounts/crash/usage?from=2024-09-30&to=2024-10-03&granularity=day", nil, &u))
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
