package main

import (
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// logWriter buffers the host's log lines so that the per-message line (one per ISO
// request, thousands a second) costs a memory copy instead of a write system call
// each. Lines at warn level and above are written at once, with everything buffered
// before them; info and debug lines reach the output within flushEvery, or as soon as
// maxBuffered bytes are waiting. Close writes what is left. Lines are never split or
// reordered. The cost of this choice: a crash (SIGKILL) can lose the last flushEvery
// of info lines — never a warning or an error, and never money (the ledger is synced
// before anything is acknowledged).
type logWriter struct {
	out        io.Writer
	flushEvery time.Duration

	mu      sync.Mutex // buf, spare, pending, closed
	buf     []byte
	spare   []byte
	pending bool // a flush is scheduled
	closed  bool

	wmu sync.Mutex // the output: one writer at a time, in order

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

const maxBuffered = 64 << 10

func newLogWriter(out io.Writer, flushEvery time.Duration) *logWriter {
	w := &logWriter{out: out, flushEvery: flushEvery, buf: make([]byte, 0, maxBuffered),
		spare: make([]byte, 0, maxBuffered), kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.flusher()
	return w
}

var _ zerolog.LevelWriter = (*logWriter)(nil)

// Write buffers one line (zerolog writes whole lines).
func (w *logWriter) Write(p []byte) (int, error) {
	return w.WriteLevel(zerolog.InfoLevel, p)
}

// WriteLevel buffers one line; warn and above are flushed at once.
func (w *logWriter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.wmu.Lock()
		defer w.wmu.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	now := l >= zerolog.WarnLevel && l != zerolog.NoLevel || len(w.buf) >= maxBuffered
	if !now && !w.pending {
		// Under mu: Close closes kick only after it set closed under mu.
		w.pending = true
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	if now {
		return len(p), w.flush()
	}
	return len(p), nil
}

// flush writes everything buffered so far.
func (w *logWriter) flush() error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	out := w.buf
	w.buf = w.spare[:0]
	w.pending = false
	w.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = w.out.Write(out)
	}
	if cap(out) > 4*maxBuffered {
		out = make([]byte, 0, maxBuffered)
	}
	w.mu.Lock()
	w.spare = out[:0]
	w.mu.Unlock()
	return err
}

// flusher writes buffered lines flushEvery after the first of them was buffered; it
// wakes only when there is something to write.
func (w *logWriter) flusher() {
	defer close(w.done)
	t := time.NewTimer(w.flushEvery)
	t.Stop()
	for range w.kick {
		t.Reset(w.flushEvery)
		select {
		case <-t.C:
		case <-w.stop:
			return // Close flushes
		}
		_ = w.flush()
	}
}

// Close writes what is buffered; later lines go straight to the output.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	close(w.kick)
	<-w.done
	return w.flush()
}
