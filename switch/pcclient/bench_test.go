package pcclient

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAuthorize is one 0200/0210 round trip through the client against the fake
// PC on loopback (both in this process), with 1 and GOMAXPROCS×4 callers in flight.
func BenchmarkAuthorize(b *testing.B) {
	run := func(b *testing.B, parallel bool) {
		pc := newFakePC(b, testDialect(b))
		store := openStore(b, "")
		defer store.Close()
		cfg := testConfig(b, &syncBuffer{})
		cfg.STANBlock = 100000
		reg := registry(b, 5*time.Second, time.Hour, pc.addr)
		in, _ := reg.Institution("200002")
		cl, err := NewClient(cfg, in, store)
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		for !cl.Status().SignedOn {
			time.Sleep(time.Millisecond)
		}
		req := authReq("5100000000000008")
		one := func() {
			res, err := cl.Authorize(context.Background(), req)
			if err != nil || res.ResponseCode != "00" {
				b.Errorf("%+v, %v", res, err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					one()
				}
			})
		} else {
			for b.Loop() {
				one()
			}
		}
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}
