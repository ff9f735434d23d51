package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// TestScaleOutPostgres runs the service split over processes on one
// PostgreSQL: one ingest process, three workers and one API process,
// with a NATS JetStream server (embedded in the test, on loopback). It
// pushes a `livebill gen` workload through the ingest process, kills a
// worker with SIGKILL halfway and starts it again later, and checks:
// the dead worker's partitions are owned again within the stated bound
// (lease TTL + a third of it), the new worker gets its share within two
// heartbeats (and the batch in hand); every event is stored once; the stream is
// drained (the lag the ingest process exports is zero); and every
// account's bills (with their adjustments) equal `livebill quote` of its
// events.
func TestScaleOutPostgres(t *testing.T) {
	db := freshPostgres(t, "the scale-out test")
	bin := livebillBinary(t)
	natsURL := storetest.StartNATS(t)
	const (
		key    = "scale-out-operator-key-0123456789abcdef"
		apps   = 12
		events = 24_000
		ttl    = 3 * time.Second
		parts  = 12
	)
	env := []string{"LIVEBILL_ADMIN_KEY=" + key}
	queue := []string{"--db", db, "--queue", natsURL, "--queue-partitions", strconv.Itoa(parts), "--worker-lease-ttl", ttl.String()}
	serve := func(roles, id string, extra ...string) *serveProc {
		args := append(append([]string{}, queue...), "--roles", roles, "--worker-id", id)
		return startServe(t, bin, env, append(args, extra...)...)
	}
	// the API process first: it migrates the database
	api := serve("api", "api", "--settle-every", "0")
	ingest := serve("ingest", "ingest", "--settle-every", "0")
	// workers settle every second, a day once its events stopped for 2 s
	worker := func(id string) *serveProc {
		return serve("worker", id, "--settle-every", "1s", "--settle-quiet", "2s", "--settle-delay", "1m")
	}
	workers := []*serveProc{worker("w1"), worker("w2"), worker("w3")}
	ctx := context.Background()
	store, err := postgres.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	// the roles' routes: the ingest process takes events only
	if code, body := storetest.Call(t, "GET", ingest.url+"/v1/accounts", key, nil); code != 404 || !strings.Contains(string(body), "not served here") {
		t.Fatalf("GET /v1/accounts on the ingest process: %d %s", code, body)
	}

	// a workload of the last days: gen's 30 hours from three days ago,
	// 10:00 in Shanghai (every event within --event-max-age)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	y, m, d := time.Now().In(sh).Date()
	day0 := time.Date(y, m, d-3, 0, 0, 0, 0, sh)
	from, to := day0.Format(time.DateOnly), day0.AddDate(0, 0, 2).Format(time.DateOnly)
	out, err := exec.Command(bin, "gen", "--events", strconv.Itoa(events), "--apps", strconv.Itoa(apps), "--seed", "7",
		"--start", day0.Add(10*time.Hour).Format(time.RFC3339)).Output()
	if err != nil {
		t.Fatalf("gen: %v", err)
	}
	admin := lbhttp.NewClient(api.url)
	admin.Key = key
	appID := regexp.MustCompile(`"app":"(\d+)"`)
	byAccount := map[string][]string{}
	var lines []string
	for i, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		line := fmt.Sprintf(`{"id":"g%d",%s`, i, l[1:])
		acct := "acct-" + appID.FindStringSubmatch(line)[1]
		byAccount[acct] = append(byAccount[acct], line)
		lines = append(lines, line)
	}
	for acct := range byAccount {
		if err := admin.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": acct, "catalog": "trtc", "mode": "calculator",
			"created": from, "timezone": "Asia/Shanghai", "balance": storetest.EnoughMoney}, nil); err != nil {
			t.Fatal(err)
		}
		if err := admin.Do(ctx, "POST", "/v1/accounts/"+acct+"/apps", map[string]any{"id": strings.TrimPrefix(acct, "acct-")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// the workers share the partitions
	owners := func() map[string]int {
		ps, err := store.ListPartitions(ctx, "livebill")
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, p := range ps {
			if p.Owner != "" && p.Expires.After(time.Now()) {
				n[p.Owner]++
			}
		}
		return n
	}
	shared := func(ids ...string) func() bool {
		return func() bool {
			n := owners()
			total := 0
			for _, id := range ids {
				if n[id] != parts/len(ids) {
					return false
				}
				total += n[id]
			}
			return total == parts
		}
	}
	poll(t, 20*time.Second, "three workers sharing the partitions", shared("w1", "w2", "w3"))

	pusher := lbhttp.NewClient(ingest.url)
	pusher.Key = key
	// push sends events in batches of 1,000, each acknowledged whole
	push := func(part []string) error {
		for len(part) > 0 {
			n := min(1000, len(part))
			res, err := pusher.PushEvents(ctx, []byte(strings.Join(part[:n], "\n")+"\n"))
			if err != nil {
				return err
			}
			if res.Accepted != n {
				return fmt.Errorf("push: %+v", res)
			}
			part = part[n:]
		}
		return nil
	}
	if err := push(lines[:events/2]); err != nil {
		t.Fatal(err)
	}
	// SIGKILL a worker in the middle, while the next quarter is pushed:
	// its partitions move to the others
	syscall.Kill(-workers[1].cmd.Process.Pid, syscall.SIGKILL)
	<-workers[1].exited
	pushed := make(chan error, 1)
	go func() { pushed <- push(lines[events/2 : 3*events/4]) }()
	took := poll(t, 30*time.Second, "the dead worker's partitions owned by the two others", shared("w1", "w3"))
	if bound := ttl + ttl/3 + 2*time.Second; took > bound {
		t.Errorf("partitions owned again %s after the kill, more than the bound %s (lease TTL + TTL/3, and 2 s for the test on a loaded machine)", took, bound)
	}
	t.Logf("the dead worker's partitions were owned again %s after its SIGKILL (bound: TTL %s + TTL/3)", took.Round(time.Millisecond), ttl)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	// the worker comes back (a new process) while the last quarter is
	// pushed: it gets its share back
	go func() { pushed <- push(lines[3*events/4:]) }()
	back := time.Now()
	workers[1] = worker("w2-again")
	started := time.Since(back)
	took = poll(t, 30*time.Second, "the restarted worker getting its share", shared("w1", "w2-again", "w3"))
	t.Logf("the restarted worker had its share %s after it listened (bound: 2×TTL/3 and the batch in hand); it took %s to start", took.Round(time.Millisecond), started.Round(time.Millisecond))
	if bound := 2*ttl/3 + time.Second + 2*time.Second; took > bound {
		t.Errorf("the restarted worker got its share %s after it started, more than the bound %s (2×TTL/3, and 3 s for the batch in hand and the test)", took, bound)
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}

	// every event stored once, the stream drained
	poll(t, 60*time.Second, "every event stored", func() bool {
		var n int64
		for acct := range byAccount {
			sp, err := store.EventSpan(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			n += sp.Count
		}
		if n > events {
			t.Fatalf("%d events stored, more than the %d pushed", n, events)
		}
		return n == events
	})
	poll(t, 30*time.Second, "the ingest process's lag metrics at zero", func() bool {
		_, metrics := get(t, ingest.url+"/v1/metrics", key)
		pending := regexp.MustCompile(`(?m)^livebill_queue_(pending|unacked)_messages\{partition="\d+"\} (\S+)$`).FindAllStringSubmatch(metrics, -1)
		if len(pending) != 2*parts {
			t.Fatalf("the ingest process exports %d lag series, want %d:\n%s", len(pending), 2*parts, metrics)
		}
		for _, p := range pending {
			if p[2] != "0" {
				return false
			}
		}
		return strings.Contains(metrics, "livebill_queue_publish_duration_seconds_count")
	})
	// every account settled by the worker that owns it: its bills and
	// adjustments are the quote of its events
	var last error
	poll(t, 60*time.Second, "every account's bills equal livebill quote", func() bool {
		for acct, evs := range byAccount {
			bills, err := store.ListBills(ctx, acct)
			if err != nil {
				t.Fatal(err)
			}
			want := storetest.QuoteOf(t, "calculator", from, "Asia/Shanghai", from, to, evs)
			if last = storetest.SameBills(bills, want.Bills, from, to); last != nil {
				last = fmt.Errorf("account %s: %w", acct, last)
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprint(last) })
	adjustments := 0
	for acct := range byAccount {
		bills, _ := store.ListBills(ctx, acct)
		for _, b := range bills {
			if b.Kind == livebill.BillAdjustment {
				adjustments++
			}
		}
	}
	t.Logf("%d events, %d accounts: bills equal the quotes (%d adjustments among them)", events, len(byAccount), adjustments)
	for _, w := range append(workers, ingest, api) {
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGTERM)
	}
	for _, w := range append(workers, ingest, api) {
		<-w.exited
		if !w.cmd.ProcessState.Success() && w != workers[1] {
			t.Errorf("a process did not stop cleanly: %v\n%s", w.cmd.ProcessState, w.stderr)
		}
	}
}

// poll waits until cond holds, at most d, and returns how long it took;
// why, if given, says what was last seen when it fails.
func poll(t *testing.T, d time.Duration, what string, cond func() bool, why ...func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			msg := ""
			for _, w := range why {
				msg += ": " + w()
			}
			t.Fatalf("%s: not within %s%s", what, d, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}
