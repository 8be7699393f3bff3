package hostswitch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

const (
	demoPC       = "100001"
	demoATM      = "ATM00001"
	demoTerminal = "T0000001"
	testBizDate  = "1121"
)

// syncBuffer is a log sink the test can read while the host writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testHost struct {
	*Host
	logs      *syncBuffer
	pc, term  *specs.Dialect
	pcAddr    string
	termAddr  string
	shutdowns atomic.Bool
}

func dialects(t testing.TB) (*specs.Dialect, *specs.Dialect) {
	t.Helper()
	pc, err := specs.NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	term, err := specs.NewTerm87B()
	if err != nil {
		t.Fatal(err)
	}
	return pc, term
}

// startHost starts a host on 127.0.0.1:0 for both links with the demo registry.
func startHost(t testing.TB, cfg Config, register func(*Router)) *testHost {
	t.Helper()
	pc, term := dialects(t)
	logs := &syncBuffer{}
	if cfg.PCAddr == "" {
		cfg.PCAddr = "127.0.0.1:0"
	}
	if cfg.TerminalAddr == "" {
		cfg.TerminalAddr = "127.0.0.1:0"
	}
	logger := zerolog.New(logs)
	if _, ok := t.(*testing.B); ok {
		logger = zerolog.New(io.Discard) // a benchmark's lines would only grow the buffer
	}
	h, err := New(cfg, Deps{
		PC: pc, Terminal: term, Directory: terminals.Demo(),
		BusinessDate: func() string { return testBizDate },
		Logger:       logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(h.Router())
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	th := &testHost{Host: h, logs: logs, pc: pc, term: term,
		pcAddr: h.Addr(specs.LinkPC), termAddr: h.Addr(specs.LinkTerminal)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return th
}

// peer is a test client of one link.
type peer struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	d    *specs.Dialect
	link specs.Link
	stan int
}

func (th *testHost) dial(t testing.TB, link specs.Link) *peer {
	t.Helper()
	addr, d := th.pcAddr, th.pc
	if link == specs.LinkTerminal {
		addr, d = th.termAddr, th.term
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &peer{t: t, nc: nc, br: bufio.NewReader(nc), d: d, link: link, stan: 100}
}

func (p *peer) nextSTAN() string {
	p.stan++
	return fmt.Sprintf("%06d", p.stan)
}

// request is a request with DE 7, DE 11 and what the link needs (DE 32 on the PC link;
// DE 41 on the terminal link, the PC's ATM on the PC link for 01xx/02xx/04xx).
func (p *peer) request(mti string) *specs.Message {
	m := &specs.Message{MTI: mti, TransmissionDateTime: "1121101112", STAN: p.nextSTAN()}
	if p.link == specs.LinkPC {
		m.AcquirerID = demoPC
	}
	switch mti[:2] {
	case "01", "02", "04", "05":
		m.ProcessingCode = "500000"
		if mti[:2] == "01" {
			m.ProcessingCode = "310000"
		}
		if mti[:2] == "05" {
			m.ProcessingCode = "920000"
		}
		if p.link == specs.LinkTerminal {
			m.TerminalID = demoTerminal
		} else if mti[:2] != "05" {
			m.TerminalID = demoATM
		}
	}
	return m
}

func (p *peer) netMgmt(code string) *specs.Message {
	m := p.request("0800")
	m.NetworkCode = code
	if p.link == specs.LinkTerminal {
		m.TerminalID = demoTerminal
	}
	return m
}

func (p *peer) pack(m *specs.Message) []byte {
	p.t.Helper()
	body, err := p.d.AppendPack(nil, m)
	if err != nil {
		p.t.Fatalf("pack %s: %v", m.MTI, err)
	}
	return body
}

// frame puts a header in front of body (any length, even an illegal one).
func (p *peer) frame(body []byte) []byte {
	n := len(body)
	if p.link == specs.LinkPC {
		return append([]byte(fmt.Sprintf("%04d", n)), body...)
	}
	return append([]byte{byte(n >> 8), byte(n)}, body...)
}

func (p *peer) write(b []byte) {
	p.t.Helper()
	_ = p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

func (p *peer) send(m *specs.Message) { p.t.Helper(); p.write(p.frame(p.pack(m))) }

var errQuiet = errors.New("no frame")

// recv reads one message, errQuiet when nothing came within d, io.EOF-like errors when
// the host closed.
func (p *peer) recv(d time.Duration) (*specs.Message, error) {
	_ = p.nc.SetReadDeadline(time.Now().Add(d))
	b, err := p.d.Framer().ReadFrame(p.br, nil)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, errQuiet
	}
	if err != nil {
		return nil, err
	}
	m := &specs.Message{}
	if err := p.d.Unpack(b, m); err != nil {
		return nil, fmt.Errorf("unpack response: %w", err)
	}
	return m, nil
}

func (p *peer) roundTrip(m *specs.Message) *specs.Message {
	p.t.Helper()
	p.send(m)
	resp, err := p.recv(5 * time.Second)
	if err != nil {
		p.t.Fatalf("%s STAN %s: %v", m.MTI, m.STAN, err)
	}
	if resp.STAN != m.STAN {
		p.t.Fatalf("%s: DE 11 %q, want %q", resp.MTI, resp.STAN, m.STAN)
	}
	return resp
}

// expectClosed waits for the host to close the connection.
func (p *peer) expectClosed(d time.Duration) {
	p.t.Helper()
	_ = p.nc.SetReadDeadline(time.Now().Add(d))
	for {
		_, err := p.d.Framer().ReadFrame(p.br, nil)
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.t.Fatalf("connection still open after %v", d)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return
		}
		p.t.Fatalf("waiting for close: %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// expectSilence checks nothing arrives within d and the connection stays open.
func (p *peer) expectSilence(d time.Duration) {
	p.t.Helper()
	m, err := p.recv(d)
	if errors.Is(err, errQuiet) {
		return
	}
	if err != nil {
		p.t.Fatalf("expected silence, got %v", err)
	}
	p.t.Fatalf("expected silence, got %s DE 39 %q", m.MTI, m.ResponseCode)
}

func (p *peer) signOn() {
	p.t.Helper()
	if r := p.roundTrip(p.netMgmt("001")); r.ResponseCode != "00" {
		p.t.Fatalf("sign-on: %s", r.ResponseCode)
	}
}

func wantResp(t testing.TB, resp *specs.Message, mti, rc string) {
	t.Helper()
	if resp.MTI != mti || resp.ResponseCode != rc {
		t.Fatalf("got %s/%s, want %s/%s", resp.MTI, resp.ResponseCode, mti, rc)
	}
	if needsDE15(mti) && resp.SettlementDate != testBizDate {
		t.Fatalf("%s DE 15 %q, want %q", mti, resp.SettlementDate, testBizDate)
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitLog waits for a log line containing s (lines are written just after the event).
func (th *testHost) waitLog(t testing.TB, s string) {
	t.Helper()
	waitFor(t, 5*time.Second, "log "+s, func() bool { return strings.Contains(th.logs.String(), s) })
}
