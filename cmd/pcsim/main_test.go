package main

import (
	"bytes"
	"context"
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
		{[]string{"--rule", "4x=approve"}, 2},
		{[]string{"--amount", "1.234"}, 2},
		{[]string{"--channel", "fax"}, 2},
	} {
		var out, errb bytes.Buffer
		if got := run(context.Background(), tc.args, &out, &errb); got != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, got, tc.code, errb.String())
		}
	}
}

// Against the echo server (which approves everything) a payment goes through.
func TestPaysAgainstEcho(t *testing.T) {
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
	if code := run(context.Background(), []string{"--addr", e.Addr, "--count", "2", "--interval", "1ms", "--amount", "1.50"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	if strings.Count(out.String(), "approved") != 2 || !strings.Contains(out.String(), "1.50 AZN") {
		t.Fatalf("output:\n%s", out.String())
	}
}
