package billstest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConformanceKit runs the shared conformance kit (../shared/conformance, every case,
// both links) against an in-process host. It needs the Go toolchain and the kit's
// module, so it runs only with BILLS_CONFORM=1:
//
//	BILLS_CONFORM=1 go test -run TestConformanceKit -v ./switch/bills/billstest/
func TestConformanceKit(t *testing.T) {
	if os.Getenv("BILLS_CONFORM") == "" {
		t.Skip("set BILLS_CONFORM=1 to run the conformance kit")
	}
	kit, err := filepath.Abs("../../../../shared/conformance")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	args := []string{"run", "./cmd/conform", "-pc", st.PCAddr, "-term", st.TermAddr, "-regcode", st.RegCode}
	if c := os.Getenv("BILLS_CONFORM_CASES"); c != "" {
		args = append(args, "-cases", c)
	}
	// Twice against the same host: a run must not depend on a fresh host.
	for run := 1; run <= 2; run++ {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = kit
		out, err := cmd.CombinedOutput()
		t.Logf("conformance kit, run %d:\n%s", run, out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		last := lines[len(lines)-1]
		if err != nil || !strings.HasSuffix(last, " 0 failed") || strings.Contains(string(out), "\nSKIP ") {
			t.Fatalf("conformance kit run %d: %v; last line %q", run, err, last)
		}
	}
}
