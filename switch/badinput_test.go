package hostswitch

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

var links = []specs.Link{specs.LinkPC, specs.LinkTerminal}

// garbage is a body whose MTI cannot be read.
func garbage(n int) []byte {
	b := bytes.Repeat([]byte{0xff, 0xfe}, n/2+1)
	return b[:n]
}

// TestBadInput covers §9: a readable MTI and DE 11 always get an answer; otherwise the
// frame is dropped and the connection keeps serving.
func TestBadInput(t *testing.T) {
	th := startHost(t, Config{}, nil)
	for _, link := range links {
		t.Run(linkName(link), func(t *testing.T) {
			p := th.dial(t, link)
			if link == specs.LinkPC {
				p.signOn()
			}
			// FM02: no DE 7 → 30 with DE 11 echoed (and DE 15).
			r := p.request("0200")
			r.TransmissionDateTime = ""
			wantResp(t, p.roundTrip(r), "0210", "30")
			// No DE 41 → 30.
			r = p.request("0200")
			r.TerminalID = ""
			wantResp(t, p.roundTrip(r), "0210", "30")
			// No DE 3 → 30.
			r = p.request("0100")
			r.ProcessingCode = ""
			wantResp(t, p.roundTrip(r), "0110", "30")
			// FM01: no DE 11 → no answer at all; an echo afterwards is answered.
			r = p.request("0200")
			r.STAN = ""
			p.send(r)
			p.expectSilence(300 * time.Millisecond)
			wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
			// FM03: DE 48 length past the end → 30, DE 11 echoed, DE 15 present.
			r = p.request("0200")
			r.AdditionalData = "01008AZERISIQ02010" + "1000000001"
			body := p.pack(r)
			p.write(p.frame(body[:len(body)-3]))
			resp, err := p.recv(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if resp.STAN != r.STAN {
				t.Fatalf("DE 11 %q, want %q", resp.STAN, r.STAN)
			}
			wantResp(t, resp, "0210", "30")
			// FM03 as the kit sends it: DE 48 well framed, its sub-element length past its end.
			r = p.request("0200")
			r.AdditionalData = "01008AZERISIQ02099" + "1000000001"
			wantResp(t, p.roundTrip(r), "0210", "30")
			// An MTI the host does not serve → its response MTI with 12.
			wantResp(t, p.roundTrip(p.request("0300")), "0310", "12")
			wantResp(t, p.roundTrip(p.request("0220")), "0230", "12")
			// An unsolicited response has no response: dropped, the connection serves on.
			p.send(p.request("0110"))
			p.expectSilence(300 * time.Millisecond)
			wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
		})
	}
}

// TestFraming covers §1 and §9's three-strikes rule on both links.
func TestFraming(t *testing.T) {
	th := startHost(t, Config{}, nil)
	for _, link := range links {
		t.Run(linkName(link)+"/three unreadable close", func(t *testing.T) {
			bystander := th.dial(t, link)
			wantResp(t, bystander.roundTrip(bystander.netMgmt("301")), "0810", "00")
			p := th.dial(t, link)
			for range 3 {
				p.write(p.frame(garbage(40)))
			}
			p.expectClosed(5 * time.Second)
			// The host keeps serving its other connections.
			wantResp(t, bystander.roundTrip(bystander.netMgmt("301")), "0810", "00")
		})
		t.Run(linkName(link)+"/unreadable then good resets the count", func(t *testing.T) {
			p := th.dial(t, link)
			p.write(p.frame(garbage(40)))
			p.write(p.frame(garbage(40)))
			wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
			p.write(p.frame(garbage(40)))
			p.write(p.frame(garbage(40)))
			wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
			// RB01: a new connection is served too.
			q := th.dial(t, link)
			wantResp(t, q.roundTrip(q.netMgmt("301")), "0810", "00")
		})
		t.Run(linkName(link)+"/8192 read, 8193 closes without the body", func(t *testing.T) {
			p := th.dial(t, link)
			p.write(p.frame(garbage(specs.MaxFrame)))
			wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
			bystander := th.dial(t, link)
			hdr := p.frame(garbage(specs.MaxFrame + 1))[:p.d.Framer().HeaderLen()]
			p.write(hdr)
			p.expectClosed(5 * time.Second)
			wantResp(t, bystander.roundTrip(bystander.netMgmt("301")), "0810", "00")
		})
		t.Run(linkName(link)+"/header 0 closes", func(t *testing.T) {
			p := th.dial(t, link)
			p.write(p.frame(nil))
			p.expectClosed(5 * time.Second)
		})
	}
	t.Run("pc/header +063 closes", func(t *testing.T) {
		p := th.dial(t, specs.LinkPC)
		body := p.pack(p.netMgmt("301"))
		if len(body) != 63 {
			t.Logf("echo is %d bytes", len(body))
		}
		p.write(append([]byte("+063"), body...))
		p.expectClosed(5 * time.Second)
	})
	t.Run("pc/lower-case hex bitmap read", func(t *testing.T) {
		p := th.dial(t, specs.LinkPC)
		p.signOn()
		req := p.request("0200")
		req.PAN, req.Expiry, req.LocalTime, req.LocalDate = "4169738800000001", "2812", "101112", "1121"
		body := p.pack(req)
		bm := strings.ToLower(string(body[4:36]))
		if bm == string(body[4:36]) {
			t.Fatalf("bitmap %q has no letter to lower", body[4:36])
		}
		copy(body[4:], bm)
		p.write(p.frame(body))
		resp, err := p.recv(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if resp.STAN != req.STAN {
			t.Fatalf("DE 11 %q", resp.STAN)
		}
		wantResp(t, resp, "0210", "12") // read and routed (no handler here)
	})
}

// TestResponseCompletion: the host echoes the request's fields, sets the MTI and DE 15,
// and turns handler failures into 96.
func TestResponseCompletion(t *testing.T) {
	th := startHost(t, Config{}, func(r *Router) {
		must(t, r.Handle("0200", "50", HandlerFunc(func(_ context.Context, _ Session, req *specs.Message) (*specs.Message, error) {
			return &specs.Message{ResponseCode: "00", AuthID: "A00001", MTI: "9999"}, nil
		})))
		must(t, r.Handle("0200", "51", HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
			return nil, context.Canceled
		})))
		must(t, r.Handle("0200", "52", HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
			panic("boom")
		})))
		must(t, r.Handle("0200", "53", HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
			return &specs.Message{ResponseCode: "00", Amount: "not digits"}, nil
		})))
		must(t, r.Handle("0200", "54", HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
			return &specs.Message{}, nil
		})))
		must(t, r.Handle("0200", "55", HandlerFunc(func(_ context.Context, _ Session, req *specs.Message) (*specs.Message, error) {
			return &specs.Message{ResponseCode: "00", AuthID: req.MTI[2:]}, nil // the handler sees 0201
		})))
	})
	p := th.dial(t, specs.LinkTerminal)
	r := p.request("0200")
	r.Amount, r.LocalTime, r.LocalDate, r.RRN, r.Currency, r.CardAcceptorID = "000000000101", "101112", "1121", "612345000101", "944", "DEMOKIOSK000001"
	r.Track2 = "4169738800000001=2812"
	resp := p.roundTrip(r)
	wantResp(t, resp, "0210", "00")
	if resp.AuthID != "A00001" || resp.Amount != r.Amount || resp.TransmissionDateTime != r.TransmissionDateTime ||
		resp.LocalTime != r.LocalTime || resp.LocalDate != r.LocalDate || resp.RRN != r.RRN ||
		resp.Currency != r.Currency || resp.ProcessingCode != r.ProcessingCode ||
		strings.TrimRight(resp.TerminalID, " ") != demoTerminal || resp.CardAcceptorID != r.CardAcceptorID || resp.Track2 != "" {
		t.Fatalf("response %+v", resp)
	}
	for pc, rc := range map[string]string{"510000": "96", "520000": "96", "530000": "96", "540000": "96", "600000": "12"} {
		r := p.request("0200")
		r.ProcessingCode = pc
		wantResp(t, p.roundTrip(r), "0210", rc)
	}
	r = p.request("0201")
	r.ProcessingCode = "550000"
	if resp := p.roundTrip(r); resp.MTI != "0210" || strings.TrimRight(resp.AuthID, " ") != "01" {
		t.Fatalf("0201: %s auth %q", resp.MTI, resp.AuthID)
	}
	if logs := th.logs.String(); strings.Contains(logs, "4169738800000001") || strings.Contains(logs, "=2812") {
		t.Fatal("track 2 in the logs")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
