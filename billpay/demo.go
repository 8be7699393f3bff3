package billpay

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/billswitch/billswitch/ledger"
)

// DemoFixture is a byte-exact copy of the conformance kit's fixture
// (shared/conformance/testdata/fixture-AZERISIQ.xml).
//
//go:embed demo/fixture-AZERISIQ.xml
var demoFixture []byte

// DemoFixture returns the embedded conformance fixture.
func DemoFixture() []byte { return append([]byte(nil), demoFixture...) }

// DemoTopUpKey is the HMAC key of the demo providers' prepaid credentials. Demo only.
const DemoTopUpKey = "64656d6f2d746f7075702d6b65792d6e6f742d666f722d70726f64756374696f6e"

// DemoRegistry returns the demo providers: AZERISIQ as the conformance kit needs it
// (AZN, no signing key, services ELEC, GARBAGE, METER in that order; ELEC and GARBAGE
// take ANY amount, METER is prepaid), and AZERIGAZ, AZERSU, BAKTELECOM.
func DemoRegistry() *Registry {
	key := mustHex(DemoTopUpKey)
	com := Commission{PercentE4: 10000, Min: 0, Max: 1000} // 1 %, at most 10.00
	r, err := NewRegistry(
		Provider{Code: "AZERISIQ", Name: "Azərişıq", Currency: 944, MinorDigits: 2, IBAN: "AZ21NABZ00000000137010001944",
			Commission: com, TopUpKey: key, Services: []Service{
				{Code: "ELEC", Name: "Electricity", Order: 1, Rule: RuleAny},
				{Code: "GARBAGE", Name: "Garbage collection", Order: 2, Rule: RuleAny},
				{Code: "METER", Name: "Prepaid electricity meter", Order: 3, Prepaid: true, Rule: RuleAny},
			}},
		Provider{Code: "AZERIGAZ", Name: "Azəriqaz", Currency: 944, MinorDigits: 2, IBAN: "AZ77IBAZ38010019447115219201",
			Commission: com, TopUpKey: key, Services: []Service{
				{Code: "GAS", Name: "Gas", Order: 1, Rule: RuleAny},
				{Code: "METER", Name: "Prepaid gas meter", Order: 2, Prepaid: true, Rule: RuleAny},
			}},
		Provider{Code: "AZERSU", Name: "Azərsu", Currency: 944, MinorDigits: 2, IBAN: "AZ96AIIB38090019441234567890",
			Commission: com, Services: []Service{
				{Code: "WATER", Name: "Water", Order: 1, Rule: RuleAny},
				{Code: "SEWAGE", Name: "Sewage", Order: 2, Rule: RuleAtMost},
			}},
		Provider{Code: "BAKTELECOM", Name: "Baktelekom", Currency: 944, MinorDigits: 2, IBAN: "AZ53PAHA38090019449876543210",
			Commission: Commission{PercentE4: 5000, Min: 5, Max: 500}, Services: []Service{
				{Code: "PHONE", Name: "Fixed line", Order: 1, Rule: RuleAny},
				{Code: "INTERNET", Name: "Internet", Order: 2, Rule: RuleAtLeast},
				{Code: "TV", Name: "Television", Order: 3, Rule: RuleExact},
			}},
	)
	if err != nil {
		panic(err) // a constant table
	}
	return r
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		hi, lo := unhex(s[2*i]), unhex(s[2*i+1])
		b[i] = hi<<4 | lo
	}
	return b
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	panic("bad hex")
}

// SeedDemo loads the demo data into the core's store: the kit's fixture file and a
// subscriber whose registration code links 1000000101 and 1000000102. It is idempotent
// across restarts of the same data directory and returns the same code each time.
// The core's registry must hold AZERISIQ (DemoRegistry).
func SeedDemo(ctx context.Context, c *Core) (string, error) {
	if code, ok, err := demoCode(c); err != nil || ok {
		return code, err
	}
	if _, err := c.ImportBytes(ctx, demoFixture, nil); err != nil {
		var ie *ImportError
		if !errors.As(err, &ie) || (ie.Reason != RefusedDuplicate && ie.Reason != RefusedStale) {
			return "", fmt.Errorf("billpay: demo fixture: %w", err)
		}
	}
	accts := []AccountRef{{"AZERISIQ", "1000000101"}, {"AZERISIQ", "1000000102"}}
	code, err := newRegCode()
	if err != nil {
		return "", err
	}
	sub := &Subscriber{Code: code, Name: "Məmmədova Şəhla Rəşid qızı", Phone: "+994703456789", Email: "sahla.m@example.az", Accounts: accts}
	writes := []ledger.Write{{Key: subscriberKey(code), Value: sub.encode()}, {Key: metaKey("demo"), Value: []byte(code)}}
	for _, a := range accts {
		writes = append(writes, ledger.Write{Key: accountCodeKey(a.Provider, a.Account, code), Value: []byte{}})
	}
	// One command under a fixed key: a second seeding (or a racing one) is a duplicate
	// and the code of the first stands.
	if _, err := c.l.Submit(ctx, &ledger.Command{Key: []byte(cmdDemo), Writes: writes}); err != nil {
		return "", err
	}
	code, ok, err := demoCode(c)
	if err == nil && !ok {
		err = errors.New("billpay: demo seed not found after commit")
	}
	return code, err
}

func demoCode(c *Core) (string, bool, error) {
	view, err := c.l.View()
	if err != nil {
		return "", false, err
	}
	defer view.Close()
	v, ok, err := view.Get(metaKey("demo"))
	return string(v), ok, err
}
