package specs

import (
	"testing"

	"github.com/moov-io/iso8583"
)

func benchDialects(b *testing.B) []struct {
	d   *Dialect
	raw []byte
} {
	pc, term := dialects(b)
	g := goldens()[1] // the 0200
	return []struct {
		d   *Dialect
		raw []byte
	}{{pc, []byte(g.pc)}, {term, []byte(g.term)}}
}

func BenchmarkPack(b *testing.B) {
	msg := goldens()[1].msg
	for _, c := range benchDialects(b) {
		b.Run(c.d.Name(), func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = c.d.AppendPack(buf[:0], &msg)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnpack(b *testing.B) {
	for _, c := range benchDialects(b) {
		b.Run(c.d.Name(), func(b *testing.B) {
			var m Message
			b.ReportAllocs()
			for b.Loop() {
				if err := c.d.Unpack(c.raw, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkScan(b *testing.B) {
	for _, c := range benchDialects(b) {
		b.Run(c.d.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.d.Scan(c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMoovUnpack is moov's own Message.Unpack over the same spec, for comparison.
func BenchmarkMoovUnpack(b *testing.B) {
	for _, c := range benchDialects(b) {
		b.Run(c.d.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := iso8583.NewMessage(c.d.Spec())
				if err := m.Unpack(c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
