package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of `billswitch serve`'s configuration. Every field can be set, in
// rising precedence, by its default, the YAML file named by --config, a BILLSWITCH_*
// environment variable, and a command-line flag. The table in README.md is generated
// from the same names (yaml key, env var, flag).
type Config struct {
	Data       string `yaml:"data" env:"BILLSWITCH_DATA" flag:"data" usage:"Pebble data directory (created if missing)"`
	PCAddr     string `yaml:"pc_addr" env:"BILLSWITCH_PC_ADDR" flag:"pc-addr" usage:"listen address of the PC link (pc87a)"`
	TermAddr   string `yaml:"term_addr" env:"BILLSWITCH_TERM_ADDR" flag:"term-addr" usage:"listen address of the terminal link (term87b)"`
	HTTPAddr   string `yaml:"http_addr" env:"BILLSWITCH_HTTP_ADDR" flag:"http-addr" usage:"listen address of the HTTP bill-pay API"`
	AdminAddr  string `yaml:"admin_addr" env:"BILLSWITCH_ADMIN_ADDR" flag:"admin-addr" usage:"listen address of the admin port (/metrics, /healthz)"`
	Demo       bool   `yaml:"demo" env:"BILLSWITCH_DEMO" flag:"demo" usage:"use the embedded demo registry, providers and fixture data"`
	Registry   string `yaml:"registry" env:"BILLSWITCH_REGISTRY" flag:"registry" usage:"terminal and institution registry YAML (required without --demo)"`
	HTTPConfig string `yaml:"http_config" env:"BILLSWITCH_HTTP_CONFIG" flag:"http-config" usage:"HTTP API clients, operators, provider keys, webhooks (YAML; required without --demo)"`
	Providers  string `yaml:"providers" env:"BILLSWITCH_PROVIDERS" flag:"providers" usage:"provider registry YAML (required without --demo)"`
	// DemoLoadAccounts: with --demo, also N load-test accounts of AZERISIQ.
	DemoLoadAccounts int `yaml:"demo_load_accounts" env:"BILLSWITCH_DEMO_LOAD_ACCOUNTS" flag:"demo-load-accounts" usage:"with --demo: also N load-test accounts 9000000001… of AZERISIQ, each owing 100000.00 per service (0 = none)"`

	HostID string `yaml:"host_id" env:"BILLSWITCH_HOST_ID" flag:"host-id" usage:"the host's own acquiring institution id (DE 32 towards PCs), 1-11 digits"`

	LogLevel  string `yaml:"log_level" env:"BILLSWITCH_LOG_LEVEL" flag:"log-level" usage:"debug, info, warn or error"`
	LogFormat string `yaml:"log_format" env:"BILLSWITCH_LOG_FORMAT" flag:"log-format" usage:"json (one line per event) or console"`

	MaxConns        int           `yaml:"max_conns" env:"BILLSWITCH_MAX_CONNS" flag:"max-conns" usage:"live ISO connections allowed, both links together"`
	Workers         int           `yaml:"workers" env:"BILLSWITCH_WORKERS" flag:"workers" usage:"concurrent request handlers (backpressure beyond)"`
	InFlightPerConn int           `yaml:"inflight_per_conn" env:"BILLSWITCH_INFLIGHT_PER_CONN" flag:"inflight-per-conn" usage:"requests in flight per connection"`
	WriteTimeout    time.Duration `yaml:"write_timeout" env:"BILLSWITCH_WRITE_TIMEOUT" flag:"write-timeout" usage:"write deadline on every socket write"`
	IdleTimeout     time.Duration `yaml:"idle_timeout" env:"BILLSWITCH_IDLE_TIMEOUT" flag:"idle-timeout" usage:"close a connection silent for this long (0 = never)"`
	ShutdownGrace   time.Duration `yaml:"shutdown_grace" env:"BILLSWITCH_SHUTDOWN_GRACE" flag:"shutdown-grace" usage:"how long shutdown waits for in-flight requests"`
	CutoverAt       string        `yaml:"cutover_at" env:"BILLSWITCH_CUTOVER_AT" flag:"cutover-at" usage:"local time of the daily cutover, HH:MM"`
	Timezone        string        `yaml:"timezone" env:"BILLSWITCH_TIMEZONE" flag:"timezone" usage:"time zone of business days and cutover"`
}

// DefaultConfig is what `billswitch serve` uses when nothing is set.
func DefaultConfig() Config {
	return Config{
		Data:            "./data",
		PCAddr:          "127.0.0.1:8583",
		TermAddr:        "127.0.0.1:8584",
		HTTPAddr:        "127.0.0.1:8080",
		AdminAddr:       "127.0.0.1:9090",
		HostID:          "999999",
		LogLevel:        "info",
		LogFormat:       "json",
		MaxConns:        4096,
		Workers:         256,
		InFlightPerConn: 256,
		WriteTimeout:    5 * time.Second,
		IdleTimeout:     0,
		ShutdownGrace:   10 * time.Second,
		CutoverAt:       "00:00",
		Timezone:        "Asia/Baku",
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ name, v string }{{"pc_addr", c.PCAddr}, {"term_addr", c.TermAddr}, {"http_addr", c.HTTPAddr}, {"admin_addr", c.AdminAddr}} {
		if a.v == "" {
			continue // "" disables that listener
		}
		if i := strings.LastIndexByte(a.v, ':'); i < 0 {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", a.name, a.v))
		} else if p, err := strconv.Atoi(a.v[i+1:]); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %q: bad port", a.name, a.v))
		}
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: a directory is required"))
	}
	if !c.Demo && (c.Registry == "" || c.Providers == "") {
		errs = append(errs, errors.New("registry and providers files are required without --demo"))
	}
	if !c.Demo && c.HTTPAddr != "" && c.HTTPConfig == "" {
		errs = append(errs, errors.New("http_config is required without --demo when http_addr is set"))
	}
	if n := len(c.HostID); n < 1 || n > 11 || strings.Trim(c.HostID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("host_id %q: want 1-11 digits", c.HostID))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want json or console", c.LogFormat))
	}
	if c.DemoLoadAccounts < 0 || c.DemoLoadAccounts > 1_000_000 {
		errs = append(errs, fmt.Errorf("demo_load_accounts %d: want 0..1000000", c.DemoLoadAccounts))
	} else if c.DemoLoadAccounts > 0 && !c.Demo {
		errs = append(errs, errors.New("demo_load_accounts needs demo"))
	}
	if c.MaxConns < 1 || c.Workers < 1 || c.InFlightPerConn < 1 {
		errs = append(errs, errors.New("max_conns, workers and inflight_per_conn must be ≥ 1"))
	}
	if c.WriteTimeout <= 0 || c.ShutdownGrace <= 0 || c.IdleTimeout < 0 {
		errs = append(errs, errors.New("write_timeout and shutdown_grace must be > 0, idle_timeout ≥ 0"))
	}
	if _, err := time.Parse("15:04", c.CutoverAt); err != nil {
		errs = append(errs, fmt.Errorf("cutover_at %q: want HH:MM", c.CutoverAt))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone %q: %v", c.Timezone, err))
	}
	return errors.Join(errs...)
}

// loadConfig resolves the configuration of one invocation: defaults, then the YAML file
// (--config or BILLSWITCH_CONFIG), then BILLSWITCH_* variables, then flags given on the
// command line. getenv is os.Getenv outside tests.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	configPath := fs.String("config", getenv("BILLSWITCH_CONFIG"), "YAML configuration file")
	flagged := Config{}
	bindFlags(fs, &flagged, cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: %w", *configPath, err)
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	// Flags win, but only those given explicitly.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	copyFlagged(&cfg, &flagged, set)
	return cfg, cfg.Validate()
}

// The three functions below walk Config's fields by their tags. This runs once per
// process start, never on a request path.

func bindFlags(fs *flag.FlagSet, dst *Config, def Config) {
	dv := reflect.ValueOf(dst).Elem()
	defv := reflect.ValueOf(def)
	t := dv.Type()
	for i := 0; i < t.NumField(); i++ {
		name, usage := t.Field(i).Tag.Get("flag"), t.Field(i).Tag.Get("usage")
		usage = fmt.Sprintf("%s (env %s)", usage, t.Field(i).Tag.Get("env"))
		switch p := dv.Field(i).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, name, defv.Field(i).String(), usage)
		case *bool:
			fs.BoolVar(p, name, defv.Field(i).Bool(), usage)
		case *int:
			fs.IntVar(p, name, int(defv.Field(i).Int()), usage)
		case *time.Duration:
			fs.DurationVar(p, name, time.Duration(defv.Field(i).Int()), usage)
		}
	}
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	var errs []error
	for i := 0; i < t.NumField(); i++ {
		key := t.Field(i).Tag.Get("env")
		raw := getenv(key)
		if raw == "" {
			continue
		}
		switch p := v.Field(i).Addr().Interface().(type) {
		case *string:
			*p = raw
		case *bool:
			b, err := strconv.ParseBool(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want true or false", key, raw))
			}
			*p = b
		case *int:
			n, err := strconv.Atoi(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want an integer", key, raw))
			}
			*p = n
		case *time.Duration:
			d, err := time.ParseDuration(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration like 5s", key, raw))
			}
			*p = d
		}
	}
	return errors.Join(errs...)
}

func copyFlagged(dst, src *Config, set map[string]bool) {
	dv, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	t := dv.Type()
	for i := 0; i < t.NumField(); i++ {
		if set[t.Field(i).Tag.Get("flag")] {
			dv.Field(i).Set(sv.Field(i))
		}
	}
}
