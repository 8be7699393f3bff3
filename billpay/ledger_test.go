package billpay

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/ledger"
)

func openLedger(tb testing.TB, dir string, fs vfs.FS) *ledger.Store {
	tb.Helper()
	st, err := ledger.Open(ledger.Options{Dir: dir, FS: fs, InitialDate: 20261101})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// The core on the real ledger (Pebble in memory): demo seed, AS01, reversal, idempotency,
// concurrent payments and a restart of the store.
func TestOnLedger(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	st := openLedger(t, "db", fs)
	c, err := New(Options{Ledger: st, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	code, err := SeedDemo(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pay(ctx, cashPay("as01", Target{RegCode: code}, 2815))
	if err != nil {
		t.Fatal(err)
	}
	want := "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200;AZERISIQ:1000000102:ELEC:202609=365"
	if got := fmtAllocs(p.Allocations); got != want {
		t.Fatalf("allocations %s", got)
	}
	if p2, err := c.Pay(ctx, cashPay("as01", Target{RegCode: code}, 2815)); err != nil || !p2.Duplicate || p2.Receipt != p.Receipt {
		t.Fatalf("repeat %+v %v", p2, err)
	}
	if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv"), OriginalKey: []byte("as01"), SameDayOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv-2"), OriginalKey: []byte("as01")}); err == nil {
		t.Fatal("reversed twice")
	}
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Pay(ctx, cashPay(fmt.Sprintf("p%d", i), target, 101)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d := due(t, c, target); d != 418518-32*101 {
		t.Fatalf("due %d", d)
	}
	drawer := st.Balance(ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: "T0000001"}, 944)
	if drawer.Debits != 2815+32*101 || drawer.Credits != 2815 {
		t.Fatalf("drawer %+v", drawer)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart: the same code, the same state, receipts continue.
	st = openLedger(t, "db", fs)
	defer st.Close()
	c, _ = New(Options{Ledger: st, Registry: DemoRegistry()})
	if again, err := SeedDemo(ctx, c); err != nil || again != code {
		t.Fatalf("reseed %q %v", again, err)
	}
	if d := due(t, c, Target{RegCode: code}); d != 5500 {
		t.Fatalf("regcode due after restart %d", d)
	}
	p3, err := c.Pay(ctx, cashPay("after", target, 1))
	if err != nil || p3.Receipt <= p.Receipt {
		t.Fatalf("after restart %+v %v", p3, err)
	}
}
