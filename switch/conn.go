package hostswitch

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

// maxUnreadable is how many frames in a row whose MTI or DE 11 cannot be read close
// the connection (§9).
const maxUnreadable = 3

// hostInFlight caps the host-initiated requests one connection may have queued for writing.
const hostInFlight = 16

// outFrame is a packed frame for the writer: a response (its slot is given back once
// written) or a host-initiated request.
type outFrame struct {
	b    *[]byte
	host bool
}

// writeCoalesce is how many bytes of queued responses the writer gathers into one write.
const writeCoalesce = 32 << 10

// conn is one accepted connection: a reader goroutine (frames in, requests to the
// handler pool), a writer goroutine (responses out under a write deadline) and the
// per-connection state (sign-on).
//
// In-flight accounting: the reader takes a slot (c.slots) for each request before it
// is handled and the writer gives it back once the response is written (or discarded,
// the connection being dead). c.out has as many places as there are slots, so a
// finished handler never waits to queue its response, and a peer that does not read
// holds up nothing but its own reader.
type conn struct {
	h      *Host
	l      *listener
	nc     net.Conn
	id     terminals.ConnID
	remote string
	log    zerolog.Logger
	since  time.Time

	slots     chan struct{}
	hostSlots chan struct{} // host-initiated requests queued or being written
	out       chan outFrame
	pending   sync.WaitGroup // requests read and not yet answered or dropped

	waitMu  sync.Mutex
	waiting map[string]chan *specs.Message // host-initiated requests by response MTI + DE 11

	closeOnce  sync.Once
	closed     chan struct{}
	writerQuit chan struct{}

	// signedOnAs is the institution this PC connection signed on for (nil: not signed on).
	signedOnAs atomic.Pointer[string]
	// termSignedOn: a terminal sent 0800/001 (informational; terminals need no sign-on).
	termSignedOn atomic.Bool
	// lastRead is when the last frame was read (unix ns); echoing: an idle echo is out.
	lastRead atomic.Int64
	echoing  atomic.Bool
	// writing is the time the writer's current socket write began (0: not writing).
	writing atomic.Int64

	framesIn, framesOut atomic.Uint64
}

func newConn(h *Host, l *listener, nc net.Conn, id terminals.ConnID, remote string) *conn {
	c := &conn{
		h: h, l: l, nc: nc, id: id, remote: remote,
		log:        h.log.With().Str("link", l.name).Uint64("conn", uint64(id)).Str("remote", remote).Logger(),
		since:      time.Now(),
		slots:      make(chan struct{}, h.cfg.InFlightPerConn),
		hostSlots:  make(chan struct{}, hostInFlight),
		out:        make(chan outFrame, h.cfg.InFlightPerConn+hostInFlight),
		closed:     make(chan struct{}),
		writerQuit: make(chan struct{}),
	}
	c.lastRead.Store(c.since.UnixNano())
	return c
}

// close closes the socket once; the first reason is the one logged and counted.
func (c *conn) close(label, detail string) {
	c.closeOnce.Do(func() {
		close(c.closed)
		_ = c.nc.Close()
		c.h.metrics.conns.WithLabelValues(c.l.name).Dec()
		c.h.metrics.closed.WithLabelValues(c.l.name, label).Inc()
		ev := c.log.Info()
		if label == "protocol" || label == "unreadable" || label == "write_timeout" || label == "write_error" || label == "echo_timeout" {
			ev = c.log.Warn()
		}
		ev.Str("event", "closed").Str("reason", label).Str("detail", detail).
			Uint64("frames_in", c.framesIn.Load()).Uint64("frames_out", c.framesOut.Load()).
			Dur("open", time.Since(c.since)).Msg("connection closed")
	})
}

func (c *conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// stopReading makes a blocked read return now (Shutdown). The reader checks
// Host.draining after setting its own deadline, so this cannot be overwritten unseen.
func (c *conn) stopReading() { _ = c.nc.SetReadDeadline(time.Unix(1, 0)) }

// readLoop reads frames until the peer goes, a protocol violation, a write failure or
// Shutdown; then it waits for the requests already read to be answered and closes.
func (c *conn) readLoop() {
	defer c.h.wg.Done()
	fr := c.l.dialect.Framer()
	br := bufio.NewReaderSize(c.nc, 16<<10)
	buf := make([]byte, 0, 1024)
	unreadable := 0
	label, detail, now := "", "", false // now: close at once, without draining
	for {
		var dl time.Time
		if c.h.cfg.ReadIdleTimeout > 0 {
			dl = time.Now().Add(c.h.cfg.ReadIdleTimeout)
		}
		_ = c.nc.SetReadDeadline(dl)
		if c.h.draining.Load() {
			label, detail = "shutdown", "host shutting down"
			break
		}
		frame, err := fr.ReadFrame(br, buf)
		if err != nil {
			label, detail, now = c.readError(err)
			break
		}
		if cap(frame) > cap(buf) {
			buf = frame[:0]
		}
		read := time.Now()
		c.lastRead.Store(read.UnixNano())
		c.framesIn.Add(1)
		mti, stan, err := c.l.dialect.Scan(frame)
		if err != nil {
			unreadable++
			c.h.metrics.dropped.WithLabelValues(c.l.name, "unreadable").Inc()
			// Never the bytes: only their length and the reason (specs errors hold none).
			c.log.Warn().Str("event", "dropped").Str("reason", "unreadable").Str("error", err.Error()).
				Int("len", len(frame)).Int("in_a_row", unreadable).Msg("frame dropped: MTI or DE 11 unreadable")
			if unreadable >= maxUnreadable {
				label, detail, now = "unreadable", "three unreadable frames in a row", true
				break
			}
			continue
		}
		unreadable = 0
		if ResponseMTI(mti) == "" && c.answered(mti, stan, frame) {
			continue
		}
		if !c.acquire(c.slots) {
			label, detail = "closed", "closed while waiting for an in-flight slot"
			break
		}
		c.pending.Add(1)
		in := &inbound{mti: mti, stan: stan, read: read, frame: c.h.getBuf()}
		*in.frame = append((*in.frame)[:0], frame...)
		if p := c.signedOnAs.Load(); p != nil {
			in.signedOnAs = *p
		}
		in.termSignedOn = c.termSignedOn.Load()
		if mti == "0800" {
			// Network management is served in order by the reader itself, so that a
			// request read after a sign-on sees it.
			c.deliver(c.process(in))
			continue
		}
		if !c.acquire(c.h.workers) {
			c.h.putBuf(in.frame)
			c.deliver(nil)
			label, detail = "closed", "closed while waiting for a handler"
			break
		}
		c.h.dispatch(c, in)
	}
	if now {
		c.close(label, detail)
	}
	c.pending.Wait()
	c.close(label, detail)
	close(c.writerQuit)
	c.h.forget(c)
}

// acquire takes a place in sem, unless the connection closes first.
func (c *conn) acquire(sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-c.closed:
		return false
	}
}

// readError classifies why reading stopped: a close label, a detail for the log, and
// whether to close at once (protocol violations) rather than after draining.
func (c *conn) readError(err error) (label, detail string, now bool) {
	switch {
	case errors.Is(err, specs.ErrFrameEmpty), errors.Is(err, specs.ErrFrameTooLarge), errors.Is(err, specs.ErrFrameHeader):
		return "protocol", err.Error(), true
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.h.draining.Load() {
			return "shutdown", "host shutting down", false
		}
		return "idle", "no frame within the read idle timeout", false
	case errors.Is(err, io.EOF):
		return "peer", "closed by peer", false
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "peer", "closed by peer within a frame", false
	case errors.Is(err, net.ErrClosed):
		return "closed", "socket closed", false
	}
	return "read_error", err.Error(), false
}

// serve runs one request on a handler-pool place (taken by the reader).
func (c *conn) serve(in *inbound) {
	out := c.process(in)
	<-c.h.workers // free the pool before queueing: writing is the connection's own business
	c.deliver(out)
}

// deliver queues a response frame for the writer (never blocks: see conn), or gives
// back the slot of a request that gets no response.
func (c *conn) deliver(frame *[]byte) {
	if frame == nil {
		<-c.slots
		c.pending.Done()
		return
	}
	c.out <- outFrame{b: frame}
}

// writeLoop writes queued responses, several in one write when they queue up, each
// write under the write deadline. A failed write closes the connection; what is
// queued after that is discarded (and its slots given back) until the reader quits.
func (c *conn) writeLoop() {
	defer c.h.wg.Done()
	wbuf := make([]byte, 0, 4096)
	for {
		var f outFrame
		select {
		case f = <-c.out:
		case <-c.writerQuit:
			return
		}
		n, nh := 0, 0
		wbuf = wbuf[:0]
		yielded := false
		for {
			wbuf = append(wbuf, *f.b...)
			c.h.putBuf(f.b)
			if f.host {
				nh++
			} else {
				n++
			}
			if len(wbuf) >= writeCoalesce {
				break
			}
			select {
			case f = <-c.out:
				continue
			default:
			}
			if !yielded {
				// Responses of one group commit finish together on other handler
				// goroutines: let those that are runnable queue theirs, and write them
				// all in one system call (without this, ≈ 1.1 socket writes per response
				// at 4x64). Costs nothing when nothing else is runnable.
				yielded = true
				runtime.Gosched()
				select {
				case f = <-c.out:
					continue
				default:
				}
			}
			break
		}
		if !c.isClosed() {
			start := time.Now()
			c.writing.Store(start.UnixNano())
			_ = c.nc.SetWriteDeadline(start.Add(c.h.cfg.WriteTimeout))
			_, err := c.nc.Write(wbuf)
			c.writing.Store(0)
			switch {
			case err == nil:
				c.framesOut.Add(uint64(n + nh))
			case errors.Is(err, os.ErrDeadlineExceeded):
				c.close("write_timeout", "peer did not read within the write timeout")
			default:
				c.close("write_error", err.Error())
			}
		}
		if cap(wbuf) > 4*writeCoalesce {
			wbuf = make([]byte, 0, 4096)
		}
		for range n {
			<-c.slots
			c.pending.Done()
		}
		for range nh {
			<-c.hostSlots
		}
	}
}
