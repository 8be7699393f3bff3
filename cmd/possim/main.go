// Command possim is a payment-point terminal simulator on the host's terminal link
// (term87b): sign-on, inquiry, cash and card payments, void, reversal advice on
// timeout, and shift close with a 0500.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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

const usage = `possim — payment-point terminal simulator (terminal link, term87b)

usage:
  possim --addr 127.0.0.1:8584 --count 3 --amount 2.00 --close-shift    three cash payments, then 0500
  possim --addr 127.0.0.1:8584 --card --count 1                           a card payment (the host asks the card's PC)
  possim --addr 127.0.0.1:8584 --count 5 --void-every 2                   void every second approved payment
  possim --addr 127.0.0.1:8584 --count 0                                  inquiry only

Every run signs on (0800/001) and makes an inquiry first. A payment without an answer
within --timeout is reversed by a 0420 advice. --close-shift sends the shift's own
figures (this run's payments and voids) in a 0500 and prints the host's 0510.

flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("possim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var (
		addr      = fs.String("addr", "127.0.0.1:8584", "host terminal link")
		terminal  = fs.String("terminal", "T0000001", "DE 41 of this terminal")
		provider  = fs.String("provider", "AZERISIQ", "provider code")
		account   = fs.String("account", "1000000001", "account paid")
		regcode   = fs.String("regcode", "", "pay by registration code instead of --account")
		count     = fs.Int("count", 1, "payments to make (0: inquiry only)")
		amountS   = fs.String("amount", "1.00", "amount of each payment in AZN")
		card      = fs.Bool("card", false, "card payments (with track 2 and PIN block) instead of cash")
		pan       = fs.String("pan", "", "card number (default a generated Luhn-valid 416973… card)")
		voidEvery = fs.Int("void-every", 0, "void (0400) every Nth approved payment (0: never)")
		closeSh   = fs.Bool("close-shift", false, "send the shift's figures in a 0500 at the end")
		timeout   = fs.Duration("timeout", 10*time.Second, "response timeout")
		interval  = fs.Duration("interval", 200*time.Millisecond, "pause between payments")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	amount, err := simulators.ParseMinor(*amountS)
	if err != nil || amount <= 0 {
		fmt.Fprintln(stderr, "possim: --amount must be a positive amount in AZN")
		return 2
	}
	if *pan != "" && !simulators.LuhnValid(*pan) {
		fmt.Fprintln(stderr, "possim: --pan fails the Luhn check (the host would answer 14)")
	}
	pos, err := simulators.DialPOS(ctx, simulators.POSConfig{Addr: *addr, Terminal: *terminal, Timeout: *timeout})
	if err != nil {
		fmt.Fprintln(stderr, "possim:", err)
		return 1
	}
	defer pos.Close()
	rc, err := pos.SignOn(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "possim: sign-on:", err)
		return 1
	}
	fmt.Fprintf(stdout, "terminal %s signed on: %s\n", *terminal, rc)
	target := simulators.AccountTarget(*provider, *account)
	if *regcode != "" {
		target = simulators.RegCodeTarget(*regcode)
	}
	iq, err := pos.Inquiry(ctx, target)
	if err != nil {
		fmt.Fprintln(stderr, "possim: inquiry:", err)
		return 1
	}
	if iq.RC != "00" {
		fmt.Fprintf(stdout, "inquiry %s: %s\n", target, iq.RC)
		return 1
	}
	fmt.Fprintf(stdout, "inquiry %s: payer %s, due %s AZN in %d debts\n", target, iq.Payer, simulators.FormatMinor(iq.Total), len(iq.Debts))
	failed, approved := 0, 0
	for i := 0; i < *count && ctx.Err() == nil; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(*interval):
			}
		}
		var c *simulators.Card
		if *card || *pan != "" {
			c = simulators.TestCard(uint32(time.Now().UnixNano()))
			if *pan != "" {
				c.PAN, c.Track2 = *pan, *pan+"=281210100000"
			}
		}
		p, err := pos.Pay(ctx, target, amount, c)
		method := "cash"
		if c != nil {
			method = "card " + p.MaskedPAN
		}
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "payment %s: %v\n", method, err)
			failed++
			continue
		case p.TimedOut:
			fmt.Fprintf(stdout, "payment %s %s AZN: no answer; reversal advice acknowledged: %v\n", method, simulators.FormatMinor(amount), p.Reversed)
			failed++
			continue
		case p.RC != "00":
			fmt.Fprintf(stdout, "payment %s %s AZN: declined %s\n", method, simulators.FormatMinor(amount), p.RC)
			failed++
			continue
		}
		approved++
		fmt.Fprintf(stdout, "payment %s %s AZN: approved %s receipt %s (%s)\n", method, simulators.FormatMinor(amount), p.Result.AuthID, p.Result.Receipt, allocString(p.Result.Allocated))
		if *voidEvery > 0 && approved%*voidEvery == 0 {
			rc, err := pos.Void(ctx, p)
			if err != nil {
				fmt.Fprintf(stdout, "void %s: %v\n", p.Result.Receipt, err)
				failed++
			} else {
				fmt.Fprintf(stdout, "void %s: %s\n", p.Result.Receipt, rc)
			}
		}
	}
	if *closeSh {
		sc, err := pos.CloseShift(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "possim: shift close:", err)
			return 1
		}
		state := "out of balance"
		if sc.InBalance {
			state = "in balance"
		}
		fmt.Fprintf(stdout, "shift close %s: 0510 %s, %s\n  terminal: %s\n  host:     %s\n", sc.Date, sc.RC, state, sc.Terminal, sc.Host)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func allocString(ds []simulators.Debt) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s:%s:%s=%s", d.Account, d.Service, d.Period, simulators.FormatMinor(d.Amount))
	}
	return strings.Join(parts, " ")
}
