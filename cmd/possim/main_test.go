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
		{[]string{"--amount", "0"}, 2},
		{[]string{"--count", "x"}, 2},
	} {
		var out, errb bytes.Buffer
		if got := run(context.Background(), tc.args, &out, &errb); got != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, got, tc.code, errb.String())
		}
	}
}

func TestPaysAgainstEcho(t *testing.T) {
	d, err := specs.NewTerm87B()
	if err != nil {
		t.Fatal(err)
	}
	e := simulators.NewEchoServer(d)
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--addr", e.Addr, "--count", "2", "--interval", "1ms", "--card", "--void-every", "2"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	o := out.String()
	if strings.Count(o, "approved") != 2 || !strings.Contains(o, "card 416973******") || !strings.Contains(o, "void") {
		t.Fatalf("output:\n%s", o)
	}
}
