package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/billswitch/billswitch/simulators"
)

// compare prints the end-to-end benchmark table from pairs of --json results, and
// the verdict of one configuration against the targets (over its rounds when its label
// is given more than once).
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
	// A label given more than once is rounds of one configuration: shown as "4x64 #1" …
	// and judged by VerdictRounds (the median round's ratio; p99 and errors in each).
	count := map[string]int{}
	for _, r := range rows {
		count[r.Label]++
	}
	shown := make([]simulators.BenchRow, len(rows))
	seen := map[string]int{}
	var rounds []simulators.BenchRow
	for i, r := range rows {
		shown[i] = r
		if count[r.Label] > 1 {
			seen[r.Label]++
			shown[i].Label = fmt.Sprintf("%s #%d", r.Label, seen[r.Label])
		}
		if r.Label == *check {
			rounds = append(rounds, r)
		}
	}
	simulators.WriteBenchTable(stdout, shown)
	if *check == "" {
		return 0
	}
	targets := simulators.BenchTargets{MinRatio: *minRatio, MaxP99ms: *maxP99}
	var ok bool
	var why, of string
	switch len(rounds) {
	case 0:
		why = "no result"
	case 1:
		ok, why = rounds[0].Verdict(targets)
	default:
		var median int
		ok, why, median = simulators.VerdictRounds(rounds, targets)
		ratios := make([]string, len(rounds))
		for i, r := range rounds {
			ratios[i] = fmt.Sprintf("%.2f", r.Ratio())
		}
		of = fmt.Sprintf(", median of %d rounds: #%d (ratios %s)", len(rounds), median+1, strings.Join(ratios, " "))
	}
	state := "MET"
	if !ok {
		state = "MISSED"
	}
	fmt.Fprintf(stdout, "targets at %s (payments ≥ %.2f × echo, p99 ≤ %.0f ms, 0 errors%s): %s — %s\n", *check, *minRatio, *maxP99, of, state, why)
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
