package crashtest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

// pcBook is what the simulated card issuer (PC 100001, which the host dials) saw of
// the host: its card authorizations (0200) by PAN, the reversal advices (0420/0421)
// naming them, and its sign-ons.
type pcBook struct {
	mu       sync.Mutex
	auths    map[string][]string // PAN → the host's keys (DE 11/DE 7) of its 0200s
	reversed map[string]bool     // host key → reversed by an advice
	signOns  int
	conns    []*simulators.Conn
}

func authKey(stan, de7 string) string { return stan + "/" + de7 }

// listenPC accepts the host's connections to PC 100001 on an ephemeral loopback port
// for the life of the test, answering them as the issuer (pcHandle).
func (ts *tester) listenPC(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := simulators.NewConn(nc, ts.pcD, simulators.ConnOptions{Handler: ts.pcHandle})
			ts.pc.mu.Lock()
			ts.pc.conns = append(ts.pc.conns, c)
			ts.pc.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		ts.pc.mu.Lock()
		defer ts.pc.mu.Unlock()
		for _, c := range ts.pc.conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// writeRegistry writes the demo registry with the host dialling PC 100001 at pcAddr
// (terminals.DemoDialling as YAML), so the host can authorize terminals' card
// payments there.
func writeRegistry(t *testing.T, dir, pcAddr string) string {
	y := fmt.Sprintf(`institutions:
  - id: "100001"
    name: Crash test PC
    dial: [%q]
    bins:
      - {low: "400000", high: "499999"}
    timeout: 8s
    echo_interval: 60s
    currency: 944
agents:
  - id: DEMOAGENT
    name: Demo Payment Agent
terminals:
  - id: ATM00001
    kind: ATM
    name: Demo PC ATM
    owner: "100001"
  - id: T0000001
    kind: KIOSK
    card_acceptor: DEMOKIOSK000001
    name: Demo cash kiosk
    cash: true
    owner: DEMOAGENT
`, pcAddr)
	p := filepath.Join(dir, "registry.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pcHandle answers the host's requests as the issuer does, recording authorizations,
// reversal advices and sign-ons.
func (ts *tester) pcHandle(c *simulators.Conn, req *specs.Message) *specs.Message {
	b := &ts.pc
	b.mu.Lock()
	switch req.MTI {
	case "0200":
		if b.auths == nil {
			b.auths = map[string][]string{}
		}
		b.auths[req.PAN] = append(b.auths[req.PAN], authKey(req.STAN, req.TransmissionDateTime))
	case "0420", "0421", "0400", "0401":
		if od, err := specs.ParseDE90(req.OriginalData); err == nil {
			if b.reversed == nil {
				b.reversed = map[string]bool{}
			}
			b.reversed[authKey(od.STAN, od.TransmissionDateTime)] = true
		}
	case "0800":
		if req.NetworkCode == "001" {
			b.signOns++
		}
	}
	b.mu.Unlock()
	return ts.issuer.Handle(c, req)
}

func (ts *tester) pcSignOns() int {
	ts.pc.mu.Lock()
	defer ts.pc.mu.Unlock()
	return ts.pc.signOns
}

// waitSignOn waits until the host has signed on to the simulated PC more than before
// times.
func (ts *tester) waitSignOn(before int, timeout time.Duration) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if ts.pcSignOns() > before {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// checkCardAuths compares the terminal's card payments with what the issuer saw: a
// card payment the host approved (and that stands) must hold an authorization the
// host did not reverse at the PC. Authorizations left standing at the PC for a payment
// that is not posted, or a second one for a posted payment, are orphans: a crash
// between the PC's approval and the posting leaves one until the restarted host's
// write-ahead reversal advice reaches the PC. The rounds count them; the final check
// requires none (finalCardAuths).
func (ts *tester) checkCardAuths(what string) string {
	sum, _ := ts.cardAuths(what)
	return sum
}

// finalCardAuths waits (bounded) for every orphan authorization to be reversed at the
// PC by the host's stored advices, and reports any that stays.
func (ts *tester) finalCardAuths() string {
	deadline := time.Now().Add(15 * time.Second)
	for {
		sum, orphans := ts.cardAuths("final")
		if orphans == 0 {
			return sum
		}
		if time.Now().After(deadline) {
			ts.violate("final: %d card authorizations still standing at the PC with no payment behind them (%s)", orphans, sum)
			return sum
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (ts *tester) cardAuths(what string) (string, int) {
	ts.mu.Lock()
	var cards []*payReq
	for _, p := range ts.reqs {
		if p.termCard {
			cards = append(cards, p)
		}
	}
	ts.mu.Unlock()
	b := &ts.pc
	b.mu.Lock()
	defer b.mu.Unlock()
	approved, notPosted, never, orphans := 0, 0, 0, 0
	var bad []string
	for _, p := range cards {
		ts.mu.Lock()
		counts := p.counts()
		ts.mu.Unlock()
		keys := b.auths[p.msg.PAN]
		live := 0
		for _, k := range keys {
			if !b.reversed[k] {
				live++
			}
		}
		switch {
		case counts && live == 0:
			bad = append(bad, fmt.Sprintf("%s (%d authorizations, all reversed at the PC)", p.key(), len(keys)))
		case counts:
			approved++
			orphans += live - 1
		default:
			notPosted++
			orphans += live
			if len(keys) == 0 {
				never++
			}
		}
	}
	for _, s := range bad {
		ts.violate("%s: terminal card payment approved by the host but its authorization reversed at the PC: %s", what, s)
	}
	return fmt.Sprintf("terminal card payments: %d approved, %d not posted (%d never authorized), %d orphan authorizations at the PC",
		approved, notPosted, never, orphans), orphans
}
