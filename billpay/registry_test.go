package billpay

import (
	"bytes"
	"strings"
	"testing"
)

const registryYAML = `providers:
  - code: AZERISIQ
    name: Azərişıq
    currency: 944
    iban: AZ21NABZ00000000137010001944
    commission: {percent: "1.25", min: "0.10", max: "5.00"}
    topup_key: 00112233445566778899aabbccddeeff
    services:
      - {code: ELEC, name: Electricity, rule: ANY}
      - {code: GARBAGE, rule: AT_MOST}
      - {code: METER, prepaid: true, rule: EXACT}
  - code: AZERSU
    currency: 944
    public_key: 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
    services:
      - {code: SEWAGE, order: 2, rule: AT_LEAST}
      - {code: WATER, order: 1}
`

func TestParseRegistry(t *testing.T) {
	r, err := ParseRegistry("providers.yaml", []byte(registryYAML))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := r.Provider("AZERISIQ")
	if !ok || p.Commission != (Commission{PercentE4: 12500, Min: 10, Max: 500}) || len(p.TopUpKey) != 16 || p.PublicKey != nil {
		t.Fatalf("AZERISIQ %+v", p)
	}
	if s, i, ok := p.Service("GARBAGE"); !ok || i != 1 || s.Rule != RuleAtMost {
		t.Fatalf("GARBAGE %+v %d", s, i)
	}
	if s, ok := p.PrepaidService(); !ok || s.Code != "METER" || s.Rule != RuleExact {
		t.Fatalf("prepaid %+v", s)
	}
	su, _ := r.Provider("AZERSU")
	if su.Services[0].Code != "WATER" || su.Services[1].Rule != RuleAtLeast || len(su.PublicKey) != 32 || su.MinorDigits != 2 {
		t.Fatalf("AZERSU %+v", su)
	}
	// Round trip through WriteYAML.
	var buf bytes.Buffer
	if err := r.WriteYAML(&buf); err != nil {
		t.Fatal(err)
	}
	r2, err := ParseRegistry("again", buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	p2, _ := r2.Provider("AZERISIQ")
	if p2.Commission != p.Commission || len(p2.Services) != 3 || !bytes.Equal(p2.TopUpKey, p.TopUpKey) {
		t.Fatalf("round trip %+v", p2)
	}
	r3, err := r2.Without("AZERSU")
	if err != nil || len(r3.Providers()) != 1 {
		t.Fatal(err)
	}
	if _, err := r3.With(Provider{Code: "X"}); err == nil {
		t.Fatal("provider without currency and services accepted")
	}
}

func TestParseRegistryErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"providers:\n  - code: A\n    currency: 944\n    services: [{code: S, rule: MAYBE}]\n", "f.yaml:2: provider A: service S: amount rule"},
		{"providers:\n  - code: A\n    currency: 944\n    services: [{code: S}]\n  - code: A\n    currency: 944\n    services: [{code: S}]\n", "f.yaml:5: provider A already registered at line 2"},
		{"providers:\n  - code: A\n    currency: 944\n    colour: red\n    services: [{code: S}]\n", "f.yaml:2: provider: "},
		{"providers:\n  - code: A\n    currency: 944\n    commission: {percent: \"1.00001\"}\n    services: [{code: S}]\n", "f.yaml:2: provider A: commission percent"},
		{"providers:\n  - code: A\n    currency: 944\n    commission: {min: \"2.00\", max: \"1.00\"}\n    services: [{code: S}]\n", "f.yaml:2: provider A: commission"},
		{"providers:\n  - code: \"A B\"\n    currency: 944\n    services: [{code: S}]\n", "f.yaml:2: provider code"},
		{"providers:\n  - code: A\n    currency: 944\n    services: [{code: S}, {code: S}]\n", "listed twice"},
		{"providers:\n  - code: A\n    currency: 944\n    public_key: abc\n    services: [{code: S}]\n", "public_key"},
		{"providers:\n  - code: A\n    currency: 944\n    services: []\n", "has no services"},
		{"providers: [\n", "f.yaml: "},
	}
	for _, tc := range tests {
		_, err := ParseRegistry("f.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
