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
