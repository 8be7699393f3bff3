package simulators

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/specs"
)

// POSConfig configures a payment-point terminal simulator.
type POSConfig struct {
	Addr     string // the host's terminal link
	Terminal string // DE 41 (default T0000001)
	// Timeout is how long a request waits for its response (default 10 s); a payment
	// that gets none is reversed by a 0420 advice, repeated as 0421 every AdviceRetry
	// (default 2 s) until acknowledged or ctx ends.
	Timeout, AdviceRetry time.Duration
	Keys                 *Keys
	Logger               zerolog.Logger
}

// POS is a payment-point terminal on the terminal link (term87b): sign-on, inquiry,
// cash and card payments, void (0400), reversal advice on timeout (0420), and shift
// close (0500) with the terminal's own figures. It is safe for concurrent use.
type POS struct {
	cfg    POSConfig
	conn   *Conn
	origin Origin

	mu    sync.Mutex
	tally Totals
	date  string // the host's business date (DE 15) last seen
}

// DialPOS connects a terminal to the host (the terminal link needs no sign-on; call
// SignOn to send one anyway).
func DialPOS(ctx context.Context, cfg POSConfig) (*POS, error) {
	d, err := specs.NewTerm87B()
	if err != nil {
		return nil, err
	}
	if cfg.Terminal == "" {
		cfg.Terminal = "T0000001"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.AdviceRetry <= 0 {
		cfg.AdviceRetry = 2 * time.Second
	}
	if cfg.Keys == nil {
		cfg.Keys = NewKeys()
	}
	c, err := Dial(ctx, d, cfg.Addr, ConnOptions{Handler: netHandler})
	if err != nil {
		return nil, err
	}
	return &POS{cfg: cfg, conn: c, origin: Origin{Link: specs.LinkTerminal, Terminal: cfg.Terminal, Keys: cfg.Keys}}, nil
}

// Close closes the terminal's connection.
func (p *POS) Close() { p.conn.Close() }

// Tally is what the terminal believes it took this shift.
func (p *POS) Tally() Totals {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tally
}

func (p *POS) roundTrip(ctx context.Context, req *specs.Message) (*specs.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	resp, err := p.conn.RoundTrip(ctx, req)
	if err == nil && resp.SettlementDate != "" {
		p.mu.Lock()
		p.date = resp.SettlementDate
		p.mu.Unlock()
	}
	return resp, err
}

// SignOn sends 0800/001 and returns DE 39.
func (p *POS) SignOn(ctx context.Context) (string, error) {
	resp, err := p.roundTrip(ctx, p.origin.NetMgmt("001"))
	if err != nil {
		return "", err
	}
	return resp.ResponseCode, nil
}

// Inquiry asks for a target's debts.
func (p *POS) Inquiry(ctx context.Context, t Target) (InquiryResult, error) {
	resp, err := p.roundTrip(ctx, p.origin.Inquiry(t))
	if err != nil {
		return InquiryResult{}, err
	}
	return ParseInquiry(resp)
}

// POSPayment is a payment the terminal made.
type POSPayment struct {
	Target    Target
	Amount    int64
	Card      bool // false: cash
	MaskedPAN string
	RC        string // "" when it timed out
	Result    PaymentResult
	TimedOut  bool // a reversal advice was sent
	Reversed  bool // the advice was acknowledged
	Latency   time.Duration
	Request   *specs.Message
}

// TestCard makes a Luhn-valid card (BIN 416973) with track 2 and a PIN block, for
// card payments on the terminal link.
func TestCard(seq uint32) *Card {
	pan := Luhn(fmt.Sprintf("416973%09d", seq%1_000_000_000))
	pin := make([]byte, 8)
	_, _ = rand.Read(pin)
	return &Card{PAN: pan, Expiry: "2812", Track2: pan + "=2812101" + "00000", PINBlock: pin}
}

// Pay makes a payment: cash when card is nil, else a card payment the host has the
// card's PC authorize. A payment without an answer is reversed by a 0420 advice.
func (p *POS) Pay(ctx context.Context, t Target, amount int64, card *Card) (POSPayment, error) {
	out := POSPayment{Target: t, Amount: amount, Card: card != nil}
	po := PaymentOptions{Card: card}
	if card != nil {
		out.MaskedPAN = maskPAN(card.PAN)
	} else {
		po.EntryMode = "010"
	}
	req := p.origin.Payment(t, amount, po)
	out.Request = req
	start := time.Now()
	resp, err := p.roundTrip(ctx, req)
	out.Latency = time.Since(start)
	if errors.Is(err, ErrTimeout) {
		out.TimedOut = true
		out.Reversed = p.advise(ctx, req) == nil
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.RC = resp.ResponseCode
	out.Result, err = ParsePayment(resp)
	if out.RC == "00" {
		p.mu.Lock()
		p.tally.Count++
		p.tally.Amount += amount
		p.mu.Unlock()
	}
	return out, err
}

// Void reverses an approved payment of the same business day (0400) and returns DE 39.
func (p *POS) Void(ctx context.Context, pay POSPayment) (string, error) {
	req, err := p.origin.Reversal("0400", pay.Request)
	if err != nil {
		return "", err
	}
	resp, err := p.roundTrip(ctx, req)
	if err != nil {
		return "", err
	}
	if resp.ResponseCode == "00" && pay.RC == "00" {
		p.countReversal(pay.Amount)
	}
	return resp.ResponseCode, nil
}

func (p *POS) countReversal(amount int64) {
	p.mu.Lock()
	p.tally.RevCount++
	p.tally.RevAmount += amount
	p.mu.Unlock()
}

func (p *POS) advise(ctx context.Context, orig *specs.Message) error {
	adv, err := p.origin.Reversal("0420", orig)
	if err != nil {
		return err
	}
	for {
		resp, err := p.roundTrip(ctx, adv)
		if err == nil {
			if resp.ResponseCode == "00" {
				return nil
			}
			return fmt.Errorf("reversal advice answered %s", resp.ResponseCode)
		}
		adv = Repeat("0421", adv)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.cfg.AdviceRetry):
		}
	}
}

// ShiftClose is the outcome of a terminal's 0500.
type ShiftClose struct {
	Date      string // settlement date (MMDD) reconciled
	Terminal  Totals // the terminal's figures (what it sent)
	Host      Totals // the host's figures (0510)
	RC        string // DE 39 of the 0510
	InBalance bool   // DE 66 = 1
}

// CloseShift sends the shift's figures in a 0500 for the business date the host last
// named (DE 15), or today (MMDD) when it named none, and reads the host's 0510.
func (p *POS) CloseShift(ctx context.Context) (ShiftClose, error) {
	p.mu.Lock()
	date, tally := p.date, p.tally
	p.mu.Unlock()
	if date == "" {
		date = p.cfg.Keys.Now().Format("0102")
	}
	sc := ShiftClose{Date: date, Terminal: tally}
	req, err := p.origin.Recon(date, tally)
	if err != nil {
		return sc, err
	}
	resp, err := p.roundTrip(ctx, req)
	if err != nil {
		return sc, err
	}
	sc.RC = resp.ResponseCode
	sc.InBalance = resp.SettlementCode == "1"
	if sc.RC == "00" {
		if sc.Host, err = ParseTotals(resp); err != nil {
			return sc, fmt.Errorf("0510: %w", err)
		}
	}
	return sc, nil
}
