package terminals

import _ "embed"

//go:embed demo.yaml
var demoYAML string // a string, so the embedded bytes cannot be modified

// Demo returns the registry of `billswitch serve --demo`, built fresh on each
// call: processing centre 100001 (BINs 400000–499999, not dialled), its ATM
// ATM00001, and cash kiosk T0000001 owned by agent DEMOAGENT. These are the
// ids the conformance kit uses by default.
func Demo() *Registry {
	r, err := Parse("demo.yaml", []byte(demoYAML))
	if err != nil {
		// demo.yaml is compiled in and covered by TestDemo.
		panic("terminals: built-in demo registry is invalid: " + err.Error())
	}
	return r
}

// DemoDialling is the demo registry with the host dialling processing centre 100001 at
// addr, for `billswitch demo`, whose simulated PC also authorizes the terminal's card
// payments on the connection the host dials.
func DemoDialling(addr string) *Registry {
	r := Demo()
	if inst, ok := r.Institution("100001"); ok {
		inst.Dial = []string{addr}
	}
	return r
}
