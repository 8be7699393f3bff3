package billpay

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// AmountRule says how much of a service's due one payment may pay (provider-exchange.md §0).
type AmountRule uint8

const (
	RuleAny     AmountRule = iota + 1 // anything; the excess is an advance
	RuleExact                         // the service's whole due (all its periods), only
	RuleAtLeast                       // the due or more; the rest is an advance
	RuleAtMost                        // part of the due, never more
)

var ruleNames = [...]string{RuleAny: "ANY", RuleExact: "EXACT", RuleAtLeast: "AT_LEAST", RuleAtMost: "AT_MOST"}

func (r AmountRule) String() string {
	if int(r) < len(ruleNames) && ruleNames[r] != "" {
		return ruleNames[r]
	}
	return fmt.Sprintf("rule(%d)", uint8(r))
}

// ParseAmountRule reads ANY, EXACT, AT_LEAST or AT_MOST.
func ParseAmountRule(s string) (AmountRule, error) {
	for i, n := range ruleNames {
		if n != "" && n == s {
			return AmountRule(i), nil
		}
	}
	return 0, fmt.Errorf("amount rule %q is not ANY, EXACT, AT_LEAST or AT_MOST", s)
}

// allowsAdvance reports whether a payment may pay more than the due of a service.
func (r AmountRule) allowsAdvance() bool { return r == RuleAny || r == RuleAtLeast }

// Service is one service of a provider.
type Service struct {
	Code    string
	Name    string
	Order   int // position in the provider's service order (ascending)
	Prepaid bool
	Rule    AmountRule
}

// Commission is the hub's commission on a payment to a provider: Percent of the amount
// with a minimum and a maximum per payment (Max 0 = no maximum), never more than the
// amount. PercentE4 is the percent times 10 000 (1 % = 10000, 0.25 % = 2500).
type Commission struct {
	PercentE4 int64
	Min, Max  int64 // minor units
}

// Of returns the commission on amount (minor units): amount × percent rounded half up,
// then raised to Min, lowered to Max, and never above amount.
func (c Commission) Of(amount int64) int64 {
	if amount <= 0 {
		return 0
	}
	// amount × PercentE4 / 1e6, half up; amounts are far below 2^63/1e6·…, but guard anyway.
	const den = 1_000_000
	q, r := amount/den, amount%den
	fee := q*c.PercentE4 + (r*c.PercentE4+den/2)/den
	if fee < c.Min {
		fee = c.Min
	}
	if c.Max > 0 && fee > c.Max {
		fee = c.Max
	}
	return min(fee, amount)
}

// Provider is one registered provider (provider-exchange.md §0). Values returned by a
// Registry are shared: callers must not modify them.
type Provider struct {
	Code        string
	Name        string
	Currency    uint16 // ISO 4217 numeric
	MinorDigits int    // digits after the point in the provider's amounts (2 for AZN)
	IBAN        string
	Commission  Commission
	PublicKey   ed25519.PublicKey // optional: debt lists must be signed with it
	TopUpKey    []byte            // optional: HMAC key of the prepaid write records and tokens
	Services    []Service         // in service order
}

// Service returns the service with the given code and its index in the service order.
func (p *Provider) Service(code string) (*Service, int, bool) {
	for i := range p.Services {
		if p.Services[i].Code == code {
			return &p.Services[i], i, true
		}
	}
	return nil, -1, false
}

// PrepaidService returns the provider's first prepaid service.
func (p *Provider) PrepaidService() (*Service, bool) {
	for i := range p.Services {
		if p.Services[i].Prepaid {
			return &p.Services[i], true
		}
	}
	return nil, false
}

// Registry is an immutable set of providers, safe for concurrent use. Change it by
// building a new one (With, Without) and installing it in the Core.
type Registry struct {
	providers map[string]*Provider
	codes     []string // sorted
}

// NewRegistry validates the providers and builds a registry.
func NewRegistry(ps ...Provider) (*Registry, error) {
	r := &Registry{providers: make(map[string]*Provider, len(ps))}
	for i := range ps {
		p := ps[i]
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.providers[p.Code]; dup {
			return nil, fmt.Errorf("provider %s registered twice", p.Code)
		}
		p.Services = slices.Clone(p.Services)
		slices.SortStableFunc(p.Services, func(a, b Service) int { return a.Order - b.Order })
		r.providers[p.Code] = &p
		r.codes = append(r.codes, p.Code)
	}
	slices.Sort(r.codes)
	return r, nil
}

// Provider returns the provider with the given code.
func (r *Registry) Provider(code string) (*Provider, bool) {
	p, ok := r.providers[code]
	return p, ok
}

// Providers returns every provider in code order.
func (r *Registry) Providers() []*Provider {
	out := make([]*Provider, 0, len(r.codes))
	for _, c := range r.codes {
		out = append(out, r.providers[c])
	}
	return out
}

// With returns a registry with p added or replaced.
func (r *Registry) With(p Provider) (*Registry, error) {
	ps := make([]Provider, 0, len(r.codes)+1)
	for _, q := range r.Providers() {
		if q.Code != p.Code {
			ps = append(ps, *q)
		}
	}
	return NewRegistry(append(ps, p)...)
}

// Without returns a registry without the provider code.
func (r *Registry) Without(code string) (*Registry, error) {
	if _, ok := r.providers[code]; !ok {
		return nil, fmt.Errorf("provider %s is not registered", code)
	}
	var ps []Provider
	for _, q := range r.Providers() {
		if q.Code != code {
			ps = append(ps, *q)
		}
	}
	return NewRegistry(ps...)
}

// validCode reports whether s is a provider code, account number, service code or meter
// id: letters, digits, '-', '/', '.' only (host-iso8583.md §4), 1..max characters.
func validCode(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '/' || c == '.') {
			return false
		}
	}
	return true
}

func (p *Provider) validate() error {
	if !validCode(p.Code, 16) {
		return fmt.Errorf("provider code %q: 1–16 letters, digits, '-', '/', '.'", p.Code)
	}
	if p.Currency == 0 || p.Currency > 999 {
		return fmt.Errorf("provider %s: currency %d is not an ISO 4217 numeric code", p.Code, p.Currency)
	}
	if p.MinorDigits < 0 || p.MinorDigits > 4 {
		return fmt.Errorf("provider %s: minor digits %d not in 0..4", p.Code, p.MinorDigits)
	}
	c := p.Commission
	if c.PercentE4 < 0 || c.PercentE4 > 1_000_000 || c.Min < 0 || c.Max < 0 || (c.Max > 0 && c.Max < c.Min) {
		return fmt.Errorf("provider %s: commission percent must be 0..100 and 0 ≤ min ≤ max", p.Code)
	}
	if p.PublicKey != nil && len(p.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("provider %s: public key must be %d bytes", p.Code, ed25519.PublicKeySize)
	}
	if len(p.Services) == 0 {
		return fmt.Errorf("provider %s has no services", p.Code)
	}
	seen := map[string]bool{}
	orders := map[int]bool{}
	for _, s := range p.Services {
		if !validCode(s.Code, 16) {
			return fmt.Errorf("provider %s: service code %q: 1–16 letters, digits, '-', '/', '.'", p.Code, s.Code)
		}
		if seen[s.Code] {
			return fmt.Errorf("provider %s: service %s listed twice", p.Code, s.Code)
		}
		if orders[s.Order] {
			return fmt.Errorf("provider %s: service %s: order %d used twice", p.Code, s.Code, s.Order)
		}
		seen[s.Code], orders[s.Order] = true, true
		if s.Rule < RuleAny || s.Rule > RuleAtMost {
			return fmt.Errorf("provider %s: service %s has no amount rule", p.Code, s.Code)
		}
	}
	return nil
}

// The registry file (YAML):
//
//	providers:
//	  - code: AZERISIQ
//	    name: Azərişıq
//	    currency: 944            # ISO 4217 numeric
//	    minor_digits: 2          # default 2
//	    iban: AZ21NABZ00000000137010001944
//	    commission: {percent: "1.00", min: "0.10", max: "5.00"}   # decimal strings
//	    public_key: BASE64       # optional Ed25519 public key of its debt lists
//	    topup_key: HEX           # optional HMAC key of its top-up credentials
//	    services:                # order defaults to the position in the list
//	      - {code: ELEC, name: Electricity, rule: ANY}
//	      - {code: METER, name: Prepaid meter, prepaid: true, rule: ANY}
type fileRegistry struct {
	Providers []yaml.Node `yaml:"providers"`
}

type fileProvider struct {
	Code        string `yaml:"code"`
	Name        string `yaml:"name"`
	Currency    uint16 `yaml:"currency"`
	MinorDigits *int   `yaml:"minor_digits"`
	IBAN        string `yaml:"iban"`
	Commission  struct {
		Percent string `yaml:"percent"`
		Min     string `yaml:"min"`
		Max     string `yaml:"max"`
	} `yaml:"commission"`
	PublicKey string        `yaml:"public_key"`
	TopUpKey  string        `yaml:"topup_key"`
	Services  []fileService `yaml:"services"`
}

type fileService struct {
	Code    string `yaml:"code"`
	Name    string `yaml:"name"`
	Order   *int   `yaml:"order"`
	Prepaid bool   `yaml:"prepaid"`
	Rule    string `yaml:"rule"`
}

// LoadRegistry reads a registry file.
func LoadRegistry(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRegistry(path, data)
}

// ParseRegistry reads a registry file's bytes; name is used in errors ("file:line: …").
func ParseRegistry(name string, data []byte) (*Registry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var fr fileRegistry
	if err := doc.Decode(&fr); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var ps []Provider
	lines := map[string]int{}
	for i := range fr.Providers {
		n := &fr.Providers[i]
		var fp fileProvider
		dec := func() error {
			var strict bytes.Buffer
			enc := yaml.NewEncoder(&strict)
			if err := enc.Encode(n); err != nil {
				return err
			}
			d := yaml.NewDecoder(&strict)
			d.KnownFields(true)
			return d.Decode(&fp)
		}
		if err := dec(); err != nil {
			return nil, fmt.Errorf("%s:%d: provider: %v", name, n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		p, err := fp.provider()
		if err == nil {
			err = p.validate()
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n.Line, err)
		}
		if l, dup := lines[p.Code]; dup {
			return nil, fmt.Errorf("%s:%d: provider %s already registered at line %d", name, n.Line, p.Code, l)
		}
		lines[p.Code] = n.Line
		ps = append(ps, p)
	}
	return NewRegistry(ps...)
}

func (fp *fileProvider) provider() (Provider, error) {
	p := Provider{Code: fp.Code, Name: fp.Name, Currency: fp.Currency, MinorDigits: 2, IBAN: fp.IBAN}
	if fp.MinorDigits != nil {
		p.MinorDigits = *fp.MinorDigits
	}
	var err error
	if fp.Commission.Percent != "" {
		if p.Commission.PercentE4, err = scaled(fp.Commission.Percent, 4); err != nil {
			return p, fmt.Errorf("provider %s: commission percent: %v", p.Code, err)
		}
	}
	if fp.Commission.Min != "" {
		if p.Commission.Min, err = scaled(fp.Commission.Min, p.MinorDigits); err != nil {
			return p, fmt.Errorf("provider %s: commission min: %v", p.Code, err)
		}
	}
	if fp.Commission.Max != "" {
		if p.Commission.Max, err = scaled(fp.Commission.Max, p.MinorDigits); err != nil {
			return p, fmt.Errorf("provider %s: commission max: %v", p.Code, err)
		}
	}
	if fp.PublicKey != "" {
		k, err := base64.StdEncoding.DecodeString(fp.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return p, fmt.Errorf("provider %s: public_key is not a base64 Ed25519 public key", p.Code)
		}
		p.PublicKey = k
	}
	if fp.TopUpKey != "" {
		k, err := hex.DecodeString(fp.TopUpKey)
		if err != nil || len(k) < 16 {
			return p, fmt.Errorf("provider %s: topup_key must be at least 16 bytes of hex", p.Code)
		}
		p.TopUpKey = k
	}
	for i, fs := range fp.Services {
		s := Service{Code: fs.Code, Name: fs.Name, Order: i + 1, Prepaid: fs.Prepaid}
		if fs.Order != nil {
			s.Order = *fs.Order
		}
		if fs.Rule == "" {
			fs.Rule = "ANY"
		}
		if s.Rule, err = ParseAmountRule(fs.Rule); err != nil {
			return p, fmt.Errorf("provider %s: service %s: %v", p.Code, fs.Code, err)
		}
		p.Services = append(p.Services, s)
	}
	return p, nil
}

// scaled reads a non-negative decimal string as an integer scaled by 10^digits, refusing
// more fractional digits than that.
func scaled(s string, digits int) (int64, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if d.IsNegative() {
		return 0, fmt.Errorf("%q is negative", s)
	}
	m := d.Shift(int32(digits))
	if !m.Equal(m.Truncate(0)) {
		return 0, fmt.Errorf("%q has more than %d fractional digits", s, digits)
	}
	if !m.IsInteger() || m.GreaterThan(decimal.NewFromInt(1<<53)) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return m.IntPart(), nil
}

// formatScaled writes v / 10^digits as a decimal string.
func formatScaled(v int64, digits int) string {
	return decimal.New(v, int32(-digits)).StringFixed(int32(digits))
}

// WriteYAML writes the registry in the registry file's format (ParseRegistry reads it back).
func (r *Registry) WriteYAML(w io.Writer) error {
	var fr struct {
		Providers []fileProvider `yaml:"providers"`
	}
	for _, p := range r.Providers() {
		md := p.MinorDigits
		fp := fileProvider{Code: p.Code, Name: p.Name, Currency: p.Currency, MinorDigits: &md, IBAN: p.IBAN}
		fp.Commission.Percent = formatScaled(p.Commission.PercentE4, 4)
		fp.Commission.Min = formatScaled(p.Commission.Min, p.MinorDigits)
		fp.Commission.Max = formatScaled(p.Commission.Max, p.MinorDigits)
		if p.PublicKey != nil {
			fp.PublicKey = base64.StdEncoding.EncodeToString(p.PublicKey)
		}
		if p.TopUpKey != nil {
			fp.TopUpKey = hex.EncodeToString(p.TopUpKey)
		}
		for _, s := range p.Services {
			o := s.Order
			fp.Services = append(fp.Services, fileService{Code: s.Code, Name: s.Name, Order: &o, Prepaid: s.Prepaid, Rule: s.Rule.String()})
		}
		fr.Providers = append(fr.Providers, fp)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&fr); err != nil {
		return err
	}
	return enc.Close()
}
