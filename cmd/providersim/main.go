// Command providersim is a provider simulator: it writes debt lists
// (provider-exchange.md §1) and receives payment notices (§3) over HTTP.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/billswitch/billswitch/simulators"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `providersim — provider simulator

usage:
  providersim debts --provider AZERISIQ --accounts 1000 --amount 1000.00 --out load.xml
      write a debt list (PE §1): accounts 9000000001… (--first), one debt per service and
      period; apply it with: billswitch import --data DIR --demo load.xml
  providersim notices --addr 127.0.0.1:8090 [--fail-rate 0.1]
      receive payment notices (PE §3): POST JSON (an object or an array) to any path;
      GET /stats for the counts; prints them every --every and at exit
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "debts":
		return debts(args[1:], stdout, stderr)
	case "notices":
		return notices(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "providersim: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func debts(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("providersim debts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		provider = fs.String("provider", "AZERISIQ", "provider code")
		accounts = fs.Int("accounts", 1000, "number of accounts")
		first    = fs.Uint64("first", 9000000001, "first account number")
		periods  = fs.Int("periods", 1, "periods of debt per service")
		amountS  = fs.String("amount", "0", "each debt in AZN (0: random 1.00–50.00)")
		mode     = fs.String("mode", "delta", "full or delta (full closes every account not listed)")
		fileID   = fs.String("file-id", "", "file id (default PROVIDER-DATE-SIMnnnnn)")
		created  = fs.String("created", "", "created time, RFC 3339 (default now)")
		seed     = fs.Uint64("seed", 1, "seed: the same seed gives the same file")
		out      = fs.String("out", "-", "output file (- for stdout)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	amount, err := simulators.ParseMinor(*amountS)
	if err != nil || amount < 0 {
		fmt.Fprintln(stderr, "providersim: --amount:", err)
		return 2
	}
	f := simulators.DebtFile{Provider: *provider, FileID: *fileID, Mode: *mode, First: *first, Accounts: *accounts, Periods: *periods, Amount: amount, Seed: *seed}
	if *created != "" {
		if f.Created, err = time.Parse(time.RFC3339, *created); err != nil {
			fmt.Fprintln(stderr, "providersim: --created:", err)
			return 2
		}
	}
	w := stdout
	if *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, "providersim:", err)
			return 1
		}
		defer file.Close()
		w = file
	}
	if err := simulators.WriteDebtFile(w, f); err != nil {
		fmt.Fprintln(stderr, "providersim:", err)
		return 1
	}
	return 0
}

func notices(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("providersim notices", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	failRate := fs.Float64("fail-rate", 0, "share of posts answered 503 (the host must send them again)")
	every := fs.Duration("every", 10*time.Second, "print the counts this often")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rcv := &simulators.NoticeReceiver{FailRate: *failRate, Seed: uint64(time.Now().UnixNano())}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "providersim:", err)
		return 1
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "receiving notices on http://%s/\n", ln.Addr())
	t := time.NewTicker(*every)
	defer t.Stop()
	enc := json.NewEncoder(stdout)
	for {
		select {
		case <-t.C:
			_ = enc.Encode(rcv.Stats())
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
			_ = enc.Encode(rcv.Stats())
			return 0
		}
	}
}
