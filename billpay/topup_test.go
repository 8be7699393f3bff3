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
