// Command loadgen drives a host's ISO 8583 link (or the echo server) with N
// connections × M requests in flight, or at a constant rate, and reports throughput,
// latency percentiles (HDR histogram), response codes and errors, as text or JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `loadgen — load generator for the host's ISO 8583 links

usage:
  loadgen --addr 127.0.0.1:8583 [--link pc] --conns 4 --inflight 64 --duration 10s [flags]
  loadgen --link term --addr 127.0.0.1:8584 --rate 500 --duration 1m --mix inquiry=20,payment=70,reversal=10
  loadgen ports [N]        print N free TCP ports of 127.0.0.1 (for scripts)
  loadgen compare [--min-ratio 0.7 --max-p99 20 --check 4x64] LABEL HOST.json ECHO.json [LABEL HOST.json ECHO.json …]

Closed loop (default): each of --conns connections keeps --inflight requests in flight.
Constant rate (--rate R): R requests a second in total, at most --inflight per
connection at once; latency counts from each request's scheduled start.
The run stops after --duration or --count requests, whichever comes first.
On the PC link every connection signs on (0800/001) first, payments carry card data
(authorized by the PC), and the host's authorizations on these connections are approved;
on the terminal link payments are cash unless --card (then run a PC simulator, or give
--issuer PC-LINK-ADDR, so that the host can have the cards authorized).

flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ports" {
		return ports(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var (
		link        = fs.String("link", "pc", "link: pc (pc87a, 4-digit header) or term (term87b, 2-byte header)")
		addr        = fs.String("addr", "127.0.0.1:8583", "host address")
		institution = fs.String("institution", "100001", "DE 32 on the PC link")
		terminal    = fs.String("terminal", "", "DE 41 (default ATM00001 on pc, T0000001 on term)")
		provider    = fs.String("provider", "AZERISIQ", "provider code (DE 48 tag 01)")
		accounts    = fs.String("accounts", "1000000001", "accounts paid in turn: a list and/or FIRST-LAST ranges")
		amount      = fs.Int64("amount", 1, "amount of each payment in minor units")
		card        = fs.Bool("card", false, "card payments on the terminal link (the host asks the card's PC)")
		conns       = fs.Int("conns", 1, "connections")
		inflight    = fs.Int("inflight", 1, "requests in flight per connection")
		rate        = fs.Float64("rate", 0, "requests per second in total (0: closed loop)")
		duration    = fs.Duration("duration", 10*time.Second, "how long to run (0: until --count)")
		count       = fs.Int64("count", 0, "stop after this many requests (0: until --duration)")
		warmup      = fs.Duration("warmup", 0, "run this long first without counting")
		timeout     = fs.Duration("timeout", 10*time.Second, "per-request timeout")
		mixFlag     = fs.String("mix", "payment=100", "operation weights: inquiry=N,payment=N,reversal=N")
		revMTI      = fs.String("reversal-mti", "0420", "MTI of reversals: 0420 (advice) or 0400 (void)")
		noSignOn    = fs.Bool("no-sign-on", false, "do not sign on (PC link)")
		seed        = fs.Uint64("seed", 0, "seed of the operation mix (0: clock)")
		jsonOut     = fs.Bool("json", false, "print the result as JSON")
		cpuProfile  = fs.String("cpuprofile", "", "write the load generator's own CPU profile to this file")
		progress    = fs.Duration("progress", 0, "print the figures so far to stderr this often (0: never)")
		issuerAddr  = fs.String("issuer", "", "also connect a PC simulator (approving every authorization) to this PC link, for --card on the terminal link")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var d *specs.Dialect
	var err error
	var l specs.Link
	switch *link {
	case "pc":
		l = specs.LinkPC
		d, err = specs.NewPC87A()
	case "term":
		l = specs.LinkTerminal
		d, err = specs.NewTerm87B()
	default:
		fmt.Fprintf(stderr, "loadgen: --link %q: want pc or term\n", *link)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	mix, err := simulators.ParseMix(*mixFlag)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	targets, err := simulators.ParseTargets(*provider, *accounts)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if *revMTI != "0420" && *revMTI != "0400" {
		fmt.Fprintln(stderr, "loadgen: --reversal-mti must be 0420 or 0400")
		return 2
	}
	if *duration <= 0 && *count <= 0 {
		fmt.Fprintln(stderr, "loadgen: set --duration or --count")
		return 2
	}
	cfg := simulators.LoadConfig{
		Link: l, Addr: *addr, Institution: *institution, Terminal: *terminal, Targets: targets,
		Amount: *amount, Card: *card, Conns: *conns, InFlight: *inflight, Rate: *rate,
		Duration: *duration, Count: *count, Warmup: *warmup, Timeout: *timeout, Mix: mix,
		ReversalMTI: *revMTI, NoSignOn: *noSignOn, Seed: *seed,
	}
	if *progress > 0 {
		cfg.ProgressEvery = *progress
		cfg.Progress = func(p simulators.Progress) {
			fmt.Fprintf(stderr, "%8.0fs  %d responses (%d approved), %d errors, %.0f/s\n",
				p.Elapsed.Seconds(), p.Responses, p.Approved, p.Errors, p.Rate)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	keys := simulators.NewKeys()
	if *issuerAddr != "" {
		pc, err := simulators.NewPC(simulators.PCConfig{Addr: *issuerAddr, Institution: *institution, Keys: keys, Timeout: *timeout})
		if err == nil {
			err = pc.Connect(ctx)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen: --issuer:", err)
			return 1
		}
		defer pc.Close()
	}
	res, err := simulators.RunLoad(ctx, cfg, d, keys)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	} else {
		res.WriteText(stdout)
	}
	return 0
}
