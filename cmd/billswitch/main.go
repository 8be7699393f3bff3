// Command billswitch is the bill-payment switch: `billswitch serve` runs the host;
// other subcommands operate on its data directory. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

const usage = `billswitch — national bill-payment switch

usage:
  billswitch serve [flags]                 run the host (billswitch serve --help)
  billswitch demo [--duration 10s]         the demo host plus simulated traffic from every channel,
                                           then a summary: payments by channel, a receipt, a register
  billswitch ledger verify --data DIR      verify the journal chain and the balances
  billswitch import [flags] FILE           apply a provider debt list (billswitch import --help)
  billswitch clearing run --date D [--close]   clear a closed business day: registers, positions, payout
  billswitch clearing list                 list the cleared days and their files
  billswitch providers list|show|check|export|add|remove   manage the provider registry file
  billswitch version
`

// run dispatches a command line; it returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr, getenv)
	case "ledger":
		err = cmdLedger(ctx, args[1:], stdout, stderr)
	case "providers":
		err = cmdProviders(ctx, args[1:], stdout, stderr, getenv)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr, getenv)
	case "clearing":
		err = cmdClearing(ctx, args[1:], stdout, stderr, getenv)
	case "import":
		err = cmdImport(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "billswitch", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "billswitch: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "billswitch:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "billswitch:", err)
		return 1
	}
}

var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}
