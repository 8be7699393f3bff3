package hostswitch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// answer sends the 0810 to a host 0800.
func (p *peer) answer(req *specs.Message, rc string) {
	p.t.Helper()
	p.send(&specs.Message{MTI: "0810", TransmissionDateTime: req.TransmissionDateTime, STAN: req.STAN,
		AcquirerID: req.AcquirerID, NetworkCode: req.NetworkCode, SettlementDate: req.SettlementDate, ResponseCode: rc})
}

func (p *peer) expectHost0800(code string) *specs.Message {
	p.t.Helper()
	m, err := p.recv(5 * time.Second)
	if err != nil {
		p.t.Fatalf("waiting for the host's 0800/%s: %v", code, err)
	}
	if m.MTI != "0800" || m.NetworkCode != code || m.AcquirerID != "900000" || len(m.STAN) != 6 || len(m.TransmissionDateTime) != 10 {
		p.t.Fatalf("host sent %s/%s STAN %q DE 32 %q", m.MTI, m.NetworkCode, m.STAN, m.AcquirerID)
	}
	return m
}

// TestIdleEcho: a signed-on PC connection that is idle is echoed (§3); an echo left
// unanswered closes it. Connections not signed on, and terminals, are not echoed.
func TestIdleEcho(t *testing.T) {
	th := startHost(t, Config{HostID: "900000", EchoInterval: 150 * time.Millisecond, EchoTimeout: 400 * time.Millisecond}, nil)
	quiet, term := th.dial(t, specs.LinkPC), th.dial(t, specs.LinkTerminal)
	p := th.dial(t, specs.LinkPC)
	p.signOn()
	for range 2 {
		p.answer(p.expectHost0800("301"), "00")
	}
	// Traffic of its own keeps a link from being echoed... and the echoes keep coming
	// once it is idle again.
	wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
	p.expectHost0800("301") // left unanswered: closed
	p.expectClosed(5 * time.Second)
	th.waitLog(t, `"reason":"echo_timeout"`)
	quiet.expectSilence(100 * time.Millisecond)
	term.expectSilence(100 * time.Millisecond)
	wantResp(t, quiet.roundTrip(quiet.netMgmt("301")), "0810", "00")
}

func TestAnnounceCutover(t *testing.T) {
	th := startHost(t, Config{HostID: "900000", EchoInterval: -1, EchoTimeout: 2 * time.Second}, nil)
	a, b, unsigned := th.dial(t, specs.LinkPC), th.dial(t, specs.LinkPC), th.dial(t, specs.LinkPC)
	a.signOn()
	b.signOn()
	for _, rcB := range []string{"00", "12"} {
		done := make(chan error, 1)
		go func() { done <- th.AnnounceCutover(context.Background(), "1122") }()
		for _, pr := range []struct {
			p  *peer
			rc string
		}{{a, "00"}, {b, rcB}} {
			m := pr.p.expectHost0800("201")
			if m.SettlementDate != "1122" {
				t.Fatalf("cutover DE 15 %q", m.SettlementDate)
			}
			pr.p.answer(m, pr.rc)
		}
		err := <-done
		if rcB == "00" && err != nil {
			t.Fatalf("AnnounceCutover: %v", err)
		}
		if rcB != "00" && (err == nil || !strings.Contains(err.Error(), `answered "12"`)) {
			t.Fatalf("AnnounceCutover with a 12: %v", err)
		}
	}
	unsigned.expectSilence(100 * time.Millisecond)
	if err := th.AnnounceCutover(context.Background(), "11x2"); err == nil {
		t.Fatal("bad date accepted")
	}
}
