package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/livebill/livebill"
)

// pgStore opens a store on a fresh schema of LIVEBILL_TEST_POSTGRES
// (dropped afterwards), its connections named app (application_name).
func pgStore(t *testing.T, app string) *DB {
	base := os.Getenv("LIVEBILL_TEST_POSTGRES")
	if base == "" {
		t.Skip("LIVEBILL_TEST_POSTGRES is not set: the grouped lease statements are PostgreSQL's")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("lbgroup_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("pgx", base); err == nil {
			db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
			db.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := New(db, Dialect{Name: "postgres", Numbered: true}, nil)
	if err := s.Migrate(context.Background(), os.DirFS("../postgres"), "migrations"); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLeaseGroupStatements runs the grouped statements on chosen calls:
// each call of a statement gets what its single statement would give it
// (a slot taken only while free and by an id not yet used; a lease
// renewed or released only while it holds its slot, by its app), and a
// statement that fails as a whole (a lease id another transaction
// inserted meanwhile) leaves each call to run alone.
func TestLeaseGroupStatements(t *testing.T) {
	ctx := context.Background()
	app := fmt.Sprintf("lbgroup-%d", os.Getpid())
	s := pgStore(t, app)
	t0 := time.Date(2024, 10, 1, 12, 0, 0, 0, time.UTC)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	acq := func(id string, slot int, at time.Duration) *acquireCall {
		in := &livebill.AcquireLeaseInput{Account: "a1", ID: id, App: "app1", Kind: "k", Pool: "p", Capacity: 8, Now: t0.Add(at), Ends: t0.Add(at + 10*time.Second)}
		return &acquireCall{in: in, now: ms(at), ends: ms(at + 10*time.Second), slot: slot, done: make(chan struct{})}
	}
	end := func(app, id string, at, until time.Duration, release bool) *endCall {
		return &endCall{account: "a1", app: app, id: id, now: ms(at), ends: ms(until), release: release, done: make(chan struct{})}
	}
	granted := func(c *acquireCall, slot int, since, until time.Duration) {
		t.Helper()
		if c.err != nil || c.t != (taken{slot: slot, since: ms(since), ends: ms(until)}) {
			t.Errorf("%s: %+v, %v; want slot %d from %s to %s", c.in.ID, c.t, c.err, slot, since, until)
		}
	}
	refused := func(id string, err error) {
		t.Helper()
		if !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("%s: %v, want no row", id, err)
		}
	}

	// three free slots: all taken, from their instant for 10 s
	a, b, c := acq("a", 0, 0), acq("b", 1, 0), acq("c", 2, 0)
	s.takeSlots(ctx, []*acquireCall{a, b, c})
	granted(a, 0, 0, 10*time.Second)
	granted(b, 1, 0, 10*time.Second)
	granted(c, 2, 0, 10*time.Second)
	// b's slot is held, a is an id already used: only e is granted
	d, e, again := acq("d", 1, time.Second), acq("e", 5, time.Second), acq("a", 6, time.Second)
	s.takeSlots(ctx, []*acquireCall{d, e, again})
	refused("d", d.err)
	refused("a again", again.err)
	granted(e, 5, time.Second, 11*time.Second)

	// a released at +2 s, b renewed to +20 s; c (ended at +10 s) cannot
	// be renewed at +11 s, an unknown lease, and e as another app's,
	// neither released
	rel, ren, late := end("app1", "a", 2*time.Second, 2*time.Second, true), end("app1", "b", 2*time.Second, 20*time.Second, false), end("app1", "c", 11*time.Second, 21*time.Second, false)
	nope, other := end("app1", "nope", 2*time.Second, 2*time.Second, true), end("app2", "e", 2*time.Second, 2*time.Second, true)
	s.endLeases(ctx, []*endCall{rel, ren, late, nope, other})
	if rel.err != nil || !rel.l.Released || !rel.l.Ends.Equal(t0.Add(2*time.Second)) || rel.l.Slot != 0 {
		t.Errorf("release a: %+v, %v", rel.l, rel.err)
	}
	if ren.err != nil || ren.l.Released || !ren.l.Ends.Equal(t0.Add(20*time.Second)) {
		t.Errorf("renew b: %+v, %v", ren.l, ren.err)
	}
	refused("renew c", late.err)
	refused("release nope", nope.err)
	refused("release e as app2", other.err)
	// a's slot, released at +2 s, is free to an acquisition asked at
	// +1 s: its lease counts from the release
	f := acq("f", 0, time.Second)
	s.takeSlots(ctx, []*acquireCall{f})
	granted(f, 0, 2*time.Second, 11*time.Second)

	// another transaction inserts lease dup and has not committed: the
	// statement holding dup waits, then fails on dup's key; each call
	// then runs alone: g is granted, dup (an id now used) is not
	other2, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other2.Rollback()
	if _, err := other2.Exec(`INSERT INTO leases (account_id, id, app, kind, pool, slot, acquired_ms, ends_ms) VALUES ('a1', 'dup', 'app1', 'k', 'elsewhere', 0, $1, $2)`, ms(0), ms(time.Hour)); err != nil {
		t.Fatal(err)
	}
	dup, g := acq("dup", 6, 3*time.Second), acq("g", 7, 3*time.Second)
	done := make(chan struct{})
	go func() { defer close(done); s.takeSlots(ctx, []*acquireCall{dup, g}) }()
	for waited := 0; ; waited++ { // until the statement waits for the other transaction
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if waited == 1000 {
			t.Fatal("the grouped statement never waited for the other transaction")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := other2.Commit(); err != nil {
		t.Fatal(err)
	}
	<-done
	refused("dup", dup.err)
	granted(g, 7, 3*time.Second, 13*time.Second)

	// the history: every grant above, and nothing else in pool p
	hist, err := s.LeaseHistory(ctx, "a1", "p")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range hist {
		got = append(got, fmt.Sprintf("%s@%d %v-%v %v", l.ID, l.Slot, l.Acquired.Sub(t0), l.Ends.Sub(t0), l.Released))
	}
	want := []string{"a@0 0s-2s true", "b@1 0s-20s false", "c@2 0s-10s false", "e@5 1s-11s false", "f@0 2s-11s false", "g@7 3s-13s false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("history %v, want %v", got, want)
	}
}

// A caller whose context ends while its acquisition waits for a grouped
// statement is told "not granted" only if the lease was not granted: an
// error means no lease of that id is stored, a lease means it is. The
// contexts end at random points of the statements' lives, so some end
// while their call is queued and some while its statement runs.
func TestLeaseGroupCancelledCaller(t *testing.T) {
	s := pgStore(t, fmt.Sprintf("lbgroup-cancel-%d", os.Getpid()))
	now := time.Now()
	var errs, leases int
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%20)*100*time.Microsecond)
		in := &livebill.AcquireLeaseInput{Account: "a1", ID: fmt.Sprintf("l%d", i), App: "app1", Kind: "k", Pool: "p",
			Capacity: 1000, Now: now, Ends: now.Add(time.Minute)}
		_, err := s.takeSlotGrouped(ctx, in, now.UnixMilli(), now.Add(time.Minute).UnixMilli())
		cancel()
		_, ferr := s.FindLease(context.Background(), "a1", in.ID)
		switch {
		case err == nil && ferr != nil:
			t.Fatalf("%s: granted, but %v", in.ID, ferr)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrNoRows): // cancelled, or its slot was held
			errs++
			if ferr == nil {
				t.Fatalf("%s: the caller was told %v, and the lease is stored", in.ID, err)
			}
		case err == nil:
			leases++
		default:
			t.Fatalf("%s: %v", in.ID, err)
		}
	}
	t.Logf("%d granted, %d not (cancelled while queued, or the slot tried was held)", leases, errs)
}
