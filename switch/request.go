package hostswitch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
)

// Errors of Request.
var (
	ErrNoConn     = errors.New("hostswitch: no such connection")
	ErrConnClosed = errors.New("hostswitch: connection closed before the response")
)

// Request sends a host-initiated request (an echo, a cutover announcement, a card
// authorization to a PC that dialled in) on connection id and waits for its response,
// matched by response MTI and DE 11. The caller sets every field, DE 11 (six digits,
// unique among its requests in flight on that connection) included. ctx bounds the wait.
func (h *Host) Request(ctx context.Context, id terminals.ConnID, req *specs.Message) (*specs.Message, error) {
	h.mu.Lock()
	c := h.conns[id]
	h.mu.Unlock()
	if c == nil {
		return nil, ErrNoConn
	}
	return c.request(ctx, req)
}

func (c *conn) request(ctx context.Context, req *specs.Message) (*specs.Message, error) {
	respMTI := ResponseMTI(req.MTI)
	if respMTI == "" {
		return nil, fmt.Errorf("hostswitch: %q is not a request MTI", req.MTI)
	}
	if len(req.STAN) != 6 || !digits(req.STAN) {
		return nil, fmt.Errorf("hostswitch: DE 11 %q is not six digits", req.STAN)
	}
	d := c.l.dialect
	body, err := d.AppendPack(nil, req)
	if err != nil {
		return nil, fmt.Errorf("hostswitch: pack %s: %w", req.MTI, err)
	}
	buf := c.h.getBuf()
	frame, err := d.Framer().AppendFrame((*buf)[:0], body)
	if err != nil {
		c.h.putBuf(buf)
		return nil, fmt.Errorf("hostswitch: frame %s: %w", req.MTI, err)
	}
	*buf = frame

	key := respMTI + req.STAN
	ch := make(chan *specs.Message, 1)
	c.waitMu.Lock()
	if c.waiting == nil {
		c.waiting = map[string]chan *specs.Message{}
	}
	if _, dup := c.waiting[key]; dup {
		c.waitMu.Unlock()
		c.h.putBuf(buf)
		return nil, fmt.Errorf("hostswitch: a %s with DE 11 %s is already in flight on this connection", req.MTI, req.STAN)
	}
	c.waiting[key] = ch
	c.waitMu.Unlock()
	defer func() {
		c.waitMu.Lock()
		delete(c.waiting, key)
		c.waitMu.Unlock()
	}()

	start := time.Now()
	select {
	case c.hostSlots <- struct{}{}:
	case <-ctx.Done():
		c.h.putBuf(buf)
		return nil, ctx.Err()
	case <-c.closed:
		c.h.putBuf(buf)
		return nil, ErrConnClosed
	}
	c.out <- outFrame{b: buf, host: true}
	var resp *specs.Message
	select {
	case resp = <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.closed:
		err = ErrConnClosed
	}
	ev := c.log.Info()
	if err != nil {
		ev = c.log.Warn().Err(err)
	}
	ev = ev.Str("event", "host_request").Str("mti", req.MTI).Str("stan", req.STAN).
		Int64("latency_us", time.Since(start).Microseconds())
	if req.NetworkCode != "" {
		ev = ev.Str("de70", req.NetworkCode)
	}
	if req.PAN != "" {
		ev = ev.Str("pan", specs.MaskPAN(req.PAN))
	}
	rc := "none"
	if resp != nil {
		rc = rcLabel(resp.ResponseCode)
		ev = ev.Str("rc", resp.ResponseCode)
	}
	ev.Msg("host request")
	c.h.metrics.hostRequests.WithLabelValues(c.l.name, mtiLabel(req.MTI), rc).Inc()
	return resp, err
}

// answered hands a response frame to the host request waiting for it and reports
// whether one was.
func (c *conn) answered(mti, stan string, frame []byte) bool {
	key := mti + stan
	c.waitMu.Lock()
	ch, ok := c.waiting[key]
	if ok {
		delete(c.waiting, key)
	}
	c.waitMu.Unlock()
	if !ok {
		return false
	}
	m := &specs.Message{}
	if err := c.l.dialect.Unpack(frame, m); err != nil {
		c.log.Warn().Str("event", "dropped").Str("reason", "unreadable_response").Str("mti", mti).
			Str("stan", stan).Str("error", err.Error()).Msg("response to a host request does not unpack")
		c.h.metrics.dropped.WithLabelValues(c.l.name, "unreadable_response").Inc()
		m = &specs.Message{MTI: mti, STAN: stan} // the waiter learns it came, without DE 39
	}
	ch <- m
	return true
}
