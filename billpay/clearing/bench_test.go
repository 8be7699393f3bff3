package clearing

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// seedDay pays n payments through the core on the real ledger (Pebble on disk) on
// 2026-11-01 — four providers, 20 acquirers, cash at 500 terminals, 1 % reversed the
// same day — and closes the day.
func seedDay(b *testing.B, n int) *env {
	b.Helper()
	ctx := context.Background()
	e := newEnv(b, nil, b.TempDir())
	provs := []struct{ code, svc string }{{"AZERISIQ", "ELEC"}, {"AZERIGAZ", "GAS"}, {"AZERSU", "WATER"}, {"BAKTELECOM", "PHONE"}}
	const perProv = 4096
	for _, p := range provs {
		var f strings.Builder
		fmt.Fprintf(&f, `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="%s" file-id="BENCH" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="delta">
`, p.code)
		for i := range perProv {
			fmt.Fprintf(&f, `<account number="%d" name="Bench Payer"><debt service="%s" period="202610" amount="90000000.00"/></account>
`, 7000000000+i, p.svc)
		}
		f.WriteString("</debts>\n")
		if _, err := e.core.ImportBytes(ctx, []byte(f.String()), nil); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	workers := 64 * runtime.GOMAXPROCS(0)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				p := provs[i%len(provs)]
				req := billpay.PaymentRequest{Key: []byte(fmt.Sprintf("b%d", i)),
					Target: billpay.Target{Provider: p.code, Account: fmt.Sprint(7000000000 + (i/len(provs))%perProv)},
					Amount: int64(100 + i%50000), Currency: 944, Channel: billpay.ChannelATM, Method: billpay.MethodCard,
					Acquirer: fmt.Sprintf("BANK%02d", i%20), Terminal: fmt.Sprintf("ATM%05d", i%2000), RRN: fmt.Sprintf("%012d", i)}
				if i%7 == 0 {
					req.Channel, req.Method, req.Acquirer, req.Terminal = billpay.ChannelKiosk, billpay.MethodCash, "", fmt.Sprintf("K%04d", i%500)
				}
				if _, err := e.core.Pay(ctx, req); err != nil {
					failed.Store(&err)
					return
				}
				if i%100 == 0 {
					if _, err := e.core.Reverse(ctx, billpay.ReverseRequest{Key: []byte(fmt.Sprintf("r%d", i)), OriginalKey: req.Key, SameDayOnly: true}); err != nil {
						failed.Store(&err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	b.Logf("seeded %d payments in %v", n, time.Since(start).Round(time.Millisecond))
	e.cutover(20261102)
	return e
}

// BenchmarkClearing clears one business day of n payments taken through the core
// (first run: read, post, write; later iterations are idempotent re-runs that post
// nothing). Reports seconds per run. The 1,000,000-payment day, seeded straight into
// the store, is billpay's BenchmarkClearing1M (billpay/clearing_bench_test.go).
func BenchmarkClearing(b *testing.B) {
	for _, n := range []int{10_000} {
		b.Run(fmt.Sprintf("payments=%d", n), func(b *testing.B) {
			e := seedDay(b, n)
			b.ResetTimer()
			var res *Result
			for range b.N {
				var err error
				res, err = Run(context.Background(), Deps{Core: e.core}, Options{Date: ledger.Date(20261101), Dir: e.root, Location: baku})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
			var size int64
			for _, f := range res.Files {
				size += f.Size
			}
			b.Logf("payments %d (same-day reversed %d), files %d, %d MB", res.Payments, res.SameDay, len(res.Files), size>>20)
		})
	}
}
