package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/billpay/clearing"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/switch/bills"
)

func cmdClearing(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "run" && args[0] != "list") {
		return usageErr("clearing: want `billswitch clearing run --date YYYY-MM-DD` or `billswitch clearing list`")
	}
	sub := args[0]
	fs := flag.NewFlagSet("clearing "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr(getenv, "BILLSWITCH_DATA", "./data"), "Pebble data directory (the host must not be running on it)")
	var date, providers, tzName *string
	var demo, closeDay *bool
	if sub == "run" {
		date = fs.String("date", "", "business date to clear, YYYY-MM-DD (required)")
		providers = fs.String("providers", getenv("BILLSWITCH_PROVIDERS"), "provider registry YAML")
		demo = fs.Bool("demo", false, "use the embedded demo provider registry")
		closeDay = fs.Bool("close", false, "close the business day first if it is still open (cutover)")
		tzName = fs.String("timezone", envOr(getenv, "BILLSWITCH_TIMEZONE", "Asia/Baku"), "time zone of payment times in the registers")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("clearing %s: unexpected arguments %v", sub, fs.Args())
	}
	dir := filepath.Join(*data, "clearing")
	if sub == "list" {
		days, err := clearing.List(dir)
		if err != nil {
			return err
		}
		if len(days) == 0 {
			fmt.Fprintln(stdout, "no cleared days in", dir)
		}
		for _, d := range days {
			fmt.Fprintf(stdout, "%s  %s  %d files\n", dateString(d.Date), d.Dir, len(d.Files))
		}
		return nil
	}

	d, err := parseDate(*date)
	if err != nil {
		return usageErr("clearing run: --date: %v", err)
	}
	tz, err := time.LoadLocation(*tzName)
	if err != nil {
		return usageErr("clearing run: --timezone: %v", err)
	}
	log := zerolog.New(stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	store, core, err := openCore(*data, *providers, *demo, tz, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if *closeDay && d >= store.BusinessDate() {
		if err := clearing.CloseDay(ctx, core, d); err != nil {
			return fmt.Errorf("closing %s: %w", *date, err)
		}
	}
	var progress func(clearing.Progress)
	if isTerminal(stderr) {
		progress = clearing.ProgressPrinter(stderr)
	}
	res, err := runClearing(ctx, core, store, d, dir, tz, progress, log)
	if err != nil {
		if errors.Is(err, clearing.ErrDayOpen) {
			return fmt.Errorf("%w (add --close to cut over first)", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "cleared %s: %d payments, %d late reversals, %d reversed the same day; %d settlement transfers posted (%d already)\n",
		dateString(res.Date), res.Payments, res.Reversals, res.SameDay, res.Posted, res.Existing)
	for _, f := range res.Files {
		fmt.Fprintf(stdout, "  %s  %8d  %s\n", f.SHA256[:16], f.Size, filepath.Join(res.Dir, f.Name))
	}
	return nil
}

// runClearing clears one closed day, with the switch's 0500 mismatches in its
// reconciliation report.
func runClearing(ctx context.Context, core *billpay.Core, store ledger.Ledger, d ledger.Date, dir string, tz *time.Location, progress func(clearing.Progress), log zerolog.Logger) (*clearing.Result, error) {
	return clearing.Run(ctx, clearing.Deps{
		Core:       core,
		Mismatches: switchMismatches(store),
		Logger:     log,
	}, clearing.Options{Date: d, Dir: dir, Progress: progress, Location: tz})
}

// switchMismatches adapts the switch's record of 0500 mismatches to clearing, which may
// not import the switch.
func switchMismatches(store ledger.Ledger) clearing.MismatchSource {
	return clearing.MismatchFunc(func(ctx context.Context, d ledger.Date) ([]clearing.Mismatch, error) {
		v, err := store.View()
		if err != nil {
			return nil, err
		}
		defer v.Close()
		all, err := bills.AllMismatches(v)
		if err != nil {
			return nil, err
		}
		var out []clearing.Mismatch
		for _, m := range all {
			if m.Date == d {
				out = append(out, clearing.Mismatch{Link: m.Link, Party: m.Party, Date: m.Date,
					STAN: m.STAN, DE7: m.DE7, Theirs: clearing.Figures(m.Theirs), Ours: clearing.Figures(m.Ours)})
			}
		}
		return out, nil
	})
}

func parseDate(s string) (ledger.Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		if n, err2 := strconv.Atoi(s); err2 == nil && len(s) == 8 {
			return ledger.Date(n), nil
		}
		return 0, fmt.Errorf("%q: want YYYY-MM-DD", s)
	}
	return dateOf(t), nil
}

func dateString(d ledger.Date) string {
	return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
}
