package simulators

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// BenchRow is one configuration of the end-to-end benchmark: the same load against the
// host (payments) and against the echo server.
type BenchRow struct {
	Label      string // "4x64"
	Host, Echo *LoadResult
}

// Failures are responses other than 00 plus requests without a response.
func failures(r *LoadResult) int64 { return r.Declined + r.Errors }

// Ratio is the host's approved payments per second over the echo server's responses
// per second (0 when the echo server did nothing).
func (b BenchRow) Ratio() float64 {
	if b.Echo == nil || b.Host == nil || b.Echo.Throughput == 0 {
		return 0
	}
	return b.Host.ApprovedPerSec / b.Echo.Throughput
}

// WriteBenchTable prints the benchmark table.
func WriteBenchTable(w io.Writer, rows []BenchRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tpayments/s\techo/s\tratio\thost p50 ms\thost p99 ms\techo p50 ms\techo p99 ms\thost errors\techo errors\t")
	for _, r := range rows {
		if r.Host == nil || r.Echo == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\n", r.Label)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t\n", r.Label,
			r.Host.ApprovedPerSec, r.Echo.Throughput, r.Ratio(),
			r.Host.Latency.P50, r.Host.Latency.P99, r.Echo.Latency.P50, r.Echo.Latency.P99,
			failures(r.Host), failures(r.Echo))
	}
	tw.Flush()
}

// BenchTargets are the acceptance targets of the 4×64 configuration.
type BenchTargets struct {
	MinRatio float64 // durable payments / echo, e.g. 0.7
	MaxP99ms float64 // e.g. 20
}

// Verdict says whether a row meets the targets, and why not.
func (b BenchRow) Verdict(t BenchTargets) (bool, string) {
	if b.Host == nil || b.Echo == nil {
		return false, "no result"
	}
	var why string
	if r := b.Ratio(); r < t.MinRatio {
		why += fmt.Sprintf("ratio %.2f < %.2f; ", r, t.MinRatio)
	}
	if p := b.Host.Latency.P99; p > t.MaxP99ms {
		why += fmt.Sprintf("p99 %.2f ms > %.0f ms; ", p, t.MaxP99ms)
	}
	if f := failures(b.Host); f != 0 {
		detail := "codes " + countsString(b.Host.ResponseCodes)
		if len(b.Host.ErrorKinds) > 0 {
			detail += ", no response " + countsString(b.Host.ErrorKinds)
		}
		why += fmt.Sprintf("%d errors (%s); ", f, detail)
	}
	if why == "" {
		return true, "met"
	}
	return false, why[:len(why)-2]
}

// VerdictRounds judges repeated rounds of one configuration, each an echo run and a
// host run taken one after the other: the ratio of the median round (by ratio) must
// meet the target — one round alone swings with whatever else the machine does — and
// the p99 and error targets must hold in every round. It returns the median round's
// index with the verdict.
func VerdictRounds(rounds []BenchRow, t BenchTargets) (ok bool, why string, median int) {
	if len(rounds) == 0 {
		return false, "no result", -1
	}
	idx := make([]int, len(rounds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rounds[idx[a]].Ratio() < rounds[idx[b]].Ratio() })
	median = idx[(len(idx)-1)/2] // the lower middle of an even count
	var whys []string
	if r := rounds[median].Ratio(); r < t.MinRatio {
		whys = append(whys, fmt.Sprintf("median ratio %.2f < %.2f", r, t.MinRatio))
	}
	for i, r := range rounds {
		// the ratio is the median's business; everything else holds in every round
		if ok, w := r.Verdict(BenchTargets{MinRatio: 0, MaxP99ms: t.MaxP99ms}); !ok {
			whys = append(whys, fmt.Sprintf("round %d: %s", i+1, w))
		}
	}
	if len(whys) == 0 {
		return true, "met", median
	}
	return false, strings.Join(whys, "; "), median
}
