package billpay

import (
	"context"
	"regexp"
	"testing"
)

func TestTopUp(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	key := mustHex(DemoTopUpKey)
	target := Target{Provider: "AZERISIQ", Account: "1000000003"}
	req := TopUpRequest{PaymentRequest: cashPay("t1", target, 2000), CardID: "GC-00042117", CardSequence: 17}
	p, err := c.TopUp(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyCredential(key, false, "AZERISIQ", "1000000003", "GC-00042117", 18, 2000, p.Credential) {
		t.Fatalf("credential %q does not verify for sequence 18", p.Credential)
	}
	if !regexp.MustCompile(`^W1:GC-00042117:18:2000:[0-9a-f]{32}$`).MatchString(p.Credential) {
		t.Fatalf("credential %q", p.Credential)
	}
	// Reissue: the same request gives the same credential and no second credit.
	submits := l.Submits
	p2, err := c.TopUp(ctx, req)
	if err != nil || !p2.Duplicate || p2.Credential != p.Credential || p2.Receipt != p.Receipt {
		t.Fatalf("reissue %+v %v", p2, err)
	}
	if l.Submits != submits {
		t.Fatal("reissue posted again")
	}
	// Another request for the same card sequence while the credential is not yet on the
	// card: refused, so two credits can never exist for one sequence.
	again := req
	again.Key = []byte("t2")
	_, err = c.TopUp(ctx, again)
	wantDecline(t, err, DeclineNotAllowed)
	// Once the card shows sequence 18, the next top-up is bound to 19.
	next := req
	next.Key, next.CardSequence, next.Amount = []byte("t3"), 18, 500
	p3, err := c.TopUp(ctx, next)
	if err != nil || !VerifyCredential(key, false, "AZERISIQ", "1000000003", "GC-00042117", 19, 500, p3.Credential) {
		t.Fatalf("next top-up %+v %v", p3, err)
	}
	// Same key, other body: conflict.
	conflict := next
	conflict.Amount = 501
	_, err = c.TopUp(ctx, conflict)
	wantDecline(t, err, DeclineConflict)

	tok := TopUpRequest{PaymentRequest: cashPay("t4", target, 1000), CardSequence: 19, Token: true}
	p4, err := c.TopUp(ctx, tok)
	if err != nil || !regexp.MustCompile(`^[0-9]{20}$`).MatchString(p4.Credential) ||
		!VerifyCredential(key, true, "AZERISIQ", "1000000003", "GC-00042117", 20, 1000, p4.Credential) {
		t.Fatalf("token %+v %v", p4, err)
	}
	// Not prepaid, wrong card, no such account.
	_, err = c.TopUp(ctx, TopUpRequest{PaymentRequest: cashPay("t5", Target{Provider: "AZERISIQ", Account: "1000000001"}, 100), CardID: "X", CardSequence: 1})
	wantDecline(t, err, DeclineNotAllowed)
	_, err = c.TopUp(ctx, TopUpRequest{PaymentRequest: cashPay("t6", target, 100), CardID: "GC-OTHER", CardSequence: 20})
	wantDecline(t, err, DeclineNotAllowed)
	_, err = c.TopUp(ctx, TopUpRequest{PaymentRequest: cashPay("t7", Target{Provider: "AZERISIQ", Account: "404"}, 100)})
	wantDecline(t, err, DeclineUnknownAccount)
	// A top-up moves no debt: the account still owes nothing.
	if d := due(t, c, target); d != 0 {
		t.Fatalf("due %d", d)
	}
}

// A reversed top-up gives its card sequence back: the next top-up is bound to the same
// sequence (the meter takes one of the two credentials, never both), and a repeat of
// the reversed request no longer hands its credential out. A reversal of a top-up that
// is no longer the last one issued changes no sequence.
func TestTopUpReversal(t *testing.T) {
	ctx := context.Background()
	key := mustHex(DemoTopUpKey)
	target := Target{Provider: "AZERISIQ", Account: "1000000003"}
	const card = "GC-00042117"
	topUp := func(k string, amount int64, seq uint32, token bool) TopUpRequest {
		r := TopUpRequest{PaymentRequest: cashPay(k, target, amount), CardID: card, CardSequence: seq, Token: token}
		if token {
			r.CardID, r.CardSequence = "", 0
		}
		return r
	}
	for _, tc := range []struct {
		name     string
		before   []TopUpRequest // top-ups made first; the first one is reversed
		next     TopUpRequest   // the top-up after the reversal
		nextSeq  uint32         // the sequence its credential must be bound to (0: declined)
		nextWant Decline
	}{
		{"card, reversed top-up was the last", []TopUpRequest{topUp("a", 2000, 17, false)}, topUp("n", 1500, 17, false), 18, 0},
		{"token, reversed top-up was the last", []TopUpRequest{topUp("a", 2000, 0, true)}, topUp("n", 1500, 0, true), 18, 0},
		{"card, a later top-up followed (card at 18)", []TopUpRequest{topUp("a", 2000, 17, false), topUp("b", 700, 18, false)},
			topUp("n", 1500, 18, false), 0, DeclineNotAllowed},
		{"token, a later token followed", []TopUpRequest{topUp("a", 2000, 0, true), topUp("b", 700, 0, true)}, topUp("n", 1500, 0, true), 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := seeded(t)
			for _, r := range tc.before {
				if _, err := c.TopUp(ctx, r); err != nil {
					t.Fatalf("top-up %s: %v", r.Key, err)
				}
			}
			first := tc.before[0]
			rev, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv"), OriginalKey: first.Key})
			if err != nil || rev.Duplicate {
				t.Fatalf("reversal %+v %v", rev, err)
			}
			// The reversed request again: no credential.
			_, err = c.TopUp(ctx, first)
			wantDecline(t, err, DeclineAlreadyReversed)
			p, err := c.TopUp(ctx, tc.next)
			if tc.nextSeq == 0 {
				wantDecline(t, err, tc.nextWant)
				return
			}
			if err != nil {
				t.Fatalf("top-up after the reversal: %v", err)
			}
			if !VerifyCredential(key, tc.next.Token, "AZERISIQ", "1000000003", card, tc.nextSeq, tc.next.Amount, p.Credential) {
				t.Fatalf("credential %q not bound to sequence %d", p.Credential, tc.nextSeq)
			}
		})
	}
}
