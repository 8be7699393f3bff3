package billpay

import "testing"

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
