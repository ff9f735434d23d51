package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

var utc8 = time.FixedZone("+08", 8*3600)

func day(d, h int) time.Time { return time.Date(2024, 3, d, h, 0, 0, 0, utc8) }

func show(trs []livebill.Transition) string {
	var out []string
	for _, t := range trs {
		s := t.From + "→" + t.To + "@" + t.At.In(utc8).Format("02T15")
		if t.App != "" {
			s = t.App + ":" + s
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func machine(t *testing.T, balance string) *Machine {
	m, err := New(livebill.AccountState{AccountID: "a", Balance: balance, Since: day(1, 0), Last: day(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// SPEC §4 "Arrears": below zero → arrears with 24 h grace; not back to ≥ 0
// in time → suspended at the grace's end; a top-up → active at once;
// suspended 60 days → reclaimed.
func TestMachine(t *testing.T) {
	m := machine(t, "0.10")
	if trs := m.Post(money.MustParse("-0.10"), day(2, 0), "bill"); len(trs) != 0 {
		t.Fatalf("a balance of exactly 0 is not arrears: %s", show(trs))
	}
	trs := m.Post(money.MustParse("-0.26"), day(2, 0), "bill")
	if show(trs) != "active→arrears@02T00" || !trs[0].GraceUntil.Equal(day(3, 0)) || trs[0].Balance != "-0.26" {
		t.Fatalf("charge below zero: %s %+v", show(trs), trs)
	}
	if trs := m.Advance(day(2, 23), true); len(trs) != 0 {
		t.Fatalf("before the grace's end: %s", show(trs))
	}
	// the ticker comes at 05:00; the suspension is at the grace's end
	trs = m.Advance(day(3, 5), true)
	if show(trs) != "arrears→suspended@03T00" || !trs[0].ReclaimAt.Equal(day(3, 0).AddDate(0, 0, 60)) {
		t.Fatalf("after the grace: %s %+v", show(trs), trs)
	}
	// a top-up not enough stays suspended; one enough restores at once
	if trs := m.Post(money.MustParse("0.20"), day(4, 9), "topup"); len(trs) != 0 {
		t.Fatalf("a top-up short of zero: %s", show(trs))
	}
	if trs := m.Post(money.MustParse("0.06"), day(4, 10), "topup"); show(trs) != "suspended→active@04T10" {
		t.Fatalf("a top-up to zero: %s", show(trs))
	}
	if st := m.State(); st.State != livebill.AccountActive || st.Balance != "0.00" || !st.Due().IsZero() {
		t.Fatalf("state %+v", st)
	}
	// 60 days suspended → reclaimed (when asked), not before
	m.Post(money.MustParse("-1"), day(5, 0), "bill")
	m.Advance(day(6, 0), true)
	if trs := m.Advance(day(6, 0).AddDate(0, 0, 60).Add(-time.Millisecond), true); len(trs) != 0 {
		t.Fatalf("a millisecond early: %s", show(trs))
	}
	if trs := m.Advance(day(6, 0).AddDate(0, 0, 60), false); len(trs) != 0 {
		t.Fatalf("reclaim not asked: %s", show(trs))
	}
	if trs := m.Advance(day(6, 0).AddDate(0, 0, 61), true); len(trs) != 1 || trs[0].To != livebill.AccountReclaimed || !trs[0].At.Equal(day(6, 0).AddDate(0, 0, 60)) {
		t.Fatalf("reclaim: %s", show(trs))
	}
}

// History never goes back: an entry dated before the last transition
// counts at that transition.
func TestMachineClamp(t *testing.T) {
	m, _ := New(livebill.AccountState{AccountID: "a", Balance: "0", Since: day(5, 0), Last: day(5, 0)})
	trs := m.Post(money.MustParse("-1"), day(2, 0), "late bill")
	if show(trs) != "active→arrears@05T00" || !trs[0].GraceUntil.Equal(day(6, 0)) {
		t.Fatalf("%s", show(trs))
	}
}

// Charge takes bills in charge order, each after the grace ends before it:
// a settlement catching up on days suspends the account between them.
func TestCharge(t *testing.T) {
	m := machine(t, "0.10")
	bills := []livebill.IssuedBill{
		{Key: "daily|2024-03-03", Bill: livebill.Bill{Kind: livebill.BillDaily, Date: "2024-03-03", Total: "0.36"}, Charge: day(4, 0)},
		{Key: "daily|2024-03-01", Bill: livebill.Bill{Kind: livebill.BillDaily, Date: "2024-03-01", Total: "0.36"}, Charge: day(2, 0)},
		{Key: "daily|2024-03-02", Bill: livebill.Bill{Kind: livebill.BillDaily, Date: "2024-03-02", Total: "0.00"}, Charge: day(3, 0)},
		{Key: "purchase|2024-03-03", Bill: livebill.Bill{Kind: livebill.BillPurchase, Date: "2024-03-03", Total: "-49.50"}, Charge: day(4, 0)},
	}
	es, trs, err := m.Charge(bills)
	if err != nil {
		t.Fatal(err)
	}
	if show(trs) != "active→arrears@02T00 arrears→suspended@03T00 suspended→active@04T00" {
		t.Fatalf("transitions %s", show(trs))
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Kind+" "+e.Amount+" "+e.Balance)
	}
	// the 0.00 bill moves nothing; the refund is a credit
	if strings.Join(got, "; ") != "daily -0.36 -0.26; daily -0.36 -0.62; refund 49.50 48.88" {
		t.Fatalf("entries %v", got)
	}
}

func TestChargeAt(t *testing.T) {
	for _, c := range []struct {
		kind, date, want string
	}{
		{livebill.BillDaily, "2024-03-01", "2024-03-02T00:00:00+08:00"},
		{livebill.BillPurchase, "2024-03-31", "2024-04-01T00:00:00+08:00"},
		{livebill.BillMonthly, "2024-02-01", "2024-03-01T00:00:00+08:00"},
	} {
		at, err := ChargeAt(&livebill.Bill{Kind: c.kind, Date: c.date}, utc8)
		if err != nil || at.Format(time.RFC3339) != c.want {
			t.Errorf("%s %s: %v %v, want %s", c.kind, c.date, at, err, c.want)
		}
	}
}

// Blocks: a suspension blocks every app until the restore (for good after
// a reclaim); a disable blocks its app until the enable.
func TestBlocks(t *testing.T) {
	trs := []livebill.Transition{
		{From: "active", To: "arrears", At: day(2, 0)},
		{From: "arrears", To: "suspended", At: day(3, 0)},
		{App: "x", From: "active", To: "disabled", At: day(3, 5)},
		{From: "suspended", To: "active", At: day(4, 9)},
		{App: "x", From: "disabled", To: "active", At: day(5, 0)},
		{App: "y", From: "active", To: "stopped", At: day(5, 1)}, // a trial stop: the deduction's
		{From: "active", To: "arrears", At: day(6, 0)},
		{From: "arrears", To: "suspended", At: day(7, 0)},
		{From: "suspended", To: "reclaimed", At: day(8, 0)},
	}
	got := Blocks(trs)
	want := []livebill.Block{
		{Reason: livebill.ReasonAccountSuspended, From: day(3, 0), To: day(4, 9)},
		{App: "x", Reason: livebill.ReasonAppDisabled, From: day(3, 5), To: day(5, 0)},
		{Reason: livebill.ReasonAccountSuspended, From: day(7, 0)},
	}
	if !SameBlocks(got, want) {
		t.Fatalf("blocks %+v, want %+v", got, want)
	}
	if !got[0].Covers("any", day(4, 8)) || got[0].Covers("any", day(4, 9)) || !got[1].Covers("x", day(3, 5)) || got[1].Covers("y", day(4, 0)) {
		t.Fatal("Covers")
	}
}

// Simulate: a top-up at the instant a bill is charged counts first (the
// service records the bill after the day closes).
func TestSimulateTopUpFirst(t *testing.T) {
	res, err := Simulate(&Period{Account: "a", Opening: money.MustParse("0.10"), Start: day(1, 0), End: day(4, 0), Location: utc8,
		Terms:  livebill.Terms{Grace: 24 * time.Hour, ReclaimAfter: 60 * 24 * time.Hour},
		Bills:  []livebill.Bill{{Kind: livebill.BillDaily, Date: "2024-03-01", Total: "0.36"}},
		TopUps: []TopUp{{ID: "t", At: day(2, 0), Amount: money.MustParse("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transitions) != 0 || res.State.Balance != "0.74" {
		t.Fatalf("transitions %s, balance %s; want none and 0.74", show(res.Transitions), res.State.Balance)
	}
}
