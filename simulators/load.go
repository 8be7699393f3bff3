package simulators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/specs"
)

// Op is one kind of request the load generator sends.
type Op int

// The load generator's operations.
const (
	OpInquiry  Op = iota // 0100/310000
	OpPayment            // 0200/500000
	OpReversal           // 0420 (or 0400) of a payment this run had approved
	numOps
)

var opNames = [numOps]string{"inquiry", "payment", "reversal"}

func (o Op) String() string { return opNames[o] }

// Mix weighs the operations (relative weights; all zero means payments only).
type Mix struct {
	Inquiry  int `json:"inquiry"`
	Payment  int `json:"payment"`
	Reversal int `json:"reversal"`
}

// ParseMix reads "inquiry=20,payment=70,reversal=10" (any subset, any order).
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n < 0 {
			return m, fmt.Errorf("mix %q: want NAME=WEIGHT with a weight ≥ 0", part)
		}
		switch k {
		case "inquiry":
			m.Inquiry = n
		case "payment":
			m.Payment = n
		case "reversal":
			m.Reversal = n
		default:
			return m, fmt.Errorf("mix %q: unknown operation (inquiry, payment, reversal)", k)
		}
	}
	return m, nil
}

func (m Mix) total() int { return m.Inquiry + m.Payment + m.Reversal }

func (m Mix) pick(r *rand.Rand) Op {
	t := m.total()
	if t == 0 {
		return OpPayment
	}
	n := r.IntN(t)
	if n < m.Inquiry {
		return OpInquiry
	}
	if n < m.Inquiry+m.Payment {
		return OpPayment
	}
	return OpReversal
}

// LoadConfig describes one load run.
type LoadConfig struct {
	Link        specs.Link
	Addr        string
	Institution string // DE 32 on the PC link
	Terminal    string // DE 41
	// Targets are the accounts paid and inquired, taken in turn. Default AZERISIQ
	// 1000000001.
	Targets []Target
	// Amount of each payment in minor units (default 1).
	Amount int64
	// Card payments on the terminal link (host authorizes with the card's PC); on the
	// PC link payments always carry card data (already authorized by the PC).
	Card bool
	// Conns connections with InFlight requests in flight on each (closed loop), or, with
	// Rate > 0, requests started at Rate per second in total, at most InFlight per
	// connection at once (constant rate; latency counts from the intended start).
	Conns, InFlight int
	Rate            float64
	// The run stops after Duration or Count requests, whichever comes first (at least
	// one must be set); requests in flight then finish.
	Duration time.Duration
	Count    int64
	// Warmup: requests started during it are not counted.
	Warmup time.Duration
	// Timeout per request (default 10 s).
	Timeout time.Duration
	Mix     Mix
	// ReversalMTI is 0420 (default) or 0400.
	ReversalMTI string
	// NoSignOn skips the 0800/001 each PC-link connection sends first.
	NoSignOn bool
	// Seed of the operation mix (0: from the clock).
	Seed uint64
	// Progress, when set, is called every ProgressEvery (default 10 s) with the figures
	// so far, for long runs.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a running load's figures so far.
type Progress struct {
	Elapsed   time.Duration
	Responses int64   // responses counted so far
	Approved  int64   // of which 00
	Errors    int64   // requests without a response
	Rate      float64 // responses per second over the last interval
}

func (c *LoadConfig) defaults() error {
	if c.Addr == "" {
		return errors.New("load: no address")
	}
	if c.Link != specs.LinkPC && c.Link != specs.LinkTerminal {
		return errors.New("load: link must be pc or term")
	}
	if c.Duration <= 0 && c.Count <= 0 {
		return errors.New("load: set a duration or a count")
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.InFlight <= 0 {
		c.InFlight = 1
	}
	if c.Amount <= 0 {
		c.Amount = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if len(c.Targets) == 0 {
		c.Targets = []Target{AccountTarget("AZERISIQ", "1000000001")}
	}
	if c.ReversalMTI == "" {
		c.ReversalMTI = "0420"
	}
	if c.Institution == "" && c.Link == specs.LinkPC {
		c.Institution = "100001"
	}
	if c.Terminal == "" {
		c.Terminal = "ATM00001"
		if c.Link == specs.LinkTerminal {
			c.Terminal = "T0000001"
		}
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return nil
}

// Latency are percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// OpResult are the figures of one operation.
type OpResult struct {
	Requests      int64            `json:"requests"`
	Responses     int64            `json:"responses"`
	Errors        int64            `json:"errors"`
	ResponseCodes map[string]int64 `json:"response_codes"`
	Latency       Latency          `json:"latency_ms"`
}

// LoadResult is the outcome of a load run (JSON with Write or encoding/json).
type LoadResult struct {
	Addr           string               `json:"addr"`
	Link           string               `json:"link"`
	Mode           string               `json:"mode"` // closed | rate
	Conns          int                  `json:"conns"`
	InFlight       int                  `json:"inflight"`
	Rate           float64              `json:"rate,omitempty"`
	Mix            Mix                  `json:"mix"`
	ElapsedSec     float64              `json:"elapsed_s"`
	Requests       int64                `json:"requests"`
	Responses      int64                `json:"responses"`
	Approved       int64                `json:"approved"`
	Declined       int64                `json:"declined"` // responses with DE 39 other than 00
	Errors         int64                `json:"errors"`   // no response: timeout, connection lost, write failed
	ErrorKinds     map[string]int64     `json:"error_kinds"`
	Throughput     float64              `json:"throughput"`     // responses per second
	ApprovedPerSec float64              `json:"approved_per_s"` // 00 responses per second
	Latency        Latency              `json:"latency_ms"`
	ResponseCodes  map[string]int64     `json:"response_codes"`
	Ops            map[string]*OpResult `json:"ops"`
	SignOnFailures int                  `json:"sign_on_failures,omitempty"`
}

// stats are one connection's figures, shared by its workers.
type stats struct {
	live     *liveCounts
	mu       sync.Mutex
	all      *hdrhistogram.Histogram
	byOp     [numOps]*hdrhistogram.Histogram
	requests [numOps]int64
	codes    [numOps]map[string]int64
	errs     [numOps]map[string]int64
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) } // µs, up to 60 s

// liveCounts are shared by every connection of a run, for Progress.
type liveCounts struct{ responses, approved, errors atomic.Int64 }

func newStats() *stats {
	s := &stats{all: newHist(), live: &liveCounts{}}
	for i := range s.byOp {
		s.byOp[i] = newHist()
		s.codes[i] = make(map[string]int64)
		s.errs[i] = make(map[string]int64)
	}
	return s
}

func (s *stats) record(op Op, lat time.Duration, rc string, err error) {
	us := lat.Microseconds()
	if us < 1 {
		us = 1
	}
	if err != nil {
		s.live.errors.Add(1)
	} else {
		s.live.responses.Add(1)
		if rc == "00" {
			s.live.approved.Add(1)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[op]++
	if err != nil {
		s.errs[op][errorKind(err)]++
		return
	}
	_ = s.all.RecordValue(us)
	_ = s.byOp[op].RecordValue(us)
	s.codes[op][rc]++
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrDuplicateKey):
		return "duplicate_key"
	}
	return "other"
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000,
	}
}

// merge folds the connections' figures into a result.
func merge(cfg *LoadConfig, parts []*stats, elapsed time.Duration) *LoadResult {
	r := &LoadResult{
		Addr: cfg.Addr, Link: linkName(cfg.Link), Mode: "closed", Conns: cfg.Conns, InFlight: cfg.InFlight,
		Rate: cfg.Rate, Mix: cfg.Mix, ElapsedSec: elapsed.Seconds(),
		ErrorKinds: map[string]int64{}, ResponseCodes: map[string]int64{}, Ops: map[string]*OpResult{},
	}
	if cfg.Rate > 0 {
		r.Mode = "rate"
	}
	all := newHist()
	var byOp [numOps]*hdrhistogram.Histogram
	for i := range byOp {
		byOp[i] = newHist()
	}
	for _, p := range parts {
		p.mu.Lock()
		all.Merge(p.all)
		for op := Op(0); op < numOps; op++ {
			byOp[op].Merge(p.byOp[op])
			or := r.Ops[op.String()]
			if or == nil {
				or = &OpResult{ResponseCodes: map[string]int64{}}
				r.Ops[op.String()] = or
			}
			or.Requests += p.requests[op]
			for rc, n := range p.codes[op] {
				or.ResponseCodes[rc] += n
				or.Responses += n
				r.ResponseCodes[rc] += n
			}
			for k, n := range p.errs[op] {
				or.Errors += n
				r.ErrorKinds[k] += n
			}
		}
		p.mu.Unlock()
	}
	for op := Op(0); op < numOps; op++ {
		or := r.Ops[op.String()]
		if or.Requests == 0 {
			delete(r.Ops, op.String())
			continue
		}
		or.Latency = latencyOf(byOp[op])
		r.Requests += or.Requests
		r.Responses += or.Responses
		r.Errors += or.Errors
	}
	r.Approved = r.ResponseCodes["00"]
	r.Declined = r.Responses - r.Approved
	r.Latency = latencyOf(all)
	if s := elapsed.Seconds(); s > 0 {
		r.Throughput = float64(r.Responses) / s
		r.ApprovedPerSec = float64(r.Approved) / s
	}
	return r
}

func linkName(l specs.Link) string {
	if l == specs.LinkPC {
		return "pc"
	}
	return "term"
}

// loadConn is one connection of a run.
type loadConn struct {
	cfg    *LoadConfig
	conn   *Conn
	origin Origin
	st     *stats
	next   atomic.Uint64 // target rotation
	card   *Card

	mu       sync.Mutex
	approved []*specs.Message // payments that may be reversed
}

const reversalPool = 4096

func (lc *loadConn) takeApproved() *specs.Message {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	n := len(lc.approved)
	if n == 0 {
		return nil
	}
	m := lc.approved[n-1]
	lc.approved = lc.approved[:n-1]
	return m
}

func (lc *loadConn) keepApproved(m *specs.Message) {
	lc.mu.Lock()
	if len(lc.approved) < reversalPool {
		lc.approved = append(lc.approved, m)
	}
	lc.mu.Unlock()
}

func (lc *loadConn) target() Target {
	t := lc.cfg.Targets
	return t[int(lc.next.Add(1)-1)%len(t)]
}

// do sends one operation and records it (unless record is false: warm-up).
func (lc *loadConn) do(op Op, intended time.Time, record bool) {
	cfg := lc.cfg
	var req *specs.Message
	switch op {
	case OpReversal:
		orig := lc.takeApproved()
		if orig == nil {
			op = OpPayment
			break
		}
		var err error
		if req, err = lc.origin.Reversal(cfg.ReversalMTI, orig); err != nil {
			lc.st.record(op, 0, "", err)
			return
		}
	case OpInquiry:
		req = lc.origin.Inquiry(lc.target())
	}
	if op == OpPayment {
		po := PaymentOptions{}
		if cfg.Link == specs.LinkPC || cfg.Card {
			po.Card = lc.card
		}
		req = lc.origin.Payment(lc.target(), cfg.Amount, po)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	resp, err := lc.conn.RoundTrip(ctx, req)
	cancel()
	lat := time.Since(intended)
	rc := ""
	if resp != nil {
		rc = resp.ResponseCode
		if op == OpPayment && rc == "00" && cfg.Mix.Reversal > 0 {
			lc.keepApproved(req)
		}
	}
	if record {
		lc.st.record(op, lat, rc, err)
	}
}

// netHandler answers the host's network management requests (echo, cutover) on a
// load connection; other requests get no answer.
func netHandler(_ *Conn, req *specs.Message) *specs.Message {
	if req.MTI != "0800" {
		return nil
	}
	return Response(req, "00")
}

// RunLoad runs one load and returns its figures. keys may be shared with other runs
// of the process (nil: a fresh one). It stops when ctx is done, after cfg.Duration,
// or after cfg.Count requests.
func RunLoad(ctx context.Context, cfg LoadConfig, d *specs.Dialect, keys *Keys) (*LoadResult, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if keys == nil {
		keys = NewKeys()
	}
	conns := make([]*loadConn, cfg.Conns)
	parts := make([]*stats, cfg.Conns)
	defer func() {
		for _, lc := range conns {
			if lc != nil {
				lc.conn.Close()
			}
		}
	}()
	live := &liveCounts{}
	signOnFailures := 0
	handler := netHandler
	if cfg.Link == specs.LinkPC {
		// A connection signed on as the PC may be sent the host's card authorizations:
		// answer them as an issuer that approves everything, as a PC would.
		handler = NewIssuer(nil, IssuerRates{}, 1, zerolog.Nop()).Handle
	}
	for i := range conns {
		c, err := Dial(ctx, d, cfg.Addr, ConnOptions{Handler: handler, WriteTimeout: cfg.Timeout})
		if err != nil {
			return nil, fmt.Errorf("load: connect %s: %w", cfg.Addr, err)
		}
		lc := &loadConn{cfg: &cfg, conn: c, st: newStats(),
			origin: Origin{Link: cfg.Link, Institution: cfg.Institution, Terminal: cfg.Terminal, Keys: keys}}
		lc.st.live = live
		conns[i], parts[i] = lc, lc.st
		lc.card = &Card{PAN: Luhn(fmt.Sprintf("41697388%07d", i)), Expiry: "2812"}
		lc.next.Store(uint64(i))
		if cfg.Link == specs.LinkPC && !cfg.NoSignOn {
			resp, err := c.RoundTripTimeout(lc.origin.NetMgmt("001"), cfg.Timeout)
			if err != nil {
				return nil, fmt.Errorf("load: sign-on: %w", err)
			}
			if resp.ResponseCode != "00" {
				signOnFailures++
			}
		}
	}

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Warmup+cfg.Duration)
	}
	defer cancel()
	var issued atomic.Int64
	take := func() bool {
		if runCtx.Err() != nil {
			return false
		}
		return cfg.Count <= 0 || issued.Add(1) <= cfg.Count
	}
	start := time.Now()
	warmEnd := start.Add(cfg.Warmup)
	var end time.Time // no request is scheduled at or after it (zero: no duration)
	if cfg.Duration > 0 {
		end = warmEnd.Add(cfg.Duration)
	}
	var measuredStart time.Time
	if cfg.Warmup == 0 {
		measuredStart = start
	} else {
		measuredStart = warmEnd
	}
	var wg sync.WaitGroup
	for ci, lc := range conns {
		if cfg.Rate > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lc.rateLoop(runCtx, ci, start, warmEnd, end, take)
			}()
			continue
		}
		for w := 0; w < cfg.InFlight; w++ {
			wg.Add(1)
			r := rand.New(rand.NewPCG(cfg.Seed, uint64(ci*cfg.InFlight+w)))
			go func() {
				defer wg.Done()
				for take() {
					t := time.Now()
					lc.do(cfg.Mix.pick(r), t, !t.Before(warmEnd))
				}
			}()
		}
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if cfg.Progress == nil {
			return
		}
		every := cfg.ProgressEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		var last int64
		lastAt := time.Now()
		for {
			select {
			case <-stopProgress:
				return
			case now := <-t.C:
				n := live.responses.Load()
				cfg.Progress(Progress{Elapsed: now.Sub(start), Responses: n, Approved: live.approved.Load(),
					Errors: live.errors.Load(), Rate: float64(n-last) / now.Sub(lastAt).Seconds()})
				last, lastAt = n, now
			}
		}
	}()
	wg.Wait()
	close(stopProgress)
	<-progressDone
	res := merge(&cfg, parts, time.Since(measuredStart))
	res.SignOnFailures = signOnFailures
	return res, nil
}

// rateLoop starts this connection's share of cfg.Rate requests per second.
func (lc *loadConn) rateLoop(ctx context.Context, ci int, start, warmEnd, end time.Time, take func() bool) {
	cfg := lc.cfg
	interval := time.Duration(float64(time.Second) * float64(cfg.Conns) / cfg.Rate)
	// stagger the connections over one interval
	next := start.Add(interval * time.Duration(ci) / time.Duration(cfg.Conns))
	sem := make(chan struct{}, cfg.InFlight)
	r := rand.New(rand.NewPCG(cfg.Seed, uint64(ci)))
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if !end.IsZero() && !next.Before(end) {
			return // the schedule is over, even if the context's timer is late
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if !take() {
			<-sem
			return
		}
		intended := next
		op := cfg.Mix.pick(r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			lc.do(op, intended, !intended.Before(warmEnd))
			<-sem
		}()
		next = next.Add(interval)
	}
}

// WriteText prints a result for a person.
func (r *LoadResult) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s (%s link), %s loop, %d conns × %d in flight", r.Addr, r.Link, r.Mode, r.Conns, r.InFlight)
	if r.Rate > 0 {
		fmt.Fprintf(tw, ", %.0f/s", r.Rate)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "elapsed\t%.2fs\n", r.ElapsedSec)
	fmt.Fprintf(tw, "requests\t%d (responses %d, approved %d, declined %d, errors %d)\n", r.Requests, r.Responses, r.Approved, r.Declined, r.Errors)
	fmt.Fprintf(tw, "throughput\t%.0f/s (approved %.0f/s)\n", r.Throughput, r.ApprovedPerSec)
	l := r.Latency
	fmt.Fprintf(tw, "latency ms\tp50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	fmt.Fprintf(tw, "codes\t%s\n", countsString(r.ResponseCodes))
	if len(r.ErrorKinds) > 0 {
		fmt.Fprintf(tw, "errors\t%s\n", countsString(r.ErrorKinds))
	}
	names := make([]string, 0, len(r.Ops))
	for k := range r.Ops {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		o := r.Ops[k]
		fmt.Fprintf(tw, "  %s\t%d sent, codes %s, errors %d, p50 %.3f p99 %.3f ms\n", k, o.Requests, countsString(o.ResponseCodes), o.Errors, o.Latency.P50, o.Latency.P99)
	}
	tw.Flush()
}

func countsString(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}
