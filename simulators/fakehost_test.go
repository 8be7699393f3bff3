package simulators

import (
	"bufio"
	"net"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/specs"
)

// fakeHost is a tiny in-test host over real TCP: it reads frames, unpacks them and
// answers each with what respond returns (nil: no answer). respond runs on the
// connection's reader goroutine unless async is set.
type fakeHost struct {
	t       *testing.T
	d       *specs.Dialect
	ln      net.Listener
	respond func(fc *fakeConn, req *specs.Message) *specs.Message
	async   bool

	mu    sync.Mutex
	conns []*fakeConn
	wg    sync.WaitGroup
}

type fakeConn struct {
	h   *fakeHost
	nc  net.Conn
	wmu sync.Mutex
}

func (fc *fakeConn) send(m *specs.Message) error {
	b, err := fc.h.d.Pack(m)
	if err != nil {
		return err
	}
	f, err := fc.h.d.Framer().AppendFrame(nil, b)
	if err != nil {
		return err
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_, err = fc.nc.Write(f)
	return err
}

func newFakeHost(t *testing.T, d *specs.Dialect, respond func(fc *fakeConn, req *specs.Message) *specs.Message) *fakeHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{t: t, d: d, ln: ln, respond: respond}
	h.wg.Add(1)
	go h.accept()
	t.Cleanup(h.close)
	return h
}

func (h *fakeHost) addr() string { return h.ln.Addr().String() }

func (h *fakeHost) accept() {
	defer h.wg.Done()
	for {
		nc, err := h.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{h: h, nc: nc}
		h.mu.Lock()
		h.conns = append(h.conns, fc)
		h.mu.Unlock()
		h.wg.Add(1)
		go h.serve(fc)
	}
}

func (h *fakeHost) serve(fc *fakeConn) {
	defer h.wg.Done()
	br := bufio.NewReader(fc.nc)
	for {
		raw, err := h.d.Framer().ReadFrame(br, nil)
		if err != nil {
			return
		}
		m := new(specs.Message)
		if err := h.d.Unpack(raw, m); err != nil {
			continue
		}
		do := func() {
			if resp := h.respond(fc, m); resp != nil {
				_ = fc.send(resp)
			}
		}
		if h.async {
			h.wg.Add(1)
			go func() { defer h.wg.Done(); do() }()
		} else {
			do()
		}
	}
}

func (h *fakeHost) close() {
	h.ln.Close()
	h.mu.Lock()
	for _, fc := range h.conns {
		fc.nc.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *fakeHost) firstConn() *fakeConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) == 0 {
		return nil
	}
	return h.conns[0]
}

func mustDialect(t testing.TB, link specs.Link) *specs.Dialect {
	t.Helper()
	var d *specs.Dialect
	var err error
	if link == specs.LinkPC {
		d, err = specs.NewPC87A()
	} else {
		d, err = specs.NewTerm87B()
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}
