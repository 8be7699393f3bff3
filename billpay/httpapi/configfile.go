package httpapi

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/billswitch/billswitch/billpay"
)

// fileConfig is the HTTP adapter's configuration file (YAML). Every secret can be given
// inline (key:) or by the name of an environment variable (key_env:).
type fileConfig struct {
	ReceiptKey          string        `yaml:"receipt_key"`
	ReceiptKeyEnv       string        `yaml:"receipt_key_env"`
	PublicBaseURL       string        `yaml:"public_base_url"`
	RequireTLSForCards  *bool         `yaml:"require_tls_for_cards"`
	TrustForwardedProto bool          `yaml:"trust_forwarded_proto"`
	MaxBodyBytes        int64         `yaml:"max_body_bytes"`
	MaxUpsertBytes      int64         `yaml:"max_upsert_bytes"`
	RequestTimeout      time.Duration `yaml:"request_timeout"`
	HistoryDays         int           `yaml:"history_days"`
	MaxHistoryDays      int           `yaml:"max_history_days"`
	Timezone            string        `yaml:"timezone"`
	Clients             []struct {
		Name      string   `yaml:"name"`
		Key       string   `yaml:"key"`
		KeyEnv    string   `yaml:"key_env"`
		Channel   string   `yaml:"channel"`
		Acquirer  string   `yaml:"acquirer"`
		Terminal  string   `yaml:"terminal"`
		Terminals []string `yaml:"terminals"`
	} `yaml:"clients"`
	Operators []struct {
		Name   string `yaml:"name"`
		Key    string `yaml:"key"`
		KeyEnv string `yaml:"key_env"`
	} `yaml:"operators"`
	Providers []struct {
		Code             string `yaml:"code"`
		Key              string `yaml:"key"`
		KeyEnv           string `yaml:"key_env"`
		WebhookURL       string `yaml:"webhook_url"`
		WebhookSecret    string `yaml:"webhook_secret"`
		WebhookSecretEnv string `yaml:"webhook_secret_env"`
	} `yaml:"providers"`
	Webhook struct {
		PollInterval time.Duration `yaml:"poll_interval"`
		MinBackoff   time.Duration `yaml:"min_backoff"`
		MaxBackoff   time.Duration `yaml:"max_backoff"`
		Timeout      time.Duration `yaml:"timeout"`
		Batch        int           `yaml:"batch"`
	} `yaml:"webhook"`
}

// LoadConfig reads the adapter's configuration file (docs/decisions-http.md shows one).
// getenv resolves *_env secrets (nil: os.Getenv).
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(path, data, getenv)
}

// ParseConfig reads a configuration file's bytes; name is used in errors. Card data
// needs TLS unless the file says require_tls_for_cards: false.
func ParseConfig(name string, data []byte, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var f fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	secret := func(inline, env, what string) (string, error) {
		if inline != "" && env != "" {
			return "", fmt.Errorf("%s: %s: give the key inline or by environment variable, not both", name, what)
		}
		if env != "" {
			v := getenv(env)
			if v == "" {
				return "", fmt.Errorf("%s: %s: environment variable %s is empty", name, what, env)
			}
			return v, nil
		}
		return inline, nil
	}
	cfg := Config{PublicBaseURL: f.PublicBaseURL, RequireTLSForCards: true, TrustForwardedProto: f.TrustForwardedProto,
		MaxBodyBytes: f.MaxBodyBytes, MaxUpsertBytes: f.MaxUpsertBytes, RequestTimeout: f.RequestTimeout,
		HistoryDays: f.HistoryDays, MaxHistoryDays: f.MaxHistoryDays,
		Webhook: WebhookConfig{PollInterval: f.Webhook.PollInterval, MinBackoff: f.Webhook.MinBackoff, MaxBackoff: f.Webhook.MaxBackoff,
			Timeout: f.Webhook.Timeout, Batch: f.Webhook.Batch}}
	if f.RequireTLSForCards != nil {
		cfg.RequireTLSForCards = *f.RequireTLSForCards
	}
	rk, err := secret(f.ReceiptKey, f.ReceiptKeyEnv, "receipt_key")
	if err != nil {
		return Config{}, err
	}
	cfg.ReceiptKey = []byte(rk)
	if f.Timezone != "" {
		if cfg.Location, err = time.LoadLocation(f.Timezone); err != nil {
			return Config{}, fmt.Errorf("%s: timezone: %w", name, err)
		}
	}
	channels := map[string]billpay.Channel{"WEB": billpay.ChannelWeb, "KIOSK": billpay.ChannelKiosk, "CASHIER": billpay.ChannelCashier}
	for _, c := range f.Clients {
		ch, ok := channels[strings.ToUpper(c.Channel)]
		if !ok {
			return Config{}, fmt.Errorf("%s: client %q: channel %q: want WEB, KIOSK or CASHIER", name, c.Name, c.Channel)
		}
		k, err := secret(c.Key, c.KeyEnv, "client "+c.Name)
		if err != nil {
			return Config{}, err
		}
		cfg.Clients = append(cfg.Clients, Client{Name: c.Name, Key: k, Channel: ch, Acquirer: c.Acquirer, Terminal: c.Terminal, Terminals: c.Terminals})
	}
	for _, o := range f.Operators {
		k, err := secret(o.Key, o.KeyEnv, "operator "+o.Name)
		if err != nil {
			return Config{}, err
		}
		cfg.Operators = append(cfg.Operators, Operator{Name: o.Name, Key: k})
	}
	for _, p := range f.Providers {
		k, err := secret(p.Key, p.KeyEnv, "provider "+p.Code)
		if err != nil {
			return Config{}, err
		}
		ws, err := secret(p.WebhookSecret, p.WebhookSecretEnv, "provider "+p.Code+" webhook secret")
		if err != nil {
			return Config{}, err
		}
		cfg.Providers = append(cfg.Providers, ProviderAccess{Code: p.Code, Key: k, WebhookURL: p.WebhookURL, WebhookSecret: ws})
	}
	c := cfg
	if err := c.defaults(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}
