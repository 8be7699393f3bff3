package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommands(t *testing.T) {
	var out, errb bytes.Buffer
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0}, {[]string{"debts", "--help"}, 0}, {[]string{"notices", "--help"}, 0},
		{nil, 2}, {[]string{"bogus"}, 2}, {[]string{"debts", "--amount", "x"}, 2}, {[]string{"debts", "--mode", "partial"}, 1},
	} {
		if got := run(context.Background(), tc.args, &out, &errb); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.code)
		}
	}
	f := filepath.Join(t.TempDir(), "d.xml")
	if code := run(context.Background(), []string{"debts", "--accounts", "2", "--amount", "1000.00", "--out", f}, &out, &errb); code != 0 {
		t.Fatalf("debts exit %d: %s", code, errb.String())
	}
	b, err := os.ReadFile(f)
	if err != nil || strings.Count(string(b), "<account ") != 2 || !strings.Contains(string(b), `amount="1000.00"`) {
		t.Fatalf("%v\n%s", err, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out.Reset()
	if code := run(ctx, []string{"notices", "--addr", "127.0.0.1:0"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "receiving notices on http://127.0.0.1:") {
		t.Fatalf("notices exit %d: %s", code, out.String())
	}
}
