package hostswitch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

// Host is the TCP host of both links. Build it with New, register handlers on Router,
// then Start; stop it with Shutdown.
type Host struct {
	cfg     Config
	dir     Directory
	links   *terminals.Links
	router  *Router
	metrics *Metrics
	log     zerolog.Logger
	bizDate func() string

	listeners []*listener
	workers   chan struct{} // shared handler pool (semaphore)
	jobs      chan job      // requests for idle handler goroutines (unbuffered)
	bufs      sync.Pool

	baseCtx context.Context // handlers' context; cancelled by a Shutdown out of grace
	cancel  context.CancelFunc

	nextID   atomic.Uint64
	stan     atomic.Uint32 // host-initiated requests' DE 11
	started  atomic.Bool
	ready    atomic.Bool
	draining atomic.Bool

	mu    sync.Mutex
	conns map[terminals.ConnID]*conn

	wg       sync.WaitGroup // accept loops, connections, handlers
	stopOnce sync.Once
	stopped  chan struct{} // closed when Shutdown begins
}

// link is one listening link.
type listener struct {
	link    specs.Link
	name    string // "pc" or "terminal": the metric and log label
	dialect Dialect
	addr    string
	ln      net.Listener
}

// New builds a host. Nothing listens before Start.
func New(cfg Config, deps Deps) (*Host, error) {
	cfg = cfg.withDefaults()
	if err := deps.validate(cfg); err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		dir:     deps.Directory,
		links:   deps.Links,
		router:  NewRouter(),
		metrics: deps.Metrics,
		log:     deps.Logger,
		bizDate: deps.BusinessDate,
		workers: make(chan struct{}, cfg.Workers),
		jobs:    make(chan job),
		conns:   map[terminals.ConnID]*conn{},
		stopped: make(chan struct{}),
	}
	if h.links == nil {
		h.links = terminals.NewLinks(nil)
	}
	if h.metrics == nil {
		h.metrics = NewMetrics()
	}
	if h.bizDate == nil {
		h.bizDate = func() string { return time.Now().Format("0102") }
	}
	h.baseCtx, h.cancel = context.WithCancel(context.Background())
	h.stan.Store(uint32(time.Now().UnixNano() / 1000 % 999999))
	if cfg.PCAddr != "" {
		h.listeners = append(h.listeners, &listener{link: specs.LinkPC, name: "pc", dialect: deps.PC, addr: cfg.PCAddr})
	}
	if cfg.TerminalAddr != "" {
		h.listeners = append(h.listeners, &listener{link: specs.LinkTerminal, name: "terminal", dialect: deps.Terminal, addr: cfg.TerminalAddr})
	}
	for _, l := range h.listeners {
		h.metrics.conns.WithLabelValues(l.name).Set(0)
	}
	return h, nil
}

// Router is where handlers are registered.
func (h *Host) Router() *Router { return h.router }

// Links is the record of PC connections and their sign-on.
func (h *Host) Links() *terminals.Links { return h.links }

// Metrics are the host's metrics.
func (h *Host) Metrics() *Metrics { return h.metrics }

// MetricsHandler serves /metrics, /healthz and /readyz (ready: listening and not
// shutting down) for the admin HTTP port.
func (h *Host) MetricsHandler() http.Handler { return adminHandler(h.metrics, &h.ready) }

// Start binds every link's listener and starts accepting. It returns once all are
// listening, or the first bind error (then nothing listens).
func (h *Host) Start(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("hostswitch: started twice")
	}
	var lc net.ListenConfig
	for i, l := range h.listeners {
		ln, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			for _, p := range h.listeners[:i] {
				_ = p.ln.Close()
			}
			return fmt.Errorf("hostswitch: %s link: %w", l.name, err)
		}
		l.ln = ln
	}
	for _, l := range h.listeners {
		h.log.Info().Str("event", "listening").Str("link", l.name).Str("dialect", l.dialect.Name()).
			Str("addr", l.ln.Addr().String()).Msg("listening")
		h.wg.Add(1)
		go h.acceptLoop(l)
	}
	if h.cfg.PCAddr != "" && h.cfg.EchoInterval >= 0 {
		h.wg.Add(1)
		go h.echoLoop()
	}
	h.ready.Store(true)
	return nil
}

// Addrs returns the bound address of each link (useful when configured with port 0).
func (h *Host) Addrs() map[specs.Link]net.Addr {
	out := map[specs.Link]net.Addr{}
	for _, l := range h.listeners {
		if l.ln != nil {
			out[l.link] = l.ln.Addr()
		}
	}
	return out
}

// Addr returns the bound address of one link as "host:port", or "" when it is off.
func (h *Host) Addr(link specs.Link) string {
	if a, ok := h.Addrs()[link]; ok {
		return a.String()
	}
	return ""
}

// acceptLoop accepts until Shutdown. An Accept error is logged and retried after a
// backoff (5 ms doubling to 1 s); only Shutdown ends the loop.
func (h *Host) acceptLoop(l *listener) {
	defer h.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if h.draining.Load() {
				return
			}
			h.metrics.acceptErrs.WithLabelValues(l.name).Inc()
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff *= 2; backoff > time.Second {
				backoff = time.Second
			}
			h.log.Error().Str("event", "accept_error").Str("link", l.name).Err(err).
				Dur("retry_in", backoff).Msg("accept failed")
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-h.stopped:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		h.admit(l, nc)
	}
}

// admit registers and starts a new connection, or refuses it over the limit.
func (h *Host) admit(l *listener, nc net.Conn) {
	id := terminals.ConnID(h.nextID.Add(1))
	remote := nc.RemoteAddr().String()
	h.mu.Lock()
	reason := ""
	switch {
	case h.draining.Load():
		reason = "shutting down"
	case len(h.conns) >= h.cfg.MaxConns:
		reason = "connection limit"
	}
	if reason != "" {
		h.mu.Unlock()
		_ = nc.Close()
		h.metrics.refused.WithLabelValues(l.name, reason).Inc()
		h.log.Warn().Str("event", "refused").Str("link", l.name).Uint64("conn", uint64(id)).
			Str("remote", remote).Str("reason", reason).Int("limit", h.cfg.MaxConns).Msg("connection refused")
		return
	}
	c := newConn(h, l, nc, id, remote)
	h.conns[id] = c
	h.wg.Add(2) // reader, writer
	h.mu.Unlock()

	if tc, ok := nc.(*net.TCPConn); ok && h.cfg.WriteBuffer > 0 {
		_ = tc.SetWriteBuffer(h.cfg.WriteBuffer)
	}
	if l.link == specs.LinkPC {
		_ = h.links.Up("", id, remote)
	}
	h.metrics.accepted.WithLabelValues(l.name).Inc()
	h.metrics.conns.WithLabelValues(l.name).Inc()
	h.log.Info().Str("event", "accepted").Str("link", l.name).Uint64("conn", uint64(id)).
		Str("remote", remote).Msg("connection accepted")
	go c.writeLoop()
	go c.readLoop()
}

// forget removes a closed connection from the registry.
func (h *Host) forget(c *conn) {
	h.mu.Lock()
	delete(h.conns, c.id)
	h.mu.Unlock()
	if c.l.link == specs.LinkPC {
		h.links.Down(c.id)
	}
}

// ConnCount is the number of live connections.
func (h *Host) ConnCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Shutdown stops accepting, stops reading new frames, lets every request already read
// finish and its response be written, then closes the connections. When ctx ends (or
// Config.ShutdownGrace passes) first, handlers' contexts are cancelled and every
// connection is closed at once; Shutdown then returns ctx's error (or
// context.DeadlineExceeded for the grace).
func (h *Host) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() {
		h.ready.Store(false)
		h.draining.Store(true)
		close(h.stopped)
		for _, l := range h.listeners {
			if l.ln != nil {
				_ = l.ln.Close()
			}
		}
		h.mu.Lock()
		for _, c := range h.conns {
			c.stopReading()
		}
		h.mu.Unlock()
		h.log.Info().Str("event", "shutdown").Msg("shutting down: draining connections")
	})
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	grace := time.NewTimer(h.cfg.ShutdownGrace)
	defer grace.Stop()
	var err error
	select {
	case <-done:
		h.cancel()
		h.log.Info().Str("event", "shutdown_done").Msg("all connections drained")
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-grace.C:
		err = context.DeadlineExceeded
	}
	h.cancel()
	h.mu.Lock()
	n := len(h.conns)
	for _, c := range h.conns {
		c.close("forced", "shutdown grace over")
	}
	h.mu.Unlock()
	h.log.Warn().Str("event", "shutdown_forced").Int("conns", n).Err(err).Msg("shutdown grace over: connections closed")
	// Readers and writers end promptly once their sockets are closed; handlers that
	// ignore their cancelled context are not waited for longer than this.
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return err
}
