package hostswitch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// hostMessage starts a host-initiated 0800: DE 7 now (UTC), a fresh DE 11, DE 32 the
// host's id when configured.
func (h *Host) hostMessage(code string) *specs.Message {
	return &specs.Message{
		MTI:                  "0800",
		TransmissionDateTime: time.Now().UTC().Format("0102150405"),
		STAN:                 h.nextSTAN(),
		AcquirerID:           h.cfg.HostID,
		NetworkCode:          code,
	}
}

// nextSTAN numbers host-initiated requests on accepted connections (1..999999, then
// round again). Responses are matched per connection by MTI and DE 11, so the numbers
// need only differ among the requests in flight.
func (h *Host) nextSTAN() string {
	n := h.stan.Add(1)%999999 + 1
	return fmt.Sprintf("%06d", n)
}

// echoSettings returns the idle interval and answer timeout of a PC signed on as inst.
func (h *Host) echoSettings(inst string) (interval, timeout time.Duration) {
	interval, timeout = h.cfg.EchoInterval, h.cfg.EchoTimeout
	if in, ok := h.dir.Institution(inst); ok {
		if interval == 0 {
			interval = in.EchoInterval
		}
		if timeout == 0 {
			timeout = in.Timeout
		}
	}
	if timeout <= 0 {
		timeout = DefaultEchoTimeout
	}
	return interval, timeout
}

// echoLoop echoes (0800/301) every signed-on PC connection on which nothing was read for
// its institution's echo interval (§3). An echo unanswered within the timeout closes
// the connection: the PC's side is gone or stuck.
func (h *Host) echoLoop() {
	defer h.wg.Done()
	tick := time.Second
	if h.cfg.EchoInterval > 0 && h.cfg.EchoInterval/2 < tick {
		tick = max(h.cfg.EchoInterval/2, 10*time.Millisecond)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-h.stopped:
			return
		case now := <-t.C:
			h.mu.Lock()
			var due []*conn
			for _, c := range h.conns {
				p := c.signedOnAs.Load()
				if p == nil || c.echoing.Load() {
					continue
				}
				interval, _ := h.echoSettings(*p)
				if interval <= 0 || now.Sub(time.Unix(0, c.lastRead.Load())) < interval {
					continue
				}
				c.echoing.Store(true)
				due = append(due, c)
			}
			if len(due) > 0 {
				h.wg.Add(len(due))
			}
			h.mu.Unlock()
			for _, c := range due {
				go c.echo()
			}
		}
	}
}

func (c *conn) echo() {
	defer c.h.wg.Done()
	defer c.echoing.Store(false)
	p := c.signedOnAs.Load()
	if p == nil {
		return
	}
	_, timeout := c.h.echoSettings(*p)
	ctx, cancel := context.WithTimeout(c.h.baseCtx, timeout)
	defer cancel()
	go func() { // Shutdown does not wait for an echo
		select {
		case <-c.h.stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := c.request(ctx, c.h.hostMessage("301"))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		c.close("echo_timeout", "echo unanswered within "+timeout.String())
	case err != nil:
	case resp.ResponseCode != rcApproved:
		c.log.Warn().Str("event", "echo").Str("rc", resp.ResponseCode).Msg("echo answered with an error code")
	}
}

// AnnounceCutover sends 0800/201 with DE 15 = date (the new business date, MMDD) on
// every accepted PC connection that is signed on, all at once, and waits for their
// 0810s (each up to its institution's timeout). It returns one error per connection that
// did not answer 00, joined; nil when none is signed on (PCs the host dials are
// announced by their own clients).
func (h *Host) AnnounceCutover(ctx context.Context, date string) error {
	if len(date) != 4 || !digits(date) {
		return fmt.Errorf("hostswitch: cutover date %q is not MMDD", date)
	}
	h.mu.Lock()
	var cs []*conn
	for _, c := range h.conns {
		if c.signedOnAs.Load() != nil {
			cs = append(cs, c)
		}
	}
	h.mu.Unlock()
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := c.signedOnAs.Load()
			if p == nil {
				return
			}
			_, timeout := h.echoSettings(*p)
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			m := h.hostMessage("201")
			m.SettlementDate = date
			resp, err := c.request(ctx, m)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("hostswitch: cutover to %s conn %d: %w", *p, c.id, err)
			case resp.ResponseCode != rcApproved:
				errs[i] = fmt.Errorf("hostswitch: cutover to %s conn %d answered %s", *p, c.id, strconv.Quote(resp.ResponseCode))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
