package hostswitch

import (
	"fmt"
	"runtime"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

// Defaults of Config, applied by New to every zero field.
const (
	DefaultMaxConns        = 1024
	DefaultInFlightPerConn = 64
	DefaultReadIdleTimeout = 5 * time.Minute
	DefaultWriteTimeout    = 5 * time.Second
	DefaultShutdownGrace   = 10 * time.Second
	DefaultEchoTimeout     = 8 * time.Second
)

// DefaultWorkers is the default size of the shared handler pool: handlers mostly wait
// (for a group commit, for a processing centre), so it is a multiple of the CPUs.
func DefaultWorkers() int { return 64 * runtime.GOMAXPROCS(0) }

// Config is the host's network configuration. A zero field takes its default.
type Config struct {
	// PCAddr and TerminalAddr are the listen addresses of the two links ("host:port";
	// port 0 picks a free port, see Host.Addrs). An empty address leaves that link off.
	PCAddr       string
	TerminalAddr string

	// MaxConns caps the live connections of both links together. A connection over the
	// cap is accepted and closed at once (logged, counted as refused).
	MaxConns int
	// Workers is the size of the handler pool shared by every connection. When it is
	// full, readers wait: backpressure, never a dropped request.
	Workers int
	// InFlightPerConn caps the requests one connection may have between read and
	// written response. When it is reached that connection's reader waits.
	InFlightPerConn int
	// ReadIdleTimeout closes a connection on which no whole frame arrived for this long.
	// Negative: never.
	ReadIdleTimeout time.Duration
	// WriteTimeout is the deadline set before every socket write. A write that misses
	// it closes that connection (and only that one).
	WriteTimeout time.Duration
	// ShutdownGrace bounds Shutdown's wait for in-flight requests when its context has
	// no earlier deadline.
	ShutdownGrace time.Duration
	// WriteBuffer, when > 0, sets SO_SNDBUF of accepted connections (bytes).
	WriteBuffer int

	// HostID is DE 32 of the host's own requests (echo, cutover) on accepted PC
	// connections. Empty: DE 32 left out.
	HostID string
	// EchoInterval: a signed-on PC connection on which nothing was read for this long is
	// echoed (0800/301). 0: the institution's echo_interval from the registry (default
	// 60 s); negative: never.
	EchoInterval time.Duration
	// EchoTimeout: how long an echo or a cutover announcement waits for its 0810. 0: the
	// institution's timeout from the registry (default 8 s). An unanswered echo closes
	// the connection.
	EchoTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers()
	}
	if c.InFlightPerConn <= 0 {
		c.InFlightPerConn = DefaultInFlightPerConn
	}
	if c.ReadIdleTimeout == 0 {
		c.ReadIdleTimeout = DefaultReadIdleTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	return c
}

// Dialect is what the host needs of a link's ISO 8583 dialect; *specs.Dialect is one.
type Dialect interface {
	Name() string
	Link() specs.Link
	Framer() specs.Framer
	Unpack(raw []byte, m *specs.Message) error
	AppendPack(dst []byte, m *specs.Message) ([]byte, error)
	Scan(raw []byte) (mti, stan string, err error)
}

var _ Dialect = (*specs.Dialect)(nil)

// Directory is what the host needs of the institution and terminal registry;
// *terminals.Registry is one.
type Directory interface {
	Institution(id string) (*terminals.Institution, bool)
	Terminal(id string) (*terminals.Terminal, bool)
}

var _ Directory = (*terminals.Registry)(nil)

// Deps are the host's collaborators.
type Deps struct {
	// PC and Terminal are the dialects of the links; a link whose address is set needs
	// its dialect.
	PC       Dialect
	Terminal Dialect
	// Directory says which institutions and terminals exist. Required.
	Directory Directory
	// Links records PC connections and their sign-on for the rest of the host (who is
	// reachable, the admin endpoint). Nil: the host makes its own (see Host.Links).
	Links *terminals.Links
	// BusinessDate returns the host's business date as MMDD, for DE 15 of every
	// 0110/0210/0410/0430. Nil: today's date on the host's clock.
	BusinessDate func() string
	// Logger receives one JSON line per connection event and per message. The zero
	// Logger writes nothing.
	Logger zerolog.Logger
	// Metrics collects the host's metrics. Nil: New makes one (see Host.Metrics).
	Metrics *Metrics
}

func (d Deps) validate(cfg Config) error {
	if cfg.PCAddr != "" && d.PC == nil {
		return fmt.Errorf("hostswitch: PC address %q without a PC dialect", cfg.PCAddr)
	}
	if cfg.TerminalAddr != "" && d.Terminal == nil {
		return fmt.Errorf("hostswitch: terminal address %q without a terminal dialect", cfg.TerminalAddr)
	}
	if d.PC != nil && d.PC.Link() != specs.LinkPC {
		return fmt.Errorf("hostswitch: dialect %s is not a PC-link dialect", d.PC.Name())
	}
	if d.Terminal != nil && d.Terminal.Link() != specs.LinkTerminal {
		return fmt.Errorf("hostswitch: dialect %s is not a terminal-link dialect", d.Terminal.Name())
	}
	if d.Directory == nil {
		return fmt.Errorf("hostswitch: no directory")
	}
	if cfg.PCAddr == "" && cfg.TerminalAddr == "" {
		return fmt.Errorf("hostswitch: no link to listen on")
	}
	return nil
}
