package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/terminals"
)

// cmdDemo runs the host with its embedded demo on free loopback ports, drives simulated
// traffic from every channel at it for a while, closes the business day, and prints a
// summary for a person: payments by channel, a receipt, a preview of a register.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Second, "how long the simulated channels send traffic")
	data := fs.String("data", "", "data directory (default: a new temporary one, removed afterwards)")
	logPath := fs.String("log", "", "write the host's log here (default: DATA/host.log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *duration <= 0 {
		return usageErr("demo: want `billswitch demo [--duration 10s] [--data DIR]`")
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "billswitch-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if *logPath == "" {
		*logPath = filepath.Join(dir, "host.log")
	}
	logFile, err := os.Create(*logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()

	// The simulated PC listens; the host dials it, so terminal card payments are
	// authorized on that connection.
	pcListen, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := DefaultConfig()
	cfg.Demo = true
	cfg.Data = filepath.Join(dir, "pebble")
	cfg.PCAddr, cfg.TermAddr, cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(logFile, "info", "json")

	hostCtx, stopHost := context.WithCancel(ctx)
	defer stopHost()
	ready := make(chan readyInfo, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve(hostCtx, cfg, log, getenv, serveHooks{
			registry: terminals.DemoDialling(pcListen),
			ready:    func(r readyInfo) { ready <- r },
		})
	}()
	var addrs readyInfo
	select {
	case addrs = <-ready:
	case err := <-served:
		return fmt.Errorf("host did not start (log: %s): %v", *logPath, err)
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintf(stdout, "billswitch demo: host on PC link %s, terminal link %s, HTTP %s, admin %s\n", addrs.PC, addrs.Term, addrs.HTTP, addrs.Admin)
	fmt.Fprintf(stdout, "demo subscriber registration code: %s; simulated traffic for %s…\n\n", addrs.RegCode, *duration)

	sum, trafficErr := simulators.RunDemoTraffic(ctx, simulators.DemoTargets{
		PCAddr:   addrs.PC,
		TermAddr: addrs.Term,
		PCListen: pcListen,
		RegCode:  addrs.RegCode,
	}, *duration)
	sum.WriteText(stdout)

	// Close the day; the host clears it in the background right after.
	closed, cerr := closeDay(ctx, addrs.Admin)
	if cerr == nil {
		if reg, err := waitForRegister(ctx, filepath.Join(cfg.Data, "clearing", closed), 15*time.Second); err == nil {
			fmt.Fprintf(stdout, "\nRegister for AZERISIQ, business day %s (%s), first lines:\n", closed, reg)
			printHead(stdout, reg, 14)
		} else {
			cerr = err
		}
	}
	stopHost()
	herr := <-served
	fmt.Fprintf(stdout, "\nhost log: %s\n", *logPath)
	return errors.Join(trafficErr, cerr, herr)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// closeDay asks the host to cut over now and returns the closed day as YYYY-MM-DD.
func closeDay(ctx context.Context, admin string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+admin+"/admin/cutover", nil)
	if err != nil {
		return "", err
	}
	var out struct {
		Closed string `json:"closed"`
	}
	if err := doJSON(req, &out); err != nil {
		return "", fmt.Errorf("cutover: %w", err)
	}
	return out.Closed, nil
}

func doJSON(req *http.Request, v any) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitForRegister waits for the day's clearing to finish (its MANIFEST is written
// last) and returns the path of the AZERISIQ register.
func waitForRegister(ctx context.Context, dayDir string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(filepath.Join(dayDir, "MANIFEST")); err == nil {
			reg := filepath.Join(dayDir, "register-AZERISIQ.xml")
			if _, err := os.Stat(reg); err != nil {
				return "", fmt.Errorf("clearing of %s wrote no AZERISIQ register", filepath.Base(dayDir))
			}
			return reg, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("clearing of %s did not finish within %s", filepath.Base(dayDir), limit)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func printHead(w io.Writer, path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(w, err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		line := sc.Text()
		if len(line) > 160 {
			line = line[:157] + "..."
		}
		fmt.Fprintln(w, "  "+line)
	}
}
