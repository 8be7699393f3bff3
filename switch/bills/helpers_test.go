package bills_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/bills/billstest"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

const (
	provider = "AZERISIQ"
	account  = "1000000001"
	pcID     = "100001"
	cashTerm = "T0000001"
	cardTerm = "POS00001"
	cardPC   = "300003"
)

var stanSeq atomic.Int64

func init() { stanSeq.Store(time.Now().UnixNano() % 500000) }

// nextSTAN returns a fresh STAN (6 digits) for a test request.
func nextSTAN() string { return fmt.Sprintf("%06d", stanSeq.Add(1)%1000000) }

func de7() string { return time.Now().UTC().Format("0102150405") }

// registry is the demo registry plus a PC the host dials at pcAddr (BIN 5200, timeout)
// and a card-only POS terminal.
func registry(t testing.TB, pcAddr string, timeout time.Duration) *terminals.Registry {
	t.Helper()
	return registryDial(t, fmt.Sprintf("[%q]", pcAddr), timeout)
}

// registryDial is registry with the dialled PC's dial list as given ("[]": the host no
// longer dials it, so has no client of it).
func registryDial(t testing.TB, dial string, timeout time.Duration) *terminals.Registry {
	t.Helper()
	y := fmt.Sprintf(`
institutions:
  - id: "100001"
    name: Demo Processing Centre
    bins:
      - low: "400000"
        high: "499999"
    timeout: 8s
    currency: 944
  - id: "%s"
    name: Dialled PC
    dial: %s
    bins:
      - prefix: "5200"
    timeout: %s
agents:
  - id: DEMOAGENT
    name: Demo Payment Agent
terminals:
  - id: ATM00001
    kind: ATM
    name: Demo PC ATM
    owner: "100001"
  - id: T0000001
    kind: KIOSK
    name: Demo cash kiosk
    cash: true
    owner: DEMOAGENT
  - id: POS00001
    kind: POS
    name: Card POS
    owner: DEMOAGENT
`, cardPC, dial, timeout)
	reg, err := terminals.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// card returns a Luhn-valid PAN starting with bin.
func card(bin string, n int) string {
	body := bin + fmt.Sprintf("%0*d", 15-len(bin), n)
	return simulators.Luhn(body)
}

type stack struct {
	t   testing.TB
	st  *billstest.Stack
	dir string
}

func startStack(t testing.TB, dir string, reg *terminals.Registry) *stack {
	t.Helper()
	return startStackAuth(t, dir, reg, nil)
}

// startStackAuth is startStack with the handlers' authorizer wrapped by wrap (nil: none).
func startStackAuth(t testing.TB, dir string, reg *terminals.Registry, wrap func(bills.Authorizer) bills.Authorizer) *stack {
	t.Helper()
	st, err := billstest.Start(context.Background(), billstest.Options{
		Dir: dir, Registry: reg,
		PCConfig: pcclient.Config{ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
			AdviceRetryMin: 50 * time.Millisecond, AdviceRetryMax: 200 * time.Millisecond, WriteAhead: true},
		Authorizer: wrap,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, st: st, dir: dir}
	t.Cleanup(func() { s.close() })
	return s
}

func (s *stack) close() {
	if s.st != nil {
		_ = s.st.Close()
		s.st = nil
	}
}

// due is the account's total due, read from the core.
func (s *stack) due(t testing.TB) int64 {
	t.Helper()
	inq, err := s.st.Core.Inquire(context.Background(), billpay.Target{Provider: provider, Account: account})
	if err != nil {
		t.Fatal(err)
	}
	return inq.Total
}

// dial opens a connection to one link; on the PC link it signs on as pcID.
func (s *stack) dial(t testing.TB, link specs.Link) *simulators.Conn {
	t.Helper()
	var d *specs.Dialect
	var err error
	addr := s.st.TermAddr
	if link == specs.LinkPC {
		d, err = specs.NewPC87A()
		addr = s.st.PCAddr
	} else {
		d, err = specs.NewTerm87B()
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := simulators.Dial(context.Background(), d, addr, simulators.ConnOptions{Handler: func(c *simulators.Conn, req *specs.Message) *specs.Message {
		return simulators.Response(req, "00")
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if link == specs.LinkPC {
		r := rt(t, c, &specs.Message{MTI: "0800", TransmissionDateTime: de7(), STAN: nextSTAN(), AcquirerID: pcID, NetworkCode: "001"})
		if r.ResponseCode != "00" {
			t.Fatalf("sign-on: %s", r.ResponseCode)
		}
	}
	return c
}

func rt(t testing.TB, c *simulators.Conn, m *specs.Message) *specs.Message {
	t.Helper()
	r, err := c.RoundTripTimeout(m, 15*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", m.MTI, err)
	}
	return r
}

func de48(kv ...string) string {
	var d specs.DE48
	for i := 0; i+1 < len(kv); i += 2 {
		tag, _ := strconv.Atoi(kv[i])
		d.Set(tag, kv[i+1])
	}
	b, err := d.AppendTo(nil)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// payment builds a 0200 on the account; pan "" = cash (terminal) or account (PC).
func payment(link specs.Link, terminal string, amount int64, pan string) *specs.Message {
	m := &specs.Message{MTI: "0200", ProcessingCode: "500000", Amount: fmt.Sprintf("%012d", amount), TransmissionDateTime: de7(),
		STAN: nextSTAN(), TerminalID: terminal, AdditionalData: de48("01", provider, "02", account), Currency: "944"}
	if link == specs.LinkPC {
		m.AcquirerID = pcID
	}
	if pan != "" {
		m.PAN, m.Expiry, m.POSEntryMode = pan, "3012", "051"
	}
	return m
}

// reversalOf builds a 0400/0420 for orig with a fresh STAN and DE 7.
func reversalOf(mti string, link specs.Link, orig *specs.Message) *specs.Message {
	acq := "00000000000"
	if link == specs.LinkPC {
		acq = specs.ZeroFill(orig.AcquirerID, 11)
	}
	de90, err := specs.FormatDE90(specs.OriginalData{MTI: orig.MTI, STAN: orig.STAN, TransmissionDateTime: orig.TransmissionDateTime,
		AcquirerID: acq, ForwarderID: "00000000000"})
	if err != nil {
		panic(err)
	}
	return &specs.Message{MTI: mti, ProcessingCode: orig.ProcessingCode, Amount: orig.Amount, TransmissionDateTime: de7(),
		STAN: nextSTAN(), AcquirerID: orig.AcquirerID, TerminalID: orig.TerminalID, AdditionalData: orig.AdditionalData,
		Currency: orig.Currency, OriginalData: de90}
}

func eventually(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !f() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakePC is a processing centre the host dials (a test double over real TCP): it answers
// 0800 with 0810/00, 0200 by its auth function (nil response = no answer; a delay before
// answering), and 0420/0421 with 0430 while ackAdvices is set.
type fakePC struct {
	t      testing.TB
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []*simulators.Conn
	auth   func(req *specs.Message) (rc string, delay time.Duration, answer bool) // under mu; setAuth
	on0800 func(req *specs.Message)                                               // under mu; optional

	ackAdvices atomic.Bool
	auths      atomic.Int64
	advices    atomic.Int64 // 0420/0421 received
	acked      atomic.Int64 // 0430 sent
	origSTANs  sync.Map     // DE 90 STANs of advices received → true
	authSTANs  sync.Map     // DE 11 of the 0200s received → PAN
}

func newFakePC(t testing.TB, addr string) *fakePC {
	p := &fakePC{t: t, auth: func(*specs.Message) (string, time.Duration, bool) { return "00", 0, true }}
	p.ackAdvices.Store(true)
	p.listen(addr)
	t.Cleanup(p.stop)
	return p
}

func (p *fakePC) listen(addr string) {
	d, err := specs.NewPC87A()
	if err != nil {
		p.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := simulators.NewConn(nc, d, simulators.ConnOptions{Handler: p.handle})
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
		}
	}()
}

func (p *fakePC) setAuth(f func(req *specs.Message) (string, time.Duration, bool)) {
	p.mu.Lock()
	p.auth = f
	p.mu.Unlock()
}

// stop closes the listener and every connection (the PC goes down).
func (p *fakePC) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *fakePC) handle(c *simulators.Conn, req *specs.Message) *specs.Message {
	switch req.MTI {
	case "0800":
		p.mu.Lock()
		f := p.on0800
		p.mu.Unlock()
		if f != nil {
			f(req)
		}
		return simulators.Response(req, "00")
	case "0200":
		p.auths.Add(1)
		p.authSTANs.Store(req.STAN, req.PAN)
		p.mu.Lock()
		auth := p.auth
		p.mu.Unlock()
		rc, delay, answer := auth(req)
		if delay > 0 {
			time.Sleep(delay)
		}
		if !answer {
			return nil
		}
		r := simulators.Response(req, rc)
		if rc == "00" {
			r.AuthID = "A12345"
		}
		return r
	case "0420", "0421":
		p.advices.Add(1)
		if od, err := specs.ParseDE90(req.OriginalData); err == nil {
			p.origSTANs.Store(od.STAN, true)
		}
		if !p.ackAdvices.Load() {
			return nil
		}
		p.acked.Add(1)
		return simulators.Response(req, "00")
	}
	return simulators.Response(req, "12")
}

// pcSignedOn waits until the host's client of cardPC is signed on.
func pcSignedOn(t testing.TB, s *stack) {
	t.Helper()
	c, ok := s.st.Clients.Client(cardPC)
	if !ok {
		t.Fatal("no client for the dialled PC")
	}
	eventually(t, 10*time.Second, "the host to sign on to the PC", func() bool { return c.Status().SignedOn })
}

// authSTAN returns the host's DE 11 of the PC authorization of pan.
func (p *fakePC) authSTAN(t testing.TB, pan string) string {
	t.Helper()
	stan := ""
	p.authSTANs.Range(func(k, v any) bool {
		if v.(string) == pan {
			stan = k.(string)
			return false
		}
		return true
	})
	if stan == "" {
		t.Fatalf("the PC saw no authorization of %s", specs.MaskPAN(pan))
	}
	return stan
}

func (p *fakePC) advised(stan string) bool {
	_, ok := p.origSTANs.Load(stan)
	return ok
}

func pending(t testing.TB, s *stack) int {
	c, ok := s.st.Clients.Client(cardPC)
	if !ok {
		t.Fatal("no client for the dialled PC")
	}
	return c.Status().PendingAdvices
}
