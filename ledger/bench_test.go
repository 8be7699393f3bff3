package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
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
