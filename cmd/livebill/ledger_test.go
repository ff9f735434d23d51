package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill/sqlstore/storetest"
)

// ledger prints the account's ledger and state; --format csv is the
// export. The account (list prices, balance 0) is topped up 5.00, then a
// day of 30 audio minutes (30 × 0.99/1000 = 0.0297 → 0.03) is settled and
// charged: 5.00 − 0.03 = 4.97.
func TestLedgerCommand(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	clock := storetest.NewClock(time.Date(2024, 10, 1, 12, 0, 0, 0, sh))
	ts := startTestServer(t, clock, nil)
	c := ts.client
	if err := c.Do(ctx, "POST", "/v1/accounts/acct/topups", map[string]any{"id": "t1", "amount": "5.00"}, nil); err != nil {
		t.Fatal(err)
	}
	ev := func(id, tm, typ string) string {
		return `{"id":"` + id + `","time":"` + tm + `","type":"` + typ + `","app":"1400000001","room":"r1","user":"A"}`
	}
	if res, err := c.PushEvents(ctx, []byte(ev("j", "2024-10-01T10:00:00+08:00", "room.join")+"\n"+ev("l", "2024-10-01T10:30:00+08:00", "room.leave"))); err != nil || res.Accepted != 2 {
		t.Fatalf("push: %+v %v", res, err)
	}
	clock.Set(time.Date(2024, 10, 2, 2, 0, 0, 0, sh))
	if err := ts.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := cmdLedger([]string{"acct", "--server", ts.srv.URL, "--key", testAdminKey}, &out, &errb); err != nil {
		t.Fatalf("ledger: %v\n%s", err, errb.String())
	}
	table := out.String()
	for _, want := range []string{"opening", "topup", "t1", "5.00", "daily|2024-10-01", "-0.03", "4.97", "account acct: active", "balance 4.97 (opening 0)"} {
		if !strings.Contains(table, want) {
			t.Fatalf("ledger table lacks %q:\n%s", want, table)
		}
	}
	out.Reset()
	if err := cmdLedger([]string{"acct", "--format", "csv", "--server", ts.srv.URL, "--key", testAdminKey}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || lines[0] != "seq,at,kind,ref,date,amount,balance,recorded_at" || !strings.Contains(lines[3], ",daily,daily|2024-10-01,2024-10-01,-0.03,4.97,") {
		t.Fatalf("csv:\n%s", out.String())
	}
	if _, _, code := runCLI(t, "ledger", "nobody", "--server", ts.srv.URL, "--key", testAdminKey); code != 2 {
		t.Fatalf("ledger of a missing account: exit %d, want 2", code)
	}
}

// ledger escapes the account id in the URL: an id with '?', '/', '#' or
// '%' shows its own account, not the account a (what precedes the
// character) nor a missing route.
func TestLedgerEscapesAccount(t *testing.T) {
	ctx := context.Background()
	sh, _ := time.LoadLocation("Asia/Shanghai")
	ts := startTestServer(t, storetest.NewClock(time.Date(2024, 10, 1, 12, 0, 0, 0, sh)), nil)
	ids := []string{"a", "a?b", "a/b", "a#b", "a%b", "a%2Fb"}
	for _, id := range ids {
		if err := ts.client.Do(ctx, "POST", "/v1/accounts", map[string]any{"id": id, "catalog": "trtc", "mode": "calculator", "created": "2024-09-20", "timezone": "Asia/Shanghai"}, nil); err != nil {
			t.Fatalf("create %q: %v", id, err)
		}
	}
	// a top-up on a alone: a's balance is 5.00, the others' 0
	if err := ts.client.Do(ctx, "POST", "/v1/accounts/a/topups", map[string]any{"id": "t1", "amount": "5.00"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		for _, format := range []string{"table", "json"} {
			out, errs, code := runCLI(t, "ledger", id, "--format", format, "--server", ts.srv.URL, "--key", testAdminKey)
			want := "account " + id + ": active since "
			if format == "json" {
				want = `"account": "` + id + `"`
			}
			if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "5.00") || (format == "table" && !strings.Contains(out, "balance 0 (opening 0)")) {
				t.Errorf("ledger %q --format %s: exit %d, stderr %q, stdout:\n%s\nwant %q, balance 0 and no 5.00", id, format, code, errs, out, want)
			}
		}
	}
}
