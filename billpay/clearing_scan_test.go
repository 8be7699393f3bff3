package billpay

import (
	"context"
	"slices"
	"testing"

	"github.com/billswitch/billswitch/ledger"
)

func TestPeekReversal(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  paymentRec
	}{
		{"plain", paymentRec{Kind: resultPayment, CmdKey: []byte("bp/pay/k"), Amount: 100, PaidDate: 20261101}},
		{"reversed later", paymentRec{Kind: resultPayment, CmdKey: []byte("bp/pay/k2"), Target: Target{Provider: "P", Account: "1"},
			Amount: 3650, Commission: 37, Currency: 944, Channel: ChannelATM, Method: MethodCard, Acquirer: "MILLIKART",
			Terminal: "ATM01234", RRN: "530512000123", STAN: "000123", Readings: []Reading{{"ELEC", "M1", "10410"}},
			Allocations: []Allocation{{"P", "1", "ELEC", 202610, 3450}, {"P", "1", "GARBAGE", 0, 200}},
			PaidDate:    20261101, PostedAt: 1e18, Reversed: true, ReversalKey: []byte("rv"), ReversalDate: 20261103, Credential: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.rec.encode()
			rev, date, ok := peekReversal(v)
			if !ok || rev != tc.rec.Reversed || date != tc.rec.ReversalDate {
				t.Fatalf("peek = %v %d %v, want %v %d", rev, date, ok, tc.rec.Reversed, tc.rec.ReversalDate)
			}
			if _, _, ok := peekReversal(v[:len(v)/2]); ok {
				t.Fatal("a truncated record peeked fine")
			}
		})
	}
}

// A reversal is in the reversal index under the business date it was posted on,
// whatever the age of its payment: ClearingDay gives it for that day with no window
// scan at all, and once with a window that finds it too. One that raced a cutover and
// was posted on the next day is moved there with its record's date (redate).
func TestClearingDayReversalIndex(t *testing.T) {
	for _, tc := range []struct {
		name   string
		race   bool        // a bare cutover moves the date between Reverse's read and its commit
		posted ledger.Date // the reversal's business date
	}{
		{"advice after the day closed", false, 20261215},
		{"reversal racing a cutover", true, 20261216},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, l, _ := seeded(t)
			p, err := c.Pay(ctx, cashPay("old", Target{Provider: "AZERISIQ", Account: "1000000101"}, 1000))
			if err != nil || p.BusinessDate != 20261101 {
				t.Fatalf("%+v %v", p, err)
			}
			if err := l.Cutover(ctx, 20261215); err != nil {
				t.Fatal(err)
			}
			if tc.race {
				var once bool
				l.BeforeSubmit = func() {
					if !once {
						once = true
						if err := l.Cutover(ctx, 20261216); err != nil {
							t.Error(err)
						}
					}
				}
			}
			rev, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv"), OriginalKey: []byte("old")})
			l.BeforeSubmit = nil
			if err != nil || rev.BusinessDate != tc.posted {
				t.Fatalf("%+v %v", rev, err)
			}
			for _, date := range []ledger.Date{20261215, 20261216} {
				for _, from := range []ledger.Date{date, 20261101} { // no window; a window holding the payment
					var got []string
					err := c.ClearingDay(ctx, date, from, func(cp *ClearingPayment, reversal bool) error {
						if reversal {
							got = append(got, cp.Receipt)
						}
						return nil
					})
					want := []string(nil)
					if date == tc.posted {
						want = []string{p.Receipt}
					}
					if err != nil || !slices.Equal(got, want) {
						t.Errorf("ClearingDay(%d, from %d): late reversals %v, %v; want %v", date, from, got, err, want)
					}
				}
			}
		})
	}
}
