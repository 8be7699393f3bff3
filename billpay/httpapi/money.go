package httpapi

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// maxMinor bounds an amount in minor units (10^13, as debt lists).
const maxMinor = 10_000_000_000_000

// parseAmount reads a decimal string ("34.50") into minor units of a currency with
// digits minor digits: no exponent, no sign unless signed, at most digits fraction
// digits. Never a float.
func parseAmount(s string, digits int, signed bool) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("amount is required")
	}
	body := s
	if body[0] == '-' {
		if !signed {
			return 0, fmt.Errorf("amount %q must not be negative", s)
		}
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("amount %q is not a decimal like 34.50", s)
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("amount %q is not a decimal like 34.50", s)
		}
	}
	if len(frac) > digits {
		return 0, fmt.Errorf("amount %q has more than %d fraction digits", s, digits)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not a decimal", s)
	}
	m := d.Shift(int32(digits))
	if !m.IsInteger() || m.Abs().GreaterThanOrEqual(decimal.NewFromInt(maxMinor)) {
		return 0, fmt.Errorf("amount %q is out of range", s)
	}
	return m.IntPart(), nil
}

// formatAmount writes minor units as a decimal string with digits fraction digits.
func formatAmount(v int64, digits int) string {
	return decimal.New(v, -int32(digits)).StringFixed(int32(digits))
}
