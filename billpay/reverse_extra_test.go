package billpay

import (
	"context"
	"testing"

	"github.com/billswitch/billswitch/ledger"
)

// A reversal's Extra writes commit with the reversal, and only when it reverses a
// payment: not on a repeat, not on a refusal, not for a void, never outside the
// switch's key range.
func TestReverseExtra(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	if _, err := c.Pay(ctx, cashPay("pay1", target, 300)); err != nil {
		t.Fatal(err)
	}
	before := due(t, c, target)
	extra := func(v string) []ledger.Write {
		return []ledger.Write{{Key: []byte{ledger.SwitchPrefixMin + 1, 'x'}, Value: []byte(v)}}
	}
	read := func() string {
		t.Helper()
		view, err := l.View()
		if err != nil {
			t.Fatal(err)
		}
		defer view.Close()
		v, _, err := view.Get([]byte{ledger.SwitchPrefixMin + 1, 'x'})
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	tests := []struct {
		name      string
		req       ReverseRequest
		wantErr   bool
		decline   Decline
		wantExtra string
		wantDue   int64
	}{
		{"outside the switch's range", ReverseRequest{Key: []byte("r0"), OriginalKey: []byte("pay1"),
			Extra: []ledger.Write{{Key: []byte{ledger.BillpayPrefixMin}, Value: []byte("no")}}}, true, 0, "", before},
		{"empty key", ReverseRequest{Key: []byte("r0"), OriginalKey: []byte("pay1"),
			Extra: []ledger.Write{{Value: []byte("no")}}}, true, 0, "", before},
		{"reverses the payment", ReverseRequest{Key: []byte("r1"), OriginalKey: []byte("pay1"), Extra: extra("first")},
			false, 0, "first", before + 300},
		{"repeat of the reversal", ReverseRequest{Key: []byte("r1"), OriginalKey: []byte("pay1"), Extra: extra("repeat")},
			false, 0, "first", before + 300},
		{"another reversal of it", ReverseRequest{Key: []byte("r2"), OriginalKey: []byte("pay1"), Extra: extra("second")},
			true, DeclineAlreadyReversed, "first", before + 300},
		{"void of an unknown original", ReverseRequest{Key: []byte("r3"), OriginalKey: []byte("never"), VoidUnknown: true, Extra: extra("void")},
			false, 0, "first", before + 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Reverse(ctx, tc.req)
			switch {
			case tc.decline != 0:
				wantDecline(t, err, tc.decline)
			case tc.wantErr && err == nil:
				t.Fatal("no error")
			case !tc.wantErr && err != nil:
				t.Fatal(err)
			}
			if got := read(); got != tc.wantExtra {
				t.Errorf("extra record %q, want %q", got, tc.wantExtra)
			}
			if got := due(t, c, target); got != tc.wantDue {
				t.Errorf("due %d, want %d", got, tc.wantDue)
			}
		})
	}
}
