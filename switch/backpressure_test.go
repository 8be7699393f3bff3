package hostswitch

import (
	"context"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// TestBackpressure: with one handler place and two in-flight slots per connection, a
// burst of requests is never dropped: the reader waits, and every request is answered
// once the handler moves again.
func TestBackpressure(t *testing.T) {
	gate := make(chan struct{})
	th := startHost(t, Config{Workers: 1, InFlightPerConn: 2}, func(r *Router) {
		must(t, r.Handle("0100", "", HandlerFunc(func(ctx context.Context, _ Session, _ *specs.Message) (*specs.Message, error) {
			<-gate
			return &specs.Message{ResponseCode: "00"}, nil
		})))
	})
	p := th.dial(t, specs.LinkTerminal)
	const n = 20
	want := map[string]bool{}
	var burst []byte
	for range n {
		r := p.request("0100")
		want[r.STAN] = true
		burst = append(burst, p.frame(p.pack(r))...)
	}
	p.write(burst)
	// The reader is held up: at most 2 read (slots), 1 in a handler.
	waitFor(t, 5*time.Second, "the reader to fill its slots", func() bool {
		c := th.connOf(p)
		return c != nil && len(c.slots) == 2
	})
	time.Sleep(50 * time.Millisecond)
	if c := th.connOf(p); c.framesIn.Load() > 3 {
		t.Fatalf("reader read %d frames with 2 slots", c.framesIn.Load())
	}
	close(gate)
	for range n {
		m, err := p.recv(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !want[m.STAN] || m.ResponseCode != "00" {
			t.Fatalf("unexpected %s STAN %s DE 39 %s", m.MTI, m.STAN, m.ResponseCode)
		}
		delete(want, m.STAN)
	}
}
