package billpay

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPay64: durable payments through the core on the real ledger (Pebble on disk,
// synced group commits) from 64 concurrent callers, each on accounts of its own.
// Reports payments/s.
func BenchmarkPay64(b *testing.B) {
	ctx := context.Background()
	st := openLedger(b, b.TempDir(), nil)
	defer st.Close()
	c, err := New(Options{Ledger: st, Registry: DemoRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	const callers, perCaller = 64, 16
	var f bytes.Buffer
	f.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="BENCH" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="delta">
`)
	for i := range callers * perCaller {
		fmt.Fprintf(&f, `<account number="%d" name="Bench Payer"><debt service="ELEC" period="202609" amount="9000000.00"/><debt service="GARBAGE" period="202609" amount="9000000.00"/></account>
`, 3000000000+i)
	}
	f.WriteString("</debts>\n")
	if _, err := c.ImportBytes(ctx, f.Bytes(), nil); err != nil {
		b.Fatal(err)
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	s0 := st.Stats()
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				acct := strconv.Itoa(3000000000 + w*perCaller + k%perCaller)
				req := PaymentRequest{Key: []byte(run + "-" + strconv.FormatInt(i, 10)), Target: Target{Provider: "AZERISIQ", Account: acct},
					Amount: 150, Currency: 944, Channel: ChannelATM, Method: MethodCard, Acquirer: "100001", Terminal: "ATM00001"}
				if _, err := c.Pay(ctx, req); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "payments/s")
	if s1 := st.Stats(); s1.Groups > s0.Groups {
		b.ReportMetric(float64(s1.Commands-s0.Commands)/float64(s1.Groups-s0.Groups), "cmds/group")
	}
}

// gendataPath returns a debt list of the conformance kit's generator (provider
// AZERISIQ, seed 7, full), generated once into the temp directory (the same name the
// debtfile benchmarks use, so one file serves both). Skips without the generator.
func gendataPath(tb testing.TB, accounts int) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "shared", "conformance")
	if d := os.Getenv("BILLPAY_CONFORMANCE"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "gendata", "main.go")); err != nil {
		tb.Skipf("gendata not available: %v", err)
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("debtfile-gendata-AZERISIQ-full-%d.xml", accounts))
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command")
	}
	tmp := out + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goBin, "run", "./cmd/gendata", "-provider", "AZERISIQ", "-accounts", strconv.Itoa(accounts), "-seed", "7", "-mode", "full", "-out", tmp)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		tb.Skipf("gendata failed: %v: %s", err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// vmHWM returns the process's peak resident set (kB) from /proc/self/status.
func vmHWM() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// BenchmarkImport1M: a generated 1,000,000-account debt list imported through the core
// into the real ledger (two streaming passes, one atomic durable command). Reports
// accounts/s and the process's peak RSS during the import (VmHWM, reset before it).
func BenchmarkImport1M(b *testing.B) {
	path := gendataPath(b, 1_000_000)
	ctx := context.Background()
	var accounts int
	var el time.Duration
	var peak int64
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		st := openLedger(b, dir, nil)
		c, err := New(Options{Ledger: st, Registry: DemoRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		debug.FreeOSMemory()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
		b.StartTimer()
		start := time.Now()
		res, err := c.ImportFile(ctx, path, "", nil)
		el += time.Since(start)
		b.StopTimer()
		peak = max(peak, vmHWM())
		if err != nil {
			b.Fatal(err)
		}
		accounts += res.Accounts
		// The import is durable and readable.
		if _, err := c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "2000000001"}); err != nil {
			b.Fatal(err)
		}
		st.Close()
		os.RemoveAll(dir)
	}
	b.ReportMetric(float64(accounts)/el.Seconds(), "accounts/s")
	b.ReportMetric(float64(peak)/1024, "peakRSS-MB")
}
