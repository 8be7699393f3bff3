package terminals

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestRouteMatchesBruteForce builds random BIN tables and checks, against a
// direct reading of the rules, that Parse accepts exactly the laminar ones
// (ranges disjoint or strictly nested) and that Route picks the innermost
// range.
func TestRouteMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 400
	if testing.Short() {
		rounds = 150
	}
	accepted, refused := 0, 0
	for round := 0; round < rounds; round++ {
		type rng3 struct {
			BINRange
			inst   string
			lo, hi uint64
		}
		var ranges []rng3
		var b strings.Builder
		b.WriteString("institutions:\n")
		for inst := 1; inst <= 3; inst++ {
			fmt.Fprintf(&b, "  - id: \"%d\"\n    bins:\n", inst)
			for k := rng.IntN(2); k >= 0; k-- {
				l := 1 + rng.IntN(3)
				lo := randDigits(rng, l)
				hi := lo
				if rng.IntN(2) == 0 { // widen by a few steps at most
					n, _ := strconv.Atoi(lo)
					n += rng.IntN(4)
					if s := fmt.Sprintf("%0*d", l, n); len(s) == l {
						hi = s
					}
				}
				r := BINRange{Low: lo, High: hi}
				x, y := r.bounds()
				ranges = append(ranges, rng3{r, fmt.Sprint(inst), x, y})
				fmt.Fprintf(&b, "      - {low: \"%s\", high: \"%s\"}\n", lo, hi)
			}
		}
		laminar := true
		for i := range ranges {
			for j := i + 1; j < len(ranges); j++ {
				a, c := ranges[i], ranges[j]
				disjoint := a.hi < c.lo || c.hi < a.lo
				same := a.lo == c.lo && a.hi == c.hi
				nested := (a.lo <= c.lo && c.hi <= a.hi) || (c.lo <= a.lo && a.hi <= c.hi)
				if same || (!disjoint && !nested) {
					laminar = false
				}
			}
		}
		reg, err := Parse("p.yaml", []byte(b.String()))
		if laminar != (err == nil) {
			t.Fatalf("round %d: laminar=%v but Parse error %v\n%s", round, laminar, err, b.String())
		}
		if err != nil {
			refused++
			continue
		}
		accepted++
		for q := 0; q < 200; q++ {
			pan := randDigits(rng, 16)
			if q%2 == 0 && len(ranges) > 0 { // aim at a boundary
				r := ranges[rng.IntN(len(ranges))]
				edge := r.Low
				if q%4 == 0 {
					edge = r.High
				}
				pan = edge + randDigits(rng, 16-len(edge))
			}
			x, _ := panKey(pan)
			want, width := "", uint64(0)
			for _, r := range ranges {
				if r.lo <= x && x <= r.hi && (want == "" || r.hi-r.lo < width) {
					want, width = r.inst, r.hi-r.lo
				}
			}
			got := ""
			if in, ok := reg.Route(pan); ok {
				got = in.ID
			}
			if got != want {
				t.Fatalf("round %d: Route(%s) = %q, want %q\n%s", round, pan, got, want, b.String())
			}
		}
	}
	if accepted < rounds/10 || refused < rounds/50 {
		t.Errorf("generator unbalanced: %d accepted, %d refused", accepted, refused)
	}
	if testing.Verbose() {
		t.Logf("%d tables accepted, %d refused", accepted, refused)
	}
}

func randDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}
