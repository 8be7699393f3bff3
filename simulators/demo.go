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
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
)

// DemoTargets are the host's addresses and the demo ids the traffic uses. Zero fields
// take the ids of the host's embedded demo; an empty address leaves that link's
// channels out.
type DemoTargets struct {
	PCAddr, TermAddr string
	// PCListen, when set, is where the simulated PC also accepts the host's connections,
	// for a registry whose PC has `dial:` pointing there (the host then sends its card
	// authorizations on the connection it dialled).
	PCListen    string
	Institution string // 100001
	ATM, Web    string // ATM00001; Web defaults to ATM
	Terminal    string // T0000001 (a cash terminal)
	Provider    string // AZERISIQ
	Account     string // 1000000001
	RegCode     string // the demo subscriber's code (internet payments choose one of its accounts); "" skips it
	// DeclineBIN is a card prefix the simulated issuer declines with 51, used for one
	// POS card payment in ten (default 4999).
	DeclineBIN string
	Logger     zerolog.Logger
}

func (t *DemoTargets) defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&t.Institution, "100001")
	def(&t.ATM, "ATM00001")
	def(&t.Web, t.ATM)
	def(&t.Terminal, "T0000001")
	def(&t.Provider, "AZERISIQ")
	def(&t.Account, "1000000001")
	def(&t.DeclineBIN, "4999")
}

// ChannelStats are one channel's payments.
type ChannelStats struct {
	Channel  Channel        `json:"channel"`
	Payments int            `json:"payments"`
	Approved int            `json:"approved"`
	Amount   int64          `json:"amount"` // approved, minor units
	Declined map[string]int `json:"declined"`
	TimedOut int            `json:"timed_out"`
	Voided   int            `json:"voided"`
	Errors   int            `json:"errors"`
}

// Receipt is a payment as a person would see it on paper.
type Receipt struct {
	Channel  Channel
	Terminal string
	Method   string // CARD 416973******1234 or CASH
	Payer    string
	Target   Target
	Amount   int64
	AuthID   string
	Number   string // tag 22
	Date     string // DE 15
	Lines    []Debt // tag 24
}

// DemoSummary is what RunDemoTraffic did.
type DemoSummary struct {
	Duration time.Duration
	Channels []*ChannelStats
	Receipt  *Receipt
	Shift    *ShiftClose
	Issuer   IssuerStats
	Errors   []string // the first few errors
}

type demoRun struct {
	t   DemoTargets
	mu  sync.Mutex
	sum DemoSummary
	by  map[Channel]*ChannelStats
}

func (r *demoRun) stats(ch Channel) *ChannelStats {
	s := r.by[ch]
	if s == nil {
		s = &ChannelStats{Channel: ch, Declined: map[string]int{}}
		r.by[ch] = s
		r.sum.Channels = append(r.sum.Channels, s)
	}
	return s
}

func (r *demoRun) note(ch Channel, f func(s *ChannelStats)) {
	r.mu.Lock()
	f(r.stats(ch))
	r.mu.Unlock()
}

func (r *demoRun) fail(ch Channel, err error) {
	r.mu.Lock()
	r.stats(ch).Errors++
	if len(r.sum.Errors) < 5 {
		r.sum.Errors = append(r.sum.Errors, fmt.Sprintf("%s: %v", ch, err))
	}
	r.mu.Unlock()
}

// once notes an error message the first time it happens.
func (r *demoRun) once(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.sum.Errors {
		if e == msg {
			return
		}
	}
	if len(r.sum.Errors) < 5 {
		r.sum.Errors = append(r.sum.Errors, msg)
	}
}

func (r *demoRun) receipt(rc *Receipt) {
	r.mu.Lock()
	r.sum.Receipt = rc
	r.mu.Unlock()
}

// RunDemoTraffic sends bill payments from every channel for about d — ATM and
// internet payments from a simulated processing centre on the PC link (which also acts
// as card issuer for the host's authorizations), cash and card payments with voids from
// a cash terminal on the terminal link — then closes the terminal's shift with a 0500,
// and returns a summary for a person (DemoSummary.WriteText).
func RunDemoTraffic(ctx context.Context, t DemoTargets, d time.Duration) (DemoSummary, error) {
	t.defaults()
	r := &demoRun{t: t, by: map[Channel]*ChannelStats{}}
	keys := NewKeys()
	start := time.Now()

	var pc *PC
	if t.PCAddr != "" {
		is := NewIssuer([]IssuerRule{{Prefix: t.DeclineBIN, Action: Decline, Code: "51"}}, IssuerRates{}, 0, t.Logger)
		var err error
		pc, err = NewPC(PCConfig{Addr: t.PCAddr, Listen: t.PCListen, Institution: t.Institution, ATM: t.ATM, Web: t.Web, Issuer: is, Keys: keys, Logger: t.Logger, Timeout: 5 * time.Second})
		if err != nil {
			return r.sum, err
		}
		defer pc.Close()
		if t.PCListen != "" {
			if _, err := pc.Listen(ctx); err != nil {
				return r.sum, fmt.Errorf("demo: PC listener: %w", err)
			}
		}
		if err := pc.Connect(ctx); err != nil {
			return r.sum, fmt.Errorf("demo: PC link: %w", err)
		}
		if t.PCListen != "" {
			// Card payments start only once the host's own link to this PC is up.
			wctx, cancel := context.WithTimeout(ctx, 35*time.Second)
			err := pc.WaitHost(wctx)
			cancel()
			if err != nil {
				return r.sum, fmt.Errorf("demo: %w", err)
			}
		}
	}
	var pos *POS
	if t.TermAddr != "" {
		var err error
		pos, err = DialPOS(ctx, POSConfig{Addr: t.TermAddr, Terminal: t.Terminal, Keys: keys, Logger: t.Logger, Timeout: 10 * time.Second})
		if err != nil {
			return r.sum, fmt.Errorf("demo: terminal link: %w", err)
		}
		defer pos.Close()
		if rc, err := pos.SignOn(ctx); err != nil {
			return r.sum, fmt.Errorf("demo: terminal sign-on: %w", err)
		} else if rc != "00" {
			r.fail(ChannelPOSCash, fmt.Errorf("terminal sign-on answered %s", rc))
		}
	}
	if pc == nil && pos == nil {
		return r.sum, errors.New("demo: no address to send traffic to")
	}

	// runCtx ends the starting of new payments; a payment in flight finishes under ctx.
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for _, ch := range []Channel{ChannelATM, ChannelInternet, ChannelPOSCash, ChannelPOSCard} { // table order
		if (pc != nil && (ch == ChannelATM || ch == ChannelInternet)) || (pos != nil && ch == ChannelPOSCash) || (pos != nil && pc != nil && ch == ChannelPOSCard) {
			r.stats(ch)
		}
	}
	var wg sync.WaitGroup
	loop := func(ch Channel, f func(i int, rng *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(len(ch))))
			for i := 0; runCtx.Err() == nil; i++ {
				f(i, rng)
				select {
				case <-runCtx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	account := AccountTarget(t.Provider, t.Account)
	amount := func(rng *rand.Rand) int64 { return 100 + rng.Int64N(400) } // 1.00–4.99 AZN
	if pc != nil {
		loop(ChannelATM, func(_ int, rng *rand.Rand) {
			r.pcPayment(ctx, pc, BillPayment{Channel: ChannelATM, Target: account, Amount: amount(rng)})
		})
		loop(ChannelInternet, func(_ int, rng *rand.Rand) {
			bp := BillPayment{Channel: ChannelInternet, Target: account, Amount: amount(rng)}
			if t.RegCode != "" {
				bp.Target, bp.ChooseAccount = RegCodeTarget(t.RegCode), true
			}
			if !r.pcPayment(ctx, pc, bp) && bp.ChooseAccount {
				bp.Target, bp.ChooseAccount = account, false // nothing due there (any more)
				r.pcPayment(ctx, pc, bp)
			}
		})
	}
	if pos != nil {
		loop(ChannelPOSCash, func(i int, rng *rand.Rand) {
			p := r.posPayment(ctx, pos, ChannelPOSCash, account, amount(rng), nil)
			if p != nil && i%5 == 4 { // the customer changed their mind
				if rc, err := pos.Void(ctx, *p); err == nil && rc == "00" {
					r.note(ChannelPOSCash, func(s *ChannelStats) { s.Voided++ })
				} else if err != nil {
					r.fail(ChannelPOSCash, fmt.Errorf("void: %w", err))
				}
			}
		})
		if pc != nil { // card payments need the PC to authorize them
			loop(ChannelPOSCard, func(i int, rng *rand.Rand) {
				card := TestCard(rng.Uint32())
				if i%10 == 9 {
					card = TestCard(0)
					if n := 15 - len(t.DeclineBIN); n > 0 {
						card.PAN = Luhn(t.DeclineBIN + fmt.Sprintf("%011d", rng.Int64N(1e11))[:n])
					}
					card.Track2 = card.PAN + "=281210100000"
				}
				r.posPayment(ctx, pos, ChannelPOSCard, account, amount(rng), card)
			})
		}
	}
	wg.Wait()
	if pos != nil {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		sc, err := pos.CloseShift(cctx)
		ccancel()
		if err != nil {
			r.fail(ChannelPOSCash, fmt.Errorf("shift close: %w", err))
		} else {
			r.sum.Shift = &sc
		}
	}
	if pc != nil {
		r.sum.Issuer = pc.Issuer().Stats()
	}
	r.sum.Duration = time.Since(start)
	return r.sum, nil
}

// pcPayment runs one PC bill payment; false when no payment was sent because nothing
// was due or the inquiry was declined.
func (r *demoRun) pcPayment(ctx context.Context, pc *PC, bp BillPayment) bool {
	out, err := pc.PayBill(ctx, bp)
	switch {
	case errors.Is(err, ErrNothingDue):
		return false
	case err == nil && out.Inquiry.RC != "00":
		r.once(fmt.Sprintf("%s: inquiry of %s answered %s", bp.Channel, bp.Target, out.Inquiry.RC))
		return false
	case err != nil:
		if ctx.Err() == nil {
			r.fail(bp.Channel, err)
		}
		return true
	}
	r.note(bp.Channel, func(s *ChannelStats) {
		s.Payments++
		switch {
		case out.TimedOut:
			s.TimedOut++
		case out.RC == "00":
			s.Approved++
			s.Amount += out.Amount
		default:
			s.Declined[out.RC]++
		}
	})
	if out.RC == "00" && !out.TimedOut {
		terminal := r.t.ATM
		if bp.Channel == ChannelInternet {
			terminal = r.t.Web
		}
		r.receipt(&Receipt{Channel: bp.Channel, Terminal: terminal, Method: "CARD " + out.MaskedPAN, Payer: out.Inquiry.Payer,
			Target: out.Target, Amount: out.Amount, AuthID: out.Result.AuthID, Number: out.Result.Receipt, Date: out.Result.Date, Lines: out.Result.Allocated})
	}
	return true
}

func (r *demoRun) posPayment(ctx context.Context, pos *POS, ch Channel, t Target, amount int64, card *Card) *POSPayment {
	p, err := pos.Pay(ctx, t, amount, card)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(ch, err)
		}
		return nil
	}
	r.note(ch, func(s *ChannelStats) {
		s.Payments++
		switch {
		case p.TimedOut:
			s.TimedOut++
		case p.RC == "00":
			s.Approved++
			s.Amount += amount
		default:
			s.Declined[p.RC]++
		}
	})
	if p.RC != "00" {
		return nil
	}
	method := "CASH"
	if card != nil {
		method = "CARD " + p.MaskedPAN
	}
	r.receipt(&Receipt{Channel: ch, Terminal: r.t.Terminal, Method: method, Target: t, Amount: amount,
		AuthID: p.Result.AuthID, Number: p.Result.Receipt, Date: p.Result.Date, Lines: p.Result.Allocated})
	return &p
}

// WriteText prints the summary for a person: payments by channel, one receipt, the
// terminal's shift close and what the issuer did.
func (s DemoSummary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Demo traffic for %.1fs\n\n", s.Duration.Seconds())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "channel\tpayments\tapproved\tamount AZN\tdeclined\ttimed out\tvoided\terrors")
	var tot ChannelStats
	for _, c := range s.Channels {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d\n", c.Channel, c.Payments, c.Approved, FormatMinor(c.Amount), declinedString(c.Declined), c.TimedOut, c.Voided, c.Errors)
		tot.Payments += c.Payments
		tot.Approved += c.Approved
		tot.Amount += c.Amount
		tot.TimedOut += c.TimedOut
		tot.Voided += c.Voided
		tot.Errors += c.Errors
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%s\t\t%d\t%d\t%d\n", tot.Payments, tot.Approved, FormatMinor(tot.Amount), tot.TimedOut, tot.Voided, tot.Errors)
	tw.Flush()
	if rc := s.Receipt; rc != nil {
		fmt.Fprintf(w, "\nReceipt %s (business date %s)\n", rc.Number, rc.Date)
		fmt.Fprintf(w, "  %s at %s, %s\n", rc.Channel, rc.Terminal, rc.Method)
		if rc.Payer != "" {
			fmt.Fprintf(w, "  payer %s\n", rc.Payer)
		}
		fmt.Fprintf(w, "  %s  amount %s AZN  approval %s\n", rc.Target, FormatMinor(rc.Amount), rc.AuthID)
		for _, l := range rc.Lines {
			period := l.Period
			if period == "000000" {
				period = "advance"
			}
			fmt.Fprintf(w, "    %-10s %-11s %-8s %-8s %10s\n", l.Provider, l.Account, l.Service, period, FormatMinor(l.Amount))
		}
	}
	if sc := s.Shift; sc != nil {
		state := "out of balance"
		if sc.InBalance {
			state = "in balance"
		}
		fmt.Fprintf(w, "\nShift close (0500, date %s): %s, 0510 code %s\n  terminal: %s\n  host:     %s\n", sc.Date, state, sc.RC, sc.Terminal, sc.Host)
	}
	if s.Issuer.Authorizations > 0 || s.Issuer.Advices > 0 {
		fmt.Fprintf(w, "\nCard issuer (simulated PC): %d authorizations (%s), %d reversal advices\n", s.Issuer.Authorizations, declinedString(toInt(s.Issuer.ByAction)), s.Issuer.Advices)
	}
	for _, e := range s.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

func toInt(m map[string]int64) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

func declinedString(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
