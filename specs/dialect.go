package specs

import (
	"embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/moov-io/iso8583"
	"github.com/moov-io/iso8583/encoding"
	"github.com/moov-io/iso8583/field"
	moovspecs "github.com/moov-io/iso8583/specs"
)

//go:embed data/pc87a.json data/term87b.json
var specData embed.FS

// class is the ISO attribute of a data element (host-iso8583.md §2 format column).
type class uint8

const (
	classN   class = iota + 1 // numeric digits
	classAN                   // alphanumeric
	classANS                  // alphanumeric and special
	classZ                    // track 2 code set
	classB                    // binary
	classXN                   // 'C' or 'D' then digits
)

// enc is how a field's content travels.
type enc uint8

const (
	encASCII  enc = iota + 1 // characters as they are
	encBCD                   // packed BCD, odd counts left-padded with a 0 nibble
	encHex                   // bytes as upper-case hex ASCII (read in either case)
	encRaw                   // bytes as they are
	encSigned                // one ASCII sign byte, then BCD digits (term87b DE 97)
)

// fieldDef is the compact per-field table derived once from the loaded MessageSpec.
type fieldDef struct {
	de      int
	class   class
	enc     enc
	max     int  // fixed length or maximum: digits, characters or bytes (digits after the sign for x+n)
	prefix  int  // 0 fixed, 2 LL, 3 LLL (digits of the length prefix)
	bcdPref bool // prefix digits are BCD (term87b) rather than ASCII (pc87a)
}

// Dialect is one link's ISO 8583 dialect: the moov spec (source of truth, loaded from
// embedded JSON) and the fast codec table derived from it. It is immutable and safe for
// concurrent use; callers build one per dialect and keep it.
type Dialect struct {
	name   string
	link   Link
	spec   *iso8583.MessageSpec
	framer Framer
	mtiEnc enc // encASCII (4 chars) or encBCD (2 bytes)
	bmHex  bool
	defs   [129]*fieldDef
	order  []*fieldDef // defined fields in ascending DE order
}

// NewPC87A builds the PC-link dialect from its embedded spec data.
func NewPC87A() (*Dialect, error) {
	return newDialect("pc87a", LinkPC, "data/pc87a.json", pcFramer{})
}

// NewTerm87B builds the terminal-link dialect from its embedded spec data.
func NewTerm87B() (*Dialect, error) {
	return newDialect("term87b", LinkTerminal, "data/term87b.json", termFramer{})
}

// Name is the dialect's name ("pc87a" or "term87b").
func (d *Dialect) Name() string { return d.name }

// Link is the link the dialect is spoken on.
func (d *Dialect) Link() Link { return d.link }

// Framer is the length framing of the dialect's link.
func (d *Dialect) Framer() Framer { return d.framer }

// Spec is the moov-io/iso8583 message spec the dialect was built from (with the
// project's BCD encoders substituted). Callers must not modify it.
func (d *Dialect) Spec() *iso8583.MessageSpec { return d.spec }

func newDialect(name string, link Link, file string, fr Framer) (*Dialect, error) {
	raw, err := specData.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("specs: %s: %w", name, err)
	}
	spec, err := moovspecs.ImportJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("specs: %s: import spec: %w", name, err)
	}
	d := &Dialect{name: name, link: link, spec: spec, framer: fr}
	// Substitute the project's BCD encoders for moov's (built once, no per-call set-up).
	// DE 97 (x+n) on term87b is a sign byte then BCD, which moov's JSON cannot name: its
	// placeholder "BCD" becomes the signed codec.
	for _, f := range spec.Fields {
		s := f.Spec()
		if s.Enc == encoding.BCD {
			s.Enc = bcdCodec{}
			if strings.HasPrefix(s.Description, "x+n") {
				s.Enc = signedBCDCodec{}
			}
		}
	}
	if err := d.derive(); err != nil {
		return nil, fmt.Errorf("specs: %s: %w", name, err)
	}
	return d, nil
}

// derive builds the compact field table from d.spec and checks it against the §2
// format written in each field's description and against the typed Message.
func (d *Dialect) derive() error {
	mti, ok := d.spec.Fields[0]
	if !ok {
		return fmt.Errorf("no MTI (field 0)")
	}
	switch s := mti.Spec(); {
	case s.Length == 4 && s.Enc == encoding.ASCII:
		d.mtiEnc = encASCII
	case s.Length == 4 && isBCD(s.Enc):
		d.mtiEnc = encBCD
	default:
		return fmt.Errorf("field 0: unsupported MTI spec")
	}
	bm, ok := d.spec.Fields[1].(*field.Bitmap)
	if !ok {
		return fmt.Errorf("field 1: not a bitmap")
	}
	switch s := bm.Spec(); {
	case s.Length == 8 && s.Enc == encoding.BytesToASCIIHex:
		d.bmHex = true
	case s.Length == 8 && s.Enc == encoding.Binary:
	default:
		return fmt.Errorf("field 1: bitmap must be 8 bytes, hex ASCII or binary")
	}
	for de := 2; de <= 128; de++ {
		f, ok := d.spec.Fields[de]
		if !ok {
			continue
		}
		def, err := deriveField(de, f)
		if err != nil {
			return fmt.Errorf("field %d: %w", de, err)
		}
		var probe Message
		if def.class == classB {
			if binPtr(&probe, de) == nil {
				return fmt.Errorf("field %d: no binary Message field", de)
			}
		} else if strPtr(&probe, de) == nil {
			return fmt.Errorf("field %d: no string Message field", de)
		}
		d.defs[de] = def
		d.order = append(d.order, def)
	}
	for de := range d.spec.Fields {
		if de < 0 || de > 128 || (de == 65) {
			return fmt.Errorf("field %d: outside the bitmap", de)
		}
	}
	return nil
}

func isBCD(e encoding.Encoder) bool { _, ok := e.(bcdCodec); return ok }

// deriveField reads one field.Spec into a fieldDef. The description starts with the §2
// format (n6, ans..999 LLLVAR, x+n16, b8), which must agree with the spec's own length,
// prefix and encoding.
func deriveField(de int, f field.Field) (*fieldDef, error) {
	s := f.Spec()
	def := &fieldDef{de: de}
	format, _, _ := strings.Cut(s.Description, " ")
	var kind string
	switch {
	case strings.HasPrefix(format, "x+n"):
		kind, def.class = "x+n", classXN
	case strings.HasPrefix(format, "ans"):
		kind, def.class = "ans", classANS
	case strings.HasPrefix(format, "an"):
		kind, def.class = "an", classAN
	case strings.HasPrefix(format, "n"):
		kind, def.class = "n", classN
	case strings.HasPrefix(format, "z"):
		kind, def.class = "z", classZ
	case strings.HasPrefix(format, "b"):
		kind, def.class = "b", classB
	default:
		return nil, fmt.Errorf("description %q does not start with a format", s.Description)
	}
	rest := format[len(kind):]
	variable := strings.HasPrefix(rest, "..")
	rest = strings.TrimPrefix(rest, "..")
	max, err := strconv.Atoi(rest)
	if err != nil || max < 1 {
		return nil, fmt.Errorf("bad format %q", format)
	}
	def.max = max
	want := max
	if def.class == classXN {
		want = max + 1
	}
	if s.Length != want {
		return nil, fmt.Errorf("format %s but spec length %d", format, s.Length)
	}
	pref := s.Pref.Inspect()
	switch pref {
	case "ASCII.Fixed", "BCD.Fixed", "Binary.Fixed", "Hex.Fixed":
	case "ASCII.LL", "BCD.LL":
		def.prefix = 2
	case "ASCII.LLL", "BCD.LLL":
		def.prefix = 3
	default:
		return nil, fmt.Errorf("unsupported prefix %s", pref)
	}
	def.bcdPref = strings.HasPrefix(pref, "BCD.")
	if variable != (def.prefix != 0) {
		return nil, fmt.Errorf("format %s but prefix %s", format, pref)
	}
	if variable && !strings.Contains(s.Description, strings.Repeat("L", def.prefix)+"VAR") {
		return nil, fmt.Errorf("description %q does not name prefix %s", s.Description, pref)
	}
	switch e := s.Enc; {
	case e == encoding.ASCII:
		def.enc = encASCII
	case e == encoding.BytesToASCIIHex:
		def.enc = encHex
	case e == encoding.Binary:
		def.enc = encRaw
	case isBCD(e):
		def.enc = encBCD
	default:
		if _, ok := e.(signedBCDCodec); ok {
			def.enc = encSigned
		} else {
			return nil, fmt.Errorf("unsupported encoding")
		}
	}
	ok := false
	switch def.class {
	case classN:
		ok = def.enc == encASCII || def.enc == encBCD
	case classAN, classANS, classZ:
		ok = def.enc == encASCII
	case classB:
		ok = def.enc == encHex || def.enc == encRaw
	case classXN:
		ok = def.enc == encASCII || def.enc == encSigned
	}
	if !ok {
		return nil, fmt.Errorf("encoding does not fit format %s", format)
	}
	_, isBin := f.(*field.Binary)
	if isBin != (def.class == classB) {
		return nil, fmt.Errorf("field type does not fit format %s", format)
	}
	if def.class != classB {
		if _, isStr := f.(*field.String); !isStr {
			return nil, fmt.Errorf("field type must be String (leading zeros must survive)")
		}
	}
	return def, nil
}

// strPtr maps a data element to its string field of Message (nil if none).
func strPtr(m *Message, de int) *string {
	switch de {
	case 2:
		return &m.PAN
	case 3:
		return &m.ProcessingCode
	case 4:
		return &m.Amount
	case 7:
		return &m.TransmissionDateTime
	case 11:
		return &m.STAN
	case 12:
		return &m.LocalTime
	case 13:
		return &m.LocalDate
	case 14:
		return &m.Expiry
	case 15:
		return &m.SettlementDate
	case 18:
		return &m.MerchantType
	case 22:
		return &m.POSEntryMode
	case 32:
		return &m.AcquirerID
	case 33:
		return &m.ForwarderID
	case 35:
		return &m.Track2
	case 37:
		return &m.RRN
	case 38:
		return &m.AuthID
	case 39:
		return &m.ResponseCode
	case 41:
		return &m.TerminalID
	case 42:
		return &m.CardAcceptorID
	case 43:
		return &m.CardAcceptorName
	case 48:
		return &m.AdditionalData
	case 49:
		return &m.Currency
	case 54:
		return &m.AdditionalAmounts
	case 66:
		return &m.SettlementCode
	case 70:
		return &m.NetworkCode
	case 76:
		return &m.DebitsNumber
	case 77:
		return &m.DebitsReversalNumber
	case 88:
		return &m.DebitsAmount
	case 89:
		return &m.DebitsReversalAmount
	case 90:
		return &m.OriginalData
	case 97:
		return &m.NetSettlement
	}
	return nil
}

// binPtr maps a binary data element to its field of Message (nil if none).
func binPtr(m *Message, de int) *[]byte {
	switch de {
	case 52:
		return &m.PINBlock
	case 64:
		return &m.MAC
	case 128:
		return &m.MAC2
	}
	return nil
}

// Reset clears every field.
func (m *Message) Reset() { *m = Message{} }
