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
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/terminals"
)

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
	log := newLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	return serve(ctx, cfg, log)
}

// serve runs the host until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg Config, log zerolog.Logger) error {
	reg, err := loadRegistry(cfg)
	if err != nil {
		return err
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
	if cfg.Demo {
		code, err := billpay.SeedDemo(ctx, core)
		if err != nil {
			return fmt.Errorf("seeding the demo data: %w", err)
		}
		log.Info().Str("regcode", code).Msg("demo subscriber registration code: " + code)
	}
	pc, err := specs.NewPC87A()
	if err != nil {
		return err
	}
	term, err := specs.NewTerm87B()
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
	}, hostswitch.Deps{
		PC:        pc,
		Terminal:  term,
		Directory: reg,
		Logger:    log,
		BusinessDate: func() string {
			return fmt.Sprintf("%04d", uint32(store.BusinessDate())%10000)
		},
	})
	if err != nil {
		return err
	}
	if err := host.Start(ctx); err != nil {
		return err
	}

	admin, err := listenHTTP(cfg.AdminAddr, adminMux(host.MetricsHandler()))
	if err != nil {
		_ = host.Shutdown(context.Background())
		return fmt.Errorf("admin listener: %w", err)
	}
	api, err := listenHTTP(cfg.HTTPAddr, http.NotFoundHandler())
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

	<-ctx.Done()
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	err = host.Shutdown(sctx)
	api.shutdown(sctx)
	admin.shutdown(sctx)
	log.Info().Err(err).Msg("stopped")
	return err
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

func adminMux(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", metrics) // /metrics, /healthz, /readyz
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
