package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/billpay/clearing"
	"github.com/billswitch/billswitch/billpay/httpapi"
	"github.com/billswitch/billswitch/internal/httpcards"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// defaultGCPercent is the host's GOGC unless the environment sets one.
const defaultGCPercent = 400

// logFlushEvery bounds how long an info line waits in the log buffer.
const logFlushEvery = 50 * time.Millisecond

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: billswitch serve [flags]\n\nEach flag can also be set in the --config YAML file and by its BILLSWITCH_* variable.")
		fs.PrintDefaults()
	}
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	// One line per ISO message: buffered, written within logFlushEvery (warnings and
	// errors at once); see logWriter.
	lw := newLogWriter(stdout, logFlushEvery)
	defer lw.Close()
	log := newLogger(lw, cfg.LogLevel, cfg.LogFormat)
	if getenv("GOGC") == "" {
		// The host's live heap is small (≈ 10–30 MB; Pebble's cache and memtables are
		// not on it), so at the default GOGC=100 it collected ≈ 20 times a second under
		// load, ≈ 10 % of its CPU. GOGC (the environment variable) overrides this.
		debug.SetGCPercent(defaultGCPercent)
	}
	return serve(ctx, cfg, log, getenv, serveHooks{})
}

// serve runs the host until ctx ends, then shuts it down gracefully.
// serveHooks let `billswitch demo` run the same host with its own registry and learn
// where it listens.
type serveHooks struct {
	registry *terminals.Registry // nil: from cfg
	ready    func(readyInfo)     // called once every listener is up
}

// readyInfo is what a running host tells its hooks.
type readyInfo struct {
	PC, Term, HTTP, Admin string
	RegCode               string // the demo subscriber's code ("" without --demo)
}

func serve(parent context.Context, cfg Config, log zerolog.Logger, getenv func(string) string, hooks serveHooks) error {
	// Background loops (cutover, webhook delivery) run under ctx; every early return
	// cancels it before waiting for them.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	reg := hooks.registry
	if reg == nil {
		var err error
		if reg, err = loadRegistry(cfg); err != nil {
			return err
		}
	}
	tz, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return err
	}
	store, core, err := openCore(cfg.Data, cfg.Providers, cfg.Demo, tz, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error().Err(err).Msg("closing the ledger store")
		}
	}()
	var regCode string
	if cfg.Demo {
		code, err := billpay.SeedDemo(ctx, core)
		if err != nil {
			return fmt.Errorf("seeding the demo data: %w", err)
		}
		regCode = code
		log.Info().Str("regcode", code).Msg("demo subscriber registration code: " + code)
		if n := cfg.DemoLoadAccounts; n > 0 {
			if err := billpay.SeedDemoLoad(ctx, core, n); err != nil {
				return err
			}
			log.Info().Int("accounts", n).Str("first", strconv.Itoa(billpay.DemoLoadFirst)).
				Str("last", strconv.Itoa(billpay.DemoLoadFirst+n-1)).Msg("demo load accounts ready")
		}
	}
	pc, err := specs.NewPC87A()
	if err != nil {
		return err
	}
	term, err := specs.NewTerm87B()
	if err != nil {
		return err
	}
	businessDate := func() string { return fmt.Sprintf("%04d", uint32(store.BusinessDate())%10000) }
	links := terminals.NewLinks(time.Now)
	var connSeq atomic.Uint64
	var inbound pcclient.InboundHandler // bound below, once the router has its handlers
	clients, err := pcclient.New(pcclient.Config{
		HostID:  cfg.HostID,
		Dialect: pc,
		// Every authorization's reversal advice is durable before its 0200 goes; the
		// payment's own command ends it (switch/bills, billpay/httpapi), so a crash
		// never leaves a card charged without its payment.
		WriteAhead:   true,
		WriteTimeout: cfg.WriteTimeout,
		Links:        links,
		ConnID:       func() terminals.ConnID { return terminals.ConnID(1<<62 | connSeq.Add(1)) },
		Inbound: func(ctx context.Context, p pcclient.Peer, m *specs.Message) (*specs.Message, error) {
			return inbound(ctx, p, m)
		},
		Logger: log.With().Str("component", "pcclient").Logger(),
	}, reg, store)
	if err != nil {
		return err
	}
	host, err := hostswitch.New(hostswitch.Config{
		PCAddr:          cfg.PCAddr,
		TerminalAddr:    cfg.TermAddr,
		MaxConns:        cfg.MaxConns,
		Workers:         cfg.Workers,
		InFlightPerConn: cfg.InFlightPerConn,
		ReadIdleTimeout: idle(cfg.IdleTimeout),
		WriteTimeout:    cfg.WriteTimeout,
		ShutdownGrace:   cfg.ShutdownGrace,
		HostID:          cfg.HostID,
	}, hostswitch.Deps{
		PC:           pc,
		Terminal:     term,
		Directory:    reg,
		Links:        links,
		Logger:       log,
		BusinessDate: businessDate,
	})
	if err != nil {
		return err
	}
	registerLedgerMetrics(host.Metrics().Registry, store)
	if _, err := bills.Register(host.Router(), bills.Deps{
		Core:       core,
		Registry:   reg,
		Authorizer: bills.PCAuthorizer{Clients: clients},
		Logger:     log.With().Str("component", "bills").Logger(),
	}); err != nil {
		return err
	}
	inbound = bills.Inbound(host.Router(), reg, businessDate)
	clear := &clearingAfterCutover{core: core, store: store, dir: filepath.Join(cfg.Data, "clearing"), tz: tz, log: log, last: store.BusinessDate()}
	cut, err := bills.NewCutover(bills.CutoverConfig{
		// Every cutover goes through billpay's day gate, so no payment straddles it.
		Ledger:     clearing.GatedLedger{Ledger: store, Core: core},
		Announcers: []bills.Announcer{bills.HostAnnouncer{Host: host}, clients, clear},
		At:         cfg.CutoverAt,
		Location:   tz,
		Logger:     log.With().Str("component", "cutover").Logger(),
	})
	if err != nil {
		return err
	}
	// The PC clients outlive ctx: in-flight authorizations finish during the host's
	// graceful shutdown; the deferred Close stops them after it.
	if err := clients.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer clients.Close()
	if err := host.Start(ctx); err != nil {
		return err
	}
	cutDone := make(chan struct{})
	go func() { defer close(cutDone); _ = cut.Run(ctx) }()
	defer func() { cancel(); <-cutDone; clear.wait() }()

	admin, err := listenHTTP(cfg.AdminAddr, adminMux(host.MetricsHandler(), adminAPI{cut: cut, links: links, clients: clients, store: store}))
	if err != nil {
		_ = host.Shutdown(context.Background())
		return fmt.Errorf("admin listener: %w", err)
	}
	httpCfg, err := loadHTTPConfig(cfg, core, tz, getenv)
	if err != nil {
		_ = host.Shutdown(context.Background())
		admin.close()
		return err
	}
	apiHandler, dispatcher, err := httpapi.New(httpCfg, httpapi.Deps{
		Core:       core,
		Authorizer: httpcards.New(bills.PCAuthorizer{Clients: clients}, reg),
		Logger:     log.With().Str("component", "http").Logger(),
	})
	if err != nil {
		_ = host.Shutdown(context.Background())
		admin.close()
		return err
	}
	dispDone := make(chan struct{})
	go func() { defer close(dispDone); _ = dispatcher.Run(ctx) }()
	defer func() { cancel(); <-dispDone }()
	api, err := listenHTTP(cfg.HTTPAddr, apiHandler)
	if err != nil {
		_ = host.Shutdown(context.Background())
		admin.close()
		return fmt.Errorf("http listener: %w", err)
	}

	log.Info().
		Str("pc_addr", host.Addr(specs.LinkPC)).
		Str("term_addr", host.Addr(specs.LinkTerminal)).
		Str("http_addr", api.addr()).
		Str("admin_addr", admin.addr()).
		Str("data", cfg.Data).
		Bool("demo", cfg.Demo).
		Msg("listeners ready")
	if hooks.ready != nil {
		hooks.ready(readyInfo{PC: host.Addr(specs.LinkPC), Term: host.Addr(specs.LinkTerminal), HTTP: api.addr(), Admin: admin.addr(), RegCode: regCode})
	}

	<-ctx.Done()
	log.Info().Msg("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer scancel()
	err = host.Shutdown(sctx)
	api.shutdown(sctx)
	admin.shutdown(sctx)
	log.Info().Err(err).Msg("stopped")
	return err
}

func loadHTTPConfig(cfg Config, core *billpay.Core, tz *time.Location, getenv func(string) string) (httpapi.Config, error) {
	var c httpapi.Config
	var err error
	if cfg.HTTPConfig == "" && cfg.Demo {
		c = httpapi.DemoConfig(core.Registry())
	} else if cfg.HTTPConfig != "" {
		c, err = httpapi.LoadConfig(cfg.HTTPConfig, getenv)
		if err != nil {
			return c, err
		}
	}
	if c.Location == nil {
		c.Location = tz
	}
	return c, nil
}

func loadRegistry(cfg Config) (*terminals.Registry, error) {
	if cfg.Demo && cfg.Registry == "" {
		return terminals.Demo(), nil
	}
	return terminals.Load(cfg.Registry)
}

func idle(d time.Duration) time.Duration {
	if d == 0 {
		return -1 // never
	}
	return d
}

func adminMux(metrics http.Handler, api adminAPI) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", metrics) // /metrics, /healthz, /readyz
	mux.HandleFunc("POST /admin/cutover", api.cutover)
	mux.HandleFunc("GET /admin/links", api.linkState)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// httpServer is one HTTP listener; a zero one (address "") is off.
type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

func listenHTTP(addr string, h http.Handler) (*httpServer, error) {
	if addr == "" {
		return &httpServer{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return &httpServer{srv: srv, ln: ln}, nil
}

func (s *httpServer) addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *httpServer) shutdown(ctx context.Context) {
	if s.srv != nil {
		_ = s.srv.Shutdown(ctx)
	}
}

func (s *httpServer) close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// registerLedgerMetrics exports the sequencer's counters: commands per group (group
// commit efficiency) is billswitch_ledger_commands_total / billswitch_ledger_groups_total.
func registerLedgerMetrics(reg *prometheus.Registry, store *ledger.Store) {
	counter := func(name, help string, f func(ledger.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(store.Stats())) })
	}
	reg.MustRegister(
		counter("billswitch_ledger_groups_total", "Group commits synced by the ledger's sequencer.", func(s ledger.Stats) uint64 { return s.Groups }),
		counter("billswitch_ledger_commands_total", "Commands acknowledged by the ledger.", func(s ledger.Stats) uint64 { return s.Commands }),
		counter("billswitch_ledger_transfers_total", "Transfers committed.", func(s ledger.Stats) uint64 { return s.Transfers }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "billswitch_ledger_max_group", Help: "Largest group commit so far (commands)."},
			func() float64 { return float64(store.Stats().MaxGroup) }),
		newStorageCollector(store),
	)
}

// storageCollector exports Pebble's counters, read once per scrape.
type storageCollector struct {
	store                                               *ledger.Store
	hits, misses, bytes, l0, flushes, compactions, debt *prometheus.Desc
}

func newStorageCollector(store *ledger.Store) *storageCollector {
	return &storageCollector{store: store,
		hits:        prometheus.NewDesc("billswitch_storage_block_cache_hits_total", "Pebble block cache hits.", nil, nil),
		misses:      prometheus.NewDesc("billswitch_storage_block_cache_misses_total", "Pebble block cache misses (blocks read from the files).", nil, nil),
		bytes:       prometheus.NewDesc("billswitch_storage_block_cache_bytes", "Bytes of sstable blocks in Pebble's block cache.", nil, nil),
		l0:          prometheus.NewDesc("billswitch_storage_l0_files", "Sstables in Pebble's level 0.", nil, nil),
		flushes:     prometheus.NewDesc("billswitch_storage_flushes_total", "Pebble memtable flushes.", nil, nil),
		compactions: prometheus.NewDesc("billswitch_storage_compactions_total", "Pebble compactions.", nil, nil),
		debt:        prometheus.NewDesc("billswitch_storage_compaction_debt_bytes", "Pebble's estimate of bytes still to compact.", nil, nil),
	}
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.hits, c.misses, c.bytes, c.l0, c.flushes, c.compactions, c.debt} {
		ch <- d
	}
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.store.Storage()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.CacheHits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.CacheMisses))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(c.l0, prometheus.GaugeValue, float64(s.L0Files))
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(s.Flushes))
	ch <- prometheus.MustNewConstMetric(c.compactions, prometheus.CounterValue, float64(s.Compactions))
	ch <- prometheus.MustNewConstMetric(c.debt, prometheus.GaugeValue, float64(s.CompactionDebt))
}
