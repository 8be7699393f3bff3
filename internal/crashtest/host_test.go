package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// goTool finds the go command: the one of the toolchain running the test first, then
// PATH. "" when there is none.
func goTool() string {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return ""
}

// buildHost builds cmd/billswitch of this module into dir and returns the binary's
// path. It skips the test when the go tool is not available.
func buildHost(t *testing.T, dir string) string {
	t.Helper()
	gobin := goTool()
	if gobin == "" {
		t.Skip("crashtest: the go tool is not available, so the host binary cannot be built")
	}
	out, err := exec.Command(gobin, "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("crashtest: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Skip("crashtest: not inside the module (go env GOMOD is empty)")
	}
	bin := filepath.Join(dir, "billswitch")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/billswitch")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crashtest: go build ./cmd/billswitch: %v\n%s", err, b)
	}
	return bin
}

// hostProc is one running `billswitch serve --demo` process.
type hostProc struct {
	cmd                                   *exec.Cmd
	PCAddr, TermAddr, HTTPAddr, AdminAddr string
	RegCode                               string
	logPath                               string
	exited                                chan struct{} // closed when Wait returned
	waitErr                               error
	killOnce                              sync.Once
}

// readyInfo is what the host's start-up log lines say.
type readyInfo struct {
	pc, term, http, admin, regcode string
}

// startHost starts the host on dataDir with every listener on an ephemeral loopback
// port and waits (up to timeout) for its "listeners ready" log line. Its stdout
// (JSON log lines) and stderr go to logPath. t.Cleanup kills it.
func startHost(t *testing.T, bin, dataDir, registry, logPath string, timeout time.Duration) *hostProc {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--demo", "--data", dataDir,
		"--pc-addr", "127.0.0.1:0", "--term-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--log-format", "json", "--log-level", "info", "--registry", registry)
	cmd.Env = hostEnv()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start host: %v", err)
	}
	h := &hostProc{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	t.Cleanup(func() { h.Kill() })

	ready := make(chan readyInfo, 1)
	var scanDone sync.WaitGroup
	scanDone.Add(1)
	go func() {
		defer scanDone.Done()
		// The log is copied to the file as it comes, and read until the pipe closes, so
		// the host never blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var info readyInfo
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			logf.Write(line)
			logf.Write([]byte{'\n'})
			if sent || !bytes.HasPrefix(line, []byte("{")) {
				continue
			}
			var ev map[string]any
			if json.Unmarshal(line, &ev) != nil {
				continue
			}
			if rc, ok := ev["regcode"].(string); ok {
				info.regcode = rc
			}
			if ev["message"] == "listeners ready" {
				info.pc, _ = ev["pc_addr"].(string)
				info.term, _ = ev["term_addr"].(string)
				info.http, _ = ev["http_addr"].(string)
				info.admin, _ = ev["admin_addr"].(string)
				ready <- info
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		scanDone.Wait() // Wait closes the pipe: read it to the end first
		h.waitErr = cmd.Wait()
		logf.Close()
		close(h.exited)
	}()

	select {
	case info := <-ready:
		h.PCAddr, h.TermAddr, h.HTTPAddr, h.AdminAddr, h.RegCode = info.pc, info.term, info.http, info.admin, info.regcode
	case <-h.exited:
		t.Fatalf("host exited before it was ready (%v); log:\n%s", h.waitErr, tail(logPath, 40))
	case <-time.After(timeout):
		h.Kill()
		t.Fatalf("host not ready after %s; log:\n%s", timeout, tail(logPath, 40))
	}
	for name, a := range map[string]string{"pc_addr": h.PCAddr, "term_addr": h.TermAddr, "http_addr": h.HTTPAddr, "admin_addr": h.AdminAddr} {
		if a == "" || strings.HasSuffix(a, ":0") || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("listeners ready: %s = %q, want a bound loopback address; log:\n%s", name, a, tail(logPath, 20))
		}
	}
	return h
}

// hostEnv is the environment of the host: the test's, without any BILLSWITCH_ setting
// that could override the flags' meaning (a config file, a registry).
func hostEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BILLSWITCH_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Kill sends SIGKILL and waits for the process to be gone. Safe to call repeatedly.
func (h *hostProc) Kill() {
	h.killOnce.Do(func() {
		if h.cmd.Process != nil {
			h.cmd.Process.Signal(syscall.SIGKILL)
		}
	})
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
	}
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; it returns the exit
// error (nil: exit status 0).
func (h *hostProc) Stop(timeout time.Duration) error {
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-h.exited:
		return h.waitErr
	case <-time.After(timeout):
		h.Kill()
		return fmt.Errorf("host did not exit %s after SIGTERM", timeout)
	}
}

// verifyLedger runs `billswitch ledger verify --data dir` (the host must be stopped)
// and returns its output and whether it said OK with exit status 0.
func verifyLedger(ctx context.Context, bin, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "ledger", "verify", "--data", dir)
	cmd.Env = hostEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ledger verify: %w", err)
	}
	ok := false
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.TrimSpace(l) == "OK" {
			ok = true
		}
	}
	if !ok {
		return string(out), errors.New("ledger verify: no OK line")
	}
	return string(out), nil
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killDuringStart starts the host on dataDir and SIGKILLs it after d, whatever it is
// doing then (opening the store, replaying, seeding the demo, listening), and says how
// far it had got by its log.
func killDuringStart(t *testing.T, bin, dataDir, registry, logPath string, d time.Duration) string {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--demo", "--data", dataDir,
		"--pc-addr", "127.0.0.1:0", "--term-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--registry", registry)
	cmd.Env = hostEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start host: %v", err)
	}
	time.Sleep(d)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	b, _ := os.ReadFile(logPath)
	switch {
	case bytes.Contains(b, []byte("listeners ready")):
		return "after it was ready"
	case bytes.Contains(b, []byte("ledger recovered")):
		return "after the ledger's recovery, before it was ready"
	}
	return "before the ledger had recovered"
}
