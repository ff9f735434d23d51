package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
	"github.com/livebill/livebill/scenario"
	"github.com/livebill/livebill/sqlite"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// backupBatch is batch b of the backup test's push: a self-contained A/V
// session in its own room (a publisher at one of four resolutions, one
// viewer, 1 to 13 minutes, so batches differ in what they add to the
// quote) and screenshot events to give the database some bulk.
func backupBatch(b int) []string {
	t0 := time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(b) * 7 * time.Minute)
	end := t0.Add(time.Duration(1+b%13) * time.Minute)
	res := [][2]int{{640, 360}, {1280, 720}, {1920, 1080}, {2560, 1440}}[b%4]
	at := func(t time.Time) string { return t.Format(time.RFC3339) }
	room := fmt.Sprintf("r%d", b)
	evs := []string{
		fmt.Sprintf(`{"id":"b%d-1","time":%q,"type":"room.join","app":"app1","room":%q,"user":"A","subscribe":"all"}`, b, at(t0), room),
		fmt.Sprintf(`{"id":"b%d-2","time":%q,"type":"room.join","app":"app1","room":%q,"user":"B","subscribe":"all"}`, b, at(t0), room),
		fmt.Sprintf(`{"id":"b%d-3","time":%q,"type":"stream.start","app":"app1","room":%q,"user":"A","stream":"main","media":"video","width":%d,"height":%d}`, b, at(t0), room, res[0], res[1]),
		fmt.Sprintf(`{"id":"b%d-4","time":%q,"type":"room.leave","app":"app1","room":%q,"user":"A"}`, b, at(end), room),
		fmt.Sprintf(`{"id":"b%d-5","time":%q,"type":"room.leave","app":"app1","room":%q,"user":"B"}`, b, at(end), room),
	}
	for i := range 40 {
		evs = append(evs, fmt.Sprintf(`{"id":"b%d-s%d","time":%q,"type":"screenshot","app":"app1","count":1}`, b, i, at(t0.Add(time.Duration(i)*time.Second))))
	}
	return evs
}

// offlineQuote is what 'livebill quote' computes for the backup test's
// account over October 2024 with the events of the given batches: no
// server, no store.
func offlineQuote(t *testing.T, batches []int) []byte {
	t.Helper()
	dir := t.TempDir()
	var nd bytes.Buffer
	for _, b := range batches {
		for _, e := range backupBatch(b) {
			nd.WriteString(e + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "events.ndjson"), nd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.yaml")
	f, err := scenario.Parse([]byte(`mode: calculator
catalog: trtc
period: {from: 2024-10-01, to: 2024-11-01}
account: {id: acct, created: 2024-01-01}
apps: [app1]
events_file: events.ndjson
`), path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Run()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) > 0 {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	j, _ := json.MarshalIndent(res.Quote, "", " ")
	return j
}

// apiOn serves the API in process on store until the test ends and
// returns a client with the operator key.
func apiOn(t *testing.T, store livebill.Store, clock livebill.Clock) *lbhttp.Client {
	_, _, c := storetest.NewAPI(t, store, billing.New(store, clock))
	return c
}

// serveDir runs the API in process on the SQLite data directory dir.
func serveDir(t *testing.T, dir string, clock livebill.Clock) (*lbhttp.Client, livebill.Store) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), dir, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return apiOn(t, store, clock), store
}

func serverQuote(t *testing.T, c *lbhttp.Client, from, to string) []byte {
	t.Helper()
	var q livebill.Quote
	if err := c.Do(context.Background(), "GET", "/v1/accounts/acct/quote?from="+from+"&to="+to, nil, &q); err != nil {
		t.Fatal(err)
	}
	j, _ := json.MarshalIndent(&q, "", " ")
	return j
}

// TestBackupUnderLoad: two clients push event batches to a server on
// SQLite while 'livebill backup' copies its data directory; the backup is
// restored with 'livebill restore' into a new directory, and a server on
// it quotes exactly what 'livebill quote' computes from the batches the
// backup holds. Which batches those are is checked against the pushes'
// order: every batch acknowledged before the backup began is in it, none
// sent after it ended is, and each batch is in it whole or not at all (one
// transaction). The source, after the push, quotes every batch.
func TestBackupUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 18,000 events")
	}
	const batches = 400
	clock := storetest.NewClock(time.Date(2024, 11, 15, 0, 0, 0, 0, time.UTC))
	src := filepath.Join(t.TempDir(), "data")
	c, _ := serveDir(t, src, clock)
	ctx := context.Background()
	if err := c.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-01-01"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "POST", "/v1/accounts/acct/apps", map[string]any{"id": "app1"}, nil); err != nil {
		t.Fatal(err)
	}

	// A counter orders what the clients and the backup do: a batch's
	// acknowledgement numbered before the backup's start happened before
	// it; a batch sent with a number after the backup's end, after it.
	var order atomic.Int64
	sent := make([]int64, batches)
	acked := make([]int64, batches)
	var next atomic.Int64
	backupDone := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b := int(next.Add(1) - 1)
				if b >= batches {
					return
				}
				if b == batches-20 {
					<-backupDone // the last 20 batches are sent after the backup
				}
				sent[b] = order.Add(1)
				res, err := c.PushEvents(ctx, []byte(strings.Join(backupBatch(b), "\n")))
				if err != nil || res.Accepted != 45 {
					t.Errorf("batch %d: %+v %v", b, res, err)
					return
				}
				acked[b] = order.Add(1)
			}
		}()
	}
	for next.Load() < batches/3 {
		time.Sleep(time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	start := order.Add(1)
	stdout, stderr, code := runCLI(t, "backup", "--db", src, out)
	end := order.Add(1)
	close(backupDone)
	wg.Wait()
	if code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	t.Logf("%s", stdout)

	restored := filepath.Join(t.TempDir(), "restored")
	if _, stderr, code := runCLI(t, "restore", out, "--db", restored); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	rc, rstore := serveDir(t, restored, clock)

	// the batches the restored database holds, from its event ids
	events, err := rstore.ListEvents(ctx, "acct", 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	per := make([]int, batches)
	for _, e := range events {
		var b int
		if _, err := fmt.Sscanf(e.ID, "b%d-", &b); err != nil || b < 0 || b >= batches {
			t.Fatalf("unexpected event %q in the backup", e.ID)
		}
		per[b]++
	}
	var in []int
	during := 0
	for b, n := range per {
		switch {
		case n != 0 && n != 45:
			t.Errorf("batch %d: %d of its 45 events in the backup", b, n)
		case n == 0 && acked[b] < start:
			t.Errorf("batch %d was acknowledged before the backup began but is not in it", b)
		case n == 45 && sent[b] > end:
			t.Errorf("batch %d was sent after the backup ended but is in it", b)
		}
		if n == 45 {
			in = append(in, b)
		}
		if acked[b] > start && sent[b] < end {
			during++
		}
	}
	if len(in) == 0 || len(in) == batches {
		t.Fatalf("the backup holds %d of %d batches: not taken in the middle", len(in), batches)
	}
	t.Logf("backup holds %d of %d batches; %d were in flight while it ran", len(in), batches, during)

	want := offlineQuote(t, in)
	if got := serverQuote(t, rc, "2024-10-01", "2024-11-01"); !bytes.Equal(got, want) {
		t.Fatalf("the restored database quotes\n%s\nwant (livebill quote of the %d batches in the backup)\n%s", got, len(in), want)
	}
	all := make([]int, batches)
	for b := range all {
		all[b] = b
	}
	wantAll := offlineQuote(t, all)
	if got := serverQuote(t, c, "2024-10-01", "2024-11-01"); !bytes.Equal(got, wantAll) {
		t.Fatalf("the source quotes\n%s\nwant (livebill quote of every batch)\n%s", got, wantAll)
	}
	if bytes.Equal(want, wantAll) {
		t.Fatal("the quotes with and without the batches sent after the backup are equal: the comparison cannot tell")
	}
}

// TestRestoreRefuses: restore leaves a data directory alone unless told,
// never replaces a database a server has open, and refuses a backup that
// is damaged, is not a livebill database or has a newer schema; backup
// and restore send a PostgreSQL user to pg_dump and pg_restore.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	src := filepath.Join(tmp, "data")
	s, err := sqlite.Open(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "acct", Catalog: "trtc", Created: "2024-01-01"}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(tmp, "good.db")
	if _, errs, code := runCLI(t, "backup", "--db", src, good); code != 0 {
		t.Fatal(errs)
	}
	if _, errs, code := runCLI(t, "backup", "--db", src, good); code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("backup over an existing file: exit %d %s", code, errs)
	}
	// the server (s) still has src open
	if _, errs, code := runCLI(t, "restore", good, "--db", src); code != 1 || !strings.Contains(errs, "not empty (--force replaces its database)") {
		t.Errorf("restore into a non-empty directory: exit %d %s", code, errs)
	}
	if _, errs, code := runCLI(t, "restore", good, "--db", src, "--force"); code != 1 || !strings.Contains(errs, "in use (is a server running on it?)") {
		t.Errorf("restore --force under a running server: exit %d %s", code, errs)
	}
	s.Close()
	out, errs, code := runCLI(t, "restore", good, "--db", src, "--force")
	if code != 0 || !strings.Contains(out, "1 accounts, 0 events") {
		t.Errorf("restore --force of a stopped server's directory: exit %d %s %s", code, out, errs)
	}

	// damaged: the second half of the file lost
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(tmp, "damaged.db")
	os.WriteFile(damaged, b[:len(b)/2], 0o600)
	notdb := filepath.Join(tmp, "notes.txt")
	os.WriteFile(notdb, []byte("hello"), 0o600)
	for _, f := range []string{damaged, notdb, filepath.Join(tmp, "missing.db")} {
		if _, errs, code := runCLI(t, "restore", f, "--db", filepath.Join(tmp, "new")); code != 1 || !strings.Contains(errs, "cannot restore") {
			t.Errorf("restore %s: exit %d %s", filepath.Base(f), code, errs)
		}
		if _, err := os.Stat(filepath.Join(tmp, "new", sqlite.FileName)); err == nil {
			t.Errorf("restore %s left a database", filepath.Base(f))
		}
	}

	// newer: a newer livebill's migration recorded in the backup
	s, err = sqlite.Open(ctx, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SQL().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '2030-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	newer := filepath.Join(tmp, "newer.db")
	if _, errs, code := runCLI(t, "backup", "--db", src, newer); code != 0 {
		t.Fatalf("backup of a newer schema: exit %d %s", code, errs)
	}
	if _, errs, code := runCLI(t, "restore", newer, "--db", filepath.Join(tmp, "new")); code != 1 || !strings.Contains(errs, "version 9999 is newer than this livebill knows") {
		t.Errorf("restore of a newer schema: exit %d %s", code, errs)
	}
	// and serve refuses the directory itself
	if _, errs, code := runCLI(t, "serve", "--db", src, "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(errs, "version 9999 is newer than this livebill knows") || !strings.Contains(errs, "upgrade livebill, or restore a backup") {
		t.Errorf("serve on a newer schema: exit %d %s", code, errs)
	}

	for _, c := range [][]string{{"backup", "--db", "postgres://u:secret@127.0.0.1/x", "b.db"}, {"restore", good, "--db", "postgres://u:secret@127.0.0.1/x"}} {
		if _, errs, code := runCLI(t, c...); code != 2 || !strings.Contains(errs, "PostgreSQL database: use pg_") || strings.Contains(errs, "secret") {
			t.Errorf("%s on PostgreSQL: exit %d %s", c[0], code, errs)
		}
	}
}
