package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/billswitch/billswitch/simulators"
)

// compare prints the end-to-end benchmark table from pairs of --json results, and
// the verdict of one configuration against the targets.
func compare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: loadgen compare [flags] LABEL HOST.json ECHO.json [LABEL HOST.json ECHO.json …]\n\nA missing or unreadable file shows as '-'.\n\nflags:\n")
		fs.PrintDefaults()
	}
	minRatio := fs.Float64("min-ratio", 0.7, "target: host payments/s ÷ echo/s")
	maxP99 := fs.Float64("max-p99", 20, "target: host p99 latency, ms")
	check := fs.String("check", "4x64", "the configuration checked against the targets (\"\": none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 || len(rest)%3 != 0 {
		fs.Usage()
		return 2
	}
	var rows []simulators.BenchRow
	for i := 0; i < len(rest); i += 3 {
		rows = append(rows, simulators.BenchRow{Label: rest[i], Host: readResult(rest[i+1], stderr), Echo: readResult(rest[i+2], stderr)})
	}
	simulators.WriteBenchTable(stdout, rows)
	for _, r := range rows {
		if r.Label != *check {
			continue
		}
		ok, why := r.Verdict(simulators.BenchTargets{MinRatio: *minRatio, MaxP99ms: *maxP99})
		state := "MET"
		if !ok {
			state = "MISSED"
		}
		fmt.Fprintf(stdout, "targets at %s (payments ≥ %.2f × echo, p99 ≤ %.0f ms, 0 errors): %s — %s\n", r.Label, *minRatio, *maxP99, state, why)
	}
	return 0
}

func readResult(path string, stderr io.Writer) *simulators.LoadResult {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen compare:", err)
		return nil
	}
	var r simulators.LoadResult
	if err := json.Unmarshal(b, &r); err != nil {
		fmt.Fprintf(stderr, "loadgen compare: %s: %v\n", path, err)
		return nil
	}
	return &r
}
