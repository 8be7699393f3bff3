package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoCommand runs `billswitch demo` end to end: the real host on loopback, traffic
// from every channel, cutover, clearing, and the summary a person reads.
func TestDemoCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"demo", "--duration", "1s", "--data", t.TempDir()}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"demo subscriber registration code: ",
		"ATM ", "INTERNET ", "POS-CASH ", "POS-CARD ",
		"in balance, 0510 code 00",
		"Register for AZERISIQ",
		`<register xmlns="urn:billpay:register:1"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
