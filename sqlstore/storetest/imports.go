package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/billing"
	lbhttp "github.com/livebill/livebill/http"
)

// testImportHolds: three days of history sent as a bulk import in four
// batches seven minutes apart (longer than the quiet delay), sessions
// spanning batches, while the account is settled every minute. Nothing is
// issued while the import is open; after it finishes (and its last batch
// is quiet) each day's bill is issued once, never adjusted. A batch to a
// finished or unknown import is refused whole.
func testImportHolds(t *testing.T, open Opener) {
	ctx := context.Background()
	start := at(10, 10, 0)
	e := newEnv(t, open, start)
	quietAccount(t, e)
	im, err := e.client.CreateImport(ctx, "history")
	if err != nil || im.State != livebill.ImportOpen || !strings.HasPrefix(im.ID, "imp_") {
		t.Fatalf("create import: %+v %v", im, err)
	}
	// Dd alone 10:00–10:30 on day d; X across the 1st's midnight
	// (23:50–00:20)
	d1, d2, d3 := session("d1", "D1", at(1, 10, 0), at(1, 10, 30)), session("d2", "D2", at(2, 10, 0), at(2, 10, 30)), session("d3", "D3", at(3, 10, 0), at(3, 10, 30))
	x := session("x", "X", at(1, 23, 50), at(2, 0, 20))
	batches := [][]timedLine{{d1[0], x[0]}, {d1[1], d2[0]}, {x[1], d2[1], d3[0]}, {d3[1]}}
	finish := start.Add(22 * time.Minute) // the last batch at 10:21
	for m := 0; m <= 40; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		e.clock.Set(now)
		if m%7 == 0 && m/7 < len(batches) {
			var lines []string
			for _, l := range batches[m/7] {
				lines = append(lines, l.line)
			}
			r, err := e.client.PushImportEvents(ctx, im.ID, []byte(strings.Join(lines, "\n")))
			if err != nil || r.Accepted != len(lines) {
				t.Fatalf("batch %d: %+v %v", m/7, r, err)
			}
		}
		if now.Equal(finish) {
			if got, err := e.client.FindImport(ctx, im.ID); err != nil || got.State != livebill.ImportOpen || got.Accounts != 1 {
				t.Fatalf("import before finishing: %+v %v", got, err)
			}
			var res billing.SettleResult
			e.mustDo(t, "POST", "/v1/accounts/acct/settle", nil, &res)
			if len(res.Issued) != 0 || res.HeldBy != "import" || res.Import != im.ID {
				t.Fatalf("settle during the import: %+v", res)
			}
			if got, err := e.client.FinishImport(ctx, im.ID); err != nil || got.State != livebill.ImportFinished {
				t.Fatalf("finish: %+v %v", got, err)
			}
		}
		byTicker(t, e)
		if now.Before(finish) {
			noBills(t, e, "while the import was open")
			continue
		}
		got := issued(t, e)
		// once finished, each day as soon as its own ingest is quiet (the
		// 1st and 2nd at once, the 3rd five minutes after the last batch),
		// each bill once and final:
		// the 1st: D1 30 + X 10 minutes = 40 × 0.99/1000 = 0.0396 → 0.04
		// the 2nd: D2 30 + X 20 minutes = 50 × 0.99/1000 = 0.0495 → 0.05
		// the 3rd: D3 30 minutes × 0.99/1000 = 0.0297 → 0.03
		want := []string{"daily 2024-10-01 0.04", "daily 2024-10-02 0.05", "daily 2024-10-03 0.03"}
		if !now.Before(finish.Add(-time.Minute).Add(billing.DefaultSettleQuiet)) {
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("at %s: issued %q, want %q", now.Format("15:04"), got, want)
			}
		} else if len(got) > 2 || strings.Join(got, "|") != strings.Join(want[:len(got)], "|") {
			t.Fatalf("at %s, the 3rd's ingest not quiet: issued %q, want a start of %q", now.Format("15:04"), got, want[:2])
		}
	}
	if _, err := e.client.PushImportEvents(ctx, im.ID, []byte(d1[0].line)); livebill.ErrorCode(err) != livebill.ECONFLICT {
		t.Fatalf("a batch to a finished import: %v, want a conflict", err)
	}
	if _, err := e.client.PushImportEvents(ctx, "imp_nope", []byte(d1[0].line)); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("a batch to an unknown import: %v, want not found", err)
	}
	if _, err := e.client.FinishImport(ctx, "imp_nope"); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Fatalf("finishing an unknown import: %v, want not found", err)
	}
}

// testImportExpires: an import whose client stopped (no batch, never
// finished) holds its account only until its timeout after its last
// batch; a batch arriving later revives it.
func testImportExpires(t *testing.T, open Opener) {
	ctx := context.Background()
	start := at(10, 10, 0)
	e := newEnv(t, open, start)
	quietAccount(t, e)
	im, err := e.client.CreateImport(ctx, "history")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(start.Add(3 * time.Minute))
	s := session("d1", "D1", at(1, 10, 0), at(1, 10, 30))
	if _, err := e.client.PushImportEvents(ctx, im.ID, []byte(s[0].line+"\n"+s[1].line)); err != nil {
		t.Fatal(err)
	}
	expires := start.Add(3*time.Minute + billing.DefaultImportTimeout) // renewed by the batch: 10:13
	for now := start.Add(4 * time.Minute); now.Before(start.Add(20 * time.Minute)); now = now.Add(time.Minute) {
		e.clock.Set(now)
		byTicker(t, e)
		if now.Before(expires) {
			noBills(t, e, "while the import was open")
			continue
		}
		got := issued(t, e)
		// 30 audio minutes × 0.99/1000 = 0.0297 → 0.03
		if want := "daily 2024-10-01 0.03"; strings.Join(got, "|") != want {
			t.Fatalf("at %s, after the import lapsed: issued %q, want %q", now.Format("15:04"), got, want)
		}
	}
	if got, err := e.client.FindImport(ctx, im.ID); err != nil || got.State != livebill.ImportExpired || !got.ExpiresAt.Equal(expires) {
		t.Fatalf("lapsed import: %+v %v, want expired at %s", got, err, expires)
	}
	// the client comes back: the import holds again (a late session of
	// the 2nd waits for it, then for quiet)
	s2 := session("d2", "D2", at(2, 10, 0), at(2, 10, 30))
	if _, err := e.client.PushImportEvents(ctx, im.ID, []byte(s2[0].line+"\n"+s2[1].line)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.client.FindImport(ctx, im.ID); got == nil || got.State != livebill.ImportOpen {
		t.Fatalf("revived import: %+v", got)
	}
	e.clock.Set(e.clock.Now().Add(billing.DefaultSettleQuiet + time.Minute))
	byTicker(t, e)
	if got := issued(t, e); len(got) != 1 {
		t.Fatalf("issued %q while the revived import was open", got)
	}
}

// testImportKeys: an account key's import is its own: it holds and takes
// events of that account's apps only (another account's are forbidden, one
// by one), and other accounts' keys get 404 for it; an operator sees it.
func testImportKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	e := newAuthEnv(t, open)
	a, b := lbhttp.NewClient(e.url), lbhttp.NewClient(e.url)
	a.Key, b.Key = e.keyA, e.keyB
	im, err := a.CreateImport(ctx, "a-history")
	if err != nil || im.Account != "acct-a" || im.Name != "a-history" {
		t.Fatalf("acct-a's import: %+v %v", im, err)
	}
	ev := func(app, id string) string {
		return `{"id":"` + id + `","time":"2024-10-01T12:00:00+08:00","type":"room.join","app":"` + app + `","room":"r2","user":"v"}`
	}
	res, err := a.PushImportEvents(ctx, im.ID, []byte(ev("acct-a-app", "i1")+"\n"+ev("acct-b-app", "i2")))
	if err != nil || res.Accepted != 1 || res.Rejected != 1 || res.Errors[0].Code != livebill.EFORBIDDEN {
		t.Fatalf("acct-a's batch with one event of acct-b: %+v %v", res, err)
	}
	if _, err := b.FindImport(ctx, im.ID); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Errorf("acct-b reads acct-a's import: %v, want not found", err)
	}
	if _, err := b.PushImportEvents(ctx, im.ID, []byte(ev("acct-b-app", "i3"))); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Errorf("acct-b pushes under acct-a's import: %v, want not found", err)
	}
	if _, err := b.FinishImport(ctx, im.ID); livebill.ErrorCode(err) != livebill.ENOTFOUND {
		t.Errorf("acct-b finishes acct-a's import: %v, want not found", err)
	}
	if got, err := e.admin.FindImport(ctx, im.ID); err != nil || got.State != livebill.ImportOpen || got.Accounts != 1 {
		t.Errorf("the operator reads acct-a's import: %+v %v, want open, holding acct-a only", got, err)
	}
	if got, err := a.FinishImport(ctx, im.ID); err != nil || got.State != livebill.ImportFinished {
		t.Errorf("acct-a finishes its import: %+v %v", got, err)
	}
}
