package billpay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/billpay/clearing"
	"github.com/billswitch/billswitch/ledger"
)

// BenchmarkClearing1M clears a business day of 1,000,000 payments (the target:
// ≤ 10 s) on the real ledger (Pebble on disk): read the day, post the settlement,
// write the registers, positions, payout, per-bank lists and reconciliation report,
// each synced. The day is seeded straight into the store (SeedDayForBench); the first
// iteration posts, later ones are idempotent re-runs. Reports s/run.
func BenchmarkClearing1M(b *testing.B) {
	ctx := context.Background()
	st, err := ledger.Open(ledger.Options{Dir: b.TempDir(), InitialDate: 20261101})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	core, err := billpay.New(billpay.Options{Ledger: st, Registry: billpay.DemoRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const n = 1_000_000
	if err := billpay.SeedDayForBench(ctx, core, 20261101, n); err != nil {
		b.Fatal(err)
	}
	if err := core.Cutover(ctx, 20261102); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d payments in %v", n, time.Since(start).Round(time.Millisecond))
	dir := b.TempDir()
	b.ResetTimer()
	var res *clearing.Result
	var stages []string
	for range b.N {
		t0 := time.Now()
		stages = stages[:0]
		progress := func(p clearing.Progress) {
			if p.Stage == "read" && p.Payments > 0 {
				return
			}
			stages = append(stages, fmt.Sprintf("%s@%v", p.Stage, time.Since(t0).Round(time.Millisecond)))
		}
		if res, err = clearing.Run(ctx, clearing.Deps{Core: core}, clearing.Options{Date: 20261101, Dir: dir,
			Location: time.FixedZone("AZT", 4*3600), Progress: progress}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stages (start of each, since the run began): %v", stages)
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/run")
	var size int64
	for _, f := range res.Files {
		size += f.Size
	}
	b.Logf("payments %d (same-day reversed %d), providers %d, acquirers %d, files %d, %d MB; posted %d, existing %d",
		res.Payments, res.SameDay, len(res.Providers), len(res.Acquirers), len(res.Files), size>>20, res.Posted, res.Existing)
	// The cost of the reversal window: an empty next day whose window holds the 1M
	// payments (scanned for late reversals, none found).
	if err := core.Cutover(ctx, 20261103); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := clearing.Run(ctx, clearing.Deps{Core: core}, clearing.Options{Date: 20261102, Dir: dir}); err != nil {
		b.Fatal(err)
	}
	b.Logf("an empty day with the 1M payments in its reversal window: %v", time.Since(t0).Round(time.Millisecond))
}
