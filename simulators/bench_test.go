package simulators

import (
	"bytes"
	"strings"
	"testing"
)

func TestBenchTableAndVerdict(t *testing.T) {
	echo := &LoadResult{Throughput: 10000, Responses: 50000, Approved: 50000, Latency: Latency{P50: 1, P99: 3}}
	good := &LoadResult{ApprovedPerSec: 8000, Throughput: 8000, Approved: 40000, Responses: 40000, Latency: Latency{P50: 2, P99: 12}}
	slow := &LoadResult{ApprovedPerSec: 5000, Throughput: 5500, Approved: 25000, Responses: 27500, Declined: 2500,
		ResponseCodes: map[string]int64{"00": 25000, "96": 2500}, ErrorKinds: map[string]int64{"timeout": 3}, Errors: 3, Latency: Latency{P99: 25}}
	targets := BenchTargets{MinRatio: 0.7, MaxP99ms: 20}
	for _, tc := range []struct {
		name string
		row  BenchRow
		ok   bool
		why  []string
	}{
		{"met", BenchRow{Label: "4x64", Host: good, Echo: echo}, true, []string{"met"}},
		{"missed", BenchRow{Label: "4x64", Host: slow, Echo: echo}, false, []string{"ratio 0.50 < 0.70", "p99 25.00 ms > 20 ms", "2503 errors", "96:2500", "timeout:3"}},
		{"missing", BenchRow{Label: "4x64", Echo: echo}, false, []string{"no result"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := tc.row.Verdict(targets)
			if ok != tc.ok {
				t.Fatalf("ok = %v (%s)", ok, why)
			}
			for _, w := range tc.why {
				if !strings.Contains(why, w) {
					t.Fatalf("verdict %q lacks %q", why, w)
				}
			}
		})
	}
	var b bytes.Buffer
	WriteBenchTable(&b, []BenchRow{{Label: "1x1", Host: good, Echo: echo}, {Label: "16x256"}})
	out := b.String()
	for _, w := range []string{"payments/s", "echo/s", "ratio", "8000", "10000", "0.80", "16x256"} {
		if !strings.Contains(out, w) {
			t.Fatalf("table lacks %q:\n%s", w, out)
		}
	}
}

func TestVerdictRounds(t *testing.T) {
	echo := &LoadResult{Throughput: 10000, Responses: 50000, Approved: 50000}
	host := func(perSec float64, p99 float64, errs int64) *LoadResult {
		return &LoadResult{ApprovedPerSec: perSec, Throughput: perSec, Errors: errs, Latency: Latency{P99: p99}}
	}
	targets := BenchTargets{MinRatio: 0.7, MaxP99ms: 20}
	for _, tc := range []struct {
		name   string
		rounds []*LoadResult
		ok     bool
		median int
		why    string
	}{
		{"one low round of three", []*LoadResult{host(7500, 10, 0), host(6500, 10, 0), host(7200, 10, 0)}, true, 2, "met"},
		{"two low rounds of three", []*LoadResult{host(6900, 10, 0), host(6500, 10, 0), host(7200, 10, 0)}, false, 0, "median ratio 0.69 < 0.70"},
		{"p99 missed in one round", []*LoadResult{host(7500, 10, 0), host(7500, 25, 0), host(7500, 10, 0)}, false, 0, "round 2: p99 25.00 ms > 20 ms"},
		{"errors in one round", []*LoadResult{host(7500, 10, 0), host(7500, 10, 0), host(7500, 10, 4)}, false, 0, "round 3: 4 errors"},
		{"even count takes the lower middle", []*LoadResult{host(8000, 10, 0), host(6000, 10, 0)}, false, 1, "median ratio 0.60"},
		{"a missing round", []*LoadResult{host(8000, 10, 0), nil, host(8000, 10, 0)}, false, 1, "round 2: no result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rows []BenchRow
			for _, h := range tc.rounds {
				rows = append(rows, BenchRow{Label: "4x64", Host: h, Echo: echo})
			}
			ok, why, median := VerdictRounds(rows, targets)
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Fatalf("got %v %q, want %v containing %q", ok, why, tc.ok, tc.why)
			}
			if tc.median >= 0 && tc.ok && median != tc.median {
				t.Fatalf("median round %d, want %d", median, tc.median)
			}
		})
	}
	if ok, why, _ := VerdictRounds(nil, targets); ok || why != "no result" {
		t.Fatalf("no rounds: %v %q", ok, why)
	}
}
