package pcclient

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
)

// Store is what the client needs of the ledger: durable writes under the switch's key
// prefixes and reads of durable state. *ledger.Store is one.
type Store interface {
	Submit(ctx context.Context, cmd *ledger.Command) (ledger.Outcome, error)
	View() (ledger.Reader, error)
}

var _ Store = (*ledger.Store)(nil)

// Key prefixes of the records this package keeps in the ledger's Pebble database (the
// switch's range is 0x40–0x4F; see docs/decisions-pcclient.md).
const (
	// PrefixAdvice: 0x4C | institution (11 digits) | seq u64 → one pending reversal
	// advice (JSON). Deleted when its 0430 arrives.
	PrefixAdvice byte = 0x4C
	// PrefixSTAN: 0x4D | institution (11 digits) → u64 count of STANs reserved so far.
	PrefixSTAN byte = 0x4D
)

// Defaults.
const (
	DefaultWriteTimeout    = 5 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultReconnectMin    = 500 * time.Millisecond
	DefaultReconnectMax    = 30 * time.Second
	DefaultAdviceRetryMin  = 1 * time.Second
	DefaultAdviceRetryMax  = 60 * time.Second
	DefaultSTANBlock       = 1000
	DefaultProcessingCode  = "500000"
	DefaultMerchantType    = "4900"
	defaultInboundDeadline = 30 * time.Second
)

// Peer is what an inbound handler knows of the connection a PC's request came on.
type Peer struct {
	Institution string           // the PC this client dialled
	Conn        terminals.ConnID // the connection's id (registered in Config.Links)
	Remote      string           // the address dialled
	SignedOn    bool             // the host's sign-on on this connection was answered 00
}

// InboundHandler serves a request the PC sends on a connection the host dialled (the
// link is full duplex). It returns the response (MTI and DE 11 are filled in when left
// empty); nil sends nothing. An error is answered 96. req belongs to the handler for the
// call only.
type InboundHandler func(ctx context.Context, p Peer, req *specs.Message) (*specs.Message, error)

// Config configures the clients. HostID is required; everything else has a default.
type Config struct {
	// HostID is the host's acquiring institution id (DE 32 of every request it sends,
	// and DE 32 inside DE 90 of its advices): 1–11 digits.
	HostID string
	// Dialect is the pc87a dialect; nil builds one.
	Dialect *specs.Dialect
	// Inbound serves the PC's requests on dialled connections; nil answers 0800 with
	// 0810/00 and everything else with its response MTI and 91.
	Inbound InboundHandler
	// Links, when set, records each dialled connection (Up, SignOn on the PC's 00 to
	// the host's 0800/001, Down); ConnID then must allocate ids unique in that Links.
	Links  *terminals.Links
	ConnID func() terminals.ConnID
	// Now is the clock (DE 7, RRN); nil is time.Now.
	Now func() time.Time
	// WriteTimeout bounds every socket write (default 5 s).
	WriteTimeout time.Duration
	// DialTimeout bounds a TCP connect (default 5 s).
	DialTimeout time.Duration
	// ReconnectMin/Max bound the capped exponential backoff between dials of one
	// address (defaults 0.5 s and 30 s); it restarts at Min after a connection that
	// signed on.
	ReconnectMin, ReconnectMax time.Duration
	// AdviceRetryMin/Max bound the backoff between transmissions of an unanswered
	// reversal advice (defaults 1 s and 60 s).
	AdviceRetryMin, AdviceRetryMax time.Duration
	// STANBlock is how many STANs are reserved durably at a time (default 1000).
	STANBlock int
	// WriteAhead makes every authorization crash-safe: before its 0200 is sent, the
	// reversal advice for it is written durably, marked in flight. A decline deletes
	// it; a timeout activates it (it is sent); an approval leaves it in flight until
	// the caller either deletes it in the same ledger command that posts the payment
	// (Client.CompletionWrite) or calls Complete or Reverse. On Start, every advice
	// still in flight — an authorization the host crashed during, or approved but never
	// posted — is activated and sent. Costs one synced write before each 0200 (group
	// committed). Only for callers that complete every approval: one that does not
	// would see all its approved authorizations reversed after a restart.
	WriteAhead bool
	// Logger gets one line per event; the zero Logger writes nothing.
	Logger zerolog.Logger
}

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("pcclient: bad configuration")

func (c Config) withDefaults() (Config, error) {
	if c.HostID == "" || len(c.HostID) > 11 || !allDigits(c.HostID) {
		return c, fmt.Errorf("%w: HostID %q must be 1-11 digits", ErrConfig, c.HostID)
	}
	if c.Dialect == nil {
		d, err := specs.NewPC87A()
		if err != nil {
			return c, err
		}
		c.Dialect = d
	}
	if c.Dialect.Link() != specs.LinkPC {
		return c, fmt.Errorf("%w: dialect %s is not the PC link's", ErrConfig, c.Dialect.Name())
	}
	if c.Links != nil && c.ConnID == nil {
		return c, fmt.Errorf("%w: Links without a ConnID allocator", ErrConfig)
	}
	if c.ConnID == nil {
		ctr := new(atomic.Uint64)
		c.ConnID = func() terminals.ConnID { return terminals.ConnID(ctr.Add(1)) }
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(DefaultReconnectMax, c.ReconnectMin)
	}
	if c.AdviceRetryMin <= 0 {
		c.AdviceRetryMin = DefaultAdviceRetryMin
	}
	if c.AdviceRetryMax < c.AdviceRetryMin {
		c.AdviceRetryMax = max(DefaultAdviceRetryMax, c.AdviceRetryMin)
	}
	if c.STANBlock <= 0 {
		c.STANBlock = DefaultSTANBlock
	}
	return c, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
