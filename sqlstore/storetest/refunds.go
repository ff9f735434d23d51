package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// testRefundsConcurrent: refund requests made at once for one purchase.
// Each caller gets back its own request as stored (not the account's last
// refund), and the units returned never exceed the units bought: of
// several requests for the last units only as many as fit are stored, the
// others are refused as invalid.
func testRefundsConcurrent(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "cloudgaming", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"pool", "big", "one"} {
		in := &livebill.CreatePurchaseInput{AccountID: "a1", ID: id, Plan: "cloudgaming.desktop.s1.standard", Count: 10, Start: "2024-10-01"}
		if id == "one" {
			in.Count = 0 // no count: the store cannot tell how many (rating decides)
		}
		if _, err := s.CreatePurchase(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		r   *livebill.StoredRefund
		err error
	}
	run := func(n int, in func(i int) *livebill.CreateRefundInput) []result {
		out := make([]result, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out[i].r, out[i].err = s.CreateRefund(ctx, in(i))
			}(i)
		}
		wg.Wait()
		return out
	}
	// five requests of 2 of pool's 10 units: all fit; each caller gets its
	// own request back (told apart by its time) with a distinct seq
	at := func(i int) string { return fmt.Sprintf("2024-10-02T%02d:00:00Z", i) }
	res := run(5, func(i int) *livebill.CreateRefundInput {
		return &livebill.CreateRefundInput{AccountID: "a1", Purchase: "pool", Count: 2, Time: at(i)}
	})
	seqs := map[int64]bool{}
	for i, x := range res {
		if x.err != nil {
			t.Fatalf("refund %d: %v", i, x.err)
		}
		if x.r.Time != at(i) || x.r.Purchase != "pool" || x.r.Count != 2 || x.r.AccountID != "a1" {
			t.Errorf("refund %d returned %+v, not its own request (time %s)", i, x.r, at(i))
		}
		if seqs[x.r.Seq] {
			t.Errorf("refund %d: seq %d returned twice", i, x.r.Seq)
		}
		seqs[x.r.Seq] = true
	}
	stored, err := s.ListRefunds(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 5 {
		t.Fatalf("%d refunds stored, want 5", len(stored))
	}
	for _, r := range stored {
		if !seqs[r.Seq] {
			t.Errorf("stored refund %+v was returned to no caller", r)
		}
	}
	// all 10 returned: nothing more, not even a request without a count
	for _, c := range []int{1, 0} {
		if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: "a1", Purchase: "pool", Count: c, Time: "2024-10-03"}); livebill.ErrorCode(err) != livebill.EINVALID {
			t.Errorf("refund of %d more of pool (all returned): %v, want EINVALID", c, err)
		}
	}
	// four requests of 6 of big's 10 units: exactly one fits
	res = run(4, func(i int) *livebill.CreateRefundInput {
		return &livebill.CreateRefundInput{AccountID: "a1", Purchase: "big", Count: 6, Time: at(i)}
	})
	ok := 0
	for i, x := range res {
		switch livebill.ErrorCode(x.err) {
		case "":
			ok++
		case livebill.EINVALID:
		default:
			t.Errorf("refund %d of 6 of big: %v, want success or EINVALID", i, x.err)
		}
	}
	if ok != 1 {
		t.Errorf("%d refunds of 6 of big's 10 units succeeded, want 1", ok)
	}
	// the 4 left still fit
	if _, err := s.CreateRefund(ctx, &livebill.CreateRefundInput{AccountID: "a1", Purchase: "big", Count: 4, Time: "2024-10-03"}); err != nil {
		t.Errorf("refund of big's last 4 units: %v", err)
	}
	// a purchase without a count: the requests are stored, rating decides
	res = run(2, func(i int) *livebill.CreateRefundInput {
		return &livebill.CreateRefundInput{AccountID: "a1", Purchase: "one", Time: at(i)}
	})
	for i, x := range res {
		if x.err != nil {
			t.Errorf("refund %d of one: %v", i, x.err)
		}
	}
	stored, _ = s.ListRefunds(ctx, "a1")
	// pool 5 + big 2 + one 2
	if len(stored) != 9 {
		t.Errorf("%d refunds stored, want 9", len(stored))
	}
	a, err := s.FindAccount(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	// three purchases and nine stored refunds bump the revision; refusals do not
	if a.Revision != 12 {
		t.Errorf("revision %d, want 12", a.Revision)
	}
}
