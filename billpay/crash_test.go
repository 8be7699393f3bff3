package billpay

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/ledger"
)

// storedPayments returns the amounts of the payment records in the store, by receipt.
func storedPayments(t *testing.T, st ledger.Ledger) map[string]*paymentRec {
	t.Helper()
	view, err := st.View()
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	out := map[string]*paymentRec{}
	pfx := []byte{prefixPayment}
	err = view.Scan(pfx, prefixEnd(pfx), func(k, v []byte) bool {
		rec, err := decodePayment(v)
		if err != nil {
			t.Fatal(err)
		}
		out[string(k[1:])] = rec
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A crash (the disk keeps only synced data, plus a random part of the unsynced) while
// payments and reversals run: after recovery every acknowledged payment is there with its
// dues reduced, money and records agree (nothing posted without its payment record or
// twice), and the core carries on (receipts do not repeat).
func TestCrashKeepsAcknowledged(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			st := openLedger(t, "db", fs)
			c, _ := New(Options{Ledger: st, Registry: DemoRegistry()})
			code, err := SeedDemo(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			acked := map[string]int64{} // receipt → amount, acknowledged and not reversed
			reversed := map[string]bool{}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, uint64(w)))
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						target := Target{Provider: "AZERISIQ", Account: "1000000001"}
						if w%4 == 3 {
							target = Target{RegCode: code}
						}
						key := fmt.Sprintf("w%d-%d", w, i)
						p, err := c.Pay(ctx, cashPay(key, target, 1+rng.Int64N(20)))
						if err != nil {
							if d, ok := DeclineOf(err); ok && d == DeclineInvalidAmount {
								continue // the regcode's debts ran out
							}
							return // the store is being torn down
						}
						mu.Lock()
						acked[p.Receipt] = p.Amount
						mu.Unlock()
						if rng.IntN(5) == 0 {
							if _, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r" + key), OriginalKey: []byte(key)}); err == nil {
								mu.Lock()
								reversed[p.Receipt] = true
								mu.Unlock()
							}
						}
					}
				}()
			}
			// Let some work happen, then crash in the middle of it.
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 60 {
					break
				}
				runtime.Gosched()
			}
			mu.Lock()
			ackedAtCrash := make(map[string]int64, len(acked))
			for k, v := range acked {
				ackedAtCrash[k] = v
			}
			reversedAtCrash := make(map[string]bool, len(reversed))
			for k := range reversed {
				reversedAtCrash[k] = true
			}
			img := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: int(seed * 30), RNG: rand.New(rand.NewPCG(seed, 99))})
			mu.Unlock()
			close(stop)
			wg.Wait()
			st.Close()

			st2 := openLedger(t, "db", img)
			defer st2.Close()
			c2, _ := New(Options{Ledger: st2, Registry: DemoRegistry()})
			recs := storedPayments(t, st2)
			for r, amt := range ackedAtCrash {
				rec, ok := recs[r]
				if !ok || rec.Amount != amt {
					t.Fatalf("acknowledged payment %s (%d) lost after the crash", r, amt)
				}
				if reversedAtCrash[r] && !rec.Reversed {
					t.Fatalf("acknowledged reversal of %s lost", r)
				}
			}
			// Money and records agree: the drawer holds exactly the payments stored, less
			// the reversals stored.
			var in, out int64
			paidOn := map[string]int64{}
			for _, rec := range recs {
				in += rec.Amount
				if rec.Reversed {
					out += rec.Amount
				}
				for _, a := range rec.Allocations {
					if !rec.Reversed {
						paidOn[a.Account] += a.Amount
					}
				}
			}
			drawer := st2.Balance(ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: "T0000001"}, 944)
			if drawer.Debits != in || drawer.Credits != out {
				t.Fatalf("drawer %+v, payment records say in %d out %d", drawer, in, out)
			}
			// Dues agree with the stored payments.
			if d := due(t, c2, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 418518-paidOn["1000000001"] {
				t.Fatalf("due %d, stored payments say %d", d, 418518-paidOn["1000000001"])
			}
			// The core carries on: a new payment gets a receipt never used before.
			p, err := c2.Pay(ctx, cashPay("after-crash", Target{Provider: "AZERISIQ", Account: "1000000001"}, 5))
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := recs[p.Receipt]; dup {
				t.Fatalf("receipt %s reused after the crash", p.Receipt)
			}
		})
	}
}

// A crash in the middle of an import's staging leaves the old state; the provider's next
// import (the same file again) applies.
func TestCrashDuringImport(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewCrashableMem()
	st := openLedger(t, "db", fs)
	c, _ := New(Options{Ledger: st, Registry: DemoRegistry()})
	if _, err := SeedDemo(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.importChunk = 3
	var accts []string
	for i := range 40 {
		accts = append(accts, acct(fmt.Sprint(5000+i), debt("ELEC", 202611, "1.00")))
	}
	file := debtsFile("C-1", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", accts...)
	var img *vfs.MemFS
	// The crash is taken while pass 2 reads (chunks of 3 accounts are being staged).
	opens := 0
	_, err := c.Import(ctx, ImportRequest{Open: func() (io.ReadCloser, error) {
		opens++
		r := strings.NewReader(file)
		if opens == 3 {
			return &crashAfter{r: r, after: len(file) / 2, crash: func() { img = fs.CrashClone(vfs.CrashCloneCfg{}) }}, nil
		}
		return nopCloser{r}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if img == nil {
		t.Fatal("no crash image taken")
	}
	st.Close()
	st2 := openLedger(t, "db", img)
	defer st2.Close()
	c2, _ := New(Options{Ledger: st2, Registry: DemoRegistry()})
	if d := due(t, c2, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 418518 {
		t.Fatalf("half an import visible after the crash: due %d", d)
	}
	_, err = c2.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "5000"})
	wantDecline(t, err, DeclineUnknownAccount)
	if _, err := c2.ImportBytes(ctx, []byte(file), nil); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c2, Target{Provider: "AZERISIQ", Account: "5039"}); d != 100 {
		t.Fatalf("due %d", d)
	}
	_, err = c2.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000001"})
	wantDecline(t, err, DeclineUnknownAccount) // closed by the full file
}

type nopCloser struct{ r *strings.Reader }

func (n nopCloser) Read(p []byte) (int, error) { return n.r.Read(p) }
func (n nopCloser) Close() error               { return nil }

// crashAfter calls crash once when more than after bytes were read.
type crashAfter struct {
	r     *strings.Reader
	after int
	read  int
	crash func()
}

func (c *crashAfter) Read(p []byte) (int, error) {
	if len(p) > 512 {
		p = p[:512]
	}
	n, err := c.r.Read(p)
	c.read += n
	if c.crash != nil && c.read > c.after {
		c.crash()
		c.crash = nil
	}
	return n, err
}
func (c *crashAfter) Close() error { return nil }
