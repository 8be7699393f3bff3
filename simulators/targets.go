package simulators

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseTargets builds account targets of one provider from a comma-separated list of
// account numbers and inclusive ranges "FIRST-LAST" of same-length numbers
// ("1000000001,9000000001-9000000100").
func ParseTargets(provider, list string) ([]Target, error) {
	var out []Target
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			out = append(out, AccountTarget(provider, part))
			continue
		}
		a, err1 := strconv.ParseUint(lo, 10, 64)
		b, err2 := strconv.ParseUint(hi, 10, 64)
		if err1 != nil || err2 != nil || len(lo) != len(hi) || a > b || b-a >= 10_000_000 {
			return nil, fmt.Errorf("account range %q: want FIRST-LAST, same number of digits, at most 10 million", part)
		}
		for n := a; n <= b; n++ {
			out = append(out, AccountTarget(provider, fmt.Sprintf("%0*d", len(lo), n)))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no accounts")
	}
	return out, nil
}
