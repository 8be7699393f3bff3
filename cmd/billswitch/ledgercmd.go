package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/billswitch/billswitch/ledger"
)

func cmdLedger(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageErr("ledger: want `billswitch ledger verify --data DIR`")
	}
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "Pebble data directory (the host must not be running on it)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("ledger verify: unexpected arguments %v", fs.Args())
	}
	rep, err := ledger.Verify(*data)
	fmt.Fprint(stdout, rep.String())
	if err != nil {
		if errors.Is(err, ledger.ErrVerify) {
			return fmt.Errorf("ledger verify: %w", err)
		}
		return err
	}
	fmt.Fprintln(stdout, "ledger verify: OK")
	return nil
}
