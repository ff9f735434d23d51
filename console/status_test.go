package console_test

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	"github.com/livebill/livebill/console"
	"github.com/livebill/livebill/sqlstore/storetest"
)

// With the account lifecycle, the operator's list puts accounts in
// arrears first, then suspended ones, then the active; an account in
// arrears shows how long until it is suspended, and its apps why they do
// not serve, as the ledger and the lifecycle have them.
func TestStates(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2024, 10, 20, 12, 0, 0, 0, sh)
	clock := storetest.NewClock(now.Add(-25 * time.Hour))
	store := openSQLite(t, clock)
	svc := billing.New(store, clock)
	newAccount := func(id, balance string) {
		t.Helper()
		if _, err := svc.CreateAccount(ctx, &livebill.CreateAccountInput{ID: id, Catalog: "trtc", Created: "2024-10-01", Balance: balance}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: id, ID: id + "-app"}); err != nil {
			t.Fatal(err)
		}
	}
	newAccount("c-suspended", "-5") // below zero 25 hours ago: its 24-hour grace is over
	clock.Set(now)
	if err := svc.SettleAll(ctx); err != nil { // the ticker ends the grace
		t.Fatal(err)
	}
	newAccount("b-arrears", "-5") // below zero now: suspended in 24 hours unless topped up
	newAccount("a-active", "10")
	con, err := console.New(store, svc, storetest.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	con.Status = svc
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	c := storetest.NewConsoleClient(t, srv.URL)
	c.SignIn(storetest.AdminKey)
	list := c.Get("/accounts").Body
	var order []string
	for _, m := range regexp.MustCompile(`data-account="([^"]+)"`).FindAllStringSubmatch(list, -1) {
		order = append(order, m[1])
	}
	if strings.Join(order, " ") != "b-arrears c-suspended a-active" {
		t.Errorf("order %v, want arrears, suspended, active", order)
	}
	page := c.Get("/accounts/b-arrears").Body
	// the grace ends 24 h after now, at 12:00 on the 21st in Shanghai
	for _, want := range []string{`id="countdown"`, "Suspended in 24 h 0 min (at Oct 21, 2024 12:00)", "state-arrears", `data-amount="-5"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the account in arrears lacks %q", want)
		}
	}
	if page := c.Get("/accounts/c-suspended").Body; !strings.Contains(page, "stopped: the account is suspended") || strings.Contains(page, `id="countdown"`) {
		t.Errorf("the suspended account's apps are not explained")
	}
}
