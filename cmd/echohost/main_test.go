package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestUsageAndServe(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	if code := run(context.Background(), []string{"--link", "x"}, &out, &errb); code != 2 {
		t.Fatalf("bad link exit %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	out.Reset()
	if code := run(ctx, []string{"--addr", "127.0.0.1:0"}, &out, &errb); code != 0 {
		t.Fatalf("serve exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "listening on 127.0.0.1:") {
		t.Fatalf("output %q", out.String())
	}
}
