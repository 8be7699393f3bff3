package httpapi

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in     string
		digits int
		signed bool
		want   int64
		ok     bool
	}{
		{"34.50", 2, false, 3450, true},
		{"34.5", 2, false, 3450, true},
		{"34", 2, false, 3400, true},
		{"0.01", 2, false, 1, true},
		{"007.00", 2, false, 700, true},
		{"1.234", 3, false, 1234, true},
		{"5", 0, false, 5, true},
		{"-2.00", 2, true, -200, true},
		{"-2.00", 2, false, 0, false},
		{"34.505", 2, false, 0, false},
		{"5.0", 0, false, 0, false},
		{"", 2, false, 0, false},
		{".5", 2, false, 0, false},
		{"5.", 2, false, 0, false},
		{"1e3", 2, false, 0, false},
		{"+1", 2, false, 0, false},
		{" 1", 2, false, 0, false},
		{"1,00", 2, false, 0, false},
		{"NaN", 2, false, 0, false},
		{"99999999999.99", 2, false, 9999999999999, true},
		{"100000000000.00", 2, false, 0, false},
		{"99999999999999999999999999", 2, false, 0, false},
	} {
		got, err := parseAmount(c.in, c.digits, c.signed)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseAmount(%q, %d) = %d, %v; want %d ok=%v", c.in, c.digits, got, err, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		v      int64
		digits int
		want   string
	}{{3450, 2, "34.50"}, {-5, 2, "-0.05"}, {0, 2, "0.00"}, {7, 0, "7"}, {1234, 3, "1.234"}} {
		if got := formatAmount(c.v, c.digits); got != c.want {
			t.Errorf("formatAmount(%d, %d) = %q, want %q", c.v, c.digits, got, c.want)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	if got := maskPAN("4169741234567890"); got != "416974******7890" {
		t.Fatal(got)
	}
	if got := maskPAN("123"); got != "****" {
		t.Fatal(got)
	}
}

// Every route is documented in the OpenAPI document and served; every documented
// operation is a route.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	routes := map[string]bool{}
	for _, r := range Routes() {
		routes[r] = true
		method, path, _ := strings.Cut(r, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is not documented", r)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s has no responses", r)
		}
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if m == "parameters" || strings.HasSuffix(path, "openapi.yaml") {
				continue
			}
			if !routes[strings.ToUpper(m)+" "+path] {
				t.Errorf("documented %s %s is no route", m, path)
			}
		}
	}
	// Every route is served by its handler, not the catch-all.
	e := newEnv(t, envOpts{})
	for _, r := range Routes() {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{provider}", "AZERISIQ", "{receipt}", "R2611010000001", "{code}", e.regcode,
			"{account}", "1000000001", "{id}", "x").Replace(path)
		res := e.req(method, path, "", nil)
		if res.status == 404 || res.status == 405 {
			if p := res.problem(t); p.Code == CodeNotFound || p.Code == CodeMethodNotAllowed {
				t.Errorf("%s: not routed (%s)", r, res.body)
			}
		}
	}
}

func TestLockKey(t *testing.T) {
	s := &Server{keyLocks: map[string]*keyLock{}}
	unlockA := s.lockKey("a")
	// Another key does not wait.
	done := make(chan struct{})
	go func() { s.lockKey("b")(); close(done) }()
	<-done
	// The same key waits until the first unlocks.
	got := make(chan struct{})
	go func() { s.lockKey("a")(); close(got) }()
	select {
	case <-got:
		t.Fatal("the same key was locked twice")
	case <-time.After(20 * time.Millisecond):
	}
	unlockA()
	<-got
	if len(s.keyLocks) != 0 {
		t.Fatalf("%d locks left", len(s.keyLocks))
	}
}

// FuzzParseAmount: whatever is accepted round-trips through formatAmount, and never
// has more fraction digits than the currency.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"34.50", "0.01", "-2.00", "1e3", "99999999999.99", ".5", "007", "1.234"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		digits := int(d % 4)
		v, err := parseAmount(s, digits, true)
		if err != nil {
			return
		}
		if _, frac, ok := strings.Cut(s, "."); ok && len(frac) > digits {
			t.Fatalf("%q accepted with %d digits", s, digits)
		}
		back, err := parseAmount(formatAmount(v, digits), digits, true)
		if err != nil || back != v {
			t.Fatalf("%q → %d → %q → %d, %v", s, v, formatAmount(v, digits), back, err)
		}
	})
}

// Every $ref of the OpenAPI document resolves.
func TestOpenAPIRefs(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(ref string) bool {
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				return false
			}
			if cur, ok = m[part]; !ok {
				return false
			}
		}
		return true
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k == "$ref" {
					n++
					if s, _ := c.(string); !strings.HasPrefix(s, "#/") || !resolve(s) {
						t.Errorf("unresolved $ref %v", c)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	if n < 50 {
		t.Fatalf("only %d $refs found", n)
	}
}
