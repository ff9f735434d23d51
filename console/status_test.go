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

// lifecycle is a fake livebill.StatusReader: each app's account state is
// set by the test.
type lifecycle struct {
	store  livebill.Store
	states map[string]*livebill.ServiceStatus // by account
}

func (l *lifecycle) AppStatus(ctx context.Context, appID string) (*livebill.ServiceStatus, error) {
	app, err := l.store.FindApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	st := *l.states[app.AccountID]
	st.App = appID
	return &st, nil
}

var _ livebill.StatusReader = (*lifecycle)(nil)

// With the account lifecycle, the operator's list puts accounts in
// arrears first, then suspended ones, then the active; an account in
// arrears shows how long until it is suspended, and its apps why they do
// not serve.
func TestStates(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Date(2024, 10, 20, 12, 0, 0, 0, sh)
	clock := storetest.NewClock(now)
	store := openSQLite(t, clock)
	svc := billing.New(store, clock)
	lc := &lifecycle{store: store, states: map[string]*livebill.ServiceStatus{
		"a-active":    {AccountState: livebill.AccountActive},
		"b-arrears":   {AccountState: livebill.AccountArrears, Reason: livebill.ReasonAccountArrears, Since: now.Add(-20 * time.Hour), GraceUntil: now.Add(4*time.Hour + 30*time.Minute)},
		"c-suspended": {AccountState: livebill.AccountSuspended, Reason: livebill.ReasonAccountSuspended, Since: now.Add(-time.Hour)},
	}}
	for id := range lc.states {
		if _, err := svc.CreateAccount(ctx, &livebill.CreateAccountInput{ID: id, Catalog: "trtc", Created: "2024-10-01"}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateApp(ctx, &livebill.CreateAppInput{AccountID: id, ID: id + "-app"}); err != nil {
			t.Fatal(err)
		}
	}
	con, err := console.New(store, svc, storetest.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	con.Status = lc
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
	// 4 h 30 min until the grace ends at 16:30 in Shanghai
	for _, want := range []string{`id="countdown"`, "Suspended in 4 h 30 min (at Oct 20, 2024 16:30)", "state-arrears", "serving, but the account is in arrears"} {
		if !strings.Contains(page, want) {
			t.Errorf("the account in arrears lacks %q", want)
		}
	}
	if page := c.Get("/accounts/c-suspended").Body; !strings.Contains(page, "stopped: the account is suspended") || strings.Contains(page, `id="countdown"`) {
		t.Errorf("the suspended account's apps are not explained")
	}
}
