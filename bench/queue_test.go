package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/gen"
	lbhttp "github.com/livebill/livebill/http"
	lbnats "github.com/livebill/livebill/nats"
	"github.com/livebill/livebill/postgres"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// The event queue (serve --queue, docs/scale-out.md): ingestion through
// NATS JetStream, and the end-to-end settlement lag with 1, 2 and 3
// workers. The NATS server is embedded (same process, loopback), the
// workers are in-process with a connection pool and a billing service
// each, as separate processes would have; on a 2-core machine they share
// the cores with the server, PostgreSQL and the pushing clients.
//
//	go test ./bench -run '^$' -bench 'Queue' -benchtime 1x

// queueStores opens n stores on one fresh database: PostgreSQL (a fresh
// schema) when LIVEBILL_TEST_POSTGRES is set, else one SQLite store
// shared (its one connection serializes writers anyway).
func queueStores(tb testing.TB, n int) ([]*sqlstore.DB, string) {
	ctx := context.Background()
	var out []*sqlstore.DB
	if os.Getenv("LIVEBILL_TEST_POSTGRES") == "" {
		s, err := sqlite.Open(ctx, tb.TempDir(), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		for range n {
			out = append(out, s)
		}
		return out, "sqlite"
	}
	dsn := pgSchema(tb)
	for range n {
		s, err := postgres.Open(ctx, dsn, nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out, "postgres"
}

// queueIngest is an API server whose ingestion publishes to a stream of
// an embedded NATS server.
type queueIngest struct {
	url, key string
	cfg      lbnats.Config
	queue    *lbnats.Queue
}

func startQueueIngest(tb testing.TB, store *sqlstore.DB, clock livebill.Clock, accounts int, created string) *queueIngest {
	ctx := context.Background()
	cfg := lbnats.Config{URL: storetest.StartNATS(tb), MaxBytes: 4 << 30}
	q, err := lbnats.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { q.Close() })
	svc := billing.New(store, clock)
	svc.Events = &lbnats.Publisher{Queue: q, Checker: store}
	srv := lbhttp.NewServer(store, svc)
	srv.Serves = lbhttp.EventRoutes
	srv.AdminKey = storetest.AdminKey
	for i, app := range appIDs(accounts) {
		acct := strconv.Itoa(100001 + i)
		if _, err := svc.CreateAccount(ctx, &livebill.CreateAccountInput{ID: acct, Catalog: "trtc", Mode: "calculator", Created: created,
			Timezone: "Asia/Shanghai", Balance: storetest.EnoughMoney}); err != nil {
			tb.Fatal(err)
		}
		if _, err := store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: acct, ID: app}); err != nil {
			tb.Fatal(err)
		}
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve()
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &queueIngest{url: "http://" + addr.String(), key: storetest.AdminKey, cfg: cfg, queue: q}
}

// pushAll pushes lines (ids e<k>) in batches of size from clients, and
// returns each batch's latency (sorted) and the wall time.
func pushAll(tb testing.TB, ing *queueIngest, lines [][]byte, size, clients int) ([]time.Duration, time.Duration) {
	ctx := context.Background()
	batches := (len(lines) + size - 1) / size
	lat := make([]time.Duration, batches)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := lbhttp.NewClient(ing.url)
			cl.Key = ing.key
			cl.HTTP.Transport = &http2Off{}
			var body bytes.Buffer
			for {
				n := int(next.Add(1) - 1)
				if n >= batches {
					return
				}
				body.Reset()
				k := 0
				for i := n * size; i < min((n+1)*size, len(lines)); i++ {
					withID(&body, lines[i], "e"+strconv.Itoa(i))
					k++
				}
				t0 := time.Now()
				res, err := cl.PushEvents(ctx, body.Bytes())
				lat[n] = time.Since(t0)
				if err == nil && res.Accepted != k {
					err = fmt.Errorf("batch %d: %+v", n, res)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		tb.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat, took
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func benchClients() int {
	if v, err := strconv.Atoi(os.Getenv("LIVEBILL_BENCH_CLIENTS")); err == nil && v > 0 {
		return v
	}
	return 4
}

func benchEvents(def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv("LIVEBILL_BENCH_EVENTS"), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkQueueIngest measures ingestion through JetStream alone (no
// worker): events/s acknowledged (each batch answered once JetStream has
// acknowledged every message, after the store was asked which ids it
// already has) and the batch latencies, p50 and p99, for batches of 100
// and 1,000 events from LIVEBILL_BENCH_CLIENTS clients (default 4). One
// op is the whole workload (LIVEBILL_BENCH_EVENTS, default 100,000).
func BenchmarkQueueIngest(b *testing.B) {
	n := benchEvents(100_000)
	lines := workload(b, n, 10)
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d/clients=%d", size, benchClients()), func(b *testing.B) {
			var events float64
			var took time.Duration
			var lats []time.Duration
			for range b.N {
				b.StopTimer()
				stores, name := queueStores(b, 1)
				clock := storetest.NewClock(gen.DefaultStart.Add(31 * time.Hour))
				ing := startQueueIngest(b, stores[0], clock, 10, "2024-01-10")
				b.StartTimer()
				lat, el := pushAll(b, ing, lines, size, benchClients())
				events += float64(len(lines))
				took += el
				lats = append(lats, lat...)
				b.Logf("%s: %d events in %s", name, len(lines), el.Round(time.Millisecond))
			}
			sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
			b.ReportMetric(events/took.Seconds(), "events/s")
			b.ReportMetric(float64(percentile(lats, 0.5).Microseconds())/1000, "p50-batch-ms")
			b.ReportMetric(float64(percentile(lats, 0.99).Microseconds())/1000, "p99-batch-ms")
		})
	}
}

// BenchmarkQueueSettle measures the pipeline end to end with 1, 2 and 3
// workers: a day of LIVEBILL_BENCH_EVENTS events (default 60,000) of 60
// accounts, dated three days ago, pushed in batches of 1,000 by
// LIVEBILL_BENCH_CLIENTS clients while the workers store and settle
// (every 500 ms, a day once its events stopped for 200 ms). It reports
// ingest events/s (acknowledged), the events/s stored by the workers
// (until the stream is drained), and the settlement lag: from the last
// batch acknowledged until every account's bills of the day are issued.
func BenchmarkQueueSettle(b *testing.B) {
	n := benchEvents(60_000)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	y, m, d := time.Now().In(sh).Date()
	day := time.Date(y, m, d-3, 0, 0, 0, 0, sh)
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Events: n, Apps: 60, Seed: 1, Tasks: 0.3, Start: day.Add(time.Hour), Span: 20 * time.Hour}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for range b.N {
				benchSettle1(b, lines, workers, day)
			}
		})
	}
}

func benchSettle1(b *testing.B, lines [][]byte, workers int, day time.Time) {
	b.StopTimer()
	ctx := context.Background()
	stores, name := queueStores(b, workers+1)
	clock := livebill.SystemClock{}
	ing := startQueueIngest(b, stores[0], clock, 60, day.Format(time.DateOnly))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stored atomic.Int64
	for i := range workers {
		q, err := lbnats.Open(ctx, ing.cfg)
		if err != nil {
			b.Fatal(err)
		}
		w := &lbnats.Worker{Queue: q, Store: stores[i+1], Leases: stores[i+1], Clock: clock, ID: fmt.Sprintf("w%d", i+1),
			Monitor: countStored{&stored}}
		svc := billing.New(stores[i+1], clock)
		svc.SettleDelay, svc.SettleQuiet, svc.Owns = time.Hour, 200*time.Millisecond, w.Owns
		wg.Add(2)
		go func() { defer wg.Done(); w.Run(stop, ctx) }()
		go func() {
			defer wg.Done()
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				w.Settle(ctx, 500*time.Millisecond, svc.SettleAll)
			}
		}()
		b.Cleanup(func() { q.Close() })
	}
	// the workers share the partitions before the push
	for deadline := time.Now().Add(10 * time.Second); ; {
		ps, _ := stores[0].ListPartitions(ctx, ing.cfg.Stream)
		owned := 0
		for _, p := range ps {
			if p.Owner != "" {
				owned++
			}
		}
		if owned == lbnats.DefaultPartitions || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StartTimer()
	start := time.Now()
	lat, pushed := pushAll(b, ing, lines, 1000, benchClients())
	acked := time.Now()
	var drained time.Duration
	through := day.AddDate(0, 0, 1).Format(time.DateOnly)
	for {
		if drained == 0 && stored.Load() >= int64(len(lines)) {
			drained = time.Since(start)
		}
		if drained > 0 && settledThrough(b, stores[0], accountsOf(lines), through) {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("not settled within 10 minutes (%d events stored)", stored.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	lag := time.Since(acked)
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.Logf("%s, %d workers: pushed %d events in %s, stored by %s, settled %s after the last acknowledgement",
		name, workers, len(lines), pushed.Round(time.Millisecond), drained.Round(time.Millisecond), lag.Round(time.Millisecond))
	b.ReportMetric(float64(len(lines))/pushed.Seconds(), "ingest-events/s")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-batch-ms")
	b.ReportMetric(float64(len(lines))/drained.Seconds(), "stored-events/s")
	b.ReportMetric(lag.Seconds(), "settle-lag-s")
}

// countStored counts the events the workers stored.
type countStored struct{ n *atomic.Int64 }

func (c countStored) Published(int, time.Duration, error)     {}
func (c countStored) Consumed(_, events int, _ time.Duration) { c.n.Add(int64(events)) }

// accountsOf is the accounts of the lines' apps (gen's apps
// 1400000001… are accounts 100001…).
func accountsOf(lines [][]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lines {
		i := bytes.Index(l, []byte(`"app":"`))
		if i < 0 {
			continue
		}
		app, _ := strconv.Atoi(string(l[i+7 : i+17]))
		if a := strconv.Itoa(100001 + app - 1400000001); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// settledThrough reports whether every account is settled through the
// day before through (its settlement's first open day is at least
// through, nothing held).
func settledThrough(tb testing.TB, store *sqlstore.DB, accounts []string, through string) bool {
	for _, a := range accounts {
		st, err := store.FindSettlement(context.Background(), a)
		if err != nil {
			tb.Fatal(err)
		}
		if st.Through < through || st.Held != "" {
			return false
		}
	}
	return true
}
