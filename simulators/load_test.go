package simulators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// billHost is a fake host that keeps dues per account, approves inquiries and
// payments (a payment reduces the due), checks reversals (a 0420/0400 must name, by
// DE 90, a payment it approved and has not reversed yet; the due is restored), keeps
// reconciliation figures per DE 41 and answers 0500 with them.
type billHost struct {
	mu       sync.Mutex
	due      map[string]int64          // account → due
	regcodes map[string][]string       // regcode → accounts
	approved map[string]*specs.Message // DE 90 key → approved, unreversed payment
	seenKeys map[string]bool           // exactly-once keys of 0200s
	totals   map[string]*Totals        // DE 41 → figures
	dupKeys  int
	payments int
	reversed int
	silent   map[string]bool // MTIs left unanswered
}

func newBillHost() *billHost {
	return &billHost{
		due:      map[string]int64{"1000000001": 418518, "1000000101": 3950, "1000000102": 1550},
		regcodes: map[string][]string{"7700000001": {"1000000101", "1000000102"}},
		approved: map[string]*specs.Message{}, seenKeys: map[string]bool{}, totals: map[string]*Totals{},
		silent: map[string]bool{},
	}
}

func (b *billHost) tot(tid string) *Totals {
	if b.totals[tid] == nil {
		b.totals[tid] = &Totals{}
	}
	return b.totals[tid]
}

func (b *billHost) accounts(d48 specs.DE48) []string {
	if rc, ok := d48.Get(3); ok {
		return b.regcodes[rc]
	}
	a, _ := d48.Get(2)
	if _, ok := b.due[a]; !ok {
		return nil
	}
	return []string{a}
}

func (b *billHost) respond(_ *fakeConn, req *specs.Message) *specs.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.silent[req.MTI] {
		return nil
	}
	switch req.MTI {
	case "0800":
		return Response(req, "00")
	case "0100":
		r := Response(req, "00")
		r.SettlementDate = "1121"
		d48, _ := specs.ParseDE48(req.AdditionalData)
		accts := b.accounts(d48)
		if len(accts) == 0 {
			r.ResponseCode = "25"
			return r
		}
		var lines []string
		var total int64
		for _, a := range accts {
			lines = append(lines, fmt.Sprintf("AZERISIQ:%s:ELEC:202610:%d", a, b.due[a]))
			total += b.due[a]
		}
		r.AdditionalData = (&specs.DE48{Entries: []specs.DE48Entry{{Tag: 20, Value: strings.Join(lines, ";")}, {Tag: 21, Value: "A*** A***"}}}).String()
		e, _ := specs.InquiryTotal(total, "944").AppendTo(nil)
		r.AdditionalAmounts = string(e)
		return r
	case "0200", "0201":
		key := req.AcquirerID + "|" + req.TerminalID + "|" + req.STAN + "|" + req.TransmissionDateTime
		if b.seenKeys[key] {
			b.dupKeys++
			return Response(req, "94")
		}
		b.seenKeys[key] = true
		d48, _ := specs.ParseDE48(req.AdditionalData)
		accts := b.accounts(d48)
		r := Response(req, "00")
		r.SettlementDate = "1121"
		if len(accts) == 0 {
			r.ResponseCode = "25"
			return r
		}
		amt, _ := strconv.ParseInt(req.Amount, 10, 64)
		b.due[accts[0]] -= amt
		b.payments++
		x := b.tot(req.TerminalID)
		x.Count++
		x.Amount += amt
		de90, _ := specs.FormatDE90(specs.OriginalData{MTI: req.MTI, STAN: req.STAN, TransmissionDateTime: req.TransmissionDateTime, AcquirerID: req.AcquirerID})
		b.approved[de90] = req
		r.AuthID = "A" + req.STAN[1:]
		r.AdditionalData = (&specs.DE48{Entries: []specs.DE48Entry{{Tag: 22, Value: "R" + req.STAN}, {Tag: 24, Value: fmt.Sprintf("AZERISIQ:%s:ELEC:202610=%d", accts[0], amt)}}}).String()
		return r
	case "0400", "0420", "0421":
		r := Response(req, "00")
		r.SettlementDate = "1121"
		orig := b.approved[req.OriginalData]
		if orig == nil {
			if req.MTI == "0400" {
				r.ResponseCode = "25"
			}
			return r
		}
		delete(b.approved, req.OriginalData)
		amt, _ := strconv.ParseInt(orig.Amount, 10, 64)
		d48, _ := specs.ParseDE48(orig.AdditionalData)
		b.due[b.accounts(d48)[0]] += amt
		x := b.tot(orig.TerminalID)
		x.RevCount++
		x.RevAmount += amt
		b.reversed++
		return r
	case "0500":
		r := Response(req, "00")
		tid := req.TerminalID
		if tid == "" {
			tid = "ATM00001"
		}
		x := *b.tot(tid)
		r.DebitsNumber, r.DebitsReversalNumber = fmt.Sprintf("%010d", x.Count), fmt.Sprintf("%010d", x.RevCount)
		r.DebitsAmount, r.DebitsReversalAmount = fmt.Sprintf("%016d", x.Amount), fmt.Sprintf("%016d", x.RevAmount)
		r.NetSettlement, _ = specs.FormatDE97(x.Net())
		sent, _ := ParseTotals(req)
		r.SettlementCode = "2"
		if sent == x {
			r.SettlementCode = "1"
		}
		return r
	}
	return Response(req, "12")
}

func TestRunLoadClosedLoopMix(t *testing.T) {
	for _, link := range []specs.Link{specs.LinkPC, specs.LinkTerminal} {
		d := mustDialect(t, link)
		t.Run(d.Name(), func(t *testing.T) {
			bh := newBillHost()
			h := newFakeHost(t, d, bh.respond)
			h.async = true
			res, err := RunLoad(context.Background(), LoadConfig{
				Link: link, Addr: h.addr(), Conns: 3, InFlight: 8, Count: 600,
				Mix: Mix{Inquiry: 1, Payment: 2, Reversal: 1}, Seed: 7,
			}, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 600 || res.Responses != 600 || res.Errors != 0 {
				t.Fatalf("requests %d responses %d errors %d", res.Requests, res.Responses, res.Errors)
			}
			if res.ResponseCodes["00"] != 600 {
				t.Fatalf("codes %v (a reversal named a payment the host had not approved, or a key repeated)", res.ResponseCodes)
			}
			for _, op := range []string{"inquiry", "payment", "reversal"} {
				if res.Ops[op] == nil || res.Ops[op].Requests == 0 {
					t.Fatalf("no %s in the mix: %v", op, res.Ops)
				}
			}
			bh.mu.Lock()
			defer bh.mu.Unlock()
			if bh.dupKeys != 0 {
				t.Fatalf("%d repeated keys", bh.dupKeys)
			}
			if int64(bh.reversed) != res.Ops["reversal"].ResponseCodes["00"] || int64(bh.payments) != res.Ops["payment"].Requests {
				t.Fatalf("host saw %d payments, %d reversals; load says %+v", bh.payments, bh.reversed, res.Ops)
			}
			if res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Throughput <= 0 {
				t.Fatalf("latency %+v throughput %f", res.Latency, res.Throughput)
			}
		})
	}
}

func TestRunLoadConstantRateNeverExceedsSchedule(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	bh := newBillHost()
	h := newFakeHost(t, d, bh.respond)
	const rate, dur = 2000.0, 300 * time.Millisecond
	res, err := RunLoad(context.Background(), LoadConfig{
		Link: specs.LinkPC, Addr: h.addr(), Conns: 2, InFlight: 4, Rate: rate, Duration: dur,
	}, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	max := int64(rate*dur.Seconds()) + 2
	if res.Requests == 0 || res.Requests > max || res.Mode != "rate" {
		t.Fatalf("%d requests in %v at %v/s (at most %d), mode %s", res.Requests, dur, rate, max, res.Mode)
	}
	if res.Errors != 0 {
		t.Fatalf("errors %v", res.ErrorKinds)
	}
}

func TestRunLoadCountsTimeoutsAsErrors(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	h := newFakeHost(t, d, func(_ *fakeConn, req *specs.Message) *specs.Message {
		if req.MTI == "0800" {
			return Response(req, "00")
		}
		if req.MTI == "0100" {
			return Response(req, "25")
		}
		return nil // payments never answered
	})
	res, err := RunLoad(context.Background(), LoadConfig{
		Link: specs.LinkPC, Addr: h.addr(), Conns: 1, InFlight: 4, Count: 8, Timeout: 50 * time.Millisecond,
		Mix: Mix{Inquiry: 1, Payment: 1},
	}, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 8 || res.Errors+res.Responses != 8 || res.Errors == 0 || res.ErrorKinds["timeout"] != res.Errors {
		t.Fatalf("%+v", res)
	}
	if res.Declined != res.ResponseCodes["25"] || res.Approved != 0 {
		t.Fatalf("declined %d codes %v", res.Declined, res.ResponseCodes)
	}
}

func TestLoadStatsPercentilesAndJSON(t *testing.T) {
	s := newStats()
	for i := 1; i <= 1000; i++ {
		s.record(OpPayment, time.Duration(i)*time.Millisecond, "00", nil)
	}
	s.record(OpInquiry, time.Millisecond, "25", nil)
	s.record(OpPayment, 0, "", ErrTimeout)
	cfg := LoadConfig{Addr: "x", Link: specs.LinkPC, Conns: 1, InFlight: 1}
	r := merge(&cfg, []*stats{s}, 2*time.Second)
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.01 }
	p := r.Ops["payment"].Latency
	if !near(p.P50, 500) || !near(p.P90, 900) || !near(p.P99, 990) || !near(p.P999, 999) || !near(p.Max, 1000) {
		t.Fatalf("payment latency %+v", p)
	}
	if r.Requests != 1002 || r.Responses != 1001 || r.Errors != 1 || r.Approved != 1000 || r.Declined != 1 {
		t.Fatalf("%+v", r)
	}
	if r.Throughput != 500.5 || r.ApprovedPerSec != 500 {
		t.Fatalf("throughput %v approved/s %v", r.Throughput, r.ApprovedPerSec)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"throughput", "approved_per_s", "latency_ms", "response_codes", "errors", "error_kinds", "ops", "elapsed_s", "conns", "inflight", "mode"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("JSON lacks %q: %s", k, b)
		}
	}
	lat := m["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p99_9", "max", "mean"} {
		if _, ok := lat[k]; !ok {
			t.Fatalf("latency_ms lacks %q", k)
		}
	}
	if m["error_kinds"].(map[string]any)["timeout"].(float64) != 1 {
		t.Fatalf("error kinds %v", m["error_kinds"])
	}
}

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		err  bool
	}{
		{"payment=100", Mix{Payment: 100}, false},
		{"inquiry=20, payment=70,reversal=10", Mix{20, 70, 10}, false},
		{"", Mix{}, false},
		{"pay=1", Mix{}, true},
		{"payment=-1", Mix{}, true},
		{"payment", Mix{}, true},
	} {
		got, err := ParseMix(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseMix(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestRunLoadRefusesNoBound(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	if _, err := RunLoad(context.Background(), LoadConfig{Link: specs.LinkPC, Addr: "127.0.0.1:1"}, d, nil); err == nil || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestRunLoadProgress(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	bh := newBillHost()
	h := newFakeHost(t, d, bh.respond)
	var mu sync.Mutex
	var reports []Progress
	res, err := RunLoad(context.Background(), LoadConfig{
		Link: specs.LinkPC, Addr: h.addr(), Rate: 500, Duration: 600 * time.Millisecond, InFlight: 2,
		ProgressEvery: 100 * time.Millisecond, Progress: func(p Progress) { mu.Lock(); reports = append(reports, p); mu.Unlock() },
	}, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 {
		t.Fatalf("%d progress reports in 600 ms every 100 ms", len(reports))
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Responses < reports[i-1].Responses || reports[i].Elapsed <= reports[i-1].Elapsed {
			t.Fatalf("progress goes backwards: %+v", reports)
		}
	}
	if last := reports[len(reports)-1]; last.Responses > res.Responses || last.Approved != last.Responses {
		t.Fatalf("last report %+v, result %d responses", last, res.Responses)
	}
}
