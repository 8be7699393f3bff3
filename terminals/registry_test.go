package terminals

import (
	"net/netip"
	"testing"
)

func TestKind(t *testing.T) {
	for _, k := range []Kind{KindPOS, KindKiosk, KindATM, KindCashier} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", k.String(), got, err, k)
		}
	}
	for _, s := range []string{"", "pos", "Atm", "TELLER", "Kind(0)"} {
		if k, err := ParseKind(s); err == nil {
			t.Errorf("ParseKind(%q) = %v, want an error", s, k)
		}
	}
	if Kind(0).Valid() || Kind(5).Valid() || Kind(0).String() != "Kind(0)" {
		t.Error("invalid kinds not recognised as such")
	}
}

const routeYAML = `
institutions:
  - id: "1"
    bins:
      - {low: "400000", high: "499999"}
      - {low: "600000", high: "600009"}
      - prefix: "9"
  - id: "2"
    bins:
      - prefix: "41697399"          # carved out of 1's range
      - {low: "500000", high: "509999"}
  - id: "3"
    bins:
      - {low: "4169", high: "4169"} # inside 1's range, around 2's BIN
      - {low: "510000", high: "519999"}
`

func TestRoute(t *testing.T) {
	r, err := Parse("route.yaml", []byte(routeYAML))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pan  string
		want string // "" = no route
	}{
		{"4000000000000002", "1"},
		{"4999999999999999", "1"},
		{"4169739900000000", "2"}, // 8-digit BIN inside 3's 4169 inside 1's 4xxxxx
		{"4169738800123456", "3"}, // 4169 is inside 400000-499999
		{"4169999999999999", "3"},
		{"4168999999999999", "1"},
		{"4170000000000000", "1"},
		{"3999999999999999", ""},
		{"5000000000000000", "2"},
		{"5099999999999999", "2"},
		{"5100000000000000", "3"},
		{"5199999999999999", "3"},
		{"5200000000000000", ""},
		{"6000050000000000", "1"},
		{"6000100000000000", ""},
		{"9", "1"},
		{"90000", "1"},
		{"41697399", "2"},
		{"4169739", "3"},              // short PANs read as zero padded: 41697390…
		{"41697399000000000000", "2"}, // digits past the 19th are ignored
		{"", ""},
		{"4169 7388 0012 3456", ""}, // not digits
		{"416973880012345X", ""},
	}
	for _, tt := range tests {
		in, ok := r.Route(tt.pan)
		got := ""
		if ok {
			got = in.ID
		}
		if got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.pan, got, tt.want)
		}
	}
}

func TestBINRangeContains(t *testing.T) {
	b := BINRange{Low: "416973", High: "416974"}
	for pan, want := range map[string]bool{"4169730": true, "416974": true, "416975": false, "41697": false, "416972999": false} {
		if got := b.Contains(pan); got != want {
			t.Errorf("%v.Contains(%q) = %v", b, pan, got)
		}
	}
}

func TestAccepts(t *testing.T) {
	r, err := Parse("a.yaml", []byte(`institutions: [{id: "1", accept: ["10.1.0.0/16", "192.0.2.7", "2001:db8::/32"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := r.Institution("1")
	for addr, want := range map[string]bool{
		"10.1.2.3":        true,
		"10.2.0.1":        false,
		"192.0.2.7":       true,
		"192.0.2.8":       false,
		"::ffff:10.1.9.9": true, // IPv4-mapped, as a dual-stack listener reports it
		"2001:db8::1":     true,
		"2001:db9::1":     false,
		"127.0.0.1":       false,
	} {
		if got := in.Accepts(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Accepts(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestLookupsMiss(t *testing.T) {
	r := Demo()
	if _, ok := r.Institution("999999"); ok {
		t.Error("unknown institution found")
	}
	if _, ok := r.Terminal("NOPE0001"); ok {
		t.Error("unknown terminal found")
	}
	if _, ok := r.Agent("100001"); ok {
		t.Error("institution found as an agent")
	}
}

func BenchmarkRoute(b *testing.B) {
	r, err := Parse("route.yaml", []byte(routeYAML))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Route("4169738800123456"); !ok {
			b.Fatal("no route")
		}
	}
}
