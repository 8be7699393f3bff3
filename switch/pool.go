package hostswitch

import (
	"time"

	"github.com/billswitch/billswitch/specs"
)

// job is one request handed from a reader to a handler goroutine.
type job struct {
	c  *conn
	in *inbound
}

// workerIdle is how long an idle handler goroutine waits for the next request before
// it exits.
const workerIdle = 10 * time.Second

// dispatch runs in on a handler goroutine. The caller holds a place in h.workers (the
// pool's bound); the goroutine gives it back. An idle goroutine takes the request when
// there is one, else a new one starts. Handler goroutines are kept: a new goroutine per
// request grew its stack again for every request (the payment path through Pebble is
// deep), which cost ≈ 12 % of the host's CPU under load.
func (h *Host) dispatch(c *conn, in *inbound) {
	j := job{c: c, in: in}
	select {
	case h.jobs <- j:
	default:
		h.wg.Add(1)
		go h.worker(j)
	}
}

// worker serves requests until it has been idle for workerIdle or the host shuts down.
func (h *Host) worker(j job) {
	defer h.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		j.c.serve(j.in)
		j = job{}
		idle.Reset(workerIdle)
		select {
		case j = <-h.jobs:
		case <-idle.C:
			return
		case <-h.stopped:
			return
		}
	}
}

// getBuf and putBuf recycle frame-sized buffers (request copies, packed responses).
func (h *Host) getBuf() *[]byte {
	if b, ok := h.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (h *Host) putBuf(b *[]byte) {
	if b == nil || cap(*b) > 4*specs.MaxFrame {
		return
	}
	h.bufs.Put(b)
}
