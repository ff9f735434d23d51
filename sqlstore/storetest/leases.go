package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// leaseStore returns the store's lease store, or skips.
func leaseStore(t *testing.T, s livebill.Store) livebill.LeaseStore {
	ls, ok := s.(livebill.LeaseStore)
	if !ok {
		t.Skip("the store keeps no leases")
	}
	return ls
}

// testLeases: a pool grants at most its capacity; an id acquired again is
// the same lease; renewal moves the end, and a lease not renewed in time
// expires and frees its slot; a release frees it at once; an ended lease
// cannot be renewed; the history shows every lease with its span.
func testLeases(t *testing.T, open Opener) {
	ctx := context.Background()
	ls := leaseStore(t, open(t, nil))
	t0 := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)
	ttl := 10 * time.Second
	acq := func(id string, at time.Time, capacity int) (*livebill.Lease, bool) {
		t.Helper()
		l, granted, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "a1", ID: id, App: "app1", Kind: livebill.ActionCloudGamingStart,
			Pool: "cg/s1.standard/sh", Holder: "player-" + id, Capacity: capacity, Now: at, Ends: at.Add(ttl)})
		if err != nil {
			t.Fatalf("acquire %s: %v", id, err)
		}
		return l, granted
	}
	// capacity 2: two leases, the third is refused
	a, ok := acq("a", t0, 2)
	if !ok || a.Slot < 0 || a.Slot > 1 || !a.Ends.Equal(t0.Add(ttl)) || a.Holder != "player-a" {
		t.Fatalf("a = %+v granted %v", a, ok)
	}
	b, ok := acq("b", t0.Add(time.Second), 2)
	if !ok || b.Slot == a.Slot {
		t.Fatalf("b = %+v granted %v (a in slot %d)", b, ok, a.Slot)
	}
	if c, ok := acq("c", t0.Add(2*time.Second), 2); ok || c != nil {
		t.Fatalf("c granted in a full pool: %+v", c)
	}
	// the same id again: the same lease, not a second slot
	again, ok := acq("a", t0.Add(3*time.Second), 2)
	if ok || again == nil || again.Slot != a.Slot || !again.Ends.Equal(t0.Add(3*time.Second+ttl)) {
		t.Fatalf("a again = %+v granted %v, want a's slot %d, its end moved to +13 s", again, ok, a.Slot)
	}
	// a lease id of another pool is a conflict
	if _, _, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "a1", ID: "a", App: "app1", Pool: "other", Capacity: 5, Now: t0, Ends: t0.Add(ttl)}); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("a in another pool: %v, want a conflict", err)
	}
	// renewal moves the end (never earlier)
	r, err := ls.RenewLease(ctx, "a1", "app1", "b", t0.Add(9*time.Second), t0.Add(19*time.Second))
	if err != nil || !r.Ends.Equal(t0.Add(19*time.Second)) {
		t.Fatalf("renew b = %+v, %v", r, err)
	}
	if r, err := ls.RenewLease(ctx, "a1", "app1", "b", t0.Add(9*time.Second), t0.Add(12*time.Second)); err != nil || !r.Ends.Equal(t0.Add(19*time.Second)) {
		t.Fatalf("a shorter renewal of b = %+v, %v; want the end kept at +19 s", r, err)
	}
	// a (ends +13 s) is not renewed: at +13 s it has expired and its slot
	// is free; b (ends +19 s) still holds its own
	if c, ok := acq("c", t0.Add(12999*time.Millisecond), 2); ok {
		t.Fatalf("c granted 1 ms before a expires: %+v", c)
	}
	c, ok := acq("c", t0.Add(13*time.Second), 2)
	if !ok || c.Slot != a.Slot {
		t.Fatalf("c at +13 s = %+v granted %v, want a's slot %d", c, ok, a.Slot)
	}
	if _, err := ls.RenewLease(ctx, "a1", "app1", "a", t0.Add(13*time.Second), t0.Add(30*time.Second)); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("renewing expired a: %v, want a conflict", err)
	}
	if again, ok := acq("a", t0.Add(14*time.Second), 2); ok || again.Held(t0.Add(14*time.Second)) {
		t.Fatalf("acquiring expired a again = %+v granted %v, want it unchanged (ended)", again, ok)
	}
	// release frees b's slot at once
	rel, err := ls.ReleaseLease(ctx, "a1", "app1", "b", t0.Add(15*time.Second))
	if err != nil || !rel.Released || !rel.Ends.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("release b = %+v, %v", rel, err)
	}
	if rel2, err := ls.ReleaseLease(ctx, "a1", "app1", "b", t0.Add(16*time.Second)); err != nil || !rel2.Ends.Equal(rel.Ends) {
		t.Fatalf("releasing b twice = %+v, %v; want it unchanged", rel2, err)
	}
	if _, err := ls.RenewLease(ctx, "a1", "app1", "b", t0.Add(16*time.Second), t0.Add(26*time.Second)); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("renewing released b: %v, want a conflict", err)
	}
	d, ok := acq("d", t0.Add(15*time.Second), 2)
	if !ok || d.Slot != b.Slot {
		t.Fatalf("d after b's release = %+v granted %v, want slot %d", d, ok, b.Slot)
	}
	if _, err := ls.ReleaseLease(ctx, "a1", "app1", "nope", t0); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("release of an unknown lease: %v", err)
	}
	// another app of the account names no lease of app1
	if _, err := ls.ReleaseLease(ctx, "a1", "app2", "c", t0.Add(15*time.Second)); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("release of app1's lease as app2: %v, want not found", err)
	}
	if _, err := ls.RenewLease(ctx, "a1", "app2", "c", t0.Add(15*time.Second), t0.Add(40*time.Second)); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("renewal of app1's lease as app2: %v, want not found", err)
	}
	// a smaller capacity (a refund) grants nothing while two are held
	if e, ok := acq("e", t0.Add(16*time.Second), 1); ok {
		t.Fatalf("e granted with capacity 1 and two held: %+v", e)
	}
	held, err := ls.ListLeases(ctx, "a1", t0.Add(16*time.Second))
	if err != nil || len(held) != 2 || held[0].ID+held[1].ID != map[bool]string{true: "cd", false: "dc"}[c.Slot < d.Slot] {
		t.Fatalf("held at +16 s: %v, %v; want c and d", held, err)
	}
	// history: a +0..+13 (expired), b +1..+15 (released), c +13.., d +15..
	hist, err := ls.LeaseHistory(ctx, "a1", "cg/s1.standard/sh")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range hist {
		got = append(got, fmt.Sprintf("%s %v-%v %v", l.ID, l.Acquired.Sub(t0), l.Ends.Sub(t0), l.Released))
	}
	want := []string{"a 0s-13s false", "b 1s-15s true", "c 13s-23s false", "d 15s-25s false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history %v, want %v", got, want)
	}
	checkNoOverlap(t, hist, 2)

	// An acquirer's instant is read before its statement runs: one older
	// than a release committed meanwhile still takes the released slot,
	// its lease counting from the release (the history stays without
	// overlap); one older than an expiry finds the slot held.
	q := func(id string, at time.Time) (*livebill.Lease, bool) {
		t.Helper()
		l, ok, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "a1", ID: id, App: "app1", Pool: "q", Capacity: 1, Now: at, Ends: at.Add(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		return l, ok
	}
	t1 := t0.Add(time.Hour)
	q("x", t1)
	if _, err := ls.ReleaseLease(ctx, "a1", "app1", "x", t1.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	y, ok := q("y", t1.Add(3*time.Second)) // read before x's release
	if !ok || !y.Acquired.Equal(t1.Add(5*time.Second)) || !y.Ends.Equal(t1.Add(13*time.Second)) {
		t.Fatalf("y, asked at +3 s after x's release at +5 s: %+v granted %v; want it from +5 s to +13 s", y, ok)
	}
	if z, ok := q("z", t1.Add(12*time.Second)); ok { // y holds the slot until +13 s
		t.Fatalf("z granted while y holds the pool's one slot: %+v", z)
	}
	hist, err = ls.LeaseHistory(ctx, "a1", "q")
	if err != nil {
		t.Fatal(err)
	}
	checkNoOverlap(t, hist, 1)
}

// checkNoOverlap checks from a lease history that at no instant more than
// limit leases were held, and no slot was held twice.
func checkNoOverlap(t *testing.T, hist []*livebill.Lease, limit int) {
	t.Helper()
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	bySlot := map[int][]*livebill.Lease{}
	for _, l := range hist {
		edges = append(edges, edge{l.Acquired.UnixMilli(), +1}, edge{l.Ends.UnixMilli(), -1})
		bySlot[l.Slot] = append(bySlot[l.Slot], l)
	}
	// an end at the instant of a start frees the slot first (half-open spans)
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	n := 0
	for _, e := range edges {
		n += e.delta
		if n > limit {
			t.Fatalf("%d leases held at %s, more than %d", n, time.UnixMilli(e.at).UTC().Format(time.RFC3339Nano), limit)
		}
	}
	for slot, ls := range bySlot {
		sort.Slice(ls, func(i, j int) bool { return ls[i].Acquired.Before(ls[j].Acquired) })
		for i := 1; i < len(ls); i++ {
			if ls[i].Acquired.Before(ls[i-1].Ends) {
				t.Fatalf("slot %d: lease %s acquired at %s while %s held it until %s", slot, ls[i].ID, ls[i].Acquired, ls[i-1].ID, ls[i-1].Ends)
			}
		}
	}
}

// testLeasesConcurrent: many goroutines race acquire, renew and release
// on one pool of 3; the history never shows more than 3 held at once.
// Each operation's instant comes from one counter, so the goroutines'
// instants interleave as their calls do.
func testLeasesConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	ls := leaseStore(t, open(t, nil))
	t0 := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(clock.Add(1)) * time.Millisecond) }
	const capacity, workers, rounds = 3, 12, 25
	var granted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				at := now()
				// a short TTL: some leases expire between the calls
				l, ok, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: "a1", ID: id, App: "app1", Pool: "p", Capacity: capacity, Now: at, Ends: at.Add(40 * time.Millisecond)})
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					continue
				}
				granted.Add(1)
				if _, err := ls.RenewLease(ctx, "a1", "app1", l.ID, now(), now().Add(40*time.Millisecond)); err != nil && livebill.ErrorCode(err) != livebill.ECONFLICT {
					errs <- err
					return
				}
				if i%3 != 0 { // every third lease is left to expire
					if _, err := ls.ReleaseLease(ctx, "a1", "app1", l.ID, now()); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	hist, err := ls.LeaseHistory(ctx, "a1", "p")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(hist)) != granted.Load() || granted.Load() < capacity {
		t.Fatalf("%d leases in the history, %d granted", len(hist), granted.Load())
	}
	checkNoOverlap(t, hist, capacity)
	t.Logf("%d of %d acquisitions granted", granted.Load(), workers*rounds)
}
