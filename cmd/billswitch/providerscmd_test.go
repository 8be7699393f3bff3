package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProvidersCommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "providers.yaml")
	env := func(string) string { return "" }
	call := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"providers"}, args...), &out, &errOut, env)
		return code, out.String(), errOut.String()
	}
	// Seed the file from the demo registry, then keep one provider aside to add back.
	code, yaml, _ := call("export", "--demo")
	if code != 0 || !strings.Contains(yaml, "AZERISIQ") {
		t.Fatalf("export: %d %q", code, yaml)
	}
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, azersu, _ := call("show", "--providers", file, "AZERSU")
	if err := os.WriteFile(filepath.Join(dir, "azersu.yaml"), []byte(azersu), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("providers:\n  - code: X\n    currency: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args     []string
		code     int
		want     string // in stdout
		wantErr  string // in stderr
		notInOut string
	}{
		{args: []string{"list", "--providers", file}, want: "AZERSU"},
		{args: []string{"list", "--demo"}, want: "1% min 0.00 max 10.00"},
		{args: []string{"check", "--providers", file}, want: "4 providers, valid"},
		{args: []string{"check", "--providers", bad}, code: 1, wantErr: "bad.yaml"},
		{args: []string{"remove", "--providers", file, "AZERSU"}, want: "removed AZERSU"},
		{args: []string{"list", "--providers", file}, notInOut: "AZERSU"},
		{args: []string{"remove", "--providers", file, "AZERSU"}, code: 1, wantErr: "unknown provider"},
		{args: []string{"remove", "--demo", "AZERISIQ"}, code: 2, wantErr: "read-only"},
		{args: []string{"add", "--providers", file, "--from", filepath.Join(dir, "azersu.yaml")}, want: "added AZERSU"},
		{args: []string{"list", "--providers", file}, want: "AZERSU"},
		{args: []string{"frobnicate", "--demo"}, code: 2, wantErr: "unknown subcommand"},
	}
	for _, s := range steps {
		code, out, errOut := call(s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d\n%s%s", s.args, code, s.code, out, errOut)
		}
		if s.want != "" && !strings.Contains(out, s.want) {
			t.Errorf("%v: stdout lacks %q:\n%s", s.args, s.want, out)
		}
		if s.wantErr != "" && !strings.Contains(errOut, s.wantErr) {
			t.Errorf("%v: stderr lacks %q:\n%s", s.args, s.wantErr, errOut)
		}
		if s.notInOut != "" && strings.Contains(out, s.notInOut) {
			t.Errorf("%v: stdout still has %q:\n%s", s.args, s.notInOut, out)
		}
	}
}
