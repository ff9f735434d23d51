// Package money owns exact decimal arithmetic for prices, quantities and
// amounts, and the one rounding rule of livebill.
//
// Rounding mode: line amounts are exact (full precision). Only a bill's
// total is rounded, half away from zero ("half-up" on the magnitude, so a
// refund of -0.005 rounds to -0.01) to the currency's minor unit — 2 places
// for USD and CNY (SPEC §1). Divisions that do not terminate (pro-rata
// hours: µs / 3.6e9) are carried to DivisionPlaces decimal places, half away
// from zero, which is far below any minor unit.
//
// The decimal type is github.com/shopspring/decimal: arbitrary precision,
// immutable values, a stable API used widely in billing code, and no cgo.
package money

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Decimal is an exact decimal number.
type Decimal = decimal.Decimal

// DivisionPlaces is the precision of non-terminating divisions.
const DivisionPlaces = 12

// Common values.
var (
	Zero     = decimal.Zero
	One      = decimal.NewFromInt(1)
	Thousand = decimal.NewFromInt(1000)
)

// Currency is an ISO 4217 currency and its minor unit.
type Currency struct {
	Code  string
	Minor int32 // decimal places of the minor unit
}

// Known currencies.
var currencies = map[string]Currency{
	"USD": {"USD", 2},
	"CNY": {"CNY", 2},
	"EUR": {"EUR", 2},
	"JPY": {"JPY", 0},
}

// LookupCurrency returns the currency with the ISO code.
func LookupCurrency(code string) (Currency, error) {
	c, ok := currencies[code]
	if !ok {
		return Currency{}, fmt.Errorf("unknown currency %q", code)
	}
	return c, nil
}

// RoundTotal rounds a bill total to the currency's minor unit, half away
// from zero.
func (c Currency) RoundTotal(d Decimal) Decimal { return d.Round(c.Minor) }

// FormatTotal formats a rounded total with exactly the minor-unit places.
func (c Currency) FormatTotal(d Decimal) string { return c.RoundTotal(d).StringFixed(c.Minor) }

// Parse reads a decimal string such as "15.99".
func Parse(s string) (Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Zero, fmt.Errorf("cannot parse decimal %q: %w", s, err)
	}
	return d, nil
}

// MustParse is Parse for constants; it panics on bad input.
func MustParse(s string) Decimal {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Int returns n as a decimal.
func Int(n int64) Decimal { return decimal.NewFromInt(n) }

// Div divides exactly when the quotient terminates within DivisionPlaces,
// otherwise rounds half away from zero at DivisionPlaces.
func Div(a, b Decimal) Decimal { return a.DivRound(b, DivisionPlaces) }

// Cost is quantity × unitPrice / per: the exact amount of a line.
func Cost(quantity, unitPrice, per Decimal) Decimal {
	return Div(quantity.Mul(unitPrice), per)
}

// CeilDiv returns ceil(a / b) for non-negative integers.
func CeilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// String formats a decimal without trailing zeros.
func String(d Decimal) string { return d.String() }
