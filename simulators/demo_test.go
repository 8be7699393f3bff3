package simulators

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// authorizingHost is the two fake links of one host: terminal card payments are
// authorized by a 0200 sent to the PC simulator's connection, and approved only on its
// 00 (host-iso8583.md §3).
type authorizingHost struct {
	bh      *billHost
	pc, trm *fakeHost
	mu      sync.Mutex
	waiting map[string]chan *specs.Message // STAN → auth answer
	keys    *Keys
}

func newAuthorizingHost(t *testing.T) *authorizingHost {
	a := &authorizingHost{bh: newBillHost(), waiting: map[string]chan *specs.Message{}, keys: NewKeys()}
	a.pc = newFakeHost(t, mustDialect(t, specs.LinkPC), func(fc *fakeConn, m *specs.Message) *specs.Message {
		if !IsRequest(m.MTI) { // an authorization's answer
			a.mu.Lock()
			ch := a.waiting[m.STAN]
			delete(a.waiting, m.STAN)
			a.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			return nil
		}
		return a.bh.respond(fc, m)
	})
	a.trm = newFakeHost(t, mustDialect(t, specs.LinkTerminal), func(fc *fakeConn, m *specs.Message) *specs.Message {
		if m.MTI == "0200" && m.PAN != "" {
			auth := &specs.Message{MTI: "0200", ProcessingCode: "500000", Amount: m.Amount, PAN: m.PAN, Expiry: m.Expiry, Currency: m.Currency,
				TransmissionDateTime: a.keys.TransmissionTime(), STAN: a.keys.NextSTAN(), AcquirerID: "999"}
			ch := make(chan *specs.Message, 1)
			a.mu.Lock()
			a.waiting[auth.STAN] = ch
			a.mu.Unlock()
			if pcc := a.pc.firstConn(); pcc == nil || pcc.send(auth) != nil {
				return Response(m, "91")
			}
			select {
			case ans := <-ch:
				if ans.ResponseCode != "00" {
					return Response(m, ans.ResponseCode)
				}
			case <-time.After(2 * time.Second):
				return Response(m, "91")
			}
		}
		return a.bh.respond(fc, m)
	})
	a.trm.async = true
	return a
}

func TestRunDemoTraffic(t *testing.T) {
	a := newAuthorizingHost(t)
	sum, err := RunDemoTraffic(context.Background(), DemoTargets{
		PCAddr: a.pc.addr(), TermAddr: a.trm.addr(), RegCode: "7700000001", Logger: testLogger(t),
	}, 700*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	got := map[Channel]*ChannelStats{}
	for _, c := range sum.Channels {
		got[c.Channel] = c
	}
	for _, ch := range []Channel{ChannelATM, ChannelInternet, ChannelPOSCash, ChannelPOSCard} {
		c := got[ch]
		if c == nil || c.Approved == 0 || c.Errors != 0 || c.TimedOut != 0 {
			t.Fatalf("%s: %+v (errors %v)", ch, c, sum.Errors)
		}
	}
	if len(sum.Channels) != 4 || sum.Channels[0].Channel != ChannelATM || sum.Channels[3].Channel != ChannelPOSCard {
		t.Fatalf("channels out of order: %v", sum.Channels)
	}
	if card := got[ChannelPOSCard]; card.Payments >= 10 && card.Declined["51"] == 0 {
		t.Fatalf("the decline BIN was never declined: %+v", card)
	}
	if sum.Issuer.Authorizations != int64(got[ChannelPOSCard].Payments) {
		t.Fatalf("issuer saw %d authorizations for %d card payments", sum.Issuer.Authorizations, got[ChannelPOSCard].Payments)
	}
	if sum.Shift == nil || !sum.Shift.InBalance || sum.Receipt == nil || sum.Receipt.Number == "" {
		t.Fatalf("shift %+v receipt %+v", sum.Shift, sum.Receipt)
	}
	var b bytes.Buffer
	sum.WriteText(&b)
	t.Log("\n" + b.String())
	for _, w := range []string{"ATM", "INTERNET", "POS-CASH", "POS-CARD", "Receipt R", "Shift close", "in balance", "AZERISIQ"} {
		if !strings.Contains(b.String(), w) {
			t.Fatalf("summary lacks %q:\n%s", w, b.String())
		}
	}
	// The PC link's payments went to the PC link, the terminal's to the terminal link.
	a.bh.mu.Lock()
	defer a.bh.mu.Unlock()
	if a.bh.dupKeys != 0 {
		t.Fatalf("%d repeated keys", a.bh.dupKeys)
	}
	if n := a.bh.tot("T0000001").Count; n != int64(got[ChannelPOSCash].Approved+got[ChannelPOSCard].Approved) {
		t.Fatalf("host counted %d terminal payments", n)
	}
}

func TestRunDemoTrafficNeedsAnAddress(t *testing.T) {
	if _, err := RunDemoTraffic(context.Background(), DemoTargets{}, time.Millisecond); err == nil {
		t.Fatal("no error without addresses")
	}
}

// Card payments from the load generator on the terminal link are authorized by a PC
// simulator on the PC link.
func TestRunLoadTerminalCardsAuthorizedByPC(t *testing.T) {
	a := newAuthorizingHost(t)
	keys := NewKeys()
	pc, err := NewPC(PCConfig{Addr: a.pc.addr(), Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := RunLoad(context.Background(), LoadConfig{Link: specs.LinkTerminal, Addr: a.trm.addr(), Card: true, Conns: 2, InFlight: 4, Count: 40}, mustDialect(t, specs.LinkTerminal), keys)
	if err != nil {
		t.Fatal(err)
	}
	if res.Approved != 40 || pc.Issuer().Stats().Authorizations != 40 {
		t.Fatalf("approved %d (codes %v), authorizations %d", res.Approved, res.ResponseCodes, pc.Issuer().Stats().Authorizations)
	}
}
