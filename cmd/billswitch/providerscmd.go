package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/billswitch/billswitch/billpay"
)

const providersUsage = `usage:
  billswitch providers list   [--providers FILE | --demo]
  billswitch providers show   [--providers FILE | --demo] CODE
  billswitch providers check  --providers FILE
  billswitch providers export [--providers FILE | --demo]          registry as YAML on stdout
  billswitch providers add    --providers FILE --from NEW.yaml     add or replace the providers of NEW.yaml
  billswitch providers remove --providers FILE CODE

The host reads the provider registry when it starts; restart it after a change.`

// cmdProviders manages the provider registry file (provider-exchange.md §0).
func cmdProviders(_ context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, providersUsage)
		return usageErr("providers: want a subcommand")
	}
	sub := args[0]
	fs := flag.NewFlagSet("providers "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, providersUsage) }
	path := fs.String("providers", getenv("BILLSWITCH_PROVIDERS"), "provider registry YAML")
	demo := fs.Bool("demo", false, "the embedded demo registry (read-only)")
	from := fs.String("from", "", "YAML file with the providers to add (add)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	reg, err := loadProviders(*path, *demo)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tNAME\tCURRENCY\tCOMMISSION\tSIGNED\tSERVICES")
		for _, p := range reg.Providers() {
			var svcs []string
			for _, s := range p.Services {
				svcs = append(svcs, s.Code)
			}
			fmt.Fprintf(tw, "%s\t%s\t%03d\t%s\t%v\t%s\n", p.Code, p.Name, p.Currency, commissionString(p), len(p.PublicKey) > 0, strings.Join(svcs, ","))
		}
		return tw.Flush()
	case "show", "remove":
		if fs.NArg() != 1 {
			return usageErr("providers %s: want one provider CODE", sub)
		}
		code := fs.Arg(0)
		p, ok := reg.Provider(code)
		if !ok {
			return fmt.Errorf("providers %s: unknown provider %q", sub, code)
		}
		if sub == "show" {
			one, err := billpay.NewRegistry(*p)
			if err != nil {
				return err
			}
			return one.WriteYAML(stdout)
		}
		if *demo || *path == "" {
			return usageErr("providers remove: needs --providers FILE (the demo registry is read-only)")
		}
		next, err := reg.Without(code)
		if err != nil {
			return err
		}
		if err := writeRegistry(*path, next); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s from %s\n", code, *path)
		return nil
	case "check":
		fmt.Fprintf(stdout, "%s: %d providers, valid\n", *path, len(reg.Providers()))
		return nil
	case "export":
		return reg.WriteYAML(stdout)
	case "add":
		if *demo || *path == "" || *from == "" {
			return usageErr("providers add: needs --providers FILE and --from NEW.yaml")
		}
		add, err := billpay.LoadRegistry(*from)
		if err != nil {
			return err
		}
		next := reg
		var codes []string
		for _, p := range add.Providers() {
			if next, err = next.With(*p); err != nil {
				return fmt.Errorf("providers add %s: %w", p.Code, err)
			}
			codes = append(codes, p.Code)
		}
		if err := writeRegistry(*path, next); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to %s\n", strings.Join(codes, ", "), *path)
		return nil
	default:
		fmt.Fprintln(stderr, providersUsage)
		return usageErr("providers: unknown subcommand %q", sub)
	}
}

func commissionString(p *billpay.Provider) string {
	c := p.Commission
	s := fmt.Sprintf("%d.%04d%%", c.PercentE4/10000, c.PercentE4%10000)
	s = strings.TrimRight(strings.TrimRight(s[:len(s)-1], "0"), ".") + "%"
	return fmt.Sprintf("%s min %s max %s", s, minorString(c.Min, p.MinorDigits), minorString(c.Max, p.MinorDigits))
}

// minorString shows minor units as a decimal ("1000", 2 → "10.00").
func minorString(v int64, digits int) string {
	if digits <= 0 {
		return fmt.Sprint(v)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, v/scale, digits, v%scale)
}

// writeRegistry replaces the registry file atomically, after checking that what it
// writes reads back as the same registry.
func writeRegistry(path string, reg *billpay.Registry) error {
	var buf bytes.Buffer
	if err := reg.WriteYAML(&buf); err != nil {
		return err
	}
	if _, err := billpay.ParseRegistry(path, buf.Bytes()); err != nil {
		return fmt.Errorf("the new registry would not load: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".providers-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
