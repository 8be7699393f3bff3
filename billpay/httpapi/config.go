package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// Client is one channel client (the web portal, a kiosk fleet, a cashier desk) and the
// API key it authenticates with.
type Client struct {
	Name    string          // appears in logs and in the payment's idempotency namespace
	Key     string          // API key (Authorization: Bearer <key>)
	Channel billpay.Channel // ChannelWeb, ChannelKiosk or ChannelCashier
	// Acquirer is the agent that collects the client's cash (kiosk operator, bank);
	// card payments name the processing centre that authorized them instead.
	Acquirer string
	// Terminal is the default payment point of the client's payments (1–8
	// characters, it travels as DE 41 to a card's processing centre).
	Terminal string
	// Terminals are the other payment points a request of this client may name (a
	// kiosk fleet's ids); an entry ending in "*" names every id with that prefix. Cash
	// is booked to the named point's drawer, so a client may not name another's: a
	// payment point outside Terminals and Terminal is refused (403).
	Terminals []string
}

// allowsTerminal says whether c may book payments to payment point t.
func (c *Client) allowsTerminal(t string) bool {
	if t == c.Terminal {
		return true
	}
	for _, p := range c.Terminals {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(t, prefix) {
				return true
			}
		} else if p == t {
			return true
		}
	}
	return false
}

// Operator may reverse same-day payments.
type Operator struct {
	Name, Key string
}

// ProviderAccess is how a provider reaches the web service and how its notices reach it.
type ProviderAccess struct {
	Code string // the provider's code in the registry
	Key  string // API key; "" = only Ed25519-signed requests (the registry's key)
	// WebhookURL receives the provider's notices (POST, JSON); "" = the provider polls.
	WebhookURL string
	// WebhookSecret signs webhook bodies (X-Billswitch-Signature: sha256=<hex HMAC>).
	WebhookSecret string
}

// WebhookConfig tunes notice delivery.
type WebhookConfig struct {
	PollInterval time.Duration // look for new notices at least this often (default 500ms)
	MinBackoff   time.Duration // first retry after a failure (default 200ms)
	MaxBackoff   time.Duration // cap of the exponential backoff (default 1m)
	Timeout      time.Duration // per POST (default 10s)
	Batch        int           // notices per POST (default 100)
}

// Config configures the HTTP adapter. cmd builds it from flags and files.
type Config struct {
	Clients   []Client
	Operators []Operator
	Providers []ProviderAccess
	// ReceiptKey is the host's HMAC key of receipt verification codes (>= 16 bytes).
	ReceiptKey []byte
	// PublicBaseURL prefixes the verification URL printed in receipts' QR codes
	// ("https://pay.example.az"); "" = a relative URL.
	PublicBaseURL string
	// RequireTLSForCards refuses card data on a request that did not arrive over TLS
	// (r.TLS), or, with TrustForwardedProto, with "X-Forwarded-Proto: https" from the
	// TLS-terminating proxy in front. On in production; off only with --demo.
	RequireTLSForCards  bool
	TrustForwardedProto bool
	// MaxBodyBytes limits a channel request body (default 64 KiB); MaxUpsertBytes a
	// provider update (default 8 MiB).
	MaxBodyBytes, MaxUpsertBytes int64
	// RequestTimeout bounds each request's work (default 15s). cmd also sets the
	// http.Server's timeouts (docs/decisions-http.md).
	RequestTimeout time.Duration
	// HistoryDays is the default and the maximum span of a payment-history query
	// (default 31 and 366).
	HistoryDays, MaxHistoryDays int
	// Location renders receipt times (default UTC).
	Location *time.Location
	Webhook  WebhookConfig
}

// Demo keys: for --demo only.
const (
	DemoWebKey      = "demo-web-key"
	DemoKioskKey    = "demo-kiosk-key"
	DemoCashierKey  = "demo-cashier-key"
	DemoOperatorKey = "demo-operator-key"
	DemoReceiptKey  = "demo-receipt-key-not-for-production"
)

// DemoProviderKey is the demo API key of a provider ("demo-<code>-key").
func DemoProviderKey(code string) string { return "demo-" + code + "-key" }

// DemoConfig is the --demo configuration: demo keys for a web portal, a kiosk fleet, a
// cashier desk, an operator and each provider of reg (polling, no webhooks), card data
// accepted without TLS.
func DemoConfig(reg *billpay.Registry) Config {
	cfg := Config{
		Clients: []Client{
			{Name: "web", Key: DemoWebKey, Channel: billpay.ChannelWeb, Acquirer: "WEBPORTAL"},
			{Name: "kiosk", Key: DemoKioskKey, Channel: billpay.ChannelKiosk, Acquirer: "KIOSKNET", Terminal: "KIOSK001", Terminals: []string{"KIOSK*"}},
			{Name: "cashier", Key: DemoCashierKey, Channel: billpay.ChannelCashier, Acquirer: "CASHDESK", Terminal: "CASH0001"},
		},
		Operators:  []Operator{{Name: "operator", Key: DemoOperatorKey}},
		ReceiptKey: []byte(DemoReceiptKey),
	}
	for _, p := range reg.Providers() {
		cfg.Providers = append(cfg.Providers, ProviderAccess{Code: p.Code, Key: DemoProviderKey(p.Code)})
	}
	return cfg
}

// CardAuth is a card payment to authorize at the card's processing centre. PAN,
// Expiry and CVV are never logged or stored.
type CardAuth struct {
	PAN, Expiry, CVV string
	Amount           int64 // minor units
	Currency         uint16
	Terminal         string // the payment point (web portal / kiosk id)
	// Key identifies the payment (the channel's idempotency key, namespaced): the same
	// Key is the same payment.
	Key string
}

// CardResult is the processing centre's answer.
type CardResult struct {
	Approved     bool
	ResponseCode string // the PC's DE 39 ("00", "51", …; "91" no answer)
	AuthID       string
	Acquirer     string // the institution that authorized (the payment's acquirer)
	RRN, STAN    string
	// Completion are writes the payment's own command commits (the end of the
	// processing-centre client's write-ahead reversal advice, the switch's record of
	// the authorization), so that a crash can neither leave the authorization standing
	// without its payment nor reverse a posted one. With them, CompleteAuthorization
	// is not called.
	Completion []ledger.Write
	// Ref is the authorizer's own record of the authorization, handed back to
	// ReverseAuthorization and CompleteAuthorization (opaque to httpapi).
	Ref any
}

// CardAuthorizer asks the card's processing centre to authorize a payment; cmd wires
// it to the switch's PC client. It must not return an approval that came after its
// timeout; a non-nil error means no answer (the payment is not taken).
type CardAuthorizer interface {
	Authorize(ctx context.Context, a CardAuth) (CardResult, error)
}

// CardReverser is optionally implemented by a CardAuthorizer: the adapter calls it when
// the core declines a payment the processing centre had approved.
type CardReverser interface {
	ReverseAuthorization(ctx context.Context, a CardAuth, r CardResult) error
}

// CardCompleter is optionally implemented by a CardAuthorizer: the adapter calls it once
// the payment of an approved authorization is durably posted (e.g. to end the
// processing-centre client's write-ahead reversal advice).
type CardCompleter interface {
	CompleteAuthorization(ctx context.Context, a CardAuth, r CardResult) error
}

// Deps are the adapter's collaborators.
type Deps struct {
	Core       *billpay.Core
	Authorizer CardAuthorizer // nil: card payments are refused card_unavailable
	Logger     zerolog.Logger
	Clock      func() time.Time // default time.Now
	// HTTPClient posts webhooks (default: a client with WebhookConfig.Timeout).
	HTTPClient *http.Client
}

func (c *Config) defaults() error {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.MaxUpsertBytes <= 0 {
		c.MaxUpsertBytes = 8 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.HistoryDays <= 0 {
		c.HistoryDays = 31
	}
	if c.MaxHistoryDays <= 0 {
		c.MaxHistoryDays = 366
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	w := &c.Webhook
	if w.PollInterval <= 0 {
		w.PollInterval = 500 * time.Millisecond
	}
	if w.MinBackoff <= 0 {
		w.MinBackoff = 200 * time.Millisecond
	}
	if w.MaxBackoff <= 0 {
		w.MaxBackoff = time.Minute
	}
	if w.MaxBackoff < w.MinBackoff {
		w.MaxBackoff = w.MinBackoff
	}
	if w.Timeout <= 0 {
		w.Timeout = 10 * time.Second
	}
	if w.Batch <= 0 {
		w.Batch = 100
	}
	if len(c.ReceiptKey) < 16 {
		return errors.New("httpapi: ReceiptKey must be at least 16 bytes")
	}
	seen := map[string]string{}
	key := func(k, who string) error {
		if k == "" {
			return nil
		}
		if len(k) < 12 {
			return fmt.Errorf("httpapi: the API key of %s is shorter than 12 characters", who)
		}
		if prev, ok := seen[k]; ok {
			return fmt.Errorf("httpapi: %s and %s share an API key", prev, who)
		}
		seen[k] = who
		return nil
	}
	for _, cl := range c.Clients {
		switch cl.Channel {
		case billpay.ChannelWeb, billpay.ChannelKiosk, billpay.ChannelCashier:
		default:
			return fmt.Errorf("httpapi: client %s: channel %s is not an HTTP channel", cl.Name, cl.Channel)
		}
		if cl.Name == "" || cl.Key == "" || cl.Acquirer == "" {
			return fmt.Errorf("httpapi: client %q needs a name, a key and an acquirer", cl.Name)
		}
		if len(cl.Terminal) > 8 {
			return fmt.Errorf("httpapi: client %s: terminal %q is longer than 8 characters", cl.Name, cl.Terminal)
		}
		for _, t := range cl.Terminals {
			if id := strings.TrimSuffix(t, "*"); id == "" && t != "*" || len(id) > 8 || strings.Contains(id, "*") {
				return fmt.Errorf("httpapi: client %s: terminals entry %q: a payment point id of 1-8 characters, or a prefix of one followed by *", cl.Name, t)
			}
		}
		if err := key(cl.Key, "client "+cl.Name); err != nil {
			return err
		}
	}
	for _, op := range c.Operators {
		if op.Name == "" || op.Key == "" {
			return fmt.Errorf("httpapi: operator %q needs a name and a key", op.Name)
		}
		if err := key(op.Key, "operator "+op.Name); err != nil {
			return err
		}
	}
	for _, p := range c.Providers {
		if p.Code == "" {
			return errors.New("httpapi: a provider access without a code")
		}
		if err := key(p.Key, "provider "+p.Code); err != nil {
			return err
		}
		if p.WebhookURL != "" {
			u, err := url.Parse(p.WebhookURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("httpapi: provider %s: webhook URL %q is not an http(s) URL", p.Code, p.WebhookURL)
			}
		}
	}
	return nil
}
