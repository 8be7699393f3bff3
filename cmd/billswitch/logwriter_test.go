package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// syncBuffer is a bytes.Buffer safe for the flusher goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogWriter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level zerolog.Level
		now   bool // written before WriteLevel returns
	}{
		{"debug buffered", zerolog.DebugLevel, false},
		{"info buffered", zerolog.InfoLevel, false},
		{"no level buffered", zerolog.NoLevel, false},
		{"warn at once", zerolog.WarnLevel, true},
		{"error at once", zerolog.ErrorLevel, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &syncBuffer{}
			w := newLogWriter(out, time.Hour) // only Close or a warning flushes
			defer w.Close()
			if _, err := w.WriteLevel(zerolog.InfoLevel, []byte("before\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := w.WriteLevel(tc.level, []byte("line\n")); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if tc.now && got != "before\nline\n" {
				t.Fatalf("written %q, want both lines in order at once", got)
			}
			if !tc.now && got != "" {
				t.Fatalf("written %q before a flush", got)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != "before\nline\n" {
				t.Fatalf("after Close %q", got)
			}
			if _, err := w.Write([]byte("late\n")); err != nil || !strings.HasSuffix(out.String(), "late\n") {
				t.Fatalf("a line after Close: %q, %v", out.String(), err)
			}
		})
	}
}

// Buffered lines reach the output within the flush interval, whole and in order, from
// many goroutines; a full buffer is written without waiting.
func TestLogWriterFlushesWholeLines(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out, 20*time.Millisecond)
	defer w.Close()
	var wg sync.WaitGroup
	const goroutines, lines = 8, 2000 // ≈ 1 MB: several full buffers
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				_, _ = w.Write([]byte(fmt.Sprintf("g%d line %06d %s\n", g, i, strings.Repeat("x", 40))))
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < goroutines*lines {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines written after the flush interval", strings.Count(out.String(), "\n"), goroutines*lines)
		}
		time.Sleep(5 * time.Millisecond)
	}
	last := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &g, &i); err != nil || len(l) != len("g0 line 000000 ")+40 {
			t.Fatalf("broken line %q", l)
		}
		if prev, ok := last[g]; ok && i != prev+1 {
			t.Fatalf("%s: line %d after %d", g, i, prev)
		}
		last[g] = i
	}
}
