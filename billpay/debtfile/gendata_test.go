package debtfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// conformanceDir is ../shared/conformance (a separate module, not
// imported: its generator is run with `go run`). DEBTFILE_CONFORMANCE
// overrides it.
func conformanceDir() string {
	if d := os.Getenv("DEBTFILE_CONFORMANCE"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "conformance")
}

// gendataFile returns a file written by the conformance kit's gendata
// (provider AZERISIQ, seed 7), generating it once into the temp directory;
// the same arguments give the same bytes, so it is kept for later runs.
// It skips when the generator or the go command is not there.
func gendataFile(tb testing.TB, accounts int, mode string) string {
	tb.Helper()
	dir := conformanceDir()
	if _, err := os.Stat(filepath.Join(dir, "cmd", "gendata", "main.go")); err != nil {
		tb.Skipf("gendata not available: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("no go command to run gendata")
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("debtfile-gendata-AZERISIQ-%s-%d.xml", mode, accounts))
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out
	}
	tmp := out + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goBin, "run", "./cmd/gendata", "-provider", "AZERISIQ", "-accounts", strconv.Itoa(accounts),
		"-seed", "7", "-mode", mode, "-out", tmp)
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

// countTags counts "<account " and "<debt " in a file, and closed accounts.
func countTags(tb testing.TB, path string) (accounts, debts, closed int) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Bytes()
		accounts += bytes.Count(l, []byte("<account "))
		debts += bytes.Count(l, []byte("<debt "))
		closed += bytes.Count(l, []byte(`status="closed"`))
	}
	return
}

// TestGendata: files of the conformance generator are valid, and both
// passes count what is in them.
func TestGendata(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gendata generator")
	}
	for _, mode := range []string{"full", "delta"} {
		path := gendataFile(t, 3000, mode)
		wantA, wantD, wantClosed := countTags(t, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		h, rep, err := Validate(f, azn)
		f.Close()
		if err != nil || !rep.OK() || rep.Accounts != wantA || rep.Debts != wantD || wantA != 3000 {
			t.Fatalf("%s: %v %+v, want %d accounts %d debts", mode, err, rep, wantA, wantD)
		}
		if (mode == "full") != (h.Mode == ModeFull) || h.Provider != "AZERISIQ" {
			t.Errorf("header %+v", h)
		}
		f, _ = os.Open(path)
		accts, r, err := readAll(t, f, azn)
		f.Close()
		if err != nil || !r.Valid() || len(accts) != wantA {
			t.Fatalf("%s: Next pass %v, %d accounts", mode, err, len(accts))
		}
		debts, closed, prepaid, metered := 0, 0, 0, 0
		for _, a := range accts {
			debts += len(a.Debts)
			if a.Closed {
				closed++
			}
			if a.Prepaid && a.Card != nil {
				prepaid++
			}
			for _, d := range a.Debts {
				if d.Meter != nil {
					metered++
				}
			}
		}
		if debts != wantD || closed != wantClosed || prepaid == 0 || metered == 0 || (mode == "delta") != (closed > 0) {
			t.Errorf("%s: %d debts %d closed %d prepaid %d metered", mode, debts, closed, prepaid, metered)
		}
	}
}

// With a service registry that lacks METER, every METER debt of a gendata
// file is reported, up to the cap.
func TestGendataUnregisteredService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gendata generator")
	}
	path := gendataFile(t, 3000, "full")
	o := azn
	o.Service = func(c string) bool { return c != "METER" }
	f, _ := os.Open(path)
	defer f.Close()
	_, rep, err := Validate(f, o)
	if err != nil || len(rep.Errors) != defaultMaxErrors || rep.More == 0 {
		t.Fatalf("%v: %d errors, %d more", err, len(rep.Errors), rep.More)
	}
	for _, e := range rep.Errors {
		if e.Field != "service" || !strings.Contains(e.Msg, "METER") {
			t.Fatalf("%v", e)
		}
	}
}

// Benchmarks of a 1,000,000-account gendata file (about 600 MB; generated
// once into the temp directory, which takes some seconds): a Validate pass
// and a full Next pass. They report accounts/s, MB/s (wall clock), CPU
// seconds per pass (the machine may be shared) and the peak RSS of the
// process during the pass (VmHWM, reset before it where Linux allows).
func BenchmarkValidate1M(b *testing.B) { benchPass(b, 1_000_000, false) }
func BenchmarkNext1M(b *testing.B)     { benchPass(b, 1_000_000, true) }

// The same on 10,000 accounts, for quick comparisons.
func BenchmarkValidate10k(b *testing.B) { benchPass(b, 10_000, false) }
func BenchmarkNext10k(b *testing.B)     { benchPass(b, 10_000, true) }

func benchPass(b *testing.B, n int, next bool) {
	path := gendataFile(b, n, "full")
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	runtime.GC()
	debug.FreeOSMemory()                                      // what earlier benchmarks left must not count
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		accounts := 0
		if next {
			r, err := NewReader(f, azn)
			if err != nil {
				b.Fatal(err)
			}
			var sum int64
			for {
				a, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				for _, d := range a.Debts {
					sum += d.Amount
				}
				sum += int64(len(a.Name))
			}
			if !r.Valid() {
				b.Fatal(r.Report())
			}
			accounts = r.Report().Accounts
		} else {
			_, rep, err := Validate(f, azn)
			if err != nil || !rep.OK() {
				b.Fatal(err, rep)
			}
			accounts = rep.Accounts
		}
		f.Close()
		if accounts != n {
			b.Fatalf("%d accounts", accounts)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "accounts/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "accounts/cpu-s")
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the process's peak resident set in bytes (Linux), or 0.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// BenchmarkVerifySignature1M: streaming verification of the 1M-account
// file. The signature is not the file's (signing would need the whole file
// in memory), so the verdict is ErrBadSignature; the work is the same.
func BenchmarkVerifySignature1M(b *testing.B) {
	path := gendataFile(b, 1_000_000, "full")
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	pub := make([]byte, 32)
	pub[0] = 1 // the identity point's encoding: a valid key
	sig := []byte(strings.Repeat("A", 86))
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifySignature(pub, f, sig); err != ErrBadSignature {
			b.Fatal(err)
		}
		f.Close()
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	if hwm := vmHWM(); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
	}
}
