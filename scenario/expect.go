package scenario

import (
	"fmt"

	"github.com/livebill/livebill"
	"github.com/livebill/livebill/money"
)

// Mismatch is one expected value that the quote does not have.
type Mismatch struct {
	Path     string // e.g. lines.trtc.av.2k.amount
	Expected string
	Got      string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%-40s expected %-12s got %s", m.Path, m.Expected, m.Got)
}

// Compare checks every value under expect numerically ("2848.5" equals
// "2848.50"). A line or usage entry the quote lacks compares as absent.
func Compare(exp *Expect, q *livebill.Quote) []Mismatch {
	if exp == nil {
		return nil
	}
	var out []Mismatch
	check := func(path, want, got string) {
		if !numEqual(want, got) {
			out = append(out, Mismatch{path, want, got})
		}
	}
	if exp.Total != nil {
		check("total", *exp.Total, q.Total)
	}
	lines := map[string]livebill.Line{}
	for _, l := range q.Lines {
		lines[l.Item] = l
	}
	for _, item := range sortedKeys(exp.Lines) {
		want := exp.Lines[item]
		l, ok := lines[item]
		got := func(v string) string {
			if !ok {
				return "(no line)"
			}
			return v
		}
		if want.Quantity != nil {
			check("lines."+item+".quantity", *want.Quantity, got(l.Quantity))
		}
		if want.Amount != nil {
			check("lines."+item+".amount", *want.Amount, got(l.Amount))
		}
		if want.Covered != nil {
			out = append(out, Mismatch{"lines." + item + ".covered", *want.Covered, "(lines have no covered; use usage)"})
		}
	}
	usage := map[string]livebill.UsageLine{}
	for _, u := range q.Usage {
		usage[u.Item] = u
	}
	for _, item := range sortedKeys(exp.Usage) {
		want := exp.Usage[item]
		u, ok := usage[item]
		got := func(v string) string {
			if !ok {
				return "(no usage)"
			}
			return v
		}
		if want.Quantity != nil {
			check("usage."+item+".quantity", *want.Quantity, got(u.Quantity))
		}
		if want.Covered != nil {
			check("usage."+item+".covered", *want.Covered, got(u.Covered))
		}
		if want.Blocked != nil {
			b := u.Blocked
			if b == "" {
				b = "0"
			}
			check("usage."+item+".blocked", *want.Blocked, got(b))
		}
		if want.Amount != nil {
			out = append(out, Mismatch{"usage." + item + ".amount", *want.Amount, "(usage has no amount; use lines)"})
		}
	}
	have := map[string]bool{}
	for _, n := range q.Notices {
		have[n.Code] = true
	}
	for _, code := range exp.Notices {
		if !have[code] {
			out = append(out, Mismatch{"notices", code, "(absent)"})
		}
	}
	if a := exp.Account; a != nil {
		switch {
		case q.Account == nil:
			out = append(out, Mismatch{"account", "an account lifecycle", "(none: the scenario gives no account.balance or topups)"})
		default:
			if a.State != nil && *a.State != q.Account.State {
				out = append(out, Mismatch{"account.state", *a.State, q.Account.State})
			}
			if a.Balance != nil {
				check("account.balance", *a.Balance, q.Account.ClosingBalance)
			}
		}
	}
	return out
}

func numEqual(a, b string) bool {
	x, err1 := money.Parse(a)
	y, err2 := money.Parse(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.Equal(y)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
