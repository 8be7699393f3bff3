package hostswitch

import (
	"testing"

	"github.com/billswitch/billswitch/specs"
)

// BenchmarkEcho: 0800/301 round trips over real TCP on loopback, one request in flight
// per connection.
func BenchmarkEcho(b *testing.B) {
	for _, link := range links {
		b.Run(linkName(link)+"/1conn", func(b *testing.B) {
			th := startHost(b, Config{}, nil)
			p := th.dial(b, link)
			req := p.netMgmt("301")
			frame := p.frame(p.pack(req))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.write(frame)
				if _, err := p.d.Framer().ReadFrame(p.br, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(linkName(link)+"/16conns", func(b *testing.B) {
			th := startHost(b, Config{}, nil)
			b.SetParallelism(8) // 8 × GOMAXPROCS connections
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				p := th.dial(b, link)
				frame := p.frame(p.pack(p.netMgmt("301")))
				buf := make([]byte, 0, 256)
				for pb.Next() {
					p.write(frame)
					if _, err := p.d.Framer().ReadFrame(p.br, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPipelined: one connection with 64 requests in flight.
func BenchmarkPipelined(b *testing.B) {
	th := startHost(b, Config{}, nil)
	p := th.dial(b, specs.LinkPC)
	frame := p.frame(p.pack(p.netMgmt("301")))
	const window = 64
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	sem := make(chan struct{}, window)
	go func() {
		buf := make([]byte, 0, 256)
		for range b.N {
			if _, err := p.d.Framer().ReadFrame(p.br, buf); err != nil {
				done <- err
				return
			}
			<-sem
		}
		done <- nil
	}()
	for range b.N {
		sem <- struct{}{}
		p.write(frame)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
