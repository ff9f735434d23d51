package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/livebill/livebill"
)

// testFindApp: an app not found is found once it is made (a store that
// keeps apps it found must not keep "not found"), and what FindApp returns
// is the caller's to change.
func testFindApp(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, NewClock(time.Date(2024, 10, 1, 0, 0, 0, 0, time.UTC)))
	if _, err := s.CreateAccount(ctx, &livebill.CreateAccountInput{ID: "a1", Catalog: "trtc", Created: "2024-01-10"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.FindApp(ctx, "late"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
			t.Fatalf("find %d before it is made: %v, want ENOTFOUND", i, err)
		}
	}
	if _, err := s.CreateApp(ctx, &livebill.CreateAppInput{AccountID: "a1", ID: "late", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		a, err := s.FindApp(ctx, "late")
		if err != nil || a.AccountID != "a1" || a.Name != "n" || a.CreatedAt.IsZero() {
			t.Fatalf("find %d after it is made: %+v %v", i, a, err)
		}
		a.AccountID, a.Name = "changed", "changed"
	}
}
