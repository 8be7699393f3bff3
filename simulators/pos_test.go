package simulators

import (
	"context"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

func TestPOSShift(t *testing.T) {
	d := mustDialect(t, specs.LinkTerminal)
	bh := newBillHost()
	h := newFakeHost(t, d, bh.respond)
	ctx := context.Background()
	pos, err := DialPOS(ctx, POSConfig{Addr: h.addr(), Timeout: time.Second, AdviceRetry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pos.Close()
	if rc, err := pos.SignOn(ctx); err != nil || rc != "00" {
		t.Fatalf("sign-on %q %v", rc, err)
	}
	acct := AccountTarget("AZERISIQ", "1000000001")
	iq, err := pos.Inquiry(ctx, acct)
	if err != nil || iq.RC != "00" || iq.Total != 418518 || len(iq.Debts) != 1 {
		t.Fatalf("inquiry %+v %v", iq, err)
	}
	cash, err := pos.Pay(ctx, acct, 300, nil)
	if err != nil || cash.RC != "00" || cash.Card || cash.Request.PAN != "" || cash.Request.Track2 != "" {
		t.Fatalf("cash %+v %v", cash, err)
	}
	card, err := pos.Pay(ctx, acct, 700, TestCard(42))
	if err != nil || card.RC != "00" || !card.Card || !LuhnValid(card.Request.PAN) || len(card.Request.PINBlock) != 8 || card.MaskedPAN == card.Request.PAN {
		t.Fatalf("card %+v %v", card, err)
	}
	if rc, err := pos.Void(ctx, cash); err != nil || rc != "00" {
		t.Fatalf("void %q %v", rc, err)
	}
	if got := pos.Tally(); got != (Totals{Count: 2, Amount: 1000, RevCount: 1, RevAmount: 300}) {
		t.Fatalf("tally %+v", got)
	}
	sc, err := pos.CloseShift(ctx)
	if err != nil || sc.RC != "00" || !sc.InBalance || sc.Host != sc.Terminal || sc.Date != "1121" {
		t.Fatalf("shift close %+v %v", sc, err)
	}
	// A payment the host does not answer is reversed by an advice; the tally leaves it out.
	bh.mu.Lock()
	bh.silent["0200"] = true
	bh.mu.Unlock()
	lost, err := pos.Pay(ctx, acct, 900, nil)
	if err != nil || !lost.TimedOut || !lost.Reversed || lost.RC != "" {
		t.Fatalf("timed-out payment %+v %v", lost, err)
	}
	if got := pos.Tally(); got.Count != 2 {
		t.Fatalf("tally counted a payment without answer: %+v", got)
	}
}

// A shift close whose figures differ from the host's reports the host's figures and
// out of balance.
func TestPOSShiftOutOfBalance(t *testing.T) {
	d := mustDialect(t, specs.LinkTerminal)
	bh := newBillHost()
	bh.tot("T0000001").Count = 5 // payments the host saw before this simulator
	h := newFakeHost(t, d, bh.respond)
	pos, err := DialPOS(context.Background(), POSConfig{Addr: h.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer pos.Close()
	sc, err := pos.CloseShift(context.Background())
	if err != nil || sc.RC != "00" || sc.InBalance || sc.Host.Count != 5 || sc.Terminal.Count != 0 {
		t.Fatalf("%+v %v", sc, err)
	}
}
