package simulators

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// Errors of a Conn.
var (
	ErrClosed       = errors.New("simulators: connection closed")
	ErrTimeout      = errors.New("simulators: no response in time")
	ErrDuplicateKey = errors.New("simulators: a request with this response MTI and DE 11 is already in flight")
)

// Handler answers a request the peer sent (the host's 0800, a card authorization, a
// reversal advice). It runs in a goroutine of its own, so it may sleep. It returns the
// response to write, or nil to leave the request unanswered; it may close the Conn.
type Handler func(c *Conn, req *specs.Message) *specs.Message

// ConnOptions tune a Conn. Zero fields take their defaults.
type ConnOptions struct {
	// WriteTimeout is the deadline set before every socket write (default 5 s). A write
	// that misses it closes the connection.
	WriteTimeout time.Duration
	// Handler answers the peer's requests. Nil: they are left unanswered.
	Handler Handler
	// ReadBuffer is the size of the read buffer (default 64 KiB).
	ReadBuffer int
}

// ConnStats are a Conn's counters.
type ConnStats struct {
	Sent, Received  int64 // frames written / read
	Unmatched       int64 // responses nobody was waiting for (late, after a timeout)
	BadFrames       int64 // frames that would not unpack
	InboundRequests int64 // requests the peer sent
}

type pendKey struct {
	mti  string // the response MTI expected
	stan string
}

// Conn is one ISO 8583 connection (dialled or accepted), shared by many goroutines.
// Requests are matched to responses on the response MTI and DE 11, so many may be in
// flight. Writes from concurrent senders are coalesced into one socket write, each
// under the write deadline.
type Conn struct {
	d      *specs.Dialect
	framer specs.Framer
	nc     net.Conn
	opts   ConnOptions

	wmu     sync.Mutex
	wq      []byte // frames waiting to be written
	wspare  []byte
	writing bool
	werr    error

	mu      sync.Mutex
	pending map[pendKey]chan *specs.Message

	done      chan struct{}
	closeOnce sync.Once
	err       atomic.Pointer[error]

	sent, received, unmatched, badFrames, inbound atomic.Int64
}

var packPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Dial connects to addr and starts reading.
func Dial(ctx context.Context, d *specs.Dialect, addr string, opts ConnOptions) (*Conn, error) {
	var dl net.Dialer
	nc, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, d, opts), nil
}

// NewConn wraps an established connection (for example one the host dialled) and
// starts reading.
func NewConn(nc net.Conn, d *specs.Dialect, opts ConnOptions) *Conn {
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if opts.ReadBuffer <= 0 {
		opts.ReadBuffer = 64 << 10
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c := &Conn{
		d:       d,
		framer:  d.Framer(),
		nc:      nc,
		opts:    opts,
		pending: make(map[pendKey]chan *specs.Message),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Dialect is the connection's dialect.
func (c *Conn) Dialect() *specs.Dialect { return c.d }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection closed (nil while open).
func (c *Conn) Err() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns the connection's counters.
func (c *Conn) Stats() ConnStats {
	return ConnStats{
		Sent: c.sent.Load(), Received: c.received.Load(), Unmatched: c.unmatched.Load(),
		BadFrames: c.badFrames.Load(), InboundRequests: c.inbound.Load(),
	}
}

// Close closes the connection; requests in flight fail with ErrClosed.
func (c *Conn) Close() error {
	c.closeWith(ErrClosed)
	return nil
}

func (c *Conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.err.Store(&err)
		_ = c.nc.Close()
		close(c.done)
	})
}

// ResponseMTI is the MTI of the response to a request: 0100 → 0110, 0201 → 0210,
// 0421 → 0430.
func ResponseMTI(req string) string {
	if len(req) != 4 || req[2] < '0' || req[2] > '8' {
		return ""
	}
	return req[:2] + string(req[2]+1) + "0"
}

// IsRequest reports whether an MTI is a request (its third digit is even).
func IsRequest(mti string) bool { return len(mti) == 4 && (mti[2]-'0')%2 == 0 }

// RoundTrip sends req and waits for its response until ctx is done (ErrTimeout) or the
// connection closes (ErrClosed). req must not be modified until RoundTrip returns.
func (c *Conn) RoundTrip(ctx context.Context, req *specs.Message) (*specs.Message, error) {
	k := pendKey{mti: ResponseMTI(req.MTI), stan: req.STAN}
	if k.mti == "" || len(k.stan) != 6 {
		return nil, fmt.Errorf("simulators: request needs a request MTI and a six-digit DE 11 (MTI %q)", req.MTI)
	}
	ch := make(chan *specs.Message, 1)
	c.mu.Lock()
	if _, dup := c.pending[k]; dup {
		c.mu.Unlock()
		return nil, ErrDuplicateKey
	}
	c.pending[k] = ch
	c.mu.Unlock()
	if err := c.Send(req); err != nil {
		c.forget(k)
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		c.forget(k)
		select { // it may have come meanwhile
		case resp := <-ch:
			return resp, nil
		default:
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ErrTimeout
		}
		return nil, ctx.Err()
	case <-c.done:
		c.forget(k)
		select {
		case resp := <-ch:
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("%w: %v", ErrClosed, c.Err())
	}
}

// RoundTripTimeout is RoundTrip with a timeout.
func (c *Conn) RoundTripTimeout(req *specs.Message, d time.Duration) (*specs.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.RoundTrip(ctx, req)
}

func (c *Conn) forget(k pendKey) {
	c.mu.Lock()
	delete(c.pending, k)
	c.mu.Unlock()
}

// Send packs m and writes it in one frame without waiting for anything.
func (c *Conn) Send(m *specs.Message) error {
	bp := packPool.Get().(*[]byte)
	defer packPool.Put(bp)
	b, err := c.d.AppendPack((*bp)[:0], m)
	*bp = b
	if err != nil {
		return err
	}
	return c.WriteFrame(b)
}

// WriteFrame writes msg (a packed message, without header) in one frame.
func (c *Conn) WriteFrame(msg []byte) error {
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	var err error
	c.wq, err = c.framer.AppendFrame(c.wq, msg)
	if err != nil {
		c.wmu.Unlock()
		return err
	}
	c.sent.Add(1)
	if c.writing { // the writer in charge takes it along
		c.wmu.Unlock()
		return nil
	}
	return c.flushLocked()
}

// WriteRaw writes bytes as they are (a header of one's own making, garbage): for tests
// of the peer's handling of bad input.
func (c *Conn) WriteRaw(b []byte) error {
	c.wmu.Lock()
	if c.werr != nil {
		err := c.werr
		c.wmu.Unlock()
		return err
	}
	c.wq = append(c.wq, b...)
	if c.writing {
		c.wmu.Unlock()
		return nil
	}
	return c.flushLocked()
}

// flushLocked writes the queue until it is empty; the caller holds wmu, which is
// released on return. Senders that arrive meanwhile append to the queue and return.
func (c *Conn) flushLocked() error {
	c.writing = true
	for len(c.wq) > 0 {
		buf := c.wq
		c.wq = c.wspare[:0]
		c.wmu.Unlock()
		err := c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
		if err == nil {
			_, err = c.nc.Write(buf)
		}
		c.wmu.Lock()
		c.wspare = buf[:0]
		if err != nil {
			c.werr = fmt.Errorf("%w: write: %v", ErrClosed, err)
			c.writing = false
			c.wmu.Unlock()
			c.closeWith(err)
			return c.werr
		}
	}
	c.writing = false
	c.wmu.Unlock()
	return nil
}

func (c *Conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, c.opts.ReadBuffer)
	buf := make([]byte, 0, 1024)
	for {
		raw, err := c.framer.ReadFrame(br, buf)
		if err != nil {
			c.closeWith(err)
			c.failPending()
			return
		}
		buf = raw[:0]
		c.received.Add(1)
		m := new(specs.Message)
		if err := c.d.Unpack(raw, m); err != nil {
			c.badFrames.Add(1)
			continue
		}
		if IsRequest(m.MTI) {
			c.inbound.Add(1)
			if c.opts.Handler != nil {
				go c.serve(m)
			}
			continue
		}
		k := pendKey{mti: m.MTI, stan: m.STAN}
		c.mu.Lock()
		ch, ok := c.pending[k]
		if ok {
			delete(c.pending, k)
		}
		c.mu.Unlock()
		if !ok {
			c.unmatched.Add(1)
			continue
		}
		ch <- m
	}
}

func (c *Conn) serve(req *specs.Message) {
	if resp := c.opts.Handler(c, req); resp != nil {
		_ = c.Send(resp)
	}
}

// failPending wakes nobody explicitly: waiters select on done. It drops the map.
func (c *Conn) failPending() {
	c.mu.Lock()
	c.pending = make(map[pendKey]chan *specs.Message)
	c.mu.Unlock()
}
