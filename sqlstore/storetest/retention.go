package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/archive"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/eventio"
)

// testRetention: four months of a session a day, settled every day, with
// a retention of 30 days and an archive. Events of the months whose
// checkpoint is 30 days old are archived (NDJSON.zst per month) and
// deleted; bills, usage and quotes of those months stay (from the
// rollups); a late event before the purge boundary is refused with the
// field time, one after it is billed; restoring the archive stores the
// events again and makes the account whole.
func testRetention(t *testing.T, open Opener) {
	ctx := context.Background()
	e, day, dir := retentionEnv(t, open)
	sh := day.Location()
	e.svc.ArchivePage = 7 // archived a few events at a time: a month is read in many pages
	var june string
	// the bodies stored, by month: what its archive must hold
	stored := map[string][]string{}
	for d := 0; d < 122; d++ { // 2024-06-01 … 2024-09-30
		at := e.pushSession(t, day, d)
		evs, err := e.store.ListEvents(ctx, "acct", at.UnixMilli(), at.Add(time.Hour).UnixMilli())
		if err != nil || len(evs) != 2 {
			t.Fatalf("the day's events: %d (%v)", len(evs), err)
		}
		for _, ev := range evs {
			stored[at.Format("2006-01")] = append(stored[at.Format("2006-01")], string(ev.Body))
		}
		e.settleDay(t, day, d)
		if d == 31 {
			var q livebill.Quote
			e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-06-01&to=2024-07-01", nil, &q)
			b, _ := json.Marshal(q)
			june = string(b)
		}
	}
	rec, err := e.store.FindAccount(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	// On 2024-10-01 02:00 the newest checkpoint stored 30 days before
	// (by 2024-09-01 02:00) is the one at 2024-09-01 00:00 (the first
	// midnight of a month is kept): June, July and August are deleted.
	aug := time.Date(2024, 9, 1, 0, 0, 0, 0, sh)
	if rec.Purged != aug.UnixMilli() {
		t.Fatalf("purge boundary %s, want %s", time.UnixMilli(rec.Purged).In(sh), aug)
	}
	// 2 events a day: 244 stored, those of June–August (2 × 92) deleted,
	// September's 2 × 30 left; the account's history still begins with
	// the first, 2024-06-01 10:00
	first := day.Add(10 * time.Hour).UnixMilli()
	if rec.Events.Count != 2*30 || rec.Events.First != first {
		t.Fatalf("event span after the purge %+v, want count 60, first %d", rec.Events, first)
	}
	if evs, err := e.store.ListEvents(ctx, "acct", 0, aug.UnixMilli()); err != nil || len(evs) != 0 {
		t.Fatalf("events before the boundary: %d (%v)", len(evs), err)
	}
	if evs, err := e.store.ListEvents(ctx, "acct", aug.UnixMilli(), 0); err != nil || len(evs) != 2*30 {
		t.Fatalf("events of September: %d (%v), want 60", len(evs), err)
	}
	var files []string
	for _, m := range []string{"2024-06", "2024-07", "2024-08"} {
		path := archive.Dir(dir).Path("acct", m)
		var lines []string
		if err := archive.Read(path, func(l []byte) error { lines = append(lines, string(l)); return nil }); err != nil {
			t.Fatal(err)
		}
		days := map[string]int{"2024-06": 30, "2024-07": 31, "2024-08": 31}[m]
		if len(lines) != 2*days {
			t.Fatalf("%s: %d events archived, want %d", path, len(lines), 2*days)
		}
		// the month read in pages of 7 (9 or more of them), and archived
		// as stored, in time order
		if !slices.Equal(lines, stored[m]) {
			t.Fatalf("%s holds\n%s\nwant the events stored\n%s", path, strings.Join(lines, "\n"), strings.Join(stored[m], "\n"))
		}
		files = append(files, path)
	}
	if _, err := os.Stat(filepath.Join(dir, "acct", "2024-09"+archive.Ext)); !os.IsNotExist(err) {
		t.Fatalf("September archived: %v", err)
	}
	// settled months read from the rollups: June's quote as before
	var q livebill.Quote
	e.mustDo(t, "GET", "/v1/accounts/acct/quote?from=2024-06-01&to=2024-07-01", nil, &q)
	if b, _ := json.Marshal(q); string(b) != june {
		t.Fatalf("June's quote after the purge\n%s\nbefore\n%s", b, june)
	}
	var u struct {
		Usage []livebill.UsagePoint `json:"usage"`
	}
	e.mustDo(t, "GET", "/v1/accounts/acct/usage?from=2024-07-01&to=2024-08-01&granularity=day", nil, &u)
	if len(u.Usage) != 31 || u.Usage[0].Value != 30*60000 {
		t.Fatalf("July's usage after the purge: %d days, %+v", len(u.Usage), u.Usage)
	}
	// a late event before the boundary is refused; one after it is billed
	r := e.push(t, evt("lj", "2024-08-20T10:00:00+08:00", "room.join", `,"user":"B"`),
		evt("sj", "2024-09-20T12:00:00+08:00", "room.join", `,"user":"B"`),
		evt("sl", "2024-09-20T12:10:00+08:00", "room.leave", `,"user":"B"`))
	if r.Accepted != 2 || r.Rejected != 1 || r.Errors[0].ID != "lj" || r.Errors[0].Code != livebill.EINVALID {
		t.Fatalf("late events: %+v", r)
	}
	// the store refuses it too, under the account's lock (an ingestion
	// that read the boundary before a purge moved it)
	body := []byte(evt("lj2", "2024-08-20T10:00:00+08:00", "room.join", `,"user":"B"`))
	var ev livebill.Event
	if err := eventio.Parse(body, &ev); err != nil {
		t.Fatal(err)
	}
	sts, err := e.store.StoreEvents(ctx, []livebill.IncomingEvent{{AccountID: "acct", Event: ev, Body: body}, {AccountID: "acct", Event: ev, Body: body}})
	if err != nil || sts[0].Status != livebill.IngestRejected || !strings.Contains(sts[0].Error, `field "time"`) || sts[1].Status != livebill.IngestRejected {
		t.Fatalf("an event before the boundary stored past ingestion's check: %+v, %v", sts, err)
	}
	// a purge that finds an event stored after its anchor and timed
	// before its boundary (one its archive may lack) deletes nothing
	rec, err = e.store.FindAccount(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	far := time.Date(2024, 12, 1, 0, 0, 0, 0, sh).UnixMilli()
	if n, err := e.store.PurgeEvents(ctx, "acct", far, far, 0); err != nil || n != 0 {
		t.Fatalf("a purge behind a late event: %d deleted, %v", n, err)
	}
	if again, err := e.store.FindAccount(ctx, "acct"); err != nil || again.Purged != rec.Purged || again.Events.Count != rec.Events.Count {
		t.Fatalf("a purge behind a late event moved the boundary %d → %d (%v)", rec.Purged, again.Purged, err)
	}
	e.clock.Set(e.clock.Now().Add(time.Hour))
	if _, err := e.svc.Settle(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	bills, err := e.store.ListBills(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	adj := 0
	for _, b := range bills {
		if b.Adjusts == "daily|2024-09-20" {
			adj++
			// 10 more audio minutes × 0.99/1000 = 0.0099; the day had
			// 30 (0.0297 → 0.03), now 40 (0.0396 → 0.04): +0.01
			if b.Total != "0.01" {
				t.Fatalf("adjustment of 2024-09-20: %+v", b)
			}
		}
	}
	if adj != 1 {
		t.Fatalf("%d adjustments of 2024-09-20, want 1", adj)
	}
	// a file holds its account's events of its month only: an event of
	// another account's app, or of another month, is refused and nothing
	// of the file is stored
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "other", "catalog": "trtc", "mode": "calculator", "created": "2024-05-01", "timezone": "Asia/Shanghai"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/other/apps", map[string]any{"id": "other-app"}, nil)
	bad := archive.Dir(t.TempDir())
	inAug := time.Date(2024, 8, 3, 10, 0, 0, 0, sh).UnixMilli()
	for _, c := range []struct {
		name, field string
		ev          livebill.StoredEvent
	}{
		{"another account's app", "app", livebill.StoredEvent{ID: "x1", Time: inAug, App: "other-app",
			Body: []byte(`{"id":"x1","time":"2024-08-03T10:00:00+08:00","type":"room.join","app":"other-app","room":"r","user":"A"}`)}},
		{"another month", "time", livebill.StoredEvent{ID: "x2", Time: inAug, App: app,
			Body: []byte(`{"id":"x2","time":"2024-09-03T10:00:00+08:00","type":"room.join","app":"` + app + `","room":"r","user":"A"}`)}},
	} {
		sent := false
		page := func() ([]livebill.StoredEvent, error) {
			if sent {
				return nil, nil
			}
			sent = true
			return []livebill.StoredEvent{c.ev}, nil
		}
		if err := bad.Archive("acct", "2024-08", page); err != nil {
			t.Fatal(err)
		}
		withBad := slices.Clone(files)
		for i, f := range withBad {
			if filepath.Base(f) == "2024-08"+archive.Ext {
				withBad[i] = bad.Path("acct", "2024-08")
			}
		}
		if n, err := e.svc.RestoreArchives(ctx, withBad); err == nil || n != 0 || !strings.Contains(err.Error(), `field "`+c.field+`"`) {
			t.Errorf("restoring the archive with an event of %s: %d stored, %v; want it refused", c.name, n, err)
		}
	}
	// a part alone is refused, nothing stored: its events, dated before
	// the checkpoints, would leave the account nothing to resume from
	if n, err := e.svc.RestoreArchives(ctx, files[len(files)-1:]); err == nil || n != 0 || !strings.Contains(err.Error(), "missing") {
		t.Errorf("restoring one archived month of several: %d stored, %v; want it refused", n, err)
	}
	// restoring the archive makes the account whole again
	n, err := e.svc.RestoreArchives(ctx, files)
	if err != nil || n != 2*92 {
		t.Fatalf("restored %d events (%v), want %d", n, err, 2*92)
	}
	// September's 60, the 2 late events taken, the 184 restored
	if rec, _ := e.store.FindAccount(ctx, "acct"); rec.Purged != 0 || rec.Events.Count != 60+2+184 || rec.Events.First != first {
		t.Fatalf("purge boundary %d, event span %+v after the restore, want 0, count 246, first %d", rec.Purged, rec.Events, first)
	}
	if n, err := e.svc.RestoreArchives(ctx, files); err != nil || n != 0 {
		t.Fatalf("restoring again: %d events (%v), want none (duplicates)", n, err)
	}
}

// testPurgeCounts: an account's event count is of the events stored, so
// retention's purge takes off what it deleted and a restore adds back
// what it stored; the first and last times are of every event the
// retentionEnv is a service with 30 days of retention and an archive in
// dir, on 2024-06-01 in Shanghai, with account acct (trtc, calculator)
// and its app.
func retentionEnv(t *testing.T, open Opener) (e *env, day time.Time, dir string) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	day = time.Date(2024, 6, 1, 0, 0, 0, 0, sh)
	e = newEnv(t, open, day)
	e.anyTime()
	dir = t.TempDir()
	e.svc.Retention, e.svc.Archive = 30*24*time.Hour, archive.Dir(dir)
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "mode": "calculator", "created": "2024-05-01", "timezone": "Asia/Shanghai", "balance": "1000"}, nil)
	e.mustDo(t, "POST", "/v1/accounts/acct/apps", map[string]any{"id": app}, nil)
	return e, day, dir
}

// pushSession pushes user A's session of day d after day (from 10:00, 30
// minutes) and returns its start.
func (e *env) pushSession(t *testing.T, day time.Time, d int) time.Time {
	t.Helper()
	at := day.AddDate(0, 0, d).Add(10 * time.Hour)
	id := fmt.Sprintf("d%d", d)
	if r := e.push(t, evt(id+"j", at.Format(time.RFC3339), "room.join", `,"user":"A"`),
		evt(id+"l", at.Add(30*time.Minute).Format(time.RFC3339), "room.leave", `,"user":"A"`)); r.Accepted != 2 {
		t.Fatalf("push: %+v", r)
	}
	return at
}

// settleDay settles at 02:00 of the day after day d after day.
func (e *env) settleDay(t *testing.T, day time.Time, d int) {
	t.Helper()
	e.clock.Set(day.AddDate(0, 0, d+1).Add(2 * time.Hour))
	if err := e.svc.SettleAll(context.Background()); err != nil {
		t.Fatalf("settle %s: %v", e.clock.Now(), err)
	}
}

// testRestoreAfterFullPurge: an account whose every event retention
// deleted (a session a day from June 1 to July 15, settled daily to
// October 1, 30 days of retention) has an event count of 0 and still a
// history: restoring July alone is refused (June is missing), restoring
// both months is accepted and stores every event again.
func testRestoreAfterFullPurge(t *testing.T, open Opener) {
	ctx := context.Background()
	e, day, dir := retentionEnv(t, open)
	for d := 0; d < 122; d++ { // settled daily to 2024-10-01
		if d < 45 { // 2024-06-01 … 2024-07-15
			e.pushSession(t, day, d)
		}
		e.settleDay(t, day, d)
	}
	rec, err := e.store.FindAccount(ctx, "acct")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Events.Count != 0 || rec.Purged == 0 || rec.Events.First != day.Add(10*time.Hour).UnixMilli() {
		t.Fatalf("after retention: span %+v, purge boundary %d; want no event stored, a boundary, the first event's time kept", rec.Events, rec.Purged)
	}
	june, july := archive.Dir(dir).Path("acct", "2024-06"), archive.Dir(dir).Path("acct", "2024-07")
	if n, err := e.svc.RestoreArchives(ctx, []string{july}); err == nil || n != 0 || !strings.Contains(err.Error(), "2024-06") {
		t.Fatalf("July alone restored %d events (%v); want a refusal naming 2024-06", n, err)
	}
	// 2 events a day: 30 days of June, 15 of July
	if n, err := e.svc.RestoreArchives(ctx, []string{june, july}); err != nil || n != 2*45 {
		t.Fatalf("June and July restored %d events (%v), want 90", n, err)
	}
	if rec, err = e.store.FindAccount(ctx, "acct"); err != nil || rec.Events.Count != 2*45 {
		t.Fatalf("after the restore: %+v (%v), want 90 events", rec.Events, err)
	}
}

// account stored (its history begins there), purged or not.
func testPurgeCounts(t *testing.T, open Opener) {
	ctx := context.Background()
	s, event := eventsStore(t, open)
	ev := func(id string, ms int64, restored bool) livebill.IncomingEvent {
		in := event("a1", id, ms)
		in.Restored = restored
		return in
	}
	store := func(want string, evs ...livebill.IncomingEvent) {
		t.Helper()
		sts, err := s.StoreEvents(ctx, evs)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			if st.Status != want {
				t.Fatalf("event %s: %+v, want %s", st.ID, st, want)
			}
		}
	}
	span := func(when string, count, first, last int64) {
		t.Helper()
		sp, err := s.EventSpan(ctx, "a1")
		if err != nil || sp != (livebill.EventSpan{Count: count, First: first, Last: last}) {
			t.Fatalf("%s: span %+v (%v), want count %d, first %d, last %d", when, sp, err, count, first, last)
		}
		if rec, err := s.FindAccount(ctx, "a1"); err != nil || rec.Events != sp {
			t.Fatalf("%s: the account's record says %+v (%v), EventSpan %+v", when, rec.Events, err, sp)
		}
	}
	purge := func(before int64, want int64) {
		t.Helper()
		// anchor: no event is stored after seq 1<<62, so none is late
		if n, err := s.PurgeEvents(ctx, "a1", before, before, 1<<62); err != nil || n != want {
			t.Fatalf("purge before %d: %d deleted (%v), want %d", before, n, err, want)
		}
	}
	store(livebill.IngestAccepted, ev("e1", 1000, false), ev("e2", 2000, false), ev("e3", 3000, false), ev("e4", 4000, false), ev("e5", 5000, false))
	span("stored", 5, 1000, 5000)
	purge(3000, 2) // e1, e2
	span("after the purge before 3000", 3, 1000, 5000)
	purge(3000, 0) // again: nothing left before 3000
	span("after the same purge again", 3, 1000, 5000)
	purge(6000, 3) // e3, e4, e5: none left
	span("after the purge of every event", 0, 1000, 5000)
	store(livebill.IngestAccepted, ev("e6", 7000, false))
	span("after a new event", 1, 1000, 7000) // the history still begins at 1000
	// the restore: the five deleted come back (before the boundary, as
	// restored events may); again, they are duplicates and count nothing
	restored := []livebill.IncomingEvent{ev("e1", 1000, true), ev("e2", 2000, true), ev("e3", 3000, true), ev("e4", 4000, true), ev("e5", 5000, true)}
	store(livebill.IngestAccepted, restored...)
	span("after the restore", 1+5, 1000, 7000)
	store(livebill.IngestDuplicate, restored...)
	span("after the restore again", 6, 1000, 7000)
	if evs, err := s.ListEvents(ctx, "a1", 0, 0); err != nil || len(evs) != 6 {
		t.Fatalf("%d events stored (%v), want 6", len(evs), err)
	}
}

// listCounter counts the calls of ListAccounts.
type listCounter struct {
	livebill.Store
	n int
}

func (l *listCounter) ListAccounts(ctx context.Context) ([]*livebill.AccountRecord, error) {
	l.n++
	return l.Store.ListAccounts(ctx)
}

// testRetainListsOnce: a settlement run that retention follows lists the
// accounts once; retention takes them from the run.
func testRetainListsOnce(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newEnv(t, open, time.Date(2024, 10, 2, 12, 0, 0, 0, time.UTC))
	e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": "acct", "catalog": "trtc", "created": "2024-10-01"}, nil)
	lc := &listCounter{Store: e.store}
	svc := billing.New(lc, e.clock)
	svc.Retention = 30 * 24 * time.Hour
	if err := svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	if lc.n != 1 {
		t.Fatalf("the accounts listed %d times by a run with retention, want once", lc.n)
	}
	if err := svc.Retain(ctx); err != nil || lc.n != 2 {
		t.Fatalf("Retain alone: listed %d times in all (%v), want once more", lc.n, err)
	}
}
