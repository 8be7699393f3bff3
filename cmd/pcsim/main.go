// Command pcsim is a processing-centre simulator on the host's PC link (pc87a): it
// signs on, originates ATM and internet bill payments (inquiry, choice of account or
// automatic split, payment, reversal advice on timeout) and answers the host's card
// authorizations as issuer, per BIN or at random rates.
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
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/simulators"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `pcsim — processing-centre simulator (PC link, pc87a)

usage:
  pcsim --addr 127.0.0.1:8583 --count 3 --amount 1.50            three ATM payments on 1000000001
  pcsim --addr 127.0.0.1:8583 --channel internet --regcode CODE --choose-account --amount 0
  pcsim --addr 127.0.0.1:8583 --count 0 --rule 4999=decline:51 --rule 4111=delay:9s
                                                   serve as card issuer only, until Ctrl-C
  pcsim --listen 127.0.0.1:7001 --count 0          wait for the host to dial (registry "dial")

Issuer rules (--rule, repeatable; the longest BIN prefix wins): PREFIX=approve,
PREFIX=decline[:CODE], PREFIX=delay:DURATION, PREFIX=noanswer, PREFIX=disconnect.
Cards no rule names follow the --*-rate flags (the rest is approved).

flags:
`

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pcsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var rules multi
	fs.Var(&rules, "rule", "issuer behaviour for a BIN prefix (repeatable)")
	var (
		addr        = fs.String("addr", "127.0.0.1:8583", "host PC link to dial")
		listen      = fs.String("listen", "", "accept the host's connections here instead of dialling")
		institution = fs.String("institution", "100001", "DE 32 of this PC")
		atm         = fs.String("atm", "ATM00001", "DE 41 of the ATM")
		web         = fs.String("web", "", "DE 41 of internet payments (default: the ATM's)")
		provider    = fs.String("provider", "AZERISIQ", "provider code")
		account     = fs.String("account", "1000000001", "account paid")
		regcode     = fs.String("regcode", "", "pay by registration code instead of --account")
		choose      = fs.Bool("choose-account", false, "with --regcode: pay the account with most due (tags 01+02) instead of splitting")
		channel     = fs.String("channel", "atm", "atm or internet")
		count       = fs.Int("count", 1, "bill payments to originate (0: none, serve as issuer only)")
		amountS     = fs.String("amount", "1.00", "amount in AZN (0: the whole due)")
		interval    = fs.Duration("interval", 500*time.Millisecond, "pause between payments")
		serveFor    = fs.Duration("serve", 0, "keep answering the host this long after the payments (with --count 0: until Ctrl-C)")
		timeout     = fs.Duration("timeout", 10*time.Second, "response timeout (a payment without answer is reversed by 0420)")
		declRate    = fs.Float64("decline-rate", 0, "share of authorizations declined")
		declCode    = fs.String("decline-code", "51", "response code of random declines")
		delayRate   = fs.Float64("delay-rate", 0, "share of authorizations answered late")
		delay       = fs.Duration("delay", 5*time.Second, "how late")
		noAnsRate   = fs.Float64("noanswer-rate", 0, "share of authorizations never answered")
		discRate    = fs.Float64("disconnect-rate", 0, "share of authorizations answered by closing the connection")
		seed        = fs.Uint64("seed", 0, "random seed (0: clock)")
		jsonOut     = fs.Bool("json", false, "print each payment as a JSON line")
		verbose     = fs.Bool("v", false, "log each authorization (PAN masked)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var parsed []simulators.IssuerRule
	for _, r := range rules {
		ir, err := simulators.ParseIssuerRule(r)
		if err != nil {
			fmt.Fprintln(stderr, "pcsim:", err)
			return 2
		}
		parsed = append(parsed, ir)
	}
	amount, err := simulators.ParseMinor(*amountS)
	if err != nil || amount < 0 {
		fmt.Fprintln(stderr, "pcsim: --amount:", err)
		return 2
	}
	ch := simulators.ChannelATM
	switch *channel {
	case "atm":
	case "internet":
		ch = simulators.ChannelInternet
	default:
		fmt.Fprintf(stderr, "pcsim: --channel %q: want atm or internet\n", *channel)
		return 2
	}
	log := zerolog.Nop()
	if *verbose {
		log = zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true}).With().Timestamp().Logger()
	}
	is := simulators.NewIssuer(parsed, simulators.IssuerRates{
		Decline: *declRate, DeclineCode: *declCode, Delay: *delayRate, DelayFor: *delay, NoAnswer: *noAnsRate, Disconnect: *discRate,
	}, *seed, log)
	pc, err := simulators.NewPC(simulators.PCConfig{Addr: *addr, Listen: *listen, Institution: *institution, ATM: *atm, Web: *web,
		Issuer: is, Timeout: *timeout, Logger: log, Seed: *seed})
	if err != nil {
		fmt.Fprintln(stderr, "pcsim:", err)
		return 1
	}
	defer pc.Close()
	if *listen != "" {
		bound, err := pc.Listen(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "pcsim:", err)
			return 1
		}
		fmt.Fprintf(stdout, "listening on %s for the host\n", bound)
		if err := pc.WaitReady(ctx); err != nil {
			return 0
		}
	} else if err := pc.Connect(ctx); err != nil {
		fmt.Fprintln(stderr, "pcsim:", err)
		return 1
	}
	fmt.Fprintf(stdout, "signed on as PC %s\n", *institution)
	target := simulators.AccountTarget(*provider, *account)
	if *regcode != "" {
		target = simulators.RegCodeTarget(*regcode)
	}
	failed := 0
	for i := 0; i < *count && ctx.Err() == nil; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(*interval):
			}
		}
		out, err := pc.PayBill(ctx, simulators.BillPayment{Channel: ch, Target: target, Amount: amount, ChooseAccount: *choose})
		if err != nil {
			fmt.Fprintf(stdout, "%s %s: %v\n", ch, target, err)
			failed++
			continue
		}
		if out.RC != "00" {
			failed++
		}
		printOutcome(stdout, out, *jsonOut)
	}
	wait := *serveFor
	if *count == 0 && wait == 0 {
		fmt.Fprintln(stdout, "answering the host as card issuer until Ctrl-C")
		<-ctx.Done()
	} else if wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	st := is.Stats()
	if st.Authorizations > 0 || st.Advices > 0 {
		fmt.Fprintf(stdout, "issuer: %d authorizations %v, %d reversal advices\n", st.Authorizations, st.ByAction, st.Advices)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func printOutcome(w io.Writer, out simulators.BillOutcome, asJSON bool) {
	if asJSON {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"channel": out.Channel, "target": out.Target.String(), "amount": simulators.FormatMinor(out.Amount),
			"rc": out.RC, "auth_id": out.Result.AuthID, "receipt": out.Result.Receipt, "allocated": out.Result.Allocated,
			"timed_out": out.TimedOut, "reversed": out.Reversed, "latency_ms": float64(out.Latency.Microseconds()) / 1000, "card": out.MaskedPAN,
		})
		return
	}
	switch {
	case out.Inquiry.RC != "00":
		fmt.Fprintf(w, "%s %s: inquiry declined %s\n", out.Channel, out.Target, out.Inquiry.RC)
	case out.TimedOut:
		fmt.Fprintf(w, "%s %s %s AZN: no answer in time; reversal advice acknowledged: %v\n", out.Channel, out.Target, simulators.FormatMinor(out.Amount), out.Reversed)
	case out.RC != "00":
		fmt.Fprintf(w, "%s %s %s AZN: declined %s\n", out.Channel, out.Target, simulators.FormatMinor(out.Amount), out.RC)
	default:
		fmt.Fprintf(w, "%s %s %s AZN card %s: approved %s receipt %s (%s)\n", out.Channel, out.Target, simulators.FormatMinor(out.Amount),
			out.MaskedPAN, out.Result.AuthID, out.Result.Receipt, allocString(out.Result.Allocated))
	}
}

func allocString(ds []simulators.Debt) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s:%s:%s=%s", d.Account, d.Service, d.Period, simulators.FormatMinor(d.Amount))
	}
	return strings.Join(parts, " ")
}
