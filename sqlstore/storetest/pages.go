package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// pageAll reads a list a page of limit items at a time, following the
// cursors, and checks every page but the last is full and the last ends
// the list.
func pageAll[T any](t *testing.T, name string, limit int, fetch func(livebill.Page) ([]T, string, error)) []T {
	t.Helper()
	var out []T
	p := livebill.Page{Limit: limit}
	for pages := 1; ; pages++ {
		items, next, err := fetch(p)
		if err != nil {
			t.Fatalf("%s page %d: %v", name, pages, err)
		}
		if len(items) > limit {
			t.Fatalf("%s page %d: %d items, limit %d", name, pages, len(items), limit)
		}
		out = append(out, items...)
		if next == "" {
			return out
		}
		if len(items) != limit {
			t.Fatalf("%s page %d: %d items and a next page", name, pages, len(items))
		}
		if pages > 100 {
			t.Fatalf("%s: cursors go round", name)
		}
		p.After = next
	}
}

// testPages: every paged list gives, page by page, exactly its full list
// in the same order (another account's items never in it); a bad cursor,
// or one of another list, is invalid; an item made while paging by order
// made comes on a later page, never shifting one already read.
func testPages(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	for _, id := range []string{"b", "a_3", "A2", "a-1", "c"} {
		if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: id, Catalog: "industrial", Created: "2024-01-10"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, acct := range []string{"b", "c"} {
		for i, id := range []string{"x", "B", "a_", "a-", "Z"} {
			id = acct + id
			if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: acct, ID: id}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateDevice(ctx, &livebill.CreateDeviceInput{AccountID: acct, ID: id, Cameras: []livebill.Size{{Width: 1280 + i, Height: 720}}}); err != nil {
				t.Fatal(err)
			}
			// purchase ids out of order: the list is in the order made
			if _, err := s.CreatePurchase(ctx, &livebill.CreatePurchaseInput{AccountID: acct, ID: fmt.Sprintf("p%d", 9-i), Plan: "industrial.license", Device: id, Start: "2024-10-01"}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.CreateTopUp(ctx, &livebill.CreateTopUpInput{AccountID: acct, ID: fmt.Sprintf("t%d", 9-i), Amount: fmt.Sprint(10 + i)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: acct, Purchase: fmt.Sprintf("p%d", 9-i), Time: "2024-10-02"}); err != nil {
				t.Fatal(err)
			}
			bill := livebill.IssuedBill{AccountID: acct, Key: fmt.Sprintf("daily|2024-10-0%d|", i+1), IssuedAt: time.Date(2024, 10, 2+i, 1, 0, 0, 0, time.UTC),
				Bill: livebill.Bill{Kind: livebill.BillDaily, Date: fmt.Sprintf("2024-10-0%d", i+1), Total: "0", Lines: []livebill.Line{}}}
			if err := s.IssueBills(ctx, livebill.SettleWrite{Settlement: livebill.Settlement{AccountID: acct, Through: bill.Date}, Bills: []livebill.IssuedBill{bill}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 5; i++ {
		k, _, err := livebill.NewKey(&livebill.CreateKeyInput{AccountID: []string{"", "b", "c"}[i%3], Name: fmt.Sprint("k", i)}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	same := func(name string, paged, whole any, n int) {
		t.Helper()
		if reflect.ValueOf(whole).Len() != n {
			t.Fatalf("%s: %d in the full list, want %d", name, reflect.ValueOf(whole).Len(), n)
		}
		if !reflect.DeepEqual(paged, whole) {
			t.Errorf("%s: pages give\n%+v\nthe full list is\n%+v", name, paged, whole)
		}
	}
	accts, _ := s.ListAccounts(ctx)
	same("accounts", pageAll(t, "accounts", 2, func(p livebill.Page) ([]*livebill.AccountRecord, string, error) { return s.PageAccounts(ctx, p) }), accts, 5)
	apps, _ := s.ListApps(ctx, "b")
	same("apps", pageAll(t, "apps", 2, func(p livebill.Page) ([]*livebill.App, string, error) { return s.PageApps(ctx, "b", p) }), apps, 5)
	devs, _ := s.ListDevices(ctx, "b")
	same("devices", pageAll(t, "devices", 3, func(p livebill.Page) ([]*livebill.Device, string, error) { return s.PageDevices(ctx, "b", p) }), devs, 5)
	ps, _ := s.ListPurchases(ctx, "b")
	same("purchases", pageAll(t, "purchases", 2, func(p livebill.Page) ([]*livebill.StoredPurchase, string, error) { return s.PagePurchases(ctx, "b", p) }), ps, 5)
	if ps[0].ID != "p9" || ps[4].ID != "p5" {
		t.Errorf("purchases not in the order made: %s … %s", ps[0].ID, ps[4].ID)
	}
	rs, _ := s.ListRefunds(ctx, "b")
	same("refunds", pageAll(t, "refunds", 4, func(p livebill.Page) ([]*livebill.StoredRefund, string, error) { return s.PageRefunds(ctx, "b", p) }), rs, 5)
	ts, _ := s.ListTopUps(ctx, "b")
	same("topups", pageAll(t, "topups", 1, func(p livebill.Page) ([]*livebill.TopUp, string, error) { return s.PageTopUps(ctx, "b", p) }), ts, 5)
	bs, _ := s.ListBills(ctx, "b")
	same("bills", pageAll(t, "bills", 2, func(p livebill.Page) ([]livebill.IssuedBill, string, error) { return s.PageBills(ctx, "b", p) }), bs, 5)
	keys := pageAll(t, "keys", 2, func(p livebill.Page) ([]*livebill.Key, string, error) { return s.ListKeys(ctx, p) })
	if len(keys) != 5 || keys[0].Name != "k0" || keys[4].Name != "k4" {
		t.Errorf("keys: %d, want k0 … k4 in the order made", len(keys))
	}

	// a page exactly as long as the list ends it (no empty page after)
	if got, next, err := s.PageApps(ctx, "b", livebill.Page{Limit: 5}); err != nil || len(got) != 5 || next != "" {
		t.Errorf("a page of the whole list: %d items, next %q, %v", len(got), next, err)
	}
	// the default and the largest page
	if got, _, err := s.PageApps(ctx, "b", livebill.Page{}); err != nil || len(got) != 5 {
		t.Errorf("default page: %d items, %v", len(got), err)
	}

	// cursors: garbage, another list's, a number column given text
	_, next, _ := s.PageApps(ctx, "b", livebill.Page{Limit: 2})
	for name, bad := range map[string]string{"garbage": "not a cursor", "another list": next, "bad seq": livebill.Cursor("topups", "x")} {
		if _, _, err := s.PageTopUps(ctx, "b", livebill.Page{Limit: 2, After: bad}); livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("%s cursor: %v, want invalid", name, err)
		}
	}

	// made while paging: on the next page, nothing read shifts
	first, next, err := s.PageTopUps(ctx, "c", livebill.Page{Limit: 3})
	if err != nil || len(first) != 3 {
		t.Fatal(first, err)
	}
	if _, _, err := s.CreateTopUp(ctx, &livebill.CreateTopUpInput{AccountID: "c", ID: "a-new", Amount: "1"}); err != nil {
		t.Fatal(err)
	}
	rest := pageAll(t, "topups", 3, func(p livebill.Page) ([]*livebill.TopUp, string, error) {
		if p.After == "" {
			p.After = next
		}
		return s.PageTopUps(ctx, "c", p)
	})
	if len(rest) != 3 || rest[2].ID != "a-new" {
		t.Errorf("after the first page: %d top-ups, last %+v; want the 2 left and the new one", len(rest), rest[len(rest)-1])
	}
}
