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
