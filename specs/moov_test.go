package specs

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/field"
)

// TestMoovAgrees checks the fast codec against moov's own Message.Pack/Unpack over the
// same spec data, on every golden vector: the data spec is the source of truth.
func TestMoovAgrees(t *testing.T) {
	pc, term := dialects(t)
	for _, g := range goldens() {
		for _, c := range []struct {
			d   *Dialect
			raw string
		}{{pc, g.pc}, {term, g.term}} {
			t.Run(g.name+"/"+c.d.Name(), func(t *testing.T) {
				// moov unpacks the golden bytes to the same fields.
				mm := iso8583.NewMessage(c.d.Spec())
				if err := mm.Unpack([]byte(c.raw)); err != nil {
					t.Fatalf("moov unpack: %v", err)
				}
				want := g.msg
				if mti, _ := mm.GetMTI(); mti != want.MTI {
					t.Errorf("moov MTI %q, want %q", mti, want.MTI)
				}
				n := 0
				for _, def := range c.d.order {
					if c.d.present(def.de, &want) {
						n++
					}
				}
				if got := len(mm.GetFields()); got != n+2 { // + MTI and bitmap
					t.Errorf("moov unpacked %d fields, want %d", got, n+2)
				}
				for de, f := range mm.GetFields() {
					if de < 2 {
						continue
					}
					def := c.d.defs[de]
					if def == nil {
						t.Errorf("moov unpacked field %d the fast codec does not know", de)
						continue
					}
					if def.class == classB {
						b, _ := f.Bytes()
						if !bytes.Equal(b, *binPtr(&want, de)) {
							t.Errorf("field %d: moov %x, want %x", de, b, *binPtr(&want, de))
						}
						continue
					}
					s, _ := f.String()
					exp := *strPtr(&want, de)
					if def.prefix == 0 && len(s) < len(exp) { // moov unpads fixed fields
						if def.class == classN {
							s = strings.Repeat("0", len(exp)-len(s)) + s
						} else {
							s += strings.Repeat(" ", len(exp)-len(s))
						}
					}
					if s != exp {
						t.Errorf("field %d: moov %q, want %q", de, s, exp)
					}
				}
				for _, def := range c.d.order {
					if c.d.present(def.de, &want) {
						if _, ok := mm.GetFields()[def.de]; !ok {
							t.Errorf("field %d: moov did not unpack it", def.de)
						}
					}
				}
				// moov packs the same fields to the golden bytes.
				pm := iso8583.NewMessage(c.d.Spec())
				pm.MTI(want.MTI)
				for _, def := range c.d.order {
					if !c.d.present(def.de, &want) {
						continue
					}
					var err error
					if def.class == classB {
						err = pm.BinaryField(def.de, *binPtr(&want, def.de))
					} else {
						err = pm.Field(def.de, *strPtr(&want, def.de))
					}
					if err != nil {
						t.Fatalf("moov set %d: %v", def.de, err)
					}
				}
				got, err := pm.Pack()
				if err != nil {
					t.Fatalf("moov pack: %v", err)
				}
				if string(got) != c.raw {
					t.Errorf("moov pack:\n got %x\nwant %x", got, c.raw)
				}
			})
		}
	}
}

// TestSpecData checks the loaded specs against §2: exactly the listed data elements,
// all typed String or Binary (never Numeric: leading zeros must survive), the project's
// BCD codecs substituted.
func TestSpecData(t *testing.T) {
	want := []int{2, 3, 4, 7, 11, 12, 13, 14, 15, 18, 22, 32, 33, 35, 37, 38, 39, 41, 42, 43,
		48, 49, 52, 54, 64, 66, 70, 76, 77, 88, 89, 90, 97, 128}
	pc, term := dialects(t)
	for _, d := range []*Dialect{pc, term} {
		var got []int
		for _, def := range d.order {
			got = append(got, def.de)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: fields %v, want %v", d.Name(), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: fields %v, want %v", d.Name(), got, want)
			}
		}
		for de, f := range d.Spec().Fields {
			switch f.(type) {
			case *field.String, *field.Binary, *field.Bitmap:
			default:
				t.Errorf("%s: field %d has type %T", d.Name(), de, f)
			}
		}
	}
	if term.defs[97].enc != encSigned || term.defs[3].enc != encBCD || pc.defs[52].enc != encHex {
		t.Error("encoders not substituted or derived as expected")
	}
	if pc.Link() != LinkPC || term.Link() != LinkTerminal || pc.Framer().HeaderLen() != 4 ||
		term.Framer().HeaderLen() != 2 {
		t.Error("link or framer mismatch")
	}
}

// TestToFromMoov: every golden message survives the trip through a moov message, and
// moov packs that message to the golden bytes.
func TestToFromMoov(t *testing.T) {
	pc, term := dialects(t)
	for _, g := range goldens() {
		for _, c := range []struct {
			d   *Dialect
			raw string
		}{{pc, g.pc}, {term, g.term}} {
			t.Run(g.name+"/"+c.d.Name(), func(t *testing.T) {
				want := g.msg
				mm, err := c.d.ToMoov(&want)
				if err != nil {
					t.Fatal(err)
				}
				packed, err := mm.Pack()
				if err != nil {
					t.Fatalf("moov pack: %v", err)
				}
				if string(packed) != c.raw {
					t.Errorf("moov packed %x, want %x", packed, c.raw)
				}
				var back Message
				if err := FromMoov(mm, &back); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(back, want) {
					t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
				}
			})
		}
	}
}
