package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkSubmit measures durable 3-leg payments (group-committed, fsynced) on the
// real disk with 1, 64 and 256 concurrent submitters. It reports transfers/s, p50/p99
// latency of Submit, and B/op and allocs/op over every goroutine (submitters,
// sequencer, acker, Pebble) per payment.
func BenchmarkSubmit(b *testing.B) {
	for _, n := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("submitters=%d", n), func(b *testing.B) {
			s, err := Open(Options{Dir: b.TempDir(), Logger: zerolog.Nop(), InitialDate: 20261121})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			lat := make([][]time.Duration, n)
			for i := range lat {
				lat[i] = make([]time.Duration, 0, b.N/n+1)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < n; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					key := make([]byte, 0, 24)
					tr := payment(10_000, 150, "")
					cmd := &Command{Transfer: tr}
					ctx := context.Background()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						key = append(key[:0], "bench-pay-"...)
						key = binary.BigEndian.AppendUint64(key, uint64(i))
						cmd.Key = key
						cmd.RequestHash[0], cmd.RequestHash[1] = byte(i), byte(i>>8)
						t0 := time.Now()
						out, err := s.Submit(ctx, cmd)
						lat[w] = append(lat[w], time.Since(t0))
						if err != nil || out.Status != Committed {
							b.Errorf("submit: %+v %v", out, err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(b.N)/el.Seconds(), "transfers/s")
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			}
			st := s.Stats()
			if st.Groups > 0 {
				b.ReportMetric(float64(st.Commands)/float64(st.Groups), "cmds/group")
			}
		})
	}
}

// BenchmarkRecovery measures, over a store of n committed 3-leg payments
// (LEDGER_BENCH_RECOVERY_N, default 200,000): Open, which rebuilds every balance from
// the transfers and checks it against the stored balances, and Verify, which also
// recomputes the journal's hash chain. Reported per transfer.
func BenchmarkRecovery(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("LEDGER_BENCH_RECOVERY_N")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir, Logger: zerolog.Nop(), InitialDate: 20261121})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, n, 256)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("open", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := Open(Options{Dir: dir, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			_ = s.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/transfer")
	})
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if rep, err := Verify(dir); err != nil {
				b.Fatalf("%v\n%s", err, rep)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/transfer")
	})
}

// fill commits n payments from w submitters, spread over 50 providers and 200 drawers.
func fill(tb testing.TB, s *Store, n, w int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				tr := payment(10_000+i%977, 150, strconv.FormatInt(i, 10))
				tr.Postings[0].Account.Owner = "PP-" + strconv.FormatInt(i%200, 10)
				tr.Postings[1].Account.Owner = "PROV-" + strconv.FormatInt(i%50, 10)
				key := "fill-" + strconv.FormatInt(i, 10)
				if out, err := s.Submit(context.Background(), &Command{Key: []byte(key), Transfer: tr}); err != nil || out.Status != Committed {
					tb.Errorf("fill: %+v %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
