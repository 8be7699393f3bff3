package billpay

import (
	"context"
	"testing"
)

// The account cache (acctcache.go) is never stale: after each other writer of an
// account record — an import, a top-up, a reversal — the next payment on the account
// starts from what that writer stored, not from the record the previous payment cached.
func TestAccountCacheNeverStale(t *testing.T) {
	ctx := context.Background()
	acct1 := Target{Provider: "AZERISIQ", Account: "1000000001"}
	prepaid := Target{Provider: "AZERISIQ", Account: "1000000003"}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *Core)
	}{
		{"import between payments", func(t *testing.T, c *Core) {
			if _, err := c.Pay(ctx, cashPay("i1", acct1, 100)); err != nil {
				t.Fatal(err)
			}
			f := debtsFile("F-CACHE", "2026-11-02T02:00:00+04:00", "2026-11-01", "delta", acct("1000000001", debt("ELEC", 202611, "5.00")))
			if _, err := c.ImportBytes(ctx, []byte(f), nil); err != nil {
				t.Fatal(err)
			}
			d := due(t, c, acct1)
			if d <= 0 {
				t.Fatalf("due %d after the import", d)
			}
			// Paying the new due in full leaves nothing: the payment saw the imported
			// record (a cached pre-import record would pay the old debts, in the old
			// version of the record).
			if _, err := c.Pay(ctx, cashPay("i2", acct1, d)); err != nil {
				t.Fatal(err)
			}
			if left := due(t, c, acct1); left != 0 {
				t.Fatalf("due %d after paying %d, want 0", left, d)
			}
		}},
		{"top-up between payments", func(t *testing.T, c *Core) {
			if _, err := c.Pay(ctx, cashPay("u1", prepaid, 100)); err != nil {
				t.Fatal(err)
			}
			tu := TopUpRequest{PaymentRequest: cashPay("u2", prepaid, 2000), CardID: "GC-00042117", CardSequence: 17}
			if _, err := c.TopUp(ctx, tu); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Pay(ctx, cashPay("u3", prepaid, 100)); err != nil {
				t.Fatal(err)
			}
			// The credential for sequence 18 is issued and not yet on the card: a second
			// top-up for sequence 17 must be refused (the payment kept IssuedSeq).
			again := tu
			again.Key = []byte("u4")
			_, err := c.TopUp(ctx, again)
			wantDecline(t, err, DeclineNotAllowed)
		}},
		{"reversal between payments", func(t *testing.T, c *Core) {
			before := due(t, c, acct1)
			p, err := c.Pay(ctx, cashPay("r1", acct1, 100))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r2"), OriginalKey: []byte("r1"), Receipt: p.Receipt}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Pay(ctx, cashPay("r3", acct1, 100)); err != nil {
				t.Fatal(err)
			}
			if got := due(t, c, acct1); got != before-100 {
				t.Fatalf("due %d, want %d (one payment of 100 stands)", got, before-100)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := seeded(t)
			tc.run(t, c)
		})
	}
}
