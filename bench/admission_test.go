package bench

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/admission"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/prometheus"
	"github.com/livebill/livebill/sqlstore"
)

// admissionServer serves the API with admission on store over loopback
// HTTP (a real listener), with an access log (text, level info, to a
// file) and the Prometheus metrics as serve has them, and returns its
// URL, the service and an operator key.
func admissionServer(tb testing.TB, store *sqlstore.DB) (string, *admission.Service, string) {
	clock := livebill.SystemClock{}
	svc := billing.New(store, clock)
	adm := &admission.Service{Store: store, Leases: store, Accounts: svc, Clock: clock, Status: svc}
	srv := lbhttp.NewServer(store, svc)
	srv.AdminKey = "bench-operator-key-0123456789abcdef0123"
	srv.Admission = adm
	log, err := os.Create(filepath.Join(tb.TempDir(), "access.log"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	srv.Logger = slog.New(slog.NewTextHandler(log, nil))
	metrics := prometheus.New(clock, prometheus.Build{})
	srv.Monitor, srv.Metrics = metrics, metrics.Handler(srv.Logger)
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts.URL, adm, srv.AdminKey
}

func benchClient(url, key string) *lbhttp.Client {
	c := lbhttp.NewClient(url)
	c.Key = key
	c.HTTP, c.Timeout = &http.Client{Transport: &http2Off{}}, time.Minute
	return c
}

// run spreads b.N calls of do over workers goroutines and reports calls/s
// under name, the latency percentiles of one call (µs) and the CPU time
// one call took.
func run(b *testing.B, workers int, name string, db *sql.DB, do func(w, i int) error) {
	lat := make([][]time.Duration, workers)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	var pg0 map[int]time.Duration
	if db != nil {
		pg0 = pgCPU(db)
	}
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t := time.Now()
				if err := do(w, i); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if db != nil {
		b.ReportMetric(float64(pgCPUSince(db, pg0).Microseconds())/float64(b.N), "pg-cpu-µs/"+name)
	}
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), name+"/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(0.999), "p99.9-µs")
	// the process's CPU (client and server; SQLite too, not PostgreSQL's
	// processes) per call: on a shared machine it measures the work where
	// the rate also measures the neighbours
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/"+name)
	b.ReportMetric(0, "ns/op") // per-call time is the latency above, not elapsed/N
}

// benchApp names this process's PostgreSQL connections (application_name).
var benchApp = fmt.Sprintf("livebill-bench-%d", os.Getpid())

// pgCPU is the CPU time each PostgreSQL backend serving this process has
// used, by pid (its run time in /proc/<pid>/schedstat; none where
// PostgreSQL runs elsewhere): what a lease costs the database, beside
// what it costs this process (cpuTime).
func pgCPU(db *sql.DB) map[int]time.Duration {
	out := map[int]time.Duration{}
	rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, benchApp)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return out
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			out[pid] = time.Duration(ns)
		}
	}
	return out
}

// pgOf is the store's database on PostgreSQL, nil on SQLite.
func pgOf(be backend, store *sqlstore.DB) *sql.DB {
	if be.name == "postgres" {
		return store.SQL()
	}
	return nil
}

// pgCPUSince is the backends' CPU time since before (from pgCPU).
func pgCPUSince(db *sql.DB, before map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range pgCPU(db) {
		d += t - before[pid]
	}
	return d
}

// BenchmarkAuthorize: allow/deny decisions over loopback HTTP, server and
// client in one process (SQLite; decisions read memory only). The app has
// live standard and rtc-engine trial; 50 rooms of 20 users (2 publishing)
// come from stored events. The requests cycle through joins of users in
// the rooms and of new users (allowed, with a reservation), publishes at
// 720p (allowed) and 2K (denied: 1080P in live standard), third-party
// relays and 3D audio (denied: not in rtc-engine trial), and
// subscriptions. 2 or 8 clients, each a kept-alive connection sending
// one request at a time (loadClient): on two cores 2 already keep the
// server busy, and more in flight only queue (p99 = in flight / rate).
// With the operator key (compared in memory) and with an account key
// (looked up in the store on every request).
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	store := backends()[0].open(b, livebill.SystemClock{})
	url, adm, adminKey := admissionServer(b, store)
	admin := benchClient(url, adminKey)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(admin.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "a1", "catalog": "trtc", "created": "2024-01-10"}, nil))
	must(admin.Do(ctx, "POST", "/v1/accounts/a1/apps", map[string]any{"id": "app1"}, nil))
	today := time.Now().Format(time.DateOnly)
	must(admin.Do(ctx, "POST", "/v1/accounts/a1/purchases", map[string]any{"id": "p1", "app": "app1", "plan": "live.standard", "start": today, "auto_renew": true}, nil))
	var key lbhttp.KeyJSON
	must(admin.Do(ctx, "POST", "/v1/keys", map[string]any{"account": "a1"}, &key))
	var lines []byte
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for r := 0; r < 50; r++ {
		for u := 0; u < 20; u++ {
			lines = fmt.Appendf(lines, `{"id":"j%d-%d","type":"room.join","time":"%s","app":"app1","room":"r%d","user":"u%d"}`+"\n", r, u, at, r, u)
			if u < 2 {
				lines = fmt.Appendf(lines, `{"id":"s%d-%d","type":"stream.start","time":"%s","app":"app1","room":"r%d","user":"u%d","stream":"main","media":"video","width":1280,"height":720}`+"\n", r, u, at, r, u)
			}
		}
	}
	if res, err := admin.PushEvents(ctx, lines); err != nil || res.Rejected != 0 {
		b.Fatalf("push: %+v %v", res, err)
	}
	// first decision loads the account; then the stored events are read
	if _, err := admin.Authorize(ctx, &livebill.AuthorizeInput{App: "app1", Action: "room.join", Room: "r0", User: "u0"}); err != nil {
		b.Fatal(err)
	}
	adm.Refresh(ctx)
	var reqs []livebill.AuthorizeInput
	for r := 0; r < 50; r++ {
		room := fmt.Sprintf("r%d", r)
		reqs = append(reqs,
			livebill.AuthorizeInput{App: "app1", Action: "room.join", Product: "live", Room: room, User: "u5"},
			livebill.AuthorizeInput{App: "app1", Action: "room.join", Product: "live", Room: room, User: fmt.Sprintf("new%d", r)},
			livebill.AuthorizeInput{App: "app1", Action: "stream.start", Product: "live", Room: room, User: "u1", Stream: "main", Media: "video", Width: 1280, Height: 720},
			livebill.AuthorizeInput{App: "app1", Action: "stream.start", Product: "live", Room: room, User: "u0", Stream: "main", Media: "video", Width: 2560, Height: 1440},
			livebill.AuthorizeInput{App: "app1", Action: "subscribe.start", Product: "live", Room: room, User: "u7", Publisher: "u0", Stream: "main"},
			livebill.AuthorizeInput{App: "app1", Action: "relay.start", Room: room, Task: "t", Destination: "third_party"},
			livebill.AuthorizeInput{App: "app1", Action: "feature.use", Feature: "3d_audio"},
		)
	}
	for _, workers := range []int{2, 8} {
		for _, k := range []struct{ name, key string }{{"operator-key", adminKey}, {"account-key", key.Key}} {
			b.Run(fmt.Sprintf("%s/clients=%d", k.name, workers), func(b *testing.B) {
				encoded := make([][]byte, len(reqs))
				for i := range reqs {
					var err error
					if encoded[i], err = encodeRequest("/v1/authorize", k.key, &reqs[i]); err != nil {
						b.Fatal(err)
					}
				}
				clients := make([]*loadClient, workers)
				for i := range clients {
					c, err := dialLoad(url)
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					clients[i] = c
				}
				var denied atomic.Int64
				run(b, workers, "decisions", nil, func(w, i int) error {
					var d livebill.Decision
					err := clients[w].do(encoded[i%len(encoded)], &d)
					if err == nil && !d.Allow {
						denied.Add(1)
					}
					return err
				})
				// request i is of kind i%7 (reqs holds 50 groups of 7); kinds
				// 3, 5 and 6 are denied
				want := 0
				for i := range b.N {
					if k := i % 7; k == 3 || k == 5 || k == 6 {
						want++
					}
				}
				if got := int(denied.Load()); got != want {
					b.Fatalf("%d of %d decisions denied, want %d", got, b.N, want)
				}
				b.ReportMetric(float64(denied.Load())/float64(b.N), "denied/op")
			})
		}
	}
}

// pastLeases gives the account on PostgreSQL a history of n ended leases
// in pool, and has the lease tables analyzed, as a server that has run a
// while has them (autovacuum): the planner's estimates are then those of
// a running server, not those of empty tables.
func pastLeases(b *testing.B, db *sql.DB, account, app, pool string, n int) {
	if db == nil {
		return
	}
	_, err := db.Exec(`INSERT INTO leases (account_id, id, app, kind, pool, slot, holder, acquired_ms, ends_ms, released, meter_state)
SELECT $1, 'past-' || g, $2, 'cloudgaming', $3, g % 256, '', g * 1000, g * 1000 + 500, 1, 2 FROM generate_series(1, $4::int) g`, account, app, pool, n)
	if err == nil {
		_, err = db.Exec(`ANALYZE leases`)
	}
	if err == nil {
		_, err = db.Exec(`ANALYZE lease_slots`)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLeases: a lease acquired and released (a pair), 64 workers, a
// pool of 256 concurrencies (every acquisition granted; a quarter held at
// most): at the store (livebill.LeaseStore: one statement each on
// PostgreSQL) and through the API over loopback HTTP (POST /v1/authorize,
// then DELETE the lease; the operator key). On PostgreSQL the pool of
// connections is 64 (the server's default is 8): each statement is a
// commit, and concurrent commits share the WAL's fsyncs.
func BenchmarkLeases(b *testing.B) {
	const pastLeaseCount = 100_000
	leaseWorkers, leaseConns, leaseCapacity := 64, 64, 256
	ctx := context.Background()
	for _, be := range backends() {
		b.Run(be.name+"/store", func(b *testing.B) {
			store := be.open(b, livebill.SystemClock{})
			if be.name == "postgres" {
				store.SQL().SetMaxOpenConns(leaseConns)
				store.SQL().SetMaxIdleConns(leaseConns)
			}
			pastLeases(b, pgOf(be, store), "a1", "app1", "p", pastLeaseCount)
			workers := leaseWorkers
			run(b, workers, "pairs", pgOf(be, store), func(w, i int) error {
				now := time.Now()
				l, ok, err := store.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "a1", ID: fmt.Sprintf("l%d", i), App: "app1",
					Kind: livebill.SessionCloudGaming, Pool: "p", Capacity: leaseCapacity, Now: now, Ends: now.Add(30 * time.Second)})
				if err != nil || !ok {
					return fmt.Errorf("acquire %d: granted %v, %v", i, ok, err)
				}
				_, err = store.ReleaseLease(ctx, "a1", "app1", l.ID, time.Now())
				return err
			})
		})
		if be.name == "postgres" {
			// what the machine's PostgreSQL commits at the moment: pairs
			// of two single-row upserts, each its own commit, as many
			// workers and connections; a lease pair is two commits too
			b.Run("postgres/commit-baseline", func(b *testing.B) {
				store := be.open(b, livebill.SystemClock{})
				db := store.SQL()
				db.SetMaxOpenConns(leaseConns)
				db.SetMaxIdleConns(leaseConns)
				if _, err := db.Exec(`CREATE TABLE baseline (k INTEGER PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
					b.Fatal(err)
				}
				const upsert = `INSERT INTO baseline (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`
				run(b, leaseWorkers, "pairs", db, func(w, i int) error {
					if _, err := db.ExecContext(ctx, upsert, w, i); err != nil {
						return err
					}
					_, err := db.ExecContext(ctx, upsert, w, -i)
					return err
				})
			})
		}
		b.Run(be.name+"/http", func(b *testing.B) {
			store := be.open(b, livebill.SystemClock{})
			if be.name == "postgres" {
				store.SQL().SetMaxOpenConns(leaseConns)
				store.SQL().SetMaxIdleConns(leaseConns)
			}
			url, _, adminKey := admissionServer(b, store)
			admin := benchClient(url, adminKey)
			must := func(err error) {
				if err != nil {
					b.Fatal(err)
				}
			}
			must(admin.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "g1", "catalog": "cloudgaming", "created": "2024-01-10"}, nil))
			must(admin.Do(ctx, "POST", "/v1/accounts/g1/apps", map[string]any{"id": "game"}, nil))
			must(admin.Do(ctx, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "s1", "plan": "cloudgaming.desktop.s1.standard", "count": leaseCapacity,
				"region": "sh", "start": time.Now().Format(time.DateOnly), "auto_renew": true}, nil))
			pastLeases(b, pgOf(be, store), "g1", "game", "cloudgaming.desktop.s1.standard@sh", pastLeaseCount)
			workers := leaseWorkers
			clients := make([]*lbhttp.Client, workers)
			for i := range clients {
				clients[i] = benchClient(url, adminKey)
			}
			run(b, workers, "pairs", pgOf(be, store), func(w, i int) error {
				id := fmt.Sprintf("l%d", i)
				d, err := clients[w].Authorize(ctx, &livebill.AuthorizeInput{App: "game", Action: livebill.ActionCloudGamingStart,
					Spec: "s1", Quality: "standard", Region: "sh", Lease: id})
				if err != nil || !d.Allow {
					return fmt.Errorf("session %d: %+v %v", i, d, err)
				}
				_, err = clients[w].ReleaseLease(ctx, "game", id)
				return err
			})
		})
	}
}
