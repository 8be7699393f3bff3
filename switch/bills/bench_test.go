package bills_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

const benchAccounts = 1024

// importBenchAccounts adds benchAccounts accounts with large debts (3000000000…).
func importBenchAccounts(b *testing.B, s *stack) {
	var f bytes.Buffer
	f.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="BENCH-ISO" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="delta">
`)
	for i := range benchAccounts {
		fmt.Fprintf(&f, `<account number="%d" name="Bench Payer"><debt service="ELEC" period="202609" amount="9000000.00"/><debt service="GARBAGE" period="202609" amount="9000000.00"/></account>
`, 3000000000+i)
	}
	f.WriteString("</debts>\n")
	if _, err := s.st.Core.ImportBytes(context.Background(), f.Bytes(), nil); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPaymentsTCP measures end-to-end bill payments per second over real TCP in
// one process: requests packed by the client, framed, read by the host, routed to the
// handler, posted by billpay in a group-committed durable ledger command, answered and
// read back. conns connections with inflight requests each; payments spread over 1024
// accounts. Card payments go through a fake PC over TCP as well (authorization first).
//
//	go test -run '^$' -bench BenchmarkPaymentsTCP -benchtime 5000x ./switch/bills/
func BenchmarkPaymentsTCP(b *testing.B) {
	pc := newFakePC(b, "127.0.0.1:0")
	s := startStack(b, b.TempDir(), registry(b, pc.addr, 8*time.Second))
	importBenchAccounts(b, s)
	pcSignedOn(b, s)
	for _, bc := range []struct {
		name            string
		link            specs.Link
		terminal        string
		card            bool
		conns, inflight int
	}{
		{"terminal-cash/1x1", specs.LinkTerminal, cashTerm, false, 1, 1},
		{"terminal-cash/16x4", specs.LinkTerminal, cashTerm, false, 16, 4},
		{"terminal-cash/32x8", specs.LinkTerminal, cashTerm, false, 32, 8},
		{"pc-atm/16x4", specs.LinkPC, "ATM00001", false, 16, 4},
		{"terminal-card-via-pc/16x4", specs.LinkTerminal, cardTerm, true, 16, 4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			conns := make([]*simulators.Conn, bc.conns)
			for i := range conns {
				conns[i] = s.dial(b, bc.link)
			}
			var next, failed atomic.Int64
			var firstErr atomic.Value
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, c := range conns {
				for range bc.inflight {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							pan := ""
							if bc.card {
								pan = card("520000", int(i))
							}
							m := payment(bc.link, bc.terminal, 150, pan)
							m.AdditionalData = de48("01", provider, "02", strconv.Itoa(3000000000+int(i)%benchAccounts))
							r, err := c.RoundTripTimeout(m, 30*time.Second)
							if err != nil || r.ResponseCode != "00" {
								failed.Add(1)
								if err == nil {
									err = fmt.Errorf("rc %s", r.ResponseCode)
								}
								firstErr.CompareAndSwap(nil, err)
							}
						}
					}()
				}
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d payments failed; first: %v", n, b.N, firstErr.Load())
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "payments/s")
		})
	}
}
