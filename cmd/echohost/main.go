// Command echohost is a stock moov-io/iso8583-connection server that answers every
// ISO 8583 request with a trivial response in the host's dialect (0200 → 0210/00 and
// so on): the yardstick the end-to-end benchmark compares the host with.
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

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `echohost — a stock moov-io/iso8583-connection echo server in the host's dialect

usage:
  echohost [--link pc] [--addr 127.0.0.1:8683]

Every request gets its response MTI with DE 39 00 and DE 3, 4, 7, 11, 32, 37, 41, 49, 70
copied. It prints "listening on ADDR" once bound, then serves until SIGINT/SIGTERM.

flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echohost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	link := fs.String("link", "pc", "dialect and framing: pc (pc87a) or term (term87b)")
	addr := fs.String("addr", "127.0.0.1:8683", "listen address (port 0 picks one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var d *specs.Dialect
	var err error
	switch *link {
	case "pc":
		d, err = specs.NewPC87A()
	case "term":
		d, err = specs.NewTerm87B()
	default:
		fmt.Fprintf(stderr, "echohost: --link %q: want pc or term\n", *link)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "echohost:", err)
		return 1
	}
	e := simulators.NewEchoServer(d)
	if err := e.Start(*addr); err != nil {
		fmt.Fprintln(stderr, "echohost:", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s (%s)\n", e.Addr, d.Name())
	<-ctx.Done()
	e.Close()
	return 0
}
