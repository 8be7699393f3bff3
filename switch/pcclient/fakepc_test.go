package pcclient

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// reply is what the fake PC does with one request.
type reply struct {
	resp  *specs.Message // nil: no answer
	delay time.Duration  // answer after this long (in its own goroutine)
}

// got is one message the fake PC received.
type got struct {
	conn int // index of the connection (accept order)
	msg  specs.Message
}

// fakePC is a processing centre on real TCP (127.0.0.1, ephemeral port) that speaks
// pc87a through the project's codec. By default it answers 0800 with 0810/00, 0200 with
// 0210/00, 0420/0421 with 0430/00; behave overrides that.
type fakePC struct {
	t       testing.TB
	dialect *specs.Dialect
	addr    string

	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	wmu    map[net.Conn]*sync.Mutex
	recv   []got
	behave func(connIdx int, req *specs.Message) reply
	notify chan struct{}
	wg     sync.WaitGroup
}

func newFakePC(t testing.TB, d *specs.Dialect) *fakePC {
	t.Helper()
	p := &fakePC{t: t, dialect: d, wmu: map[net.Conn]*sync.Mutex{}, notify: make(chan struct{}, 1)}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *fakePC) listen(addr string) {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the same port after a stop may take a moment to be free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("fake PC listen: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.addr = ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
}

// stop closes the listener and every connection (the PC is down).
func (p *fakePC) stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// restart listens again on the same address.
func (p *fakePC) restart() { p.listen(p.addr) }

// dropConns closes every open connection but keeps listening.
func (p *fakePC) dropConns() {
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *fakePC) setBehave(f func(connIdx int, req *specs.Message) reply) {
	p.mu.Lock()
	p.behave = f
	p.mu.Unlock()
}

func (p *fakePC) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		idx := len(p.conns)
		p.conns = append(p.conns, c)
		p.wmu[c] = &sync.Mutex{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(idx, c)
	}
}

func (p *fakePC) serve(idx int, c net.Conn) {
	defer p.wg.Done()
	defer c.Close()
	r := bufio.NewReader(c)
	var buf []byte
	for {
		raw, err := p.dialect.Framer().ReadFrame(r, buf)
		if err != nil {
			return
		}
		var m specs.Message
		if err := p.dialect.Unpack(raw, &m); err != nil {
			p.t.Errorf("fake PC: unpack: %v", err)
			return
		}
		p.mu.Lock()
		p.recv = append(p.recv, got{conn: idx, msg: m})
		behave := p.behave
		p.mu.Unlock()
		select {
		case p.notify <- struct{}{}:
		default:
		}
		var rp reply
		if isResponse(m.MTI) {
			continue // the host's answer to the PC's own request
		}
		if behave != nil {
			rp = behave(idx, &m)
		} else {
			rp = reply{resp: defaultAnswer(&m, "00")}
		}
		if rp.resp == nil {
			continue
		}
		if rp.delay > 0 {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				time.Sleep(rp.delay)
				p.send(c, rp.resp)
			}()
			continue
		}
		p.send(c, rp.resp)
	}
}

// send writes m on connection c (index or conn).
func (p *fakePC) send(c net.Conn, m *specs.Message) {
	body, err := p.dialect.Pack(m)
	if err != nil {
		p.t.Errorf("fake PC: pack %s: %v", m.MTI, err)
		return
	}
	frame, err := p.dialect.Framer().AppendFrame(nil, body)
	if err != nil {
		p.t.Errorf("fake PC: frame: %v", err)
		return
	}
	p.mu.Lock()
	mu := p.wmu[c]
	p.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	c.Write(frame) // the connection may be gone; the test sees the effect
}

func (p *fakePC) sendRaw(idx int, b []byte) {
	p.mu.Lock()
	c := p.conns[idx]
	mu := p.wmu[c]
	p.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	c.Write(b)
}

func (p *fakePC) sendOn(idx int, m *specs.Message) {
	p.mu.Lock()
	c := p.conns[idx]
	p.mu.Unlock()
	p.send(c, m)
}

// received returns a copy of every message received so far.
func (p *fakePC) received() []got {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]got(nil), p.recv...)
}

// matching returns the received messages for which f is true.
func (p *fakePC) matching(f func(m *specs.Message) bool) []got {
	var out []got
	for _, g := range p.received() {
		if f(&g.msg) {
			out = append(out, g)
		}
	}
	return out
}

// waitFor waits until at least n received messages satisfy f, or fails the test.
func (p *fakePC) waitFor(n int, d time.Duration, what string, f func(m *specs.Message) bool) []got {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if g := p.matching(f); len(g) >= n {
			return g
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("fake PC: waited %v for %d× %s; got %d", d, n, what, len(p.matching(f)))
		}
		select {
		case <-p.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func isMTI(mti string) func(*specs.Message) bool {
	return func(m *specs.Message) bool { return m.MTI == mti }
}

func isNet(code string) func(*specs.Message) bool {
	return func(m *specs.Message) bool { return m.MTI == "0800" && m.NetworkCode == code }
}

// defaultAnswer is the response to req with response code rc, echoing DE 11, 37 and
// the rest a PC echoes.
func defaultAnswer(req *specs.Message, rc string) *specs.Message {
	resp := &specs.Message{
		MTI:                  responseMTI(req.MTI),
		ProcessingCode:       req.ProcessingCode,
		Amount:               req.Amount,
		TransmissionDateTime: req.TransmissionDateTime,
		STAN:                 req.STAN,
		AcquirerID:           req.AcquirerID,
		RRN:                  req.RRN,
		ResponseCode:         rc,
		TerminalID:           req.TerminalID,
		Currency:             req.Currency,
		NetworkCode:          req.NetworkCode,
	}
	if req.MTI == "0200" && rc == "00" {
		resp.AuthID = "A" + req.STAN[1:]
	}
	return resp
}

var errTimeout = errors.New("timeout")

// eventually polls f until it is true or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%v: %s", errTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
