package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"compare", "--help"}, 0},
		{[]string{"--link", "x"}, 2},
		{[]string{"--mix", "pay=1"}, 2},
		{[]string{"--duration", "0"}, 2},
		{[]string{"compare", "only-two", "args"}, 2},
		{[]string{"ports", "0"}, 2},
		{[]string{"ports", "3"}, 0},
	} {
		var out, errb bytes.Buffer
		if got := run(context.Background(), tc.args, &out, &errb); got != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, got, tc.code, errb.String())
		}
	}
}

func TestRunAgainstEchoAndCompare(t *testing.T) {
	d, err := specs.NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	e := simulators.NewEchoServer(d)
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--addr", e.Addr, "--conns", "2", "--inflight", "4", "--count", "200", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res simulators.LoadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Requests != 200 || res.Approved != 200 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "r.json")
	if err := os.WriteFile(f, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"compare", "4x64", f, f}, &out, &errb); code != 0 {
		t.Fatalf("compare exit %d", code)
	}
	if !strings.Contains(out.String(), "1.00") || !strings.Contains(out.String(), "targets at 4x64") {
		t.Fatalf("table:\n%s", out.String())
	}
	// Rounds of one configuration: numbered rows, the verdict over their median.
	out.Reset()
	if code := run(context.Background(), []string{"compare", "1x1", f, f, "4x64", f, f, "4x64", f, f, "4x64", f, f}, &out, &errb); code != 0 {
		t.Fatalf("compare exit %d", code)
	}
	for _, w := range []string{"4x64 #1", "4x64 #3", "median of 3 rounds: #2 (ratios 1.00 1.00 1.00)"} {
		if !strings.Contains(out.String(), w) {
			t.Fatalf("table lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "1x1 #") {
		t.Fatalf("a single round numbered:\n%s", out.String())
	}
}
