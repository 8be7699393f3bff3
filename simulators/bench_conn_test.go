package simulators

import (
	"context"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// BenchmarkConnRoundTripEcho measures the client side of a round trip against the stock
// echo server in the same process (both sides share the CPUs): b.N payments from
// GOMAXPROCS×64 goroutines on one connection.
func BenchmarkConnRoundTripEcho(b *testing.B) {
	d := mustDialect(b, specs.LinkPC)
	e := NewEchoServer(d)
	if err := e.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, err := Dial(context.Background(), d, e.Addr, ConnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	o := Origin{Link: specs.LinkPC, Institution: "100001", Terminal: "ATM00001", Keys: NewKeys()}
	card := &Card{PAN: Luhn("416973880000001"), Expiry: "2812"}
	t := AccountTarget("AZERISIQ", "1000000001")
	b.SetParallelism(64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := o.Payment(t, 1, PaymentOptions{Card: card})
			resp, err := c.RoundTripTimeout(req, 10*time.Second)
			if err != nil || resp.ResponseCode != "00" {
				b.Errorf("%v %v", resp, err)
				return
			}
		}
	})
}

// BenchmarkBuildPayment is the cost of building one load-generator payment.
func BenchmarkBuildPayment(b *testing.B) {
	o := Origin{Link: specs.LinkPC, Institution: "100001", Terminal: "ATM00001", Keys: NewKeys()}
	card := &Card{PAN: Luhn("416973880000001"), Expiry: "2812"}
	t := AccountTarget("AZERISIQ", "1000000001")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = o.Payment(t, 1, PaymentOptions{Card: card})
	}
}
