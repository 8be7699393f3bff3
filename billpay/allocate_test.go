package billpay

import (
	"fmt"
	"strings"
	"testing"
)

func testProvider(code string, rules ...string) *Provider {
	p := &Provider{Code: code, Currency: 944, MinorDigits: 2}
	names := []string{"ELEC", "GARBAGE", "METER", "WATER"}
	for i, r := range rules {
		rule, err := ParseAmountRule(strings.TrimSuffix(r, "+P"))
		if err != nil {
			panic(err)
		}
		p.Services = append(p.Services, Service{Code: names[i], Order: i + 1, Rule: rule, Prepaid: strings.HasSuffix(r, "+P")})
	}
	return p
}

func fmtAllocs(as []Allocation) string {
	var b []string
	for _, a := range as {
		b = append(b, fmt.Sprintf("%s:%s:%s:%06d=%d", a.Provider, a.Account, a.Service, a.Period, a.Amount))
	}
	return strings.Join(b, ";")
}

func TestAllocate(t *testing.T) {
	isiq := testProvider("AZERISIQ", "ANY", "ANY", "ANY+P")
	// The conformance fixture's registration-code accounts (README "Fixture").
	fixture := []AccountDues{
		{isiq, "1000000101", []Due{{"ELEC", 202608, 1000}, {"ELEC", 202609, 1250}, {"GARBAGE", 202609, 200}, {"ELEC", 202610, 1500}}},
		{isiq, "1000000102", []Due{{"ELEC", 202609, 730}, {"ELEC", 202610, 820}}},
	}
	// Reversed order of input must not matter.
	fixtureShuffled := []AccountDues{
		{isiq, "1000000102", []Due{{"ELEC", 202610, 820}, {"ELEC", 202609, 730}}},
		{isiq, "1000000101", []Due{{"ELEC", 202610, 1500}, {"GARBAGE", 202609, 200}, {"ELEC", 202609, 1250}, {"ELEC", 202608, 1000}}},
	}
	gaz := testProvider("AZERIGAZ", "ANY", "ANY")
	twoProviders := []AccountDues{
		{isiq, "1", []Due{{"ELEC", 202610, 100}}},
		{gaz, "9", []Due{{"ELEC", 202610, 100}, {"GARBAGE", 202609, 50}}},
	}
	withCredit := []AccountDues{{isiq, "5", []Due{{"ELEC", 202609, -300}, {"GARBAGE", 202609, 200}, {"ELEC", 0, -100}, {"ELEC", 202610, 400}}}}
	exact := testProvider("P", "EXACT", "ANY")
	exactAcct := []AccountDues{{exact, "1", []Due{{"ELEC", 202609, 100}, {"ELEC", 202610, 100}, {"GARBAGE", 202610, 50}}}}
	atMost := testProvider("P", "AT_MOST", "AT_MOST")
	atMostAcct := []AccountDues{{atMost, "1", []Due{{"ELEC", 202610, 100}, {"GARBAGE", 202610, 50}}}}
	atLeast := testProvider("P", "AT_LEAST", "ANY")
	atLeastAcct := []AccountDues{{atLeast, "1", []Due{{"ELEC", 202610, 100}, {"GARBAGE", 202610, 50}}}}
	noAdvance := testProvider("P", "AT_MOST", "EXACT", "ANY+P")
	noAdvanceAcct := []AccountDues{{noAdvance, "1", []Due{{"ELEC", 202610, 100}}}}
	secondTakes := testProvider("P", "AT_MOST", "AT_LEAST")
	secondTakesAcct := []AccountDues{{secondTakes, "1", []Due{{"ELEC", 202610, 100}}}}

	tests := []struct {
		name     string
		amount   int64
		mode     Mode
		lines    []Line
		accounts []AccountDues
		single   bool
		want     string
		decline  Decline
	}{
		{name: "AS01 worked example: oldest first, partial last, across accounts", amount: 2815, accounts: fixture,
			want: "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200;AZERISIQ:1000000102:ELEC:202609=365"},
		{name: "AS01 independent of input order", amount: 2815, accounts: fixtureShuffled,
			want: "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200;AZERISIQ:1000000102:ELEC:202609=365"},
		{name: "regcode: everything exactly", amount: 5500, accounts: fixture,
			want: "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200;AZERISIQ:1000000102:ELEC:202609=730;AZERISIQ:1000000101:ELEC:202610=1500;AZERISIQ:1000000102:ELEC:202610=820"},
		{name: "AS02 regcode overpayment declined 13", amount: 5501, accounts: fixture, decline: DeclineInvalidAmount},
		{name: "service order inside a period", amount: 1, accounts: []AccountDues{{isiq, "1", []Due{{"GARBAGE", 202610, 5}, {"ELEC", 202610, 5}}}}, single: true,
			want: "AZERISIQ:1:ELEC:202610=1"},
		{name: "provider code orders before account", amount: 200, accounts: twoProviders,
			want: "AZERIGAZ:9:GARBAGE:202609=50;AZERIGAZ:9:ELEC:202610=100;AZERISIQ:1:ELEC:202610=50"},
		{name: "credits untouched, advance credit untouched", amount: 500, accounts: withCredit, single: true,
			want: "AZERISIQ:5:GARBAGE:202609=200;AZERISIQ:5:ELEC:202610=300"},
		{name: "single account: excess is an advance on the first service", amount: 700, accounts: withCredit, single: true,
			want: "AZERISIQ:5:GARBAGE:202609=200;AZERISIQ:5:ELEC:202610=400;AZERISIQ:5:ELEC:000000=100"},
		{name: "advance on an account with no debt", amount: 100, accounts: []AccountDues{{isiq, "7", nil}}, single: true,
			want: "AZERISIQ:7:ELEC:000000=100"},
		{name: "advance skips services whose rule forbids it", amount: 150, accounts: secondTakesAcct, single: true,
			want: "P:1:ELEC:202610=100;P:1:GARBAGE:000000=50"},
		{name: "no service takes an advance: 13", amount: 101, accounts: noAdvanceAcct, single: true, decline: DeclineInvalidAmount},
		{name: "zero amount: 13", amount: 0, accounts: fixture, decline: DeclineInvalidAmount},
		{name: "EXACT paid in part: 13", amount: 150, accounts: exactAcct, single: true, decline: DeclineInvalidAmount},
		{name: "EXACT whole due over all periods", amount: 200, accounts: exactAcct, single: true,
			want: "P:1:ELEC:202609=100;P:1:ELEC:202610=100"},
		{name: "EXACT untouched is fine", amount: 50, mode: ModeLines, lines: []Line{{"P", "1", "GARBAGE", 50}}, accounts: exactAcct, single: true,
			want: "P:1:GARBAGE:202610=50"},
		{name: "AT_MOST partial fine", amount: 60, accounts: atMostAcct, single: true, want: "P:1:ELEC:202610=60"},
		{name: "AT_MOST over: 13 (no advance)", amount: 151, accounts: atMostAcct, single: true, decline: DeclineInvalidAmount},
		{name: "AT_LEAST partial: 13", amount: 60, accounts: atLeastAcct, single: true, decline: DeclineInvalidAmount},
		{name: "AT_LEAST whole due then more as advance", amount: 170, accounts: atLeastAcct, single: true,
			want: "P:1:ELEC:202610=100;P:1:GARBAGE:202610=50;P:1:ELEC:000000=20"},

		{name: "lines spread oldest period first", amount: 1500, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000101", "ELEC", 1500}},
			want:  "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=500"},
		{name: "lines on several services", amount: 237, mode: ModeLines, accounts: fixture, lines: []Line{{"AZERISIQ", "1000000101", "GARBAGE", 37}, {"AZERISIQ", "1000000102", "ELEC", 200}},
			want: "AZERISIQ:1000000101:GARBAGE:202609=37;AZERISIQ:1000000102:ELEC:202609=200"},
		{name: "lines not adding up: 13", amount: 1501, mode: ModeLines, accounts: fixture, lines: []Line{{"AZERISIQ", "1000000101", "ELEC", 1500}}, decline: DeclineInvalidAmount},
		{name: "lines excess is an advance (ANY, one account)", amount: 500, mode: ModeLines, accounts: withCredit, single: true,
			lines: []Line{{"AZERISIQ", "5", "GARBAGE", 500}}, want: "AZERISIQ:5:GARBAGE:202609=200;AZERISIQ:5:GARBAGE:000000=300"},
		{name: "lines excess on AT_MOST: 13", amount: 151, mode: ModeLines, accounts: atMostAcct, single: true,
			lines: []Line{{"P", "1", "ELEC", 101}, {"P", "1", "GARBAGE", 50}}, decline: DeclineInvalidAmount},
		{name: "lines excess by registration code: 13", amount: 2000, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000102", "ELEC", 2000}}, decline: DeclineInvalidAmount},
		{name: "lines EXACT partial: 13", amount: 100, mode: ModeLines, accounts: exactAcct, single: true,
			lines: []Line{{"P", "1", "ELEC", 100}}, decline: DeclineInvalidAmount},
		{name: "lines EXACT whole", amount: 200, mode: ModeLines, accounts: exactAcct, single: true,
			lines: []Line{{"P", "1", "ELEC", 200}}, want: "P:1:ELEC:202609=100;P:1:ELEC:202610=100"},
		{name: "lines AT_LEAST below due: 13", amount: 99, mode: ModeLines, accounts: atLeastAcct, single: true,
			lines: []Line{{"P", "1", "ELEC", 99}}, decline: DeclineInvalidAmount},
		{name: "lines on an account outside the target: 25", amount: 100, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000999", "ELEC", 100}}, decline: DeclineUnknownAccount},
		{name: "lines on an unknown service: 13", amount: 100, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000101", "GAS", 100}}, decline: DeclineInvalidAmount},
		{name: "lines with a zero line: 13", amount: 100, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000101", "ELEC", 100}, {"AZERISIQ", "1000000101", "GARBAGE", 0}}, decline: DeclineInvalidAmount},
		{name: "lines of one service given twice are merged", amount: 300, mode: ModeLines, accounts: fixture,
			lines: []Line{{"AZERISIQ", "1000000102", "ELEC", 100}, {"AZERISIQ", "1000000102", "ELEC", 200}},
			want:  "AZERISIQ:1000000102:ELEC:202609=300"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Allocate(tc.amount, tc.mode, tc.lines, tc.accounts, tc.single)
			if tc.decline != 0 {
				if d, ok := DeclineOf(err); !ok || d != tc.decline {
					t.Fatalf("got %s, %v; want decline %s", fmtAllocs(got), err, tc.decline)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected %v", err)
			}
			if s := fmtAllocs(got); s != tc.want {
				t.Fatalf("got  %s\nwant %s", s, tc.want)
			}
			var sum int64
			for _, a := range got {
				sum += a.Amount
			}
			if sum != tc.amount {
				t.Fatalf("allocations add up to %d, amount %d", sum, tc.amount)
			}
		})
	}
}

func TestCommission(t *testing.T) {
	tests := []struct {
		c      Commission
		amount int64
		want   int64
	}{
		{Commission{PercentE4: 10000}, 3650, 37},         // 1 % of 36.50 = 0.365 → 0.37 half up
		{Commission{PercentE4: 10000}, 3649, 36},         // 0.3649 → 0.36
		{Commission{PercentE4: 10000, Min: 10}, 500, 10}, // raised to min
		{Commission{PercentE4: 50000, Max: 100}, 1_000_000, 100},
		{Commission{PercentE4: 0, Min: 50}, 20, 20}, // never above the amount
		{Commission{PercentE4: 2500}, 200, 1},       // 0.25 % of 2.00 = 0.005 → 0.01
		{Commission{PercentE4: 10000}, 0, 0},
		{Commission{PercentE4: 1_000_000}, 123_456_789_012, 123_456_789_012},
	}
	for _, tc := range tests {
		if got := tc.c.Of(tc.amount); got != tc.want {
			t.Errorf("%+v.Of(%d) = %d, want %d", tc.c, tc.amount, got, tc.want)
		}
	}
}

func TestTransliterateAndMask(t *testing.T) {
	tests := []struct{ in, translit, mask string }{
		{"Məmmədova Şəhla Rəşid qızı", "Mammadova Sahla Rasid qizi", "M******** S****"},
		{"Əliyev Əli Vəli oğlu", "Aliyev Ali Vali oglu", "A***** A**"},
		{"Hüseynov Çingiz Tofiq oğlu", "Huseynov Cingiz Tofiq oglu", "H******* C*****"},
		{"İsmayılova Gülər Ömər", "Ismayilova Gular Omar", "I********* G****"},
		{"Щербаков Юрий Жанович", "Shcherbakov Iurii Zhanovich", "S********** I****"},
		{"  Ann   \tLee ", "Ann Lee", "A** L**"},
		{"李", "?", "?"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := Transliterate(tc.in); got != tc.translit {
			t.Errorf("Transliterate(%q) = %q, want %q", tc.in, got, tc.translit)
		}
		if got := MaskName(tc.in); got != tc.mask {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.mask)
		}
	}
}

func TestRegCode(t *testing.T) {
	// Damm's published example: 572 → check digit 4.
	if d := dammDigit("572"); d != 4 {
		t.Fatalf("damm(572) = %d, want 4", d)
	}
	seen := map[string]bool{}
	for range 200 {
		c, err := newRegCode()
		if err != nil {
			t.Fatal(err)
		}
		if !ValidRegCode(c) || c[0] == '0' {
			t.Fatalf("newRegCode gave %q", c)
		}
		seen[c] = true
		// Every single-digit error and adjacent transposition is caught.
		for i := 0; i < 10; i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == c[i] {
					continue
				}
				b := []byte(c)
				b[i] = d
				if ValidRegCode(string(b)) {
					t.Fatalf("%s with digit %d changed passes", c, i)
				}
			}
			if i < 9 && c[i] != c[i+1] {
				b := []byte(c)
				b[i], b[i+1] = b[i+1], b[i]
				if ValidRegCode(string(b)) {
					t.Fatalf("%s with digits %d,%d swapped passes", c, i, i+1)
				}
			}
		}
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes of 200", len(seen))
	}
	for _, bad := range []string{"", "123456789", "12345678901", "12345678a0"} {
		if ValidRegCode(bad) {
			t.Errorf("ValidRegCode(%q) = true", bad)
		}
	}
}
