package hostswitch

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

func (th *testHost) connOf(p *peer) *conn {
	th.mu.Lock()
	defer th.mu.Unlock()
	for _, c := range th.conns {
		if c.remote == p.nc.LocalAddr().String() {
			return c
		}
	}
	return nil
}

// TestStalledPeer: a peer that sends requests and never reads blocks only itself. While
// its writer is stuck in a write, other connections (same link and the other link) are
// answered, well within the write deadline; then the stuck write times out and that
// connection alone is closed.
func TestStalledPeer(t *testing.T) {
	const writeTimeout = 2 * time.Second
	big := strings.Repeat("20", 1) + "990" + strings.Repeat("X", 990)
	th := startHost(t, Config{WriteTimeout: writeTimeout, Workers: 2, InFlightPerConn: 8, WriteBuffer: 4096},
		func(r *Router) {
			must(t, r.Handle("0100", "", HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
				return &specs.Message{ResponseCode: "00", AdditionalData: big}, nil
			})))
		})
	stalled := th.dial(t, specs.LinkTerminal)
	if err := stalled.nc.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	frame := stalled.frame(stalled.pack(stalled.request("0100")))
	go func() {
		// Requests until the host stops reading them (backpressure) or closes.
		for range 5000 {
			_ = stalled.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := stalled.nc.Write(frame); err != nil {
				return
			}
		}
	}()
	var sc *conn
	waitFor(t, 5*time.Second, "the stalled connection's writer to block", func() bool {
		if sc == nil {
			sc = th.connOf(stalled)
		}
		if sc == nil {
			return false
		}
		w := sc.writing.Load()
		return w != 0 && time.Since(time.Unix(0, w)) > 100*time.Millisecond
	})
	blockedSince := time.Unix(0, sc.writing.Load())

	others := []*peer{th.dial(t, specs.LinkTerminal), th.dial(t, specs.LinkPC)}
	others[1].signOn()
	var worst time.Duration
	for i := range 20 {
		p := others[i%2]
		start := time.Now()
		wantResp(t, p.roundTrip(p.request("0100")), "0110", "00")
		wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
		worst = max(worst, time.Since(start))
	}
	// Still the same stuck write: the answers above came while it was blocked.
	if w := sc.writing.Load(); w == 0 || !time.Unix(0, w).Equal(blockedSince) || sc.isClosed() {
		t.Fatal("the stalled connection's write ended before the other connections were served; the test proves nothing")
	}
	if worst >= writeTimeout {
		t.Fatalf("another connection waited %v, beyond the write timeout %v", worst, writeTimeout)
	}
	t.Logf("slowest round trip of another connection during the stall: %v", worst)

	waitFor(t, writeTimeout+5*time.Second, "the stalled connection to be closed", sc.isClosed)
	waitFor(t, 5*time.Second, "the stalled connection to leave the registry", func() bool { return th.connOf(stalled) == nil })
	th.waitLog(t, `"reason":"write_timeout"`)
	for _, p := range others {
		wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
	}
}
