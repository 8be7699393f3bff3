package billpay

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/ledger"
)

// PaymentOutcome and PaymentsOn (the switch's queries) on the real ledger.
func TestReconQueries(t *testing.T) {
	ctx := context.Background()
	st, err := ledger.Open(ledger.Options{Dir: "db", FS: vfs.NewMem(), InitialDate: 20261101})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := New(Options{Ledger: st, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SeedDemo(ctx, c); err != nil {
		t.Fatal(err)
	}
	acct := Target{Provider: "AZERISIQ", Account: "1000000001"}
	reqs := []PaymentRequest{
		{Key: []byte("k1"), Target: acct, Amount: 100, Currency: 944, Channel: ChannelKiosk, Method: MethodCash, Terminal: "T1", Acquirer: "AG"},
		{Key: []byte("k2"), Target: acct, Amount: 250, Currency: 944, Channel: ChannelATM, Method: MethodCard, Terminal: "ATM1", Acquirer: "100001"},
	}
	var hashes [][32]byte
	for i := range reqs {
		reqs[i].RequestHash = [32]byte{byte(i + 1)}
		hashes = append(hashes, reqs[i].RequestHash)
		if _, err := c.Pay(ctx, reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r2"), OriginalKey: []byte("k2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r9"), OriginalKey: []byte("k9"), VoidUnknown: true}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		key       string
		hash      [32]byte
		found     bool
		wantErr   Decline
		wantAmt   int64
		duplicate bool
	}{
		{"posted", "k1", hashes[0], true, 0, 100, true},
		{"other request under the key", "k1", hashes[1], true, DeclineConflict, 0, false},
		{"never seen", "k3", hashes[0], false, 0, 0, false},
		{"voided by an advice", "k9", hashes[0], true, DeclineAlreadyReversed, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, found, err := c.PaymentOutcome(ctx, []byte(tc.key), tc.hash)
			if found != tc.found {
				t.Fatalf("found %v, want %v", found, tc.found)
			}
			if tc.wantErr != 0 {
				if d, ok := DeclineOf(err); !ok || d != tc.wantErr {
					t.Fatalf("err %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.found && (p.Amount != tc.wantAmt || p.Duplicate != tc.duplicate || p.BusinessDate != 20261101) {
				t.Fatalf("payment %+v", p)
			}
		})
	}

	var got []PaymentSummary
	if err := c.PaymentsOn(ctx, 20261101, func(s PaymentSummary) bool { got = append(got, s); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Terminal != "T1" || got[0].Reversed || got[1].Acquirer != "100001" || !got[1].Reversed ||
		got[1].ReversalDate != 20261101 || got[1].Amount != 250 || got[1].Channel != ChannelATM {
		t.Fatalf("payments of the day: %+v", got)
	}
	n := 0
	if err := c.PaymentsOn(ctx, 20261101, func(PaymentSummary) bool { n++; return false }); err != nil || n != 1 {
		t.Fatalf("stop after the first: %d calls, %v", n, err)
	}
	if err := c.Ledger().Cutover(ctx, 20261102); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := c.PaymentsOn(ctx, 20261102, func(s PaymentSummary) bool { got = append(got, s); return true }); err != nil || len(got) != 0 {
		t.Fatalf("next day: %+v, %v", got, err)
	}
}
