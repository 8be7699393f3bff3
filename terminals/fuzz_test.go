package terminals

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: any input is either a registry or a *ParseError whose every
// problem names the file; never a panic. An accepted registry's own lookups
// agree with it.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/registry.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(routeYAML))
	f.Add([]byte("institutions: [{id: 1, bins: [{prefix: '4'}, {low: '41', high: '42'}]}]\nterminals: [{id: T, kind: POS, owner: 1}]\n"))
	f.Add([]byte("institutions:\n  - id: &a 1\n  - *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("f.yaml", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %v is not a non-empty *ParseError", err)
			}
			for _, p := range pe.Problems {
				if !strings.HasPrefix(p.String(), "f.yaml") {
					t.Fatalf("problem %q does not name the file", p)
				}
			}
			return
		}
		for _, in := range r.Institutions() {
			if got, ok := r.Institution(in.ID); !ok || got != in {
				t.Fatalf("institution %q not found by its id", in.ID)
			}
			for _, b := range in.BINs {
				if _, ok := r.Route(b.Low); !ok {
					t.Fatalf("BIN %s of %s routes nowhere", b.Low, in.ID)
				}
			}
		}
		for _, term := range r.Terminals() {
			if got, ok := r.Terminal(term.ID); !ok || got != term {
				t.Fatalf("terminal %q not found by its id", term.ID)
			}
		}
	})
}
