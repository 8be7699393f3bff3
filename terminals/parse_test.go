package terminals

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	r, err := Load("testdata/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc, ok := r.Institution("200002")
	if !ok {
		t.Fatal("institution 200002 missing")
	}
	want := &Institution{
		ID:           "200002",
		Name:         "Second Bank Processing",
		Dial:         []string{"127.0.0.1:7002", "pc2-backup.example:7002"},
		Accept:       []string{"10.20.0.0/16", "192.0.2.7", "2001:db8::/32"},
		BINs:         []BINRange{{"510000", "559999"}, {"2200", "2200"}, {"41697399", "41697399"}},
		Timeout:      5 * time.Second,
		EchoInterval: 30 * time.Second,
		accept: []netip.Prefix{
			netip.MustParsePrefix("10.20.0.0/16"),
			netip.MustParsePrefix("192.0.2.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
		},
	}
	if !reflect.DeepEqual(pc, want) {
		t.Errorf("institution 200002 =\n%+v\nwant\n%+v", pc, want)
	}
	term, ok := r.Terminal("POS00017")
	if !ok {
		t.Fatal("terminal POS00017 missing")
	}
	if *term != (Terminal{ID: "POS00017", Kind: KindPOS, CardAcceptor: "000000000123456", Name: "Supermarket lane 3", Owner: "200002"}) {
		t.Errorf("POS00017 = %+v", *term)
	}
	if a, ok := r.Agent("AGENT-0002"); !ok || a.Name != "City Post Office" {
		t.Errorf("agent AGENT-0002 = %+v, %v", a, ok)
	}
	if got := ids(r.Terminals()); !reflect.DeepEqual(got, []string{"ATM00001", "CSH001", "POS00017", "T0000001"}) {
		t.Errorf("Terminals() = %v", got)
	}
	if got := len(r.Institutions()); got != 2 {
		t.Errorf("%d institutions, want 2", got)
	}
}

func ids[T any](xs []*T) []string {
	var out []string
	for _, x := range xs {
		switch v := any(x).(type) {
		case *Terminal:
			out = append(out, v.ID)
		case *Institution:
			out = append(out, v.ID)
		case *Agent:
			out = append(out, v.ID)
		}
	}
	return out
}

func TestParseDefaults(t *testing.T) {
	r, err := Parse("min.yaml", []byte(`
institutions:
  - id: 0042
terminals:
  - {id: "K 1", kind: KIOSK, owner: "0042"}
`))
	if err != nil {
		t.Fatal(err)
	}
	in, ok := r.Institution("0042")
	if !ok {
		t.Fatal("0042 missing (leading zero lost?)")
	}
	if in.Timeout != DefaultTimeout || in.EchoInterval != DefaultEchoInterval || in.Currency != 0 || in.Dial != nil || in.Accept != nil {
		t.Errorf("defaults not applied: %+v", in)
	}
	if !in.Accepts(netip.MustParseAddr("203.0.113.9")) {
		t.Error("institution without accept list refuses an address")
	}
	term, ok := r.Terminal("K 1     ") // DE 41 arrives space padded
	if !ok || term.Cash || term.Kind != KindKiosk {
		t.Errorf("terminal K 1 = %+v, %v", term, ok)
	}
}

func TestParseEmptyLists(t *testing.T) {
	for _, src := range []string{"institutions: []\n", "institutions:\nterminals:\n", "{}\n"} {
		r, err := Parse("e.yaml", []byte(src))
		if err != nil {
			t.Errorf("%q: %v", src, err)
			continue
		}
		if len(r.Institutions())+len(r.Terminals())+len(r.Agents()) != 0 {
			t.Errorf("%q: not empty", src)
		}
		if _, ok := r.Route("4169738800123456"); ok {
			t.Errorf("%q: empty registry routes a PAN", src)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // every problem, in order, as "file:line: message" prefixes/substrings
	}{
		{"empty file", ``, []string{"r.yaml: empty registry file"}},
		{"only comments", "# nothing\n", []string{"r.yaml: empty registry file"}},
		{"syntax", "institutions: []\nterminals: T: 1\n", []string{"r.yaml:2: mapping values are not allowed"}},
		{"tab", "institutions: []\n\tterminals: []\n", []string{"r.yaml:2: found character that cannot start any token"}},
		{"two documents", "institutions: []\n---\nterminals: []\n", []string{"r.yaml:2: more than one YAML document"}},
		{"top not mapping", "- a\n", []string{"r.yaml:1: registry: want a mapping"}},
		{"unknown top key", "institutions: []\nterminal: []\n", []string{`r.yaml:2: registry: unknown key "terminal"`}},
		{"institutions not list", "institutions: {id: 1}\n", []string{"r.yaml:1: institutions: want a list"}},
		{"unknown institution key", "institutions:\n  - id: 1\n    timout: 5s\n", []string{`r.yaml:3: institution: unknown key "timout"`}},
		{"repeated key", "institutions:\n  - id: 1\n    id: 2\n", []string{`r.yaml:3: institution: key "id" repeated (first at line 2)`}},
		{"missing institution id", "institutions:\n  - name: x\n", []string{"r.yaml:2: institution: missing id"}},
		{"institution id letters", "institutions:\n  - id: A1\n", []string{`r.yaml:2: institution id "A1": want 1 to 11 digits`}},
		{"institution id too long", "institutions:\n  - id: 123456789012\n", []string{`r.yaml:2: institution id "123456789012"`}},
		{"duplicate institution", "institutions:\n  - id: 1\n  - id: 1\n", []string{`r.yaml:3: duplicate institution id "1" (first declared at line 2)`}},
		{"bad duration", "institutions:\n  - id: 1\n    timeout: 8\n", []string{`r.yaml:3: institution 1: timeout "8": want a positive duration`}},
		{"negative duration", "institutions:\n  - id: 1\n    echo_interval: -1s\n", []string{`r.yaml:3: institution 1: echo_interval "-1s"`}},
		{"bad currency", "institutions:\n  - id: 1\n    currency: 1000\n", []string{`r.yaml:3: institution 1: currency "1000"`}},
		{"currency a list", "institutions:\n  - id: 1\n    currency: [944]\n", []string{`r.yaml:3: currency: want a single value, got a list`}},
		{"card acceptor a mapping", "institutions: [{id: 1}]\nterminals:\n  - {id: T1, kind: POS, owner: 1, card_acceptor: {a: 1}}\n", []string{`r.yaml:3: card_acceptor: want a single value, got a mapping`}},
		{"institution not a mapping", "institutions: [100001]\n", []string{`r.yaml:1: institution: want a mapping of keys`}},
		{"currency not a number", "institutions:\n  - id: 1\n    currency: AZN\n", []string{`r.yaml:3: institution 1: currency "AZN"`}},
		{"dial without port", "institutions:\n  - id: 1\n    dial: [localhost]\n", []string{`r.yaml:3: institution 1: dial address "localhost": want host:port`}},
		{"dial bad port", "institutions:\n  - id: 1\n    dial:\n      - 'h:99999'\n", []string{`r.yaml:4: institution 1: dial address "h:99999": port "99999"`}},
		{"dial no host", "institutions:\n  - id: 1\n    dial: [':80']\n", []string{`r.yaml:3: institution 1: dial address ":80": missing host`}},
		{"dial duplicate", "institutions:\n  - id: 1\n    dial: ['h:1']\n  - id: 2\n    dial: ['h:1']\n", []string{`r.yaml:5: institution 2: dial address h:1 already listed under institution 1 (line 3)`}},
		{"dial not list", "institutions:\n  - id: 1\n    dial: 'h:1'\n", []string{"r.yaml:3: dial: want a list"}},
		{"accept garbage", "institutions:\n  - id: 1\n    accept: [10.0.0.300]\n", []string{`r.yaml:3: institution 1: accept "10.0.0.300": want an IP address or CIDR prefix`}},
		{"accept host bits", "institutions:\n  - id: 1\n    accept: [10.1.2.3/8]\n", []string{`r.yaml:3: institution 1: accept "10.1.2.3/8": host bits set; did you mean 10.0.0.0/8?`}},
		{"bin letters", "institutions:\n  - id: 1\n    bins:\n      - {low: 4000a0, high: 499999}\n", []string{`r.yaml:4: institution 1: bin low "4000a0"`}},
		{"bin lengths differ", "institutions:\n  - id: 1\n    bins:\n      - {low: 40000, high: 499999}\n", []string{"r.yaml:4: institution 1: bin range 40000-499999: low and high must have the same number of digits"}},
		{"bin low above high", "institutions:\n  - id: 1\n    bins:\n      - {low: 500000, high: 499999}\n", []string{"r.yaml:4: institution 1: bin range 500000-499999: low is above high"}},
		{"bin missing high", "institutions:\n  - id: 1\n    bins:\n      - {low: 500000}\n", []string{"r.yaml:4: bin range of institution 1: missing high"}},
		{"bin prefix and low", "institutions:\n  - id: 1\n    bins:\n      - {prefix: 4, low: 4}\n", []string{"r.yaml:4: institution 1: bin range: give either prefix or low and high, not both"}},
		{"bin too long", "institutions:\n  - id: 1\n    bins:\n      - prefix: '12345678901234567890'\n", []string{`r.yaml:4: institution 1: bin prefix "12345678901234567890": want 1 to 19 digits`}},
		{"bin unknown key", "institutions:\n  - id: 1\n    bins:\n      - {from: 4}\n", []string{`r.yaml:4: bin range: unknown key "from"`, "r.yaml:4: bin range of institution 1: missing low", "r.yaml:4: bin range of institution 1: missing high"}},
		{"bins overlap across institutions", `institutions:
  - id: 1
    bins:
      - {low: "400000", high: "449999"}
  - id: 2
    bins:
      - {low: "440000", high: "499999"}
`, []string{"r.yaml:7: institution 2: bin range 440000-499999 overlaps 400000-449999 of institution 1 (line 4) without lying inside it"}},
		{"bins overlap across lengths", "institutions:\n  - id: 1\n    bins: [{low: '40', high: '45'}]\n  - id: 2\n    bins: [{low: '450000', high: '460000'}]\n",
			[]string{"r.yaml:5: institution 2: bin range 450000-460000 overlaps 40-45 of institution 1 (line 3) without lying inside it"}},
		{"bins cover the same cards", "institutions:\n  - id: 1\n    bins: [{prefix: '4'}]\n  - id: 2\n    bins: [{low: '40', high: '49'}]\n",
			[]string{"r.yaml:5: institution 2: bin range 40-49 covers the same cards as 4-4 of institution 1 (line 3)"}},
		{"bins overlap within institution", "institutions:\n  - id: 1\n    bins:\n      - {low: '45', high: '49'}\n      - {low: '40', high: '45'}\n",
			[]string{"r.yaml:4: institution 1: bin range 45-49 overlaps 40-45 of the same institution (line 5) without lying inside it"}},
		{"missing terminal fields", "terminals:\n  - id: T1\n", []string{"r.yaml:2: terminal T1: missing kind", "r.yaml:2: terminal T1: missing owner"}},
		{"terminal id too long", "terminals:\n  - {id: T12345678, kind: POS, owner: x}\n", []string{`r.yaml:2: terminal id "T12345678": want 1 to 8 printable ASCII`}},
		{"terminal id padded", "terminals:\n  - {id: 'T1 ', kind: POS, owner: x}\n", []string{`r.yaml:2: terminal id "T1 "`}},
		{"terminal id non-ascii", "terminals:\n  - {id: 'Té', kind: POS, owner: x}\n", []string{`r.yaml:2: terminal id "Té"`}},
		{"terminal kind", "institutions: [{id: 1}]\nterminals:\n  - id: T1\n    kind: pos\n    owner: 1\n", []string{`r.yaml:4: terminal T1: unknown terminal kind "pos"`}},
		{"card acceptor too long", "institutions: [{id: 1}]\nterminals:\n  - {id: T1, kind: POS, owner: 1, card_acceptor: '1234567890123456'}\n", []string{`r.yaml:3: terminal T1: card_acceptor "1234567890123456": want up to 15`}},
		{"cash not bool", "institutions: [{id: 1}]\nterminals:\n  - id: T1\n    kind: POS\n    owner: 1\n    cash: yes\n", []string{`r.yaml:6: terminal T1: cash "yes": want true or false`}},
		{"unknown owner", "institutions: [{id: 1}]\nterminals:\n  - id: T1\n    kind: POS\n    owner: 2\n", []string{`r.yaml:5: terminal T1: owner "2" is neither an institution nor an agent`}},
		{"duplicate terminal", "institutions: [{id: 1}]\nterminals:\n  - {id: T1, kind: POS, owner: 1}\n  - {id: T1, kind: ATM, owner: 1}\n", []string{`r.yaml:4: duplicate terminal id "T1" (first declared at line 3)`}},
		{"unknown terminal key", "institutions: [{id: 1}]\nterminals:\n  - {id: T1, kind: POS, owner: 1, pin: 1234}\n", []string{`r.yaml:3: terminal: unknown key "pin"`}},
		{"agent clashes with institution", "institutions: [{id: 1}]\nagents: [{id: 1}]\n", []string{`r.yaml:2: agent id "1" is also an institution id (line 1)`}},
		{"agent id with space", "agents: [{id: 'A B'}]\n", []string{`r.yaml:1: agent id "A B"`}},
		{"duplicate agent", "agents:\n  - id: A\n  - id: A\n", []string{`r.yaml:3: duplicate agent id "A" (first declared at line 2)`}},
		{"every problem reported", `institutions:
  - id: X
  - id: 7
    timeout: soon
terminals:
  - {id: T1, kind: VAN, owner: 7}
  - {id: T2, kind: POS, owner: nobody}
`, []string{
			`r.yaml:2: institution id "X"`,
			`r.yaml:4: institution 7: timeout "soon"`,
			`r.yaml:6: terminal T1: unknown terminal kind "VAN"`,
			`r.yaml:7: terminal T2: owner "nobody" is neither`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse("r.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("accepted; want %q", tt.want)
			}
			if r != nil {
				t.Error("returned a registry with the error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			if len(pe.Problems) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(pe.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got := pe.Problems[i].String(); !strings.Contains(got, w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, w)
				}
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reg.yaml")
	if err := os.WriteFile(path, []byte("institutions:\n  - id: 1\n    bogus: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: ") {
		t.Errorf("Load error = %v, want it to start with %s:3:", err, path)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file = %v", err)
	}
}

func TestAliases(t *testing.T) {
	r, err := Parse("a.yaml", []byte(`
institutions:
  - id: &pc "100001"
    bins: &bins
      - prefix: "4"
terminals:
  - {id: A1, kind: ATM, owner: *pc}
`))
	if err != nil {
		t.Fatal(err)
	}
	if term, _ := r.Terminal("A1"); term == nil || term.Owner != "100001" {
		t.Errorf("alias owner not resolved: %+v", term)
	}
}
