package simulators

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/specs"
)

// Channel is where a PC's bill payment comes from.
type Channel string

// The channels the simulators originate.
const (
	ChannelATM      Channel = "ATM"      // PC link, card at an ATM
	ChannelInternet Channel = "INTERNET" // PC link, card not present (e-commerce)
	ChannelPOSCash  Channel = "POS-CASH" // terminal link, cash
	ChannelPOSCard  Channel = "POS-CARD" // terminal link, card authorized by the card's PC
)

// PCConfig configures a PC simulator.
type PCConfig struct {
	// Addr is the host's PC link to dial. With Listen set instead, the simulator
	// accepts the host's connections (the host dials the PCs in its registry).
	Addr   string
	Listen string
	// Institution is DE 32 (default 100001); ATM and Web are the DE 41 of its ATM and of
	// its internet acquiring (defaults ATM00001, and the ATM's id).
	Institution, ATM, Web string
	// Issuer answers the host's authorizations (nil: approve everything).
	Issuer *Issuer
	// Timeout is how long a request waits for its response (default 10 s); a payment
	// that gets none is reversed by a 0420 advice, repeated as 0421 every AdviceRetry
	// (default 2 s) until the host acknowledges it or ctx ends.
	Timeout, AdviceRetry time.Duration
	Keys                 *Keys // shared key counter (nil: a new one)
	Logger               zerolog.Logger
	Seed                 uint64 // card numbers (0: clock)
}

// PC is a processing-centre simulator: it originates ATM and internet bill payments on
// a signed-on PC link and acts as card issuer for the host's authorizations on the
// same link. It is safe for concurrent use.
type PC struct {
	cfg    PCConfig
	d      *specs.Dialect
	origin Origin
	issuer *Issuer

	mu    sync.Mutex
	conns []*pcConn // signed on, newest last
	ready chan struct{}
	ln    net.Listener
	rng   *rand.Rand
}

type pcConn struct {
	*Conn
	dialled bool // we dialled it (else the host did)
}

// NewPC builds a PC simulator; Connect or Listen starts it.
func NewPC(cfg PCConfig) (*PC, error) {
	d, err := specs.NewPC87A()
	if err != nil {
		return nil, err
	}
	if cfg.Institution == "" {
		cfg.Institution = "100001"
	}
	if cfg.ATM == "" {
		cfg.ATM = "ATM00001"
	}
	if cfg.Web == "" {
		cfg.Web = cfg.ATM
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
	if cfg.Issuer == nil {
		cfg.Issuer = NewIssuer(nil, IssuerRates{}, 1, cfg.Logger)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return &PC{
		cfg: cfg, d: d, issuer: cfg.Issuer, ready: make(chan struct{}),
		origin: Origin{Link: specs.LinkPC, Institution: cfg.Institution, Terminal: cfg.ATM, Keys: cfg.Keys},
		rng:    rand.New(rand.NewPCG(seed, 2)),
	}, nil
}

// Issuer is the simulator's issuer side.
func (p *PC) Issuer() *Issuer { return p.issuer }

// Connect dials the host and signs on (0800/001). It may be called again to add
// connections (each signs on).
func (p *PC) Connect(ctx context.Context) error {
	c, err := Dial(ctx, p.d, p.cfg.Addr, ConnOptions{Handler: p.issuer.Handle})
	if err != nil {
		return err
	}
	return p.adopt(ctx, c, true)
}

// adopt signs on a connection and makes it one payments may go out on.
func (p *PC) adopt(ctx context.Context, c *Conn, dialled bool) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	resp, err := c.RoundTrip(ctx, p.origin.NetMgmt("001"))
	if err != nil {
		c.Close()
		return fmt.Errorf("pc sign-on: %w", err)
	}
	if resp.ResponseCode != "00" {
		c.Close()
		return fmt.Errorf("pc sign-on: host answered %s", resp.ResponseCode)
	}
	p.mu.Lock()
	p.conns = append(p.conns, &pcConn{Conn: c, dialled: dialled})
	first := len(p.conns) == 1
	p.mu.Unlock()
	if first {
		close(p.ready)
	}
	p.cfg.Logger.Info().Str("peer", c.RemoteAddr().String()).Msg("pc signed on")
	return nil
}

// WaitHost waits until the host has dialled this PC's listener and the connection
// signed on, so that the host's card authorizations have a link to come on.
func (p *PC) WaitHost(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		p.mu.Lock()
		up := false
		for _, c := range p.conns {
			up = up || !c.dialled
		}
		p.mu.Unlock()
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pc: the host did not dial %s: %w", p.cfg.Listen, ctx.Err())
		case <-t.C:
		}
	}
}

// Listen accepts the host's connections on cfg.Listen in the background; each is
// answered as issuer and signed on for payments. It returns the bound address.
func (p *PC) Listen(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := NewConn(nc, p.d, ConnOptions{Handler: p.issuer.Handle})
			go func() {
				if err := p.adopt(ctx, c, false); err != nil {
					p.cfg.Logger.Warn().Err(err).Msg("host connection not signed on")
				}
			}()
		}
	}()
	return ln.Addr().String(), nil
}

// WaitReady waits until a connection is signed on.
func (p *PC) WaitReady(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// conn is the newest live signed-on connection the simulator dialled, else the newest
// one the host dialled.
func (p *PC) conn() (*Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	live := p.conns[:0]
	for _, c := range p.conns {
		select {
		case <-c.Done():
		default:
			live = append(live, c)
		}
	}
	for i := len(live); i < len(p.conns); i++ {
		p.conns[i] = nil
	}
	p.conns = live
	for i := len(live) - 1; i >= 0; i-- {
		if live[i].dialled {
			return live[i].Conn, nil
		}
	}
	if n := len(live); n > 0 {
		return live[n-1].Conn, nil
	}
	return nil, fmt.Errorf("pc: no signed-on connection")
}

// Close closes every connection and the listener.
func (p *PC) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	if p.ln != nil {
		p.ln.Close()
	}
}

func (p *PC) roundTrip(ctx context.Context, req *specs.Message) (*specs.Message, error) {
	c, err := p.conn()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	return c.RoundTrip(ctx, req)
}

// Inquiry asks the host for a target's debts.
func (p *PC) Inquiry(ctx context.Context, t Target) (InquiryResult, error) {
	resp, err := p.roundTrip(ctx, p.origin.Inquiry(t))
	if err != nil {
		return InquiryResult{}, err
	}
	return ParseInquiry(resp)
}

// BillPayment is one bill payment the PC originates.
type BillPayment struct {
	Channel Channel // ChannelATM (default) or ChannelInternet
	Target  Target
	// Amount in minor units; 0 pays the whole due (of the chosen account).
	Amount int64
	// ChooseAccount: for a registration-code target, pay the account with the largest
	// due by tags 01+02 instead of splitting over all accounts (tag 03).
	ChooseAccount bool
	Card          *Card // nil: a generated card of BIN 416973
}

// BillOutcome is what became of a bill payment.
type BillOutcome struct {
	Channel   Channel
	Target    Target // the target paid (the chosen account, if one was chosen)
	Amount    int64
	Inquiry   InquiryResult
	RC        string // DE 39 of the 0210 (or of the 0110 when the inquiry failed); "" on timeout
	Result    PaymentResult
	TimedOut  bool // no 0210: a reversal advice was sent
	Reversed  bool // the advice was acknowledged (0430)
	Latency   time.Duration
	Request   *specs.Message // the 0200 (for a later reversal)
	MaskedPAN string
}

// ErrNothingDue is returned by PayBill with Amount 0 when nothing is due.
var ErrNothingDue = errors.New("simulators: nothing due")

// PayBill runs a bill payment: inquiry, the choice of an account (or automatic split),
// the payment, and a reversal advice when the payment times out.
func (p *PC) PayBill(ctx context.Context, bp BillPayment) (BillOutcome, error) {
	out := BillOutcome{Channel: bp.Channel, Target: bp.Target}
	if out.Channel == "" {
		out.Channel = ChannelATM
	}
	iq, err := p.Inquiry(ctx, bp.Target)
	if err != nil {
		return out, fmt.Errorf("inquiry: %w", err)
	}
	out.Inquiry = iq
	if iq.RC != "00" {
		out.RC = iq.RC
		return out, nil
	}
	amount := bp.Amount
	if bp.Target.RegCode != "" && bp.ChooseAccount {
		acct, due := largestDue(iq.Debts)
		if acct.Account == "" {
			return out, ErrNothingDue
		}
		out.Target = acct
		if amount == 0 || amount > due {
			amount = due
		}
	} else if amount == 0 {
		amount = positiveDue(iq.Debts)
	}
	if amount <= 0 {
		return out, ErrNothingDue
	}
	out.Amount = amount
	card := bp.Card
	if card == nil {
		card = p.newCard()
	}
	out.MaskedPAN = maskPAN(card.PAN)
	origin := p.origin
	po := PaymentOptions{Card: card, EntryMode: "021"}
	if out.Channel == ChannelInternet {
		origin.Terminal = p.cfg.Web
		po.EntryMode = "010"
	}
	req := origin.Payment(out.Target, amount, po)
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
		return out, fmt.Errorf("payment: %w", err)
	}
	out.RC = resp.ResponseCode
	out.Result, err = ParsePayment(resp)
	return out, err
}

// Reverse sends a reversal advice (0420, repeated as 0421) for a payment, for example
// a cancelled dispense, until the host acknowledges it or ctx ends.
func (p *PC) Reverse(ctx context.Context, orig *specs.Message) error { return p.advise(ctx, orig) }

func (p *PC) advise(ctx context.Context, orig *specs.Message) error {
	adv, err := p.origin.Reversal("0420", orig)
	if err != nil {
		return err
	}
	for {
		resp, err := p.roundTrip(ctx, adv)
		if err == nil && resp.ResponseCode == "00" {
			return nil
		}
		if err == nil && resp.ResponseCode != "91" {
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

// newCard makes a Luhn-valid card of BIN 416973 (the demo's PC range 4xxxxx).
func (p *PC) newCard() *Card {
	p.mu.Lock()
	n := p.rng.Uint64N(1_000_000_000)
	p.mu.Unlock()
	return &Card{PAN: Luhn(fmt.Sprintf("416973%09d", n)), Expiry: "2812"}
}

func positiveDue(debts []Debt) int64 {
	var s int64
	for _, d := range debts {
		if d.Amount > 0 {
			s += d.Amount
		}
	}
	return s
}

// largestDue is the account with the largest positive due in tag 20.
func largestDue(debts []Debt) (Target, int64) {
	due := map[Target]int64{}
	var order []Target
	for _, d := range debts {
		t := AccountTarget(d.Provider, d.Account)
		if _, ok := due[t]; !ok {
			order = append(order, t)
		}
		if d.Amount > 0 {
			due[t] += d.Amount
		}
	}
	var best Target
	var max int64
	for _, t := range order {
		if due[t] > max {
			best, max = t, due[t]
		}
	}
	return best, max
}
