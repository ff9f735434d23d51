package money

import "testing"

func TestRoundTotalHalfAwayFromZero(t *testing.T) {
	usd, _ := LookupCurrency("USD")
	for _, c := range []struct{ in, want string }{
		{"4.1364", "4.14"},     // SPEC §2 example 1: 0.2394 + 3.8376 + 0.0594
		{"1.2564", "1.26"},     // example 2: 1.197 + 0.0594
		{"1.61652", "1.62"},    // recording example
		{"0.005", "0.01"},      // half rounds up
		{"0.00499999", "0.00"}, // below half rounds down
		{"-0.005", "-0.01"},    // a refund rounds away from zero
		{"2848.5", "2848.50"},
	} {
		if got := usd.FormatTotal(MustParse(c.in)); got != c.want {
			t.Errorf("FormatTotal(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestCostIsExact(t *testing.T) {
	// 240 min × 15.99 USD / 1000 min = 3.8376 exactly (no float drift).
	if got := Cost(Int(240), MustParse("15.99"), Thousand); got.String() != "3.8376" {
		t.Fatalf("Cost = %s, want 3.8376", got)
	}
	// 62,500 s of matchmaking = 62,500,000,000 µs / 3.6e9 µs per hour =
	// 17.361111… hours: a non-terminating division carried to 12 places.
	h := Div(Int(62_500_000_000), Int(3_600_000_000))
	if h.String() != "17.361111111111" {
		t.Fatalf("Div = %s, want 17.361111111111", h)
	}
}

func TestCeilDiv(t *testing.T) {
	// SPEC §1: ceil(ms / 60000); the FAQ's 30 s is 1 minute, 90 s is 2.
	for _, c := range []struct{ a, b, want int64 }{{30_000, 60_000, 1}, {60_000, 60_000, 1}, {90_000, 60_000, 2}, {0, 60_000, 0}, {-5, 60_000, 0}} {
		if got := CeilDiv(c.a, c.b); got != c.want {
			t.Errorf("CeilDiv(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestUnknownCurrency(t *testing.T) {
	if _, err := LookupCurrency("XYZ"); err == nil {
		t.Fatal("want an error for an unknown currency")
	}
}
