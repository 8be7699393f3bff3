package terminals

import (
	"reflect"
	"testing"
)

// TestDemo checks the ids the conformance kit relies on
// (../shared/conformance/README.md, "What the host's --demo must hold").
func TestDemo(t *testing.T) {
	r := Demo()
	pc, ok := r.Institution("100001")
	if !ok {
		t.Fatal("demo lacks PC 100001")
	}
	if len(pc.Dial) != 0 {
		t.Errorf("demo PC is dialled (%v); the kit never accepts connections", pc.Dial)
	}
	if in, ok := r.Route("4169738800123456"); !ok || in != pc {
		t.Errorf("the kit's PAN routes to %v, %v; want PC 100001", in, ok)
	}
	atm, ok := r.Terminal("ATM00001")
	if !ok || atm.Owner != "100001" || atm.Kind != KindATM {
		t.Errorf("ATM00001 = %+v, %v; want an ATM under 100001", atm, ok)
	}
	cash, ok := r.Terminal("T0000001")
	if !ok || !cash.Cash {
		t.Errorf("T0000001 = %+v, %v; want a terminal accepting cash", cash, ok)
	}
	if Demo() == r {
		t.Error("Demo returned the same registry twice")
	}
}

// TestExampleHoldsDemo keeps testdata/registry.yaml, the example shipped to
// operators, in step with the built-in demo: every demo entry is in the
// example, unchanged.
func TestExampleHoldsDemo(t *testing.T) {
	ex, err := Load("testdata/registry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	demo := Demo()
	for _, in := range demo.Institutions() {
		got, ok := ex.Institution(in.ID)
		if !ok || !reflect.DeepEqual(got, in) {
			t.Errorf("institution %s: example has %+v, demo %+v", in.ID, got, in)
		}
	}
	for _, a := range demo.Agents() {
		if got, ok := ex.Agent(a.ID); !ok || *got != *a {
			t.Errorf("agent %s: example has %+v, demo %+v", a.ID, got, a)
		}
	}
	for _, term := range demo.Terminals() {
		if got, ok := ex.Terminal(term.ID); !ok || *got != *term {
			t.Errorf("terminal %s: example has %+v, demo %+v", term.ID, got, term)
		}
	}
	// The example's extra 8-digit range takes 41697399… away from 100001,
	// which must not capture the kit's PAN.
	if in, ok := ex.Route("4169738800123456"); !ok || in.ID != "100001" {
		t.Errorf("example routes the kit's PAN to %v", in)
	}
}

func TestDemoDialling(t *testing.T) {
	r := DemoDialling("127.0.0.1:9999")
	inst, ok := r.Institution("100001")
	if !ok || len(inst.Dial) != 1 || inst.Dial[0] != "127.0.0.1:9999" {
		t.Fatalf("100001 dial = %v, want [127.0.0.1:9999]", inst)
	}
	if plain, _ := Demo().Institution("100001"); len(plain.Dial) != 0 {
		t.Fatalf("Demo() must stay undialled, got %v", plain.Dial)
	}
}
