package bills_test

import (
	"strings"
	"testing"
	"time"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

// Terminal card payments routed by BIN to a PC the host dials (a fake PC over real TCP).
func TestCardPaymentOutcomes(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	pc.setAuth(func(req *specs.Message) (string, time.Duration, bool) {
		switch {
		case strings.HasPrefix(req.PAN, "520051"):
			return "51", 0, true
		case strings.HasPrefix(req.PAN, "520055"):
			return "55", 0, true
		case strings.HasPrefix(req.PAN, "520054"):
			return "54", 0, true
		}
		return "00", 0, true
	})
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 2*time.Second))
	pcSignedOn(t, s)
	term := s.dial(t, specs.LinkTerminal)

	tests := []struct {
		name   string
		pan    string
		wantRC string
		auths  int64 // authorizations the PC sees
	}{
		{"approve", card("520000", 1), "00", 1},
		{"decline 51 passed through", card("520051", 2), "51", 1},
		{"decline 55 passed through", card("520055", 3), "55", 1},
		{"decline 54 passed through", card("520054", 4), "54", 1},
		{"Luhn failure never reaches the PC", card("520000", 5)[:15] + "0", "14", 0},
		{"no PC takes the card", card("999999", 6), "12", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantRC == "14" && card("520000", 5) == tc.pan {
				t.Skip("the altered PAN happens to be valid")
			}
			before, auths := s.due(t), pc.auths.Load()
			req := payment(specs.LinkTerminal, cardTerm, 123, tc.pan)
			r := rt(t, term, req)
			if r.ResponseCode != tc.wantRC {
				t.Fatalf("rc %s, want %s", r.ResponseCode, tc.wantRC)
			}
			if got := pc.auths.Load() - auths; got != tc.auths {
				t.Fatalf("PC saw %d authorizations, want %d", got, tc.auths)
			}
			want := before
			if tc.wantRC == "00" {
				want -= 123
				if r.AuthID == "" || r.SettlementDate == "" {
					t.Fatalf("approval without DE 38/15: %+v", r)
				}
				d, err := specs.ParseDE48(r.AdditionalData)
				if err != nil {
					t.Fatal(err)
				}
				if v, ok := d.Get(specs.Tag22Receipt); !ok || v == "" {
					t.Fatal("no receipt")
				}
				if v, _ := d.Get(specs.Tag24Allocated); !strings.Contains(v, "=123;") {
					t.Fatalf("tag 24 %q", v)
				}
			}
			if got := s.due(t); got != want {
				t.Fatalf("due %d, want %d", got, want)
			}
			// The same 0200 again: 94, no second authorization, no effect.
			auths = pc.auths.Load()
			if r := rt(t, term, req); r.ResponseCode != "94" {
				t.Fatalf("repeated 0200: rc %s, want 94", r.ResponseCode)
			}
			if pc.auths.Load() != auths || s.due(t) != want {
				t.Fatal("repeated 0200 had an effect")
			}
			// A 0201 repeat: the first answer again, no second authorization.
			rep := *req
			rep.MTI = "0201"
			r2 := rt(t, term, &rep)
			if r2.ResponseCode != r.ResponseCode || r2.AuthID != r.AuthID || r2.AdditionalData != r.AdditionalData {
				t.Fatalf("0201: %s/%s, first %s/%s", r2.ResponseCode, r2.AuthID, r.ResponseCode, r.AuthID)
			}
			if pc.auths.Load() != auths || s.due(t) != want {
				t.Fatal("0201 had an effect")
			}
		})
	}
}

// A cash payment from a card-only terminal is refused 58; a card payment with no PC
// link signed on is 91.
func TestCashOnCardTerminal(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	s := startStack(t, t.TempDir(), registry(t, pc.addr, time.Second))
	term := s.dial(t, specs.LinkTerminal)
	before := s.due(t)
	if r := rt(t, term, payment(specs.LinkTerminal, cardTerm, 100, "")); r.ResponseCode != "58" {
		t.Fatalf("cash on card terminal: rc %s, want 58", r.ResponseCode)
	}
	if r := rt(t, term, payment(specs.LinkTerminal, cashTerm, 100, "")); r.ResponseCode != "00" {
		t.Fatalf("cash on cash terminal: rc %s, want 00", r.ResponseCode)
	}
	if got := s.due(t); got != before-100 {
		t.Fatalf("due %d, want %d", got, before-100)
	}
}

// Timeout: the terminal gets 91, nothing is posted, and the stored 0420 reaches the PC
// once it is back; a 0210 that arrives after the timeout does not post.
func TestCardTimeoutAdviceAfterPCIsBack(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	pc.ackAdvices.Store(false)
	// Answer 00, but only after the host's timeout (a late response).
	pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "00", 600 * time.Millisecond, true })
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 200*time.Millisecond))
	pcSignedOn(t, s)
	term := s.dial(t, specs.LinkTerminal)
	before := s.due(t)
	req := payment(specs.LinkTerminal, cardTerm, 250, card("520000", 7))
	if r := rt(t, term, req); r.ResponseCode != "91" {
		t.Fatalf("rc %s, want 91", r.ResponseCode)
	}
	if pending(t, s) != 1 {
		t.Fatalf("pending advices %d, want 1", pending(t, s))
	}
	// The late 0210 arrives (600 ms) and must not post.
	time.Sleep(800 * time.Millisecond)
	if got := s.due(t); got != before {
		t.Fatalf("due %d after a late approval, want %d", got, before)
	}
	// The PC goes down with the advice unacknowledged, then comes back.
	eventually(t, 5*time.Second, "the advice to be tried", func() bool { return pc.advices.Load() > 0 })
	addr := pc.addr
	pc.stop()
	pc.ackAdvices.Store(true)
	pc.listen(addr)
	eventually(t, 10*time.Second, "the advice to be acknowledged", func() bool { return pending(t, s) == 0 })
	if pc.acked.Load() == 0 {
		t.Fatal("the PC never acknowledged an advice")
	}
	if got := s.due(t); got != before {
		t.Fatalf("due %d, want %d", got, before)
	}
}

// The store-and-forward queue survives a restart of the host.
func TestCardAdviceSurvivesRestart(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	pc.ackAdvices.Store(false)
	pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "", 0, false }) // never answers
	dir := t.TempDir()
	reg := registry(t, pc.addr, 200*time.Millisecond)
	s := startStack(t, dir, reg)
	pcSignedOn(t, s)
	term := s.dial(t, specs.LinkTerminal)
	before := s.due(t)
	req := payment(specs.LinkTerminal, cardTerm, 333, card("520000", 8))
	if r := rt(t, term, req); r.ResponseCode != "91" {
		t.Fatalf("rc %s, want 91", r.ResponseCode)
	}
	if pending(t, s) != 1 {
		t.Fatalf("pending %d, want 1", pending(t, s))
	}
	s.close()

	pc.ackAdvices.Store(true)
	acked := pc.acked.Load()
	s2 := startStack(t, dir, reg)
	eventually(t, 10*time.Second, "the stored advice to be delivered after the restart", func() bool {
		return pc.acked.Load() > acked && pending(t, s2) == 0
	})
	if got := s2.due(t); got != before {
		t.Fatalf("due %d, want %d", got, before)
	}
}

// With the PC client's write-ahead advice, an approved card payment completes its
// authorization in the payment's own command: nothing is left to reverse at the PC, not
// after a restart either (a crash between the approval and the posting would leave
// the advice in flight, and the restart would reverse the authorization).
func TestCardWriteAheadCompletedWithPayment(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	dir := t.TempDir()
	reg := registry(t, pc.addr, 2*time.Second)
	s := startStack(t, dir, reg)
	pcSignedOn(t, s)
	term := s.dial(t, specs.LinkTerminal)
	before := s.due(t)
	if r := rt(t, term, payment(specs.LinkTerminal, cardTerm, 321, card("520000", 31))); r.ResponseCode != "00" {
		t.Fatalf("rc %s, want 00", r.ResponseCode)
	}
	// A PC decline ends its write-ahead advice too.
	pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "51", 0, true })
	if r := rt(t, term, payment(specs.LinkTerminal, cardTerm, 100, card("520000", 32))); r.ResponseCode != "51" {
		t.Fatalf("rc %s, want 51", r.ResponseCode)
	}
	if n := pending(t, s); n != 0 {
		t.Fatalf("pending advices %d after an approval and a decline, want 0", n)
	}
	s.close()
	s2 := startStack(t, dir, reg)
	if n := pending(t, s2); n != 0 {
		t.Fatalf("pending advices %d after restart, want 0 (a posted payment's authorization would be reversed)", n)
	}
	if pc.advices.Load() != 0 {
		t.Fatalf("the PC received %d reversal advices, want 0", pc.advices.Load())
	}
	if got := s2.due(t); got != before-321 {
		t.Fatalf("due %d, want %d", got, before-321)
	}
}

// A PC the host dials may send its own (ATM / internet) payments on that connection:
// served by the same handlers, posted directly, refused when DE 32 is not that PC.
func TestPCPaymentOnDialledConnection(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 2*time.Second))
	pcSignedOn(t, s)
	pc.mu.Lock()
	conn := pc.conns[len(pc.conns)-1]
	pc.mu.Unlock()
	before := s.due(t)
	tests := []struct {
		name, acq, wantRC string
		wantDue           int64
	}{
		{"own DE 32", cardPC, "00", before - 175},
		{"another PC's DE 32", pcID, "03", before - 175},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := payment(specs.LinkPC, "WEB00001", 175, card("416973", 9))
			m.AcquirerID = tc.acq
			r := rt(t, conn, m)
			if r.MTI != "0210" || r.ResponseCode != tc.wantRC || r.STAN != m.STAN {
				t.Fatalf("%s/%s stan %s, want 0210/%s", r.MTI, r.ResponseCode, r.STAN, tc.wantRC)
			}
			if tc.wantRC == "00" && (r.SettlementDate == "" || r.AuthID == "") {
				t.Fatalf("approval without DE 15/38: %+v", r)
			}
			if got := s.due(t); got != tc.wantDue {
				t.Fatalf("due %d, want %d", got, tc.wantDue)
			}
		})
	}
	m := &specs.Message{MTI: "0100", ProcessingCode: "310000", TransmissionDateTime: de7(), STAN: nextSTAN(), AcquirerID: cardPC}
	if r := rt(t, conn, m); r.ResponseCode != "30" {
		t.Fatalf("0100 without DE 41: %s, want 30", r.ResponseCode)
	}
}

// A 0201 sent while its 0200 is still being authorized waits for it: one authorization,
// one posting.
func TestRepeatDuringAuthorization(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "00", 300 * time.Millisecond, true })
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 5*time.Second))
	pcSignedOn(t, s)
	// Two connections: the terminal repeats on a new one (the client matches responses by
	// MTI and DE 11 per connection).
	terms := []*simulators.Conn{s.dial(t, specs.LinkTerminal), s.dial(t, specs.LinkTerminal)}
	before := s.due(t)
	req := payment(specs.LinkTerminal, cardTerm, 140, card("520000", 10))
	rep := *req
	rep.MTI = "0201"
	type res struct {
		r   *specs.Message
		err error
	}
	ch := make(chan res, 2)
	for i, m := range []*specs.Message{req, &rep} {
		go func() {
			r, err := terms[i].RoundTripTimeout(m, 10*time.Second)
			ch <- res{r, err}
		}()
		time.Sleep(20 * time.Millisecond)
	}
	codes := map[string]int{}
	for range 2 {
		x := <-ch
		if x.err != nil {
			t.Fatal(x.err)
		}
		codes[x.r.ResponseCode]++
	}
	if codes["00"] != 2 {
		t.Fatalf("answers %v, want 00 twice (0200 approved, 0201 its replay)", codes)
	}
	if n := pc.auths.Load(); n != 1 {
		t.Fatalf("%d authorizations, want 1", n)
	}
	if got := s.due(t); got != before-140 {
		t.Fatalf("due %d, want %d", got, before-140)
	}
}

// A terminal's reversal of an approved card payment restores the dues and sends the PC a
// reversal advice for the authorization; an advice that voids the key while the PC is
// authorizing gets 05 for the payment and the authorization reversed at the PC.
func TestCardReversalsReachThePC(t *testing.T) {
	pc := newFakePC(t, "127.0.0.1:0")
	s := startStack(t, t.TempDir(), registry(t, pc.addr, 5*time.Second))
	pcSignedOn(t, s)
	tests := []struct{ name, mti string }{{"0400", "0400"}, {"0420", "0420"}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			term := s.dial(t, specs.LinkTerminal)
			before := s.due(t)
			pan := card("520000", 100+i)
			p := payment(specs.LinkTerminal, cardTerm, 260, pan)
			if r := rt(t, term, p); r.ResponseCode != "00" {
				t.Fatalf("payment: %s", r.ResponseCode)
			}
			stan := pc.authSTAN(t, pan)
			if pc.advised(stan) {
				t.Fatal("advice before any reversal")
			}
			if r := rt(t, term, reversalOf(tc.mti, specs.LinkTerminal, p)); r.ResponseCode != "00" {
				t.Fatalf("%s: %s", tc.mti, r.ResponseCode)
			}
			if got := s.due(t); got != before {
				t.Fatalf("due %d, want %d", got, before)
			}
			eventually(t, 10*time.Second, "the reversal advice at the PC", func() bool { return pc.advised(stan) })
		})
	}
	t.Run("voided during authorization", func(t *testing.T) {
		pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "00", 300 * time.Millisecond, true })
		defer pc.setAuth(func(*specs.Message) (string, time.Duration, bool) { return "00", 0, true })
		term, term2 := s.dial(t, specs.LinkTerminal), s.dial(t, specs.LinkTerminal)
		before := s.due(t)
		pan := card("520000", 200)
		p := payment(specs.LinkTerminal, cardTerm, 270, pan)
		done := make(chan *specs.Message, 1)
		go func() {
			r, err := term.RoundTripTimeout(p, 10*time.Second)
			if err != nil {
				r = &specs.Message{ResponseCode: err.Error()}
			}
			done <- r
		}()
		time.Sleep(100 * time.Millisecond)
		if r := rt(t, term2, reversalOf("0420", specs.LinkTerminal, p)); r.ResponseCode != "00" {
			t.Fatalf("advice: %s", r.ResponseCode)
		}
		if r := <-done; r.ResponseCode != "05" {
			t.Fatalf("payment voided meanwhile: %s, want 05", r.ResponseCode)
		}
		if got := s.due(t); got != before {
			t.Fatalf("due %d, want %d", got, before)
		}
		stan := pc.authSTAN(t, pan)
		eventually(t, 10*time.Second, "the reversal advice of the unposted authorization", func() bool { return pc.advised(stan) })
	})
}
