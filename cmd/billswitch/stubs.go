package main

import (
	"context"
	"io"
)

func cmdLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return usageErr("ledger: not wired yet")
}

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return usageErr("import: not wired yet")
}
