package httpapi

import (
	"strings"
	"testing"
	"time"
)

const sampleConfig = `
receipt_key_env: RECEIPT_KEY
public_base_url: https://pay.example.az
request_timeout: 20s
timezone: Asia/Baku
clients:
  - {name: web, key_env: WEB_KEY, channel: WEB, acquirer: WEBPORTAL}
  - {name: kiosks, key: kiosk-key-0123456, channel: kiosk, acquirer: KIOSKNET, terminal: K0000001, terminals: ["K*", T0000009]}
operators:
  - {name: ops, key: operator-key-0123}
providers:
  - {code: AZERISIQ, key: azerisiq-key-0123, webhook_url: "https://azerisiq.example/notices", webhook_secret: s}
webhook: {max_backoff: 5m, batch: 50}
`

func TestParseConfig(t *testing.T) {
	env := map[string]string{"RECEIPT_KEY": "0123456789abcdef0123", "WEB_KEY": "web-key-0123456789"}
	cfg, err := ParseConfig("http.yaml", []byte(sampleConfig), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.RequireTLSForCards || string(cfg.ReceiptKey) != env["RECEIPT_KEY"] || len(cfg.Clients) != 2 || cfg.Clients[0].Key != env["WEB_KEY"] ||
		cfg.Clients[1].Channel.String() != "KIOSK" || cfg.RequestTimeout != 20*time.Second || cfg.Webhook.MaxBackoff != 5*time.Minute ||
		cfg.Providers[0].WebhookURL == "" || cfg.Location.String() != "Asia/Baku" ||
		!cfg.Clients[1].allowsTerminal("K0000042") || !cfg.Clients[1].allowsTerminal("T0000009") || cfg.Clients[1].allowsTerminal("T0000001") {
		t.Fatalf("config %+v", cfg)
	}
	for _, c := range []struct{ name, edit, want string }{
		{"unknown field", sampleConfig + "colour: blue\n", "colour"},
		{"bad channel", strings.Replace(sampleConfig, "channel: WEB", "channel: ATM", 1), "channel"},
		{"missing env", strings.Replace(sampleConfig, "WEB_KEY", "NOPE_KEY", 1), "NOPE_KEY"},
		{"short key", strings.Replace(sampleConfig, "operator-key-0123", "short", 1), "shorter"},
		{"bad webhook", strings.Replace(sampleConfig, "https://azerisiq.example/notices", "ftp://x", 1), "webhook"},
		{"shared key", strings.Replace(sampleConfig, "operator-key-0123", "kiosk-key-0123456", 1), "share"},
		{"empty terminals entry", strings.Replace(sampleConfig, `"K*"`, `""`, 1), "terminals entry"},
		{"terminals entry too long", strings.Replace(sampleConfig, `"K*"`, `K00000001`, 1), "terminals entry"},
		{"star inside a terminals entry", strings.Replace(sampleConfig, `"K*"`, `"K*1"`, 1), "terminals entry"},
	} {
		if _, err := ParseConfig("http.yaml", []byte(c.edit), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
