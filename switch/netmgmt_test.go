package hostswitch

import (
	"context"
	"sync"
	"testing"

	"github.com/billswitch/billswitch/specs"
)

func TestNetworkManagement(t *testing.T) {
	th := startHost(t, Config{}, nil)
	for _, link := range []specs.Link{specs.LinkPC, specs.LinkTerminal} {
		for _, tc := range []struct {
			name   string
			mutate func(*specs.Message)
			rc     string
		}{
			{"sign-on", func(m *specs.Message) { m.NetworkCode = "001" }, "00"},
			{"echo", func(m *specs.Message) { m.NetworkCode = "301" }, "00"},
			{"sign-off", func(m *specs.Message) { m.NetworkCode = "002" }, "00"},
			{"cutover from peer", func(m *specs.Message) { m.NetworkCode = "201" }, "12"},
			{"unknown code", func(m *specs.Message) { m.NetworkCode = "999" }, "12"},
			{"no DE 70", func(m *specs.Message) { m.NetworkCode = "" }, "30"},
			{"no DE 7", func(m *specs.Message) { m.TransmissionDateTime = "" }, "30"},
			{"DE 7 month 13", func(m *specs.Message) { m.TransmissionDateTime = "1321101112" }, "30"},
			{"unknown sender", func(m *specs.Message) { m.AcquirerID = "999999"; m.TerminalID = "NOSUCH01" }, "03"},
		} {
			t.Run(linkName(link)+"/"+tc.name, func(t *testing.T) {
				p := th.dial(t, link)
				req := p.netMgmt("301")
				tc.mutate(req)
				resp := p.roundTrip(req)
				wantResp(t, resp, "0810", tc.rc)
				if resp.TransmissionDateTime != req.TransmissionDateTime {
					t.Errorf("DE 7 %q, want %q", resp.TransmissionDateTime, req.TransmissionDateTime)
				}
				if req.NetworkCode != "" && resp.NetworkCode != req.NetworkCode {
					t.Errorf("DE 70 %q, want %q", resp.NetworkCode, req.NetworkCode)
				}
			})
		}
	}
}

func linkName(l specs.Link) string {
	if l == specs.LinkPC {
		return "pc"
	}
	return "terminal"
}

// TestSignOnRule: on the PC link every request but 0800 needs the connection signed on
// (§3), per connection; a request with no handler is answered 12, never dropped.
func TestSignOnRule(t *testing.T) {
	var mu sync.Mutex
	var seen []Session
	th := startHost(t, Config{}, func(r *Router) {
		_ = r.Handle("0100", "31", HandlerFunc(func(_ context.Context, s Session, req *specs.Message) (*specs.Message, error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, s)
			return &specs.Message{ResponseCode: "00"}, nil
		}))
	})
	a := th.dial(t, specs.LinkPC)
	for _, mti := range []string{"0100", "0200", "0201", "0400", "0420", "0421", "0500"} {
		wantResp(t, a.roundTrip(a.request(mti)), ResponseMTI(mti), "91")
	}
	a.signOn()
	wantResp(t, a.roundTrip(a.request("0200")), "0210", "12") // no handler yet
	wantResp(t, a.roundTrip(a.request("0100")), "0110", "00")
	mu.Lock()
	got := append([]Session(nil), seen...)
	mu.Unlock()
	seen = got
	if len(seen) != 1 || !seen[0].SignedOn || seen[0].Institution != demoPC || seen[0].Terminal == nil || seen[0].Terminal.ID != demoATM {
		t.Fatalf("handler session %+v", seen)
	}
	if !th.Links().IsSignedOn(demoPC, seen[0].Conn) {
		t.Fatal("Links does not show the connection signed on")
	}

	// A second connection of the same PC has not signed on.
	b := th.dial(t, specs.LinkPC)
	wantResp(t, b.roundTrip(b.request("0100")), "0110", "91")
	wantResp(t, a.roundTrip(a.request("0100")), "0110", "00")
	b.signOn()
	wantResp(t, b.roundTrip(b.request("0100")), "0110", "00")

	// Unknown DE 32 is 03, before the sign-on rule; a DE 32 the connection did not sign
	// on for is 91.
	r := a.request("0100")
	r.AcquirerID = "555"
	wantResp(t, a.roundTrip(r), "0110", "03")

	// Sign-off: 91 again.
	if resp := a.roundTrip(a.netMgmt("002")); resp.ResponseCode != "00" {
		t.Fatalf("sign-off %s", resp.ResponseCode)
	}
	wantResp(t, a.roundTrip(a.request("0100")), "0110", "91")
	wantResp(t, b.roundTrip(b.request("0100")), "0110", "00")
}

// TestSignOnPipelined: a request sent right behind its sign-on, without waiting for
// the 0810, is served as signed on.
func TestSignOnPipelined(t *testing.T) {
	th := startHost(t, Config{}, nil)
	p := th.dial(t, specs.LinkPC)
	on, req, off, after := p.netMgmt("001"), p.request("0200"), p.netMgmt("002"), p.request("0200")
	var all []byte
	for _, m := range []*specs.Message{on, req, off, after} {
		all = append(all, p.frame(p.pack(m))...)
	}
	p.write(all)
	got := map[string]string{}
	for range 4 {
		m, err := p.recv(5e9)
		if err != nil {
			t.Fatal(err)
		}
		got[m.STAN] = m.ResponseCode
	}
	if got[on.STAN] != "00" || got[req.STAN] != "12" || got[off.STAN] != "00" || got[after.STAN] != "91" {
		t.Fatalf("responses by STAN %v", got)
	}
}

func TestTerminalLink(t *testing.T) {
	seen := make(chan Session, 1)
	th := startHost(t, Config{}, func(r *Router) {
		_ = r.Handle("0200", "50", HandlerFunc(func(_ context.Context, s Session, req *specs.Message) (*specs.Message, error) {
			seen <- s
			return &specs.Message{ResponseCode: "00", AuthID: "A12345"}, nil
		}))
	})
	p := th.dial(t, specs.LinkTerminal)
	// No sign-on needed on the terminal link.
	resp := p.roundTrip(p.request("0200"))
	wantResp(t, resp, "0210", "00")
	if s := <-seen; s.Terminal == nil || s.Terminal.ID != demoTerminal || s.Institution != "DEMOAGENT" || s.Link != specs.LinkTerminal {
		t.Fatalf("session %+v", s)
	}
	r := p.request("0200")
	r.TerminalID = "NOSUCH01"
	wantResp(t, p.roundTrip(r), "0210", "03")
	wantResp(t, p.roundTrip(p.request("0100")), "0110", "12")
	// RC03: a terminal's 0500 without DE 41 → 0510/30.
	r = p.request("0500")
	r.TerminalID = ""
	wantResp(t, p.roundTrip(r), "0510", "30")
}
