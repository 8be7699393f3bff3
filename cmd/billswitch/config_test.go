package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(yamlPath, []byte("pc_addr: 127.0.0.1:1111\nterm_addr: 127.0.0.1:2222\nwrite_timeout: 3s\ndemo: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("pc_adr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(Config) string
		wantErr string
	}{
		{name: "defaults with demo", args: []string{"--demo"}, check: func(c Config) string {
			if c.PCAddr != "127.0.0.1:8583" || c.TermAddr != "127.0.0.1:8584" || !c.Demo || c.WriteTimeout != 5*time.Second {
				return "defaults not applied"
			}
			return ""
		}},
		{name: "yaml", args: []string{"--config", yamlPath}, check: func(c Config) string {
			if c.PCAddr != "127.0.0.1:1111" || c.WriteTimeout != 3*time.Second || !c.Demo {
				return "yaml not applied"
			}
			return ""
		}},
		{name: "env over yaml", args: []string{"--config", yamlPath}, env: map[string]string{"BILLSWITCH_PC_ADDR": "127.0.0.1:3333"}, check: func(c Config) string {
			if c.PCAddr != "127.0.0.1:3333" || c.TermAddr != "127.0.0.1:2222" {
				return "env did not win over yaml"
			}
			return ""
		}},
		{name: "flag over env", args: []string{"--config", yamlPath, "--pc-addr", "127.0.0.1:4444"}, env: map[string]string{"BILLSWITCH_PC_ADDR": "127.0.0.1:3333"}, check: func(c Config) string {
			if c.PCAddr != "127.0.0.1:4444" {
				return "flag did not win over env"
			}
			return ""
		}},
		{name: "config from env", env: map[string]string{"BILLSWITCH_CONFIG": yamlPath}, check: func(c Config) string {
			if c.PCAddr != "127.0.0.1:1111" {
				return "BILLSWITCH_CONFIG ignored"
			}
			return ""
		}},
		{name: "unknown yaml key", args: []string{"--config", bad}, wantErr: "pc_adr"},
		{name: "bad env int", args: []string{"--demo"}, env: map[string]string{"BILLSWITCH_WORKERS": "many"}, wantErr: "BILLSWITCH_WORKERS"},
		{name: "bad port", args: []string{"--demo", "--pc-addr", "127.0.0.1:99999"}, wantErr: "pc_addr"},
		{name: "no registry without demo", args: nil, wantErr: "required without --demo"},
		{name: "bad timezone", args: []string{"--demo", "--timezone", "Mars/Olympus"}, wantErr: "timezone"},
		{name: "stray argument", args: []string{"--demo", "extra"}, wantErr: "unexpected arguments"},
		{name: "demo load accounts", args: []string{"--demo", "--demo-load-accounts", "1000"}, check: func(c Config) string {
			if c.DemoLoadAccounts != 1000 {
				return "demo-load-accounts not applied"
			}
			return ""
		}},
		{name: "demo load accounts need demo", args: []string{"--demo-load-accounts", "10", "--registry", "r.yaml", "--providers", "p.yaml", "--http-addr", ""}, wantErr: "needs demo"},
		{name: "demo load accounts bounded", args: []string{"--demo", "--demo-load-accounts", "-1"}, wantErr: "demo_load_accounts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg, err := loadConfig(fs, tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(cfg); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}
