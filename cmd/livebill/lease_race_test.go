package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livebill/livebill"
	lbhttp "github.com/livebill/livebill/http"
)

// leaseRaceAdminKey is the operator key the race's servers share.
const leaseRaceAdminKey = "lease-race-operator-key-0123456789abcdef"

// TestLeaseRacePostgres: two `livebill serve` processes on one PostgreSQL,
// 64 clients racing for the 10 concurrencies of a cloud-gaming pool:
// each acquires on either server, renews its lease (heartbeat), then
// releases it, or crashes (stops renewing, never releases). Halfway, one
// server is killed (SIGKILL) and restarted. From the store's lease history:
// at no instant were more than 10 held; every lease a client was granted
// is in the history (none lost across the restart); and every lease that
// expired was freed — taken again by a waiting client — within its TTL
// plus 1 s of its last heartbeat.
//
// LIVEBILL_LEASE_RACE sets how long the clients race (a Go duration,
// default 60s, at most 10m); the test is skipped without
// LIVEBILL_TEST_POSTGRES and in -short mode.
func TestLeaseRacePostgres(t *testing.T) {
	race := time.Minute
	if s := os.Getenv("LIVEBILL_LEASE_RACE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > 10*time.Minute {
			t.Fatalf("LIVEBILL_LEASE_RACE=%q: want a duration up to 10m", s)
		}
		race = d
	}
	const (
		clients  = 64
		capacity = 10
		ttl      = 2 * time.Second
		pool     = "cloudgaming.desktop.s1.standard@ap-shanghai"
	)
	dsn := freshPostgres(t, "the two-server lease race")
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bin := livebillBinary(t)
	start := func() *serveProc {
		return startServe(t, bin, []string{"LIVEBILL_ADMIN_KEY=" + leaseRaceAdminKey}, "--db", dsn, "--settle-every", "0")
	}
	srvA, srvB := start(), start()
	ctx := context.Background()
	admin := lbhttp.NewClient(srvA.url)
	admin.Key = leaseRaceAdminKey
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(admin.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "g1", "catalog": "cloudgaming", "created": "2024-01-10"}, nil))
	must(admin.Do(ctx, "POST", "/v1/accounts/g1/apps", map[string]any{"id": "game"}, nil))
	today := time.Now().Format(time.DateOnly)
	must(admin.Do(ctx, "POST", "/v1/accounts/g1/purchases", map[string]any{"id": "s1", "plan": "cloudgaming.desktop.s1.standard", "count": capacity, "region": "ap-shanghai", "start": today, "auto_renew": true}, nil))
	var key lbhttp.KeyJSON
	must(admin.Do(ctx, "POST", "/v1/keys", map[string]any{"account": "g1", "name": "race"}, &key))

	// the servers' URLs; the restarted one replaces its entry
	var urls atomic.Pointer[[2]string]
	urls.Store(&[2]string{srvA.url, srvB.url})

	type held struct {
		id      string
		granted time.Time // when the grant's answer arrived
		// heartbeat bounds the last renewal the server may have made: when
		// the last renewal's answer arrived, or its request failed (a
		// server killed after renewing, before answering)
		heartbeat time.Time
		crashed   bool
	}
	var mu sync.Mutex
	var leases []*held
	var errorsSeen atomic.Int64
	deadline := time.Now().Add(race)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), 7))
			cli := func() *lbhttp.Client {
				u := urls.Load()[rnd.IntN(2)]
				k := lbhttp.NewClient(u)
				k.Key = key.Key
				k.HTTP.Timeout = 5 * time.Second
				return k
			}
			for n := 0; time.Now().Before(deadline); n++ {
				id := fmt.Sprintf("c%d-%d", c, n)
				in := livebill.AuthorizeInput{App: "game", Action: livebill.ActionCloudGamingStart, Spec: "s1", Quality: "standard",
					Region: "ap-shanghai", User: fmt.Sprintf("player%d", c), Lease: id, TTLMS: ttl.Milliseconds()}
				d, err := cli().Authorize(ctx, &in)
				if err != nil { // a server killed under us: ask again, the same id
					errorsSeen.Add(1)
					if d, err = cli().Authorize(ctx, &in); err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				if !d.Allow {
					if d.Reason != livebill.DenyConcurrencyExhausted {
						t.Errorf("client %d: denied %s (%s)", c, d.Reason, d.Message)
						return
					}
					time.Sleep(time.Duration(20+rnd.IntN(60)) * time.Millisecond)
					continue
				}
				h := &held{id: id, granted: time.Now()}
				h.heartbeat = h.granted
				crash := rnd.IntN(8) == 0
				mu.Lock()
				leases = append(leases, h)
				mu.Unlock()
				// hold 0.2–2.5 s, heartbeating every 600 ms
				hold := time.Duration(200+rnd.IntN(2300)) * time.Millisecond
				until := time.Now().Add(hold)
				for time.Now().Before(until) {
					time.Sleep(min(600*time.Millisecond, time.Until(until)))
					_, err := cli().RenewLease(ctx, "game", id, ttl)
					if livebill.ErrorCode(err) == livebill.ECONFLICT {
						break // it expired (a heartbeat lost to the killed server): gone
					}
					mu.Lock()
					h.heartbeat = time.Now()
					mu.Unlock()
					if err != nil {
						errorsSeen.Add(1)
					}
				}
				if crash {
					mu.Lock()
					h.crashed = true
					mu.Unlock()
					continue // no release: the lease must expire
				}
				if _, err := cli().ReleaseLease(ctx, "game", id); err != nil {
					if _, err := cli().ReleaseLease(ctx, "game", id); err != nil {
						errorsSeen.Add(1)
					}
				}
			}
		}(c)
	}
	// halfway: kill server A and start it again on the same database
	time.Sleep(race / 2)
	must(syscall.Kill(-srvA.cmd.Process.Pid, syscall.SIGKILL))
	<-srvA.exited
	srvA2 := start()
	urls.Store(&[2]string{srvA2.url, srvB.url})
	wg.Wait()

	rows, err := db.Query(`SELECT id, slot, acquired_ms, ends_ms, released FROM leases WHERE account_id = 'g1' AND pool = $1 ORDER BY acquired_ms`, pool)
	must(err)
	type rec struct {
		id               string
		slot             int
		acquired, endsAt int64
		released         bool
	}
	var hist []rec
	byID := map[string]rec{}
	for rows.Next() {
		var r rec
		must(rows.Scan(&r.id, &r.slot, &r.acquired, &r.endsAt, &r.released))
		hist = append(hist, r)
		byID[r.id] = r
	}
	must(rows.Err())
	rows.Close()

	// 1. at no instant more than capacity held: a sweep over [acquired, ends)
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, r := range hist {
		edges = append(edges, edge{r.acquired, +1}, edge{r.endsAt, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	n, peak := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
		if n > capacity {
			t.Fatalf("%d leases held at %s, more than the %d purchased", n, time.UnixMilli(e.at).Format(time.RFC3339Nano), capacity)
		}
	}
	// 2. no lease lost: every grant a client saw is in the history
	mu.Lock()
	defer mu.Unlock()
	for _, h := range leases {
		if _, ok := byID[h.id]; !ok {
			t.Errorf("lease %s was granted but is not in the history", h.id)
		}
	}
	if len(hist) < len(leases) {
		t.Errorf("%d leases in the history, %d granted to clients", len(hist), len(leases))
	}
	// 3. every expired lease ended TTL after its last heartbeat, and its
	// slot was taken again within 1 s of that end
	next := map[string]int64{} // id → the next lease's acquisition in its slot
	bySlot := map[int][]rec{}
	for _, r := range hist {
		bySlot[r.slot] = append(bySlot[r.slot], r)
	}
	for _, rs := range bySlot {
		for i := 0; i+1 < len(rs); i++ {
			next[rs[i].id] = rs[i+1].acquired
		}
	}
	// every lease that expired, whether its client knew it had it or not
	// (an answer lost with the killed server), was taken again within 1 s
	expired, worst := 0, time.Duration(0)
	for _, r := range hist {
		if r.released {
			continue
		}
		expired++
		endsAt := time.UnixMilli(r.endsAt)
		if !endsAt.Add(time.Second).Before(deadline) {
			continue // the clients stopped asking before it could be taken again
		}
		nx, ok := next[r.id]
		if !ok {
			t.Errorf("lease %s expired at %s and its slot %d was never taken again", r.id, endsAt.Format(time.RFC3339Nano), r.slot)
			continue
		}
		gap := time.UnixMilli(nx).Sub(endsAt)
		worst = max(worst, gap)
		if gap > time.Second {
			t.Errorf("lease %s expired at %s; its slot %d was taken again only %s later", r.id, endsAt.Format(time.RFC3339Nano), r.slot, gap)
		}
	}
	for _, h := range leases {
		r := byID[h.id]
		if !r.released && time.UnixMilli(r.endsAt).After(h.heartbeat.Add(ttl+time.Millisecond)) {
			t.Errorf("lease %s ends at %s, more than the TTL after its last heartbeat %s", h.id, time.UnixMilli(r.endsAt).Format(time.RFC3339Nano), h.heartbeat.Format(time.RFC3339Nano))
		}
	}
	crashed := 0
	for _, h := range leases {
		if h.crashed {
			crashed++
		}
	}
	t.Logf("%s race: %d leases granted (%d crashed, %d expired in all), peak %d held; slowest re-take of an expired slot %s; %d client errors (a server was killed)",
		race, len(leases), crashed, expired, peak, worst, errorsSeen.Load())
	if peak < capacity || crashed == 0 {
		t.Errorf("the race did not exercise the pool: peak %d, %d crashes", peak, crashed)
	}
}
