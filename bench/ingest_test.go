package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/gen"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// BenchmarkIngest measures durable ingest through the HTTP server
// (POST /v1/events, NDJSON, loopback), on each backend, with batches of
// 1, 100 and 1,000 events. One op is one batch, acknowledged after its
// transaction commits (SQLite: WAL + synchronous=FULL; PostgreSQL:
// synchronous_commit as configured, default on). Events are livebill gen's
// workload with fresh ids, so every one is accepted (no duplicates).
//
// LIVEBILL_BENCH_CLIENTS (default 1) is the number of concurrent pushing
// clients; `livebill events push` is one client. Besides events/s (wall
// time) it reports cpu-ns/event, the process's CPU time per event, which a
// shared machine's other load disturbs less, and on PostgreSQL
// pg-cpu-ns/event, its backends' CPU time per event (pgCPU).
//
//	go test ./bench -run '^$' -bench Ingest -benchtime 100x
func BenchmarkIngest(b *testing.B) {
	clients := 1
	if v, err := strconv.Atoi(os.Getenv("LIVEBILL_BENCH_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	lines := workload(b, 100_000, 10)
	for _, be := range backends() {
		for _, size := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d/clients=%d", be.name, size, clients), func(b *testing.B) {
				benchIngest(b, be, lines, size, clients)
			})
		}
	}
}

func benchIngest(b *testing.B, be backend, lines [][]byte, size, clients int) {
	ctx := context.Background()
	store := be.open(b, nil)
	if _, err := store.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "100001", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		b.Fatal(err)
	}
	for _, app := range appIDs(10) {
		if _, err := store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "100001", ID: app}); err != nil {
			b.Fatal(err)
		}
	}
	// the clock just after the workload (30 hours from gen.DefaultStart),
	// so every event is within the times ingestion accepts
	clock := storetest.NewClock(gen.DefaultStart.Add(31 * time.Hour))
	srv := lbhttp.NewServer(store, billing.New(store, clock))
	// an account key, as a tenant pushing its own events: each request
	// authenticates it against the store
	k, key, err := livebill.NewKey(&livebill.CreateKeyInput{AccountID: "100001"}, clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(ctx)
	base := "http://" + addr.String()
	var next atomic.Int64 // next batch number
	var failed atomic.Value
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	pg := pgOf(be, store)
	var pg0 map[int]time.Duration
	if pg != nil {
		pg0 = pgCPU(pg)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := lbhttp.NewClient(base)
			cl.Key = key
			cl.HTTP.Transport = &http2Off{}
			var body bytes.Buffer
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				body.Reset()
				for i := 0; i < size; i++ {
					k := n*int64(size) + int64(i)
					withID(&body, lines[k%int64(len(lines))], "e"+strconv.FormatInt(k, 10))
				}
				res, err := cl.PushEvents(ctx, body.Bytes())
				if err != nil {
					failed.Store(err)
					return
				}
				if res.Accepted != size {
					failed.Store(fmt.Errorf("batch %d: %d accepted of %d (%d duplicate, %d rejected: %v)", n, res.Accepted, size, res.Duplicate, res.Rejected, res.Errors))
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&ms1)
	events := float64(b.N) * float64(size)
	b.ReportMetric(events/el.Seconds(), "events/s")
	b.ReportMetric(float64(el.Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/events, "allocs/event")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
	b.ReportMetric(float64(cpu.Nanoseconds())/events, "cpu-ns/event")
	if pg != nil {
		b.ReportMetric(float64(pgCPUSince(pg, pg0).Nanoseconds())/events, "pg-cpu-ns/event")
	}
}

// cpuTime is the CPU time (user + system) the process has used: client,
// server and, for SQLite, the database. On a shared machine it moves less
// than the wall time when others take the cores (PostgreSQL's own
// processes are not in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
