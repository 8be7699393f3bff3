package bills_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// crashAfterCommit is an authorizer whose host "dies" right after a reversal's ledger
// command: nothing that comes after it happens — neither a separate queueing of the
// PC's reversal advice (Reverse) nor the in-memory queueing of one committed with the
// reversal (QueueReversal).
type crashAfterCommit struct{ bills.Authorizer }

func (crashAfterCommit) Reverse(context.Context, *terminals.Institution, pcclient.AuthRequest, pcclient.AuthResult) error {
	return errors.New("host died after the reversal's command")
}

func (crashAfterCommit) QueueReversal(*terminals.Institution, pcclient.PendingReversal) {}

// A terminal's reversal of a card payment and the PC's reversal advice are one durable
// fact: when the host dies right after the reversal's command, the restarted host sends
// the PC the advice (the card's money is released), and repeats of the reversal, before
// or after, never add a second advice.
func TestTerminalReversalAdviceDurable(t *testing.T) {
	tests := []struct {
		name, mti, repeat string
	}{
		{"0400", "0400", "0401"},
		{"0420", "0420", "0421"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newFakePC(t, "127.0.0.1:0")
			dir := t.TempDir()
			reg := registry(t, pc.addr, 5*time.Second)
			s := startStackAuth(t, dir, reg, func(a bills.Authorizer) bills.Authorizer { return crashAfterCommit{a} })
			pcSignedOn(t, s)
			term := s.dial(t, specs.LinkTerminal)
			before := s.due(t)
			pan := card("520000", 400+i)
			p := payment(specs.LinkTerminal, cardTerm, 180, pan)
			if r := rt(t, term, p); r.ResponseCode != "00" {
				t.Fatalf("payment: %s", r.ResponseCode)
			}
			stan := pc.authSTAN(t, pan)
			rev := reversalOf(tc.mti, specs.LinkTerminal, p)
			if r := rt(t, term, rev); r.ResponseCode != "00" {
				t.Fatalf("%s: %s", tc.mti, r.ResponseCode)
			}
			if got := s.due(t); got != before {
				t.Fatalf("due %d, want %d (reversed)", got, before)
			}
			if pc.advised(stan) {
				t.Fatal("the PC was advised although the host died before queueing")
			}
			s.close() // the crash

			s2 := startStack(t, dir, reg)
			pcSignedOn(t, s2)
			eventually(t, 10*time.Second, "the PC's reversal advice after the restart", func() bool { return pc.advised(stan) })
			term2 := s2.dial(t, specs.LinkTerminal)
			rep := *rev
			rep.MTI = tc.repeat
			for _, m := range []struct {
				msg    *specs.Message
				wantRC string
			}{
				{&rep, "00"}, // the first answer again
				{reversalOf("0420", specs.LinkTerminal, p), "00"}, // a second advice: acknowledged
				{reversalOf("0400", specs.LinkTerminal, p), "05"}, // already reversed
			} {
				if r := rt(t, term2, m.msg); r.ResponseCode != m.wantRC {
					t.Fatalf("%s after the restart: %s, want %s", m.msg.MTI, r.ResponseCode, m.wantRC)
				}
			}
			if got := s2.due(t); got != before {
				t.Fatalf("due %d, want %d", got, before)
			}
			eventually(t, 10*time.Second, "the advice acknowledged", func() bool { return pending(t, s2) == 0 })
			time.Sleep(300 * time.Millisecond)
			if n := pc.advices.Load(); n != 1 {
				t.Fatalf("the PC got %d reversal advices, want 1", n)
			}
		})
	}
}

// A card payment whose PC the host no longer dials (no client, so no advice can be
// written): its 0400 and 0420 are refused 91 with no effect — reversing would refund
// a payment whose card stays charged — and served once the PC is dialled again.
func TestTerminalReversalWithoutPCClient(t *testing.T) {
	tests := []struct {
		name, mti, repeat string
	}{
		{"0400", "0400", "0401"},
		{"0420", "0420", "0421"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := newFakePC(t, "127.0.0.1:0")
			dir := t.TempDir()
			reg := registry(t, pc.addr, 5*time.Second)
			s := startStack(t, dir, reg)
			pcSignedOn(t, s)
			before := s.due(t)
			pan := card("520000", 500+i)
			p := payment(specs.LinkTerminal, cardTerm, 190, pan)
			if r := rt(t, s.dial(t, specs.LinkTerminal), p); r.ResponseCode != "00" {
				t.Fatalf("payment: %s", r.ResponseCode)
			}
			stan := pc.authSTAN(t, pan)
			s.close()

			s2 := startStack(t, dir, registryDial(t, "[]", 5*time.Second))
			if _, ok := s2.st.Clients.Client(cardPC); ok {
				t.Fatal("a client of a PC that is not dialled")
			}
			rev := reversalOf(tc.mti, specs.LinkTerminal, p)
			if r := rt(t, s2.dial(t, specs.LinkTerminal), rev); r.ResponseCode != "91" {
				t.Fatalf("%s without the PC's client: %s, want 91", tc.mti, r.ResponseCode)
			}
			if got := s2.due(t); got != before-190 {
				t.Fatalf("due %d, want %d (not reversed)", got, before-190)
			}
			s2.close()

			s3 := startStack(t, dir, reg)
			pcSignedOn(t, s3)
			rep := *rev
			rep.MTI = tc.repeat
			if r := rt(t, s3.dial(t, specs.LinkTerminal), &rep); r.ResponseCode != "00" {
				t.Fatalf("%s with the PC dialled again: %s", tc.repeat, r.ResponseCode)
			}
			if got := s3.due(t); got != before {
				t.Fatalf("due %d, want %d (reversed)", got, before)
			}
			eventually(t, 10*time.Second, "the PC's reversal advice", func() bool { return pc.advised(stan) })
		})
	}
}

// A payment and its advice sent at the same moment on two PC connections: whatever the
// order, the net effect on the dues is zero and the advice 00 (from a review).
func TestPaymentAdviceRace(t *testing.T) {
	s := startStack(t, t.TempDir(), registry(t, "127.0.0.1:1", time.Second))
	a, b := s.dial(t, specs.LinkPC), s.dial(t, specs.LinkPC)
	before := s.due(t)
	for i := range 60 {
		p := payment(specs.LinkPC, "ATM00001", 10, "")
		adv := reversalOf("0420", specs.LinkPC, p)
		done := make(chan *specs.Message, 1)
		go func() {
			r, err := a.RoundTripTimeout(p, 10*time.Second)
			if err != nil {
				r = &specs.Message{ResponseCode: err.Error()}
			}
			done <- r
		}()
		if i%2 == 0 {
			time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
		}
		ra := rt(t, b, adv)
		rp := <-done
		if ra.ResponseCode != "00" {
			t.Fatalf("%d: advice %s", i, ra.ResponseCode)
		}
		if rp.ResponseCode != "00" && rp.ResponseCode != "05" {
			t.Fatalf("%d: payment %s", i, rp.ResponseCode)
		}
		if got := s.due(t); got != before {
			t.Fatalf("%d: due %d, want %d (payment %s)", i, got, before, rp.ResponseCode)
		}
	}
}
