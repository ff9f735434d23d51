package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
)

// getPage reads one page of a list through the API with the operator
// key: the items under name and the next cursor ("" when the answer has
// none). Any answer but 200 fails the test.
func getPage[T any](t *testing.T, base, path, name string, limit int, after string) ([]T, string) {
	t.Helper()
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	a := call(t, "GET", u, AdminKey, nil)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, a.status, a.body)
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &page); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, a.body)
	}
	var items []T
	if err := json.Unmarshal(page[name], &items); err != nil || items == nil {
		t.Fatalf("GET %s: no list %q in %s (%v)", u, name, a.body, err)
	}
	var next string
	if raw, ok := page["next"]; ok {
		if err := json.Unmarshal(raw, &next); err != nil || next == "" {
			t.Fatalf("GET %s: next %s, want a cursor or none", u, raw)
		}
	}
	return items, next
}

// pageThrough reads a list through the API limit items a page, and
// returns the items and the sizes of the pages; every page but the last
// has a next cursor, the last none.
func pageThrough[T any](t *testing.T, base, path, name string, limit int, after string) ([]T, []int) {
	t.Helper()
	var all []T
	var sizes []int
	for {
		items, next := getPage[T](t, base, path, name, limit, after)
		all = append(all, items...)
		sizes = append(sizes, len(items))
		if next == "" {
			return all, sizes
		}
		if len(sizes) > 1000 {
			t.Fatalf("%s: cursors go round", path)
		}
		after = next
	}
}

// refusedPages: the list at path refuses a limit out of 1..1000 and a
// cursor that is not one of its own (400 invalid, naming the parameter).
func refusedPages(t *testing.T, base, path, otherCursor string) {
	t.Helper()
	for _, c := range []struct{ query, param string }{
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=-1", "limit"},
		{"limit=ten", "limit"},
		{"after=not-a-cursor", "after"},
		{"after=" + url.QueryEscape(otherCursor), "after"},
		{"limit=2&after=" + url.QueryEscape(otherCursor), "after"},
	} {
		a := call(t, "GET", base+path+"?"+c.query, AdminKey, nil)
		if a.status != http.StatusBadRequest || a.problem.Code != livebill.EINVALID || !strings.Contains(a.problem.Detail, c.param) {
			t.Errorf("GET %s?%s: %d %.200s, want 400 invalid naming %s", path, c.query, a.status, a.body, c.param)
		}
	}
}

// testLeasePages: GET /v1/accounts/{id}/leases is paged like every list:
// 250 held leases (in two pools; the account's expired lease and another
// account's leases are not in it) come 100, 100 and 50 a page, the last
// with no next, each once, by pool and slot, as the store's full list;
// the default page is 100; a limit out of 1..1000 or a cursor of another
// list is refused. A lease granted or released while a client pages never
// shifts a page: one granted after the cursor comes on a later page, one
// granted in a slot already read does not.
func testLeasePages(t *testing.T, open Opener) {
	e := newAdmEnv(t, open, time.Date(2024, 10, 2, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	ls := e.store.(livebill.LeaseStore)
	for _, id := range []string{"a1", "a2"} {
		e.mustDo(t, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "industrial", "created": "2024-01-10"}, nil)
		for _, app := range []string{"app1", "app2"} {
			e.mustDo(t, "POST", "/v1/accounts/"+id+"/apps", map[string]any{"id": id + "-" + app}, nil)
		}
	}
	now := e.clock.Now()
	acquire := func(acct, id, pool string, capacity int, at time.Time) *livebill.Lease {
		t.Helper()
		l, granted, err := ls.AcquireLease(ctx, &livebill.AcquireLeaseInput{Account: acct, ID: id, App: acct + "-app1", Kind: livebill.ActionCloudGamingStart,
			Pool: pool, Holder: "u-" + id, Capacity: capacity, Now: at, Ends: at.Add(time.Hour)})
		if err != nil || !granted {
			t.Fatalf("acquire %s/%s in %s: %v, %v", acct, id, pool, granted, err)
		}
		return l
	}
	// pool "p2" acquired first: the list is by pool, not in the order made
	for i := 0; i < 150; i++ {
		acquire("a1", fmt.Sprintf("z%03d", i), "p2", 150, now)
	}
	for i := 0; i < 100; i++ {
		acquire("a1", fmt.Sprintf("y%03d", i), "p1", 100, now)
	}
	acquire("a1", "expired", "p0", 1, now.Add(-2*time.Hour)) // ended an hour ago
	for i := 0; i < 5; i++ {
		acquire("a2", fmt.Sprintf("o%d", i), "p1", 5, now)
	}
	whole, err := ls.ListLeases(ctx, "a1", now)
	if err != nil || len(whole) != 250 {
		t.Fatalf("ListLeases: %d leases, %v; want 250", len(whole), err)
	}

	got, sizes := pageThrough[livebill.Lease](t, e.url, "/v1/accounts/a1/leases", "leases", 100, "")
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("pages of %v leases, want [100 100 50]", sizes)
	}
	seen := map[string]bool{}
	for i, l := range got {
		if seen[l.ID] {
			t.Errorf("lease %s listed twice", l.ID)
		}
		seen[l.ID] = true
		if l.Account != "a1" || !l.Held(now) {
			t.Errorf("lease %+v listed: not a lease of a1 held now", l)
		}
		if i > 0 && (l.Pool < got[i-1].Pool || l.Pool == got[i-1].Pool && l.Slot <= got[i-1].Slot) {
			t.Errorf("lease %d (%s %d) after %s %d: not by pool and slot", i, l.Pool, l.Slot, got[i-1].Pool, got[i-1].Slot)
		}
	}
	if len(got) != len(whole) {
		t.Fatalf("pages give %d leases, the full list %d", len(got), len(whole))
	}
	for i := range whole {
		if got[i].ID != whole[i].ID || got[i].Pool != whole[i].Pool || got[i].Slot != whole[i].Slot || !got[i].Ends.Equal(whole[i].Ends) {
			t.Fatalf("lease %d: pages give %+v, the full list %+v", i, got[i], *whole[i])
		}
	}
	// a page as long as the rest ends the list; the default is 100
	if _, sizes := pageThrough[livebill.Lease](t, e.url, "/v1/accounts/a1/leases", "leases", 250, ""); fmt.Sprint(sizes) != "[250]" {
		t.Errorf("a page of 250: pages %v, want [250]", sizes)
	}
	if items, next := getPage[livebill.Lease](t, e.url, "/v1/accounts/a1/leases", "leases", 0, ""); len(items) != 100 || next == "" {
		t.Errorf("the default page: %d leases, next %q; want 100 and a next", len(items), next)
	}
	if items, next := getPage[livebill.Lease](t, e.url, "/v1/accounts/a2/leases", "leases", 0, ""); len(items) != 5 || next != "" {
		t.Errorf("a2's leases: %d, next %q; want its 5 on one page", len(items), next)
	}

	// refused: limits out of range, another list's cursor, a bad slot
	_, appsNext := getPage[map[string]any](t, e.url, "/v1/accounts/a1/apps", "apps", 1, "")
	refusedPages(t, e.url, "/v1/accounts/a1/leases", appsNext)
	if a := call(t, "GET", e.url+"/v1/accounts/a1/leases?after="+livebill.Cursor("leases", "p1", "x"), AdminKey, nil); a.status != http.StatusBadRequest {
		t.Errorf("a leases cursor with a slot that is no number: %d %.200s, want 400", a.status, a.body)
	}

	// while paging: the first page read (p1, whole), a lease of p1 released
	// and its slot taken by a new lease, a lease granted in a new pool p3
	first, next := getPage[livebill.Lease](t, e.url, "/v1/accounts/a1/leases", "leases", 100, "")
	if len(first) != 100 || first[99].Pool != "p1" || next == "" {
		t.Fatalf("first page: %d leases, last %+v, next %q", len(first), first[len(first)-1], next)
	}
	if _, err := ls.ReleaseLease(ctx, "a1", "a1-app1", first[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if l := acquire("a1", "new-p1", "p1", 100, now); l.Slot != first[0].Slot {
		t.Fatalf("new-p1 in slot %d, want the released slot %d", l.Slot, first[0].Slot)
	}
	acquire("a1", "new-p3", "p3", 1, now)
	rest, sizes := pageThrough[livebill.Lease](t, e.url, "/v1/accounts/a1/leases", "leases", 100, next)
	if fmt.Sprint(sizes) != "[100 51]" || rest[0].Pool != "p2" || rest[len(rest)-1].ID != "new-p3" {
		t.Errorf("after the first page: pages %v, first %+v, last %+v; want p2's 150 and new-p3", sizes, rest[0], rest[len(rest)-1])
	}
	for _, l := range rest {
		if l.Pool == "p1" {
			t.Errorf("lease %s of p1 (read on the first page) on a later page", l.ID)
		}
	}
}

// testQuarantinePages: GET /v1/quarantine is paged like every list: five
// quarantined accounts come 2, 2 and 1 a page by account id (byte order,
// as the store's full list), the last with no next; a limit out of
// 1..1000 or a cursor of another list is refused. An account quarantined
// while a client pages comes on a later page if its id is after the
// cursor, and shifts nothing if it is before.
func testQuarantinePages(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(time.Date(2024, 10, 2, 10, 0, 0, 0, time.UTC))
	store := open(t, clock)
	svc := billing.New(store, clock)
	_, base, client := NewAPI(t, store, svc)
	for _, id := range []string{"b", "a_3", "A2", "a-1", "c", "A1", "d", "e"} {
		if err := client.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "created": "2024-01-10"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put := func(id string) {
		t.Helper()
		if err := store.PutQuarantine(ctx, &livebill.Quarantine{AccountID: id, Revision: 3, Error: "cannot rate " + id, Since: clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"b", "a_3", "A2", "a-1", "c"} {
		put(id)
	}
	whole, err := store.ListQuarantines(ctx)
	if err != nil || len(whole) != 5 {
		t.Fatalf("ListQuarantines: %d, %v; want 5", len(whole), err)
	}
	ids := func(qs []livebill.Quarantine) string {
		var s []string
		for _, q := range qs {
			s = append(s, q.AccountID)
		}
		return strings.Join(s, " ")
	}
	got, sizes := pageThrough[livebill.Quarantine](t, base, "/v1/quarantine", "accounts", 2, "")
	if fmt.Sprint(sizes) != "[2 2 1]" || ids(got) != "A2 a-1 a_3 b c" {
		t.Errorf("pages of %v: %s; want [2 2 1]: A2 a-1 a_3 b c", sizes, ids(got))
	}
	for i, q := range whole {
		if i < len(got) && (got[i].AccountID != q.AccountID || got[i].Error != q.Error || got[i].Revision != q.Revision || !got[i].Since.Equal(q.Since)) {
			t.Errorf("quarantine %d: pages give %+v, the full list %+v", i, got[i], *q)
		}
	}
	if items, next := getPage[livebill.Quarantine](t, base, "/v1/quarantine", "accounts", 0, ""); len(items) != 5 || next != "" {
		t.Errorf("the default page: %d, next %q; want the 5 and no next", len(items), next)
	}
	if _, sizes := pageThrough[livebill.Quarantine](t, base, "/v1/quarantine", "accounts", 5, ""); fmt.Sprint(sizes) != "[5]" {
		t.Errorf("a page of 5: pages %v, want [5]", sizes)
	}

	_, accountsNext := getPage[map[string]any](t, base, "/v1/accounts", "accounts", 1, "")
	refusedPages(t, base, "/v1/quarantine", accountsNext)

	// while paging: A1 (before the cursor) and d (after it) quarantined,
	// a-1 (already read) released
	first, next := getPage[livebill.Quarantine](t, base, "/v1/quarantine", "accounts", 2, "")
	if ids(first) != "A2 a-1" || next == "" {
		t.Fatalf("first page: %s, next %q", ids(first), next)
	}
	put("A1")
	put("d")
	if err := store.DeleteQuarantine(ctx, "a-1"); err != nil {
		t.Fatal(err)
	}
	rest, sizes := pageThrough[livebill.Quarantine](t, base, "/v1/quarantine", "accounts", 2, next)
	if fmt.Sprint(sizes) != "[2 2]" || ids(rest) != "a_3 b c d" {
		t.Errorf("after the first page: pages %v: %s; want [2 2]: a_3 b c d", sizes, ids(rest))
	}
}
