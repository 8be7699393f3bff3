package bills_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/switch/bills"
)

func links() []struct {
	name string
	link specs.Link
	term string
} {
	return []struct {
		name string
		link specs.Link
		term string
	}{{"pc", specs.LinkPC, "ATM00001"}, {"terminal", specs.LinkTerminal, cashTerm}}
}

// §7: an advice that arrives before its original leaves a tombstone: the original is
// declined 05 and posts nothing; a second advice has no second effect.
func TestAdviceBeforeOriginal(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	for _, l := range links() {
		t.Run(l.name, func(t *testing.T) {
			c := s.dial(t, l.link)
			before := s.due(t)
			orig := payment(l.link, l.term, 101, "")
			adv := reversalOf("0420", l.link, orig)
			r := rt(t, c, adv)
			if r.MTI != "0430" || r.ResponseCode != "00" {
				t.Fatalf("advice: %s/%s, want 0430/00", r.MTI, r.ResponseCode)
			}
			if r := rt(t, c, orig); r.ResponseCode != "05" {
				t.Fatalf("original after its advice: rc %s, want 05", r.ResponseCode)
			}
			rep := *orig
			rep.MTI = "0201"
			if r := rt(t, c, &rep); r.ResponseCode != "05" && r.ResponseCode != "94" {
				t.Fatalf("0201 of the voided original: rc %s", r.ResponseCode)
			}
			adv2 := reversalOf("0421", l.link, orig)
			if r := rt(t, c, adv2); r.ResponseCode != "00" {
				t.Fatalf("second advice: rc %s", r.ResponseCode)
			}
			if got := s.due(t); got != before {
				t.Fatalf("due %d, want %d", got, before)
			}
		})
	}
}

// §7: a 0201 whose DE 3, DE 4 or DE 48 target differs from its original's is 94 with no
// effect; the unchanged 0201 gets the original's answer.
func TestModifiedRepeat(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	for _, l := range links() {
		t.Run(l.name, func(t *testing.T) {
			c := s.dial(t, l.link)
			orig := payment(l.link, l.term, 150, "")
			first := rt(t, c, orig)
			if first.ResponseCode != "00" {
				t.Fatalf("original: %s", first.ResponseCode)
			}
			after := s.due(t)
			mods := map[string]func(m *specs.Message){
				"amount+1":        func(m *specs.Message) { m.Amount = fmt.Sprintf("%012d", 151) },
				"processing code": func(m *specs.Message) { m.ProcessingCode = "502000" },
				"target":          func(m *specs.Message) { m.AdditionalData = de48("01", provider, "02", "1000000101") },
			}
			for name, mod := range mods {
				rep := *orig
				rep.MTI = "0201"
				mod(&rep)
				if r := rt(t, c, &rep); r.ResponseCode != "94" {
					t.Fatalf("0201 with %s changed: rc %s, want 94", name, r.ResponseCode)
				}
			}
			rep := *orig
			rep.MTI = "0201"
			r := rt(t, c, &rep)
			if r.ResponseCode != "00" || r.AuthID != first.AuthID || r.AdditionalData != first.AdditionalData || r.SettlementDate != first.SettlementDate {
				t.Fatalf("0201: %+v, first %+v", r, first)
			}
			if got := s.due(t); got != after {
				t.Fatalf("due %d, want %d", got, after)
			}
		})
	}
}

// A refused 0200 keeps its refusal under its key: the same 0200 again is 94, a 0201 gets
// the refusal again, even after the cause went away — in the same process (the
// handlers' refusal index learns it when it is recorded) and after a restart (the index
// is loaded from the store; fails if the ledger's outcome key layout moves).
func TestRefusalKeptUnderKey(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			dir := t.TempDir()
			s := startStack(t, dir, nil)
			c := s.dial(t, specs.LinkTerminal)
			m := payment(specs.LinkTerminal, cashTerm, 100, "")
			m.Currency = "840"
			if r := rt(t, c, m); r.ResponseCode != "13" {
				t.Fatalf("rc %s, want 13", r.ResponseCode)
			}
			if restart {
				s.close()
				s = startStack(t, dir, nil)
				c = s.dial(t, specs.LinkTerminal)
			}
			if r := rt(t, c, m); r.ResponseCode != "94" {
				t.Fatalf("same 0200: rc %s, want 94", r.ResponseCode)
			}
			rep := *m
			rep.MTI = "0201"
			if r := rt(t, c, &rep); r.ResponseCode != "13" {
				t.Fatalf("0201: rc %s, want 13", r.ResponseCode)
			}
			// Another key is not refused: an ordinary payment goes through.
			if r := rt(t, c, payment(specs.LinkTerminal, cashTerm, 100, "")); r.ResponseCode != "00" {
				t.Fatalf("new key: rc %s, want 00", r.ResponseCode)
			}
		})
	}
}

// After cutover: a 0400 of yesterday's payment gets 12; a 0420 is applied in the new day
// (DE 15 = the new date), and the payment's DE 15 was the day it was posted on.
func TestReversalsAfterCutover(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	ctx := context.Background()
	for _, l := range links() {
		t.Run(l.name, func(t *testing.T) {
			c := s.dial(t, l.link)
			day := s.st.Store.BusinessDate()
			before := s.due(t)
			p1, p2 := payment(l.link, l.term, 111, ""), payment(l.link, l.term, 222, "")
			for _, p := range []*specs.Message{p1, p2} {
				r := rt(t, c, p)
				if r.ResponseCode != "00" || r.SettlementDate != fmt.Sprintf("%04d", uint32(day)%10000) {
					t.Fatalf("payment: %s DE15 %s (day %d)", r.ResponseCode, r.SettlementDate, day)
				}
			}
			next, err := s.st.Cutover.Now(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if next <= day || s.st.Store.BusinessDate() != next {
				t.Fatalf("cutover to %d from %d; store says %d", next, day, s.st.Store.BusinessDate())
			}
			r := rt(t, c, reversalOf("0400", l.link, p1))
			if r.MTI != "0410" || r.ResponseCode != "12" {
				t.Fatalf("0400 of yesterday: %s/%s, want 0410/12", r.MTI, r.ResponseCode)
			}
			if got := s.due(t); got != before-333 {
				t.Fatalf("due %d, want %d", got, before-333)
			}
			r = rt(t, c, reversalOf("0420", l.link, p2))
			if r.ResponseCode != "00" || r.SettlementDate != fmt.Sprintf("%04d", uint32(next)%10000) {
				t.Fatalf("0420 after cutover: %s DE15 %s, want 00 %04d", r.ResponseCode, r.SettlementDate, uint32(next)%10000)
			}
			if got := s.due(t); got != before-111 {
				t.Fatalf("due %d, want %d", got, before-111)
			}
		})
	}
}

// 0400 rules of the current day: 00, a repeat (0401) the same answer and no second
// effect, a second 0400 of the reversed original 05, unknown original 25.
func TestReversalRequest(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	for _, l := range links() {
		t.Run(l.name, func(t *testing.T) {
			c := s.dial(t, l.link)
			before := s.due(t)
			p := payment(l.link, l.term, 120, "")
			if r := rt(t, c, p); r.ResponseCode != "00" {
				t.Fatal(r.ResponseCode)
			}
			rev := reversalOf("0400", l.link, p)
			if r := rt(t, c, rev); r.ResponseCode != "00" {
				t.Fatalf("0400: %s", r.ResponseCode)
			}
			rep := *rev
			rep.MTI = "0401"
			if r := rt(t, c, &rep); r.ResponseCode != "00" {
				t.Fatalf("0401: %s", r.ResponseCode)
			}
			if r := rt(t, c, reversalOf("0400", l.link, p)); r.ResponseCode != "05" {
				t.Fatalf("second 0400: %s, want 05", r.ResponseCode)
			}
			if r := rt(t, c, reversalOf("0400", l.link, payment(l.link, l.term, 1, ""))); r.ResponseCode != "25" {
				t.Fatalf("0400 of unknown: %s, want 25", r.ResponseCode)
			}
			if got := s.due(t); got != before {
				t.Fatalf("due %d, want %d", got, before)
			}
		})
	}
}

// 0500: matching figures → DE 66 1; a mismatch → 2 with the host's figures, kept for
// the operator's report (listed per party and date).
func TestReconciliation(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	for _, l := range links() {
		t.Run(l.name, func(t *testing.T) {
			c := s.dial(t, l.link)
			day := s.st.Store.BusinessDate()
			p1 := payment(l.link, l.term, 500, "")
			p2 := payment(l.link, l.term, 700, "")
			for _, p := range []*specs.Message{p1, p2} {
				if r := rt(t, c, p); r.ResponseCode != "00" {
					t.Fatal(r.ResponseCode)
				}
			}
			if r := rt(t, c, reversalOf("0420", l.link, p1)); r.ResponseCode != "00" {
				t.Fatal(r.ResponseCode)
			}
			recon := func(n, amt, rn, ramt int64) *specs.Message {
				net, _ := specs.FormatDE97(amt - ramt)
				m := &specs.Message{MTI: "0500", ProcessingCode: "920000", TransmissionDateTime: de7(), STAN: nextSTAN(),
					SettlementDate: fmt.Sprintf("%04d", uint32(day)%10000), DebitsNumber: fmt.Sprintf("%010d", n),
					DebitsReversalNumber: fmt.Sprintf("%010d", rn), DebitsAmount: fmt.Sprintf("%016d", amt),
					DebitsReversalAmount: fmt.Sprintf("%016d", ramt), NetSettlement: net}
				if l.link == specs.LinkPC {
					m.AcquirerID = pcID
				} else {
					m.TerminalID = l.term
				}
				return m
			}
			r := rt(t, c, recon(2, 1200, 1, 500))
			if r.MTI != "0510" || r.ResponseCode != "00" || r.SettlementCode != "1" {
				t.Fatalf("matching 0500: %s/%s DE66 %s (host %s %s %s %s)", r.MTI, r.ResponseCode, r.SettlementCode,
					r.DebitsNumber, r.DebitsAmount, r.DebitsReversalNumber, r.DebitsReversalAmount)
			}
			if r.NetSettlement != "D0000000000000700" {
				t.Fatalf("DE 97 %q", r.NetSettlement)
			}
			r = rt(t, c, recon(3, 1200, 1, 500))
			if r.ResponseCode != "00" || r.SettlementCode != "2" || r.DebitsNumber != "0000000002" {
				t.Fatalf("mismatching 0500: %s DE66 %s DE76 %s", r.ResponseCode, r.SettlementCode, r.DebitsNumber)
			}
			bad := recon(2, 1200, 1, 500)
			bad.NetSettlement = "D0000000000001200"
			if r := rt(t, c, bad); r.ResponseCode != "30" {
				t.Fatalf("DE 97 ≠ 88 − 89: %s, want 30", r.ResponseCode)
			}
			view, err := s.st.Store.View()
			if err != nil {
				t.Fatal(err)
			}
			defer view.Close()
			party := pcID
			if l.link == specs.LinkTerminal {
				party = l.term
			}
			ms, err := bills.Mismatches(view, l.link, party, day)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != 1 || ms[0].Theirs.Payments != 3 || ms[0].Ours.Payments != 2 || ms[0].Ours.ReversalsAmount != 500 {
				t.Fatalf("mismatches %+v", ms)
			}
			if other, _ := bills.Mismatches(view, l.link, party, day-1); len(other) != 0 {
				t.Fatalf("mismatches of another date: %+v", other)
			}
		})
	}
	_ = ledger.Date(0)
}

// 51xx00 top-up of the fixture's prepaid account: tag 23 carries a write record for the
// card's next sequence, verifiable with the provider's key; a 0201 returns the same one.
func TestTopUp(t *testing.T) {
	s := startStack(t, t.TempDir(), nil)
	c := s.dial(t, specs.LinkTerminal)
	m := payment(specs.LinkTerminal, cashTerm, 2000, "")
	m.ProcessingCode = "510000"
	m.AdditionalData = de48("01", provider, "02", "1000000003", "07", "GC-00042117:17")
	r := rt(t, c, m)
	if r.ResponseCode != "00" {
		t.Fatalf("top-up: %s", r.ResponseCode)
	}
	d, err := specs.ParseDE48(r.AdditionalData)
	if err != nil {
		t.Fatal(err)
	}
	cred, ok := d.Get(specs.Tag23Credential)
	key, _ := hex.DecodeString(billpay.DemoTopUpKey)
	if !ok || !billpay.VerifyCredential(key, false, provider, "1000000003", "GC-00042117", 18, 2000, cred) {
		t.Fatalf("tag 23 %q does not verify", cred)
	}
	rep := *m
	rep.MTI = "0201"
	r2 := rt(t, c, &rep)
	if r2.ResponseCode != "00" || r2.AdditionalData != r.AdditionalData {
		t.Fatalf("0201: %s %q, want the first answer", r2.ResponseCode, r2.AdditionalData)
	}
	// Top-up of a non-prepaid account: 12.
	m2 := payment(specs.LinkTerminal, cashTerm, 2000, "")
	m2.ProcessingCode = "510000"
	if r := rt(t, c, m2); r.ResponseCode != "12" {
		t.Fatalf("top-up of a postpaid account: %s, want 12", r.ResponseCode)
	}
}

// Cutover on command: the ledger moves to the next day and every signed-on PC hears
// 0800/201 with DE 15 = the new date — on connections it opened and on those the host
// dialled.
func TestCutoverAnnounced(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	var dialled atomic.Value
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 2*time.Second))
	pcSignedOn(t, s)
	pc.mu.Lock()
	pc.on0800 = func(m *specs.Message) {
		if m.NetworkCode == "201" {
			dialled.Store(m.SettlementDate)
		}
	}
	pc.mu.Unlock()
	d, err := specs.NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *specs.Message, 4)
	c, err := simulators.Dial(context.Background(), d, s.st.PCAddr, simulators.ConnOptions{Handler: func(_ *simulators.Conn, m *specs.Message) *specs.Message {
		got <- m
		return simulators.Response(m, "00")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := rt(t, c, &specs.Message{MTI: "0800", TransmissionDateTime: de7(), STAN: nextSTAN(), AcquirerID: pcID, NetworkCode: "001"}); r.ResponseCode != "00" {
		t.Fatal(r.ResponseCode)
	}
	next, err := s.st.Cutover.Now(context.Background())
	if err != nil {
		t.Fatalf("cutover: %v", err)
	}
	want := fmt.Sprintf("%04d", uint32(next)%10000)
	select {
	case m := <-got:
		if m.MTI != "0800" || m.NetworkCode != "201" || m.SettlementDate != want {
			t.Fatalf("announcement %s/%s DE15 %s, want 0800/201 %s", m.MTI, m.NetworkCode, m.SettlementDate, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement on the PC's own connection")
	}
	if v, _ := dialled.Load().(string); v != want {
		t.Fatalf("dialled PC heard DE 15 %q, want %s", v, want)
	}
}

// A 0400 racing the cutover: the scheduled cutover goes through the core's gate, so the
// reversal is either taken on its original's day or, after the cutover, refused 12
// (§7: a closed day's original). An approved 0410 never carries another day.
func TestReversalRacingCutover(t *testing.T) {
	s := startStack(t, t.TempDir(), registry(t, "127.0.0.1:1", time.Second))
	term := s.dial(t, specs.LinkTerminal)
	codes := map[string]int{}
	for i := range 100 {
		p := payment(specs.LinkTerminal, cashTerm, 10, "")
		rp := rt(t, term, p)
		if rp.ResponseCode != "00" {
			t.Fatalf("payment %s", rp.ResponseCode)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(time.Duration(i%7) * 50 * time.Microsecond)
			// no processing centre listens: the announcement fails, the cutover does not
			before := s.st.Store.BusinessDate()
			_, _ = s.st.Cutover.Now(context.Background())
			if s.st.Store.BusinessDate() == before {
				t.Error("no cutover")
			}
		}()
		rr := rt(t, term, reversalOf("0400", specs.LinkTerminal, p))
		<-done
		codes[rr.ResponseCode]++
		if rr.ResponseCode == "00" && rr.SettlementDate != rp.SettlementDate {
			t.Fatalf("%d: payment of %s reversed by a 0400 booked on %s", i, rp.SettlementDate, rr.SettlementDate)
		}
		if rr.ResponseCode != "00" && rr.ResponseCode != "12" {
			t.Fatalf("%d: 0400 answered %s", i, rr.ResponseCode)
		}
	}
	t.Logf("0400 outcomes: %v", codes)
}
