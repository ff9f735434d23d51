package rating

import (
	"testing"

	"github.com/livebill/livebill/money"
	"pgregory.net/rapid"
)

// cost, with its shift for powers of ten, gives what money.Cost gives:
// the same value and the same string.
func TestCostMatchesMoneyCost(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		q := money.Int(rapid.Int64Range(-1e12, 1e12).Draw(t, "q")).Shift(-int32(rapid.IntRange(0, 8).Draw(t, "qplaces")))
		p := money.Int(rapid.Int64Range(-1e9, 1e9).Draw(t, "p")).Shift(-int32(rapid.IntRange(0, 10).Draw(t, "pplaces")))
		per := rapid.SampledFrom([]int64{1, 10, 100, 1000, 1_000_000, 3, 60, 1024, 100_000_000_000}).Draw(t, "per")
		got, want := cost(q, p, per), money.Cost(q, p, money.Int(per))
		if !got.Equal(want) || got.String() != want.String() {
			t.Fatalf("cost(%s, %s, %d) = %s, money.Cost says %s", q, p, per, got, want)
		}
	})
}

// qty, which adds integers as int64, gives the string of the decimal sum,
// overflow included; decString gives String's.
func TestQtyMatchesDecimalSum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var x qty
		sum := money.Zero
		for range rapid.IntRange(0, 8).Draw(t, "terms") {
			var v money.Decimal
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				n := rapid.Int64().Draw(t, "int")
				x.addInt(n)
				v = money.Int(n)
			case 1:
				v = money.Int(rapid.Int64Range(-1e6, 1e6).Draw(t, "small"))
				x.add(v)
			case 2:
				v = money.Int(rapid.Int64().Draw(t, "c")).Shift(int32(rapid.IntRange(-6, 6).Draw(t, "e")))
				x.add(v)
			default:
				var y qty
				y.addInt(rapid.Int64().Draw(t, "yn"))
				y.add(money.Int(rapid.Int64Range(-1e6, 1e6).Draw(t, "yd")).Shift(-2))
				x.addQty(y)
				v = money.Int(y.n).Add(y.d)
			}
			sum = sum.Add(v)
			if got := decString(v); got != v.String() {
				t.Fatalf("decString(%s) = %s", v, got)
			}
		}
		if x.String() != sum.String() {
			t.Fatalf("qty %s, decimal sum %s", x.String(), sum.String())
		}
	})
}
