package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: billswitch import [--data DIR] [--providers FILE | --demo] [--sig FILE.sig] FILE\n\nApplies a provider debt list (provider-exchange §1) whole or not at all. The host must not be running on DIR.")
		fs.PrintDefaults()
	}
	data := fs.String("data", envOr(getenv, "BILLSWITCH_DATA", "./data"), "Pebble data directory")
	providers := fs.String("providers", getenv("BILLSWITCH_PROVIDERS"), "provider registry YAML")
	demo := fs.Bool("demo", false, "use the embedded demo provider registry")
	sig := fs.String("sig", "", "detached Ed25519 signature (base64) of FILE")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageErr("import: want exactly one FILE")
	}
	path := fs.Arg(0)
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	log := zerolog.New(stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	store, core, err := openCore(*data, *providers, *demo, time.Local, log)
	if err != nil {
		return err
	}
	defer store.Close()

	progress := func(int, int64) {}
	if !*quiet && isTerminal(stderr) {
		last := time.Now()
		progress = func(pass int, n int64) {
			if time.Since(last) < 200*time.Millisecond {
				return
			}
			last = time.Now()
			name := "validating"
			if pass == 2 {
				name = "applying"
			}
			fmt.Fprintf(stderr, "\r%s %s: %5.1f%%", name, path, 100*float64(n)/float64(max(st.Size(), 1)))
		}
	}
	res, err := core.ImportFile(ctx, path, *sig, progress)
	if !*quiet && isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return fmt.Errorf("import %s refused, nothing applied: %w", path, err)
	}
	fmt.Fprintf(stdout, "imported %s: provider %s, file-id %s, mode %v: %d accounts, %d debts, %d closed\n",
		path, res.Header.Provider, res.Header.FileID, res.Header.Mode, res.Accounts, res.Debts, res.Closed)
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// isTerminal reports whether w is a character device (progress lines only go there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
