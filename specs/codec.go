package specs

import (
	"encoding/hex"
	"errors"
	"strconv"
)

// FieldError is an unpack or pack error of one field. It names the field and the
// reason only: it never holds any byte of the message (card data included).
// Field 0 is the MTI, field 1 the bitmap.
type FieldError struct {
	Field  int
	Reason string
}

func (e *FieldError) Error() string {
	switch e.Field {
	case 0:
		return "MTI: " + e.Reason
	case 1:
		return "bitmap: " + e.Reason
	}
	return "field " + strconv.Itoa(e.Field) + ": " + e.Reason
}

// ErrTrailingData is returned by Unpack when bytes follow the last field of the bitmap.
var ErrTrailingData = errors.New("specs: bytes after the last field")

func ferr(de int, reason string) error { return &FieldError{Field: de, Reason: reason} }

func ferrE(de int, err error) error { return &FieldError{Field: de, Reason: err.Error()} }

// field value locations collected during unpack, resolved into strings at the end so
// that a whole message costs one or two string allocations.
type span struct {
	de         uint8
	fromDigits bool // in the decoded-digit buffer rather than the raw message
	start, end uint16
}

// Unpack reads one message (without frame header) into m, which is reset first.
// Only the data elements of §2 may be present; bytes after the last field are an error.
func (d *Dialect) Unpack(raw []byte, m *Message) error {
	m.Reset()
	if len(raw) > 0xFFFF {
		return ferr(0, "message longer than 65535 bytes")
	}
	var digitsArr [256]byte
	digits := digitsArr[:0]
	var spansArr [40]span
	spans := spansArr[:0]

	var bm [16]byte
	pos, mtiSpan, err := d.readHead(raw, &bm, &digits)
	if err != nil {
		return err
	}
	for de := 2; de <= 128; de++ {
		if bm[(de-1)>>3]&(0x80>>((de-1)&7)) == 0 {
			continue
		}
		def := d.defs[de]
		if def == nil {
			return ferr(de, "not a data element of this dialect")
		}
		if def.class == classB {
			v, n, err := d.readBinary(def, raw[pos:])
			if err != nil {
				return err
			}
			*binPtr(m, de) = v
			pos += n
			continue
		}
		sp, n, err := d.readField(def, raw, pos, &digits)
		if err != nil {
			return err
		}
		spans = append(spans, sp)
		pos += n
	}
	if pos != len(raw) {
		return ErrTrailingData
	}
	rs := string(raw)
	var ds string
	if len(digits) > 0 {
		ds = string(digits)
	}
	if mtiSpan.fromDigits {
		m.MTI = ds[mtiSpan.start:mtiSpan.end]
	} else {
		m.MTI = rs[mtiSpan.start:mtiSpan.end]
	}
	for _, sp := range spans {
		p := strPtr(m, int(sp.de))
		if sp.fromDigits {
			*p = ds[sp.start:sp.end]
		} else {
			*p = rs[sp.start:sp.end]
		}
	}
	return nil
}

// readHead reads MTI and bitmap; it returns the position after the bitmap.
func (d *Dialect) readHead(raw []byte, bm *[16]byte, digits *[]byte) (int, span, error) {
	var sp span
	pos := 0
	if d.mtiEnc == encASCII {
		if len(raw) < 4 {
			return 0, sp, ferr(0, "truncated")
		}
		if !allDigits(raw[:4]) {
			return 0, sp, ferr(0, "not 4 digits")
		}
		sp = span{start: 0, end: 4}
		pos = 4
	} else {
		if len(raw) < 2 {
			return 0, sp, ferr(0, "truncated")
		}
		start := len(*digits)
		var err error
		*digits, err = appendDigits(*digits, raw[:2], 4)
		if err != nil {
			return 0, sp, ferrE(0, err)
		}
		sp = span{fromDigits: true, start: uint16(start), end: uint16(start + 4)}
		pos = 2
	}
	n, err := d.readBitmap(raw[pos:], bm[:8])
	if err != nil {
		return 0, sp, err
	}
	pos += n
	if bm[0]&0x80 != 0 {
		n, err = d.readBitmap(raw[pos:], bm[8:])
		if err != nil {
			return 0, sp, err
		}
		pos += n
	}
	return pos, sp, nil
}

func (d *Dialect) readBitmap(src []byte, dst []byte) (int, error) {
	if d.bmHex {
		if len(src) < 16 {
			return 0, ferr(1, "truncated")
		}
		for i := 0; i < 8; i++ {
			hi, ok1 := unhex(src[2*i])
			lo, ok2 := unhex(src[2*i+1])
			if !ok1 || !ok2 {
				return 0, ferr(1, "not hexadecimal")
			}
			dst[i] = hi<<4 | lo
		}
		return 16, nil
	}
	if len(src) < 8 {
		return 0, ferr(1, "truncated")
	}
	copy(dst, src[:8])
	return 8, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// readLen reads the length prefix of a variable field (or returns the fixed length).
func readLen(def *fieldDef, src []byte) (length, read int, err error) {
	if def.prefix == 0 {
		return def.max, 0, nil
	}
	if def.bcdPref {
		read = (def.prefix + 1) / 2
		if len(src) < read {
			return 0, 0, ferr(def.de, "truncated length prefix")
		}
		var buf [4]byte
		ds, e := appendDigits(buf[:0], src[:read], def.prefix)
		if e != nil {
			return 0, 0, ferr(def.de, "length prefix: "+e.Error())
		}
		for _, c := range ds {
			length = length*10 + int(c-'0')
		}
	} else {
		read = def.prefix
		if len(src) < read {
			return 0, 0, ferr(def.de, "truncated length prefix")
		}
		for _, c := range src[:read] {
			if c < '0' || c > '9' {
				return 0, 0, ferr(def.de, "length prefix not digits")
			}
			length = length*10 + int(c-'0')
		}
	}
	if length == 0 {
		return 0, 0, ferr(def.de, "empty variable field")
	}
	if length > def.max {
		return 0, 0, ferr(def.de, "length over maximum")
	}
	return length, read, nil
}

// readField reads a character field at raw[pos:] and returns where its value is.
func (d *Dialect) readField(def *fieldDef, raw []byte, pos int, digits *[]byte) (span, int, error) {
	src := raw[pos:]
	length, read, err := readLen(def, src)
	if err != nil {
		return span{}, 0, err
	}
	body := src[read:]
	de := uint8(def.de)
	switch def.enc {
	case encASCII:
		n := length
		if def.class == classXN {
			n = length + 1
		}
		if len(body) < n {
			return span{}, 0, ferr(def.de, "truncated")
		}
		v := body[:n]
		if err := checkClass(def, v); err != nil {
			return span{}, 0, err
		}
		start := pos + read
		return span{de: de, start: uint16(start), end: uint16(start + n)}, read + n, nil
	case encBCD:
		nb := (length + 1) / 2
		if len(body) < nb {
			return span{}, 0, ferr(def.de, "truncated")
		}
		start := len(*digits)
		*digits, err = appendDigits(*digits, body[:nb], length)
		if err != nil {
			return span{}, 0, ferrE(def.de, err)
		}
		return span{de: de, fromDigits: true, start: uint16(start), end: uint16(len(*digits))}, read + nb, nil
	case encSigned:
		nb := 1 + (length+1)/2
		if len(body) < nb {
			return span{}, 0, ferr(def.de, "truncated")
		}
		if body[0] != 'C' && body[0] != 'D' {
			return span{}, 0, ferrE(def.de, errBadSign)
		}
		start := len(*digits)
		*digits = append(*digits, body[0])
		*digits, err = appendDigits(*digits, body[1:nb], length)
		if err != nil {
			return span{}, 0, ferrE(def.de, err)
		}
		return span{de: de, fromDigits: true, start: uint16(start), end: uint16(len(*digits))}, read + nb, nil
	}
	return span{}, 0, ferr(def.de, "unsupported encoding")
}

// readBinary reads a b field into a new slice.
func (d *Dialect) readBinary(def *fieldDef, src []byte) ([]byte, int, error) {
	length, read, err := readLen(def, src)
	if err != nil {
		return nil, 0, err
	}
	body := src[read:]
	if def.enc == encHex {
		if len(body) < 2*length {
			return nil, 0, ferr(def.de, "truncated")
		}
		v := make([]byte, length)
		if _, err := hex.Decode(v, body[:2*length]); err != nil {
			return nil, 0, ferr(def.de, "not hexadecimal")
		}
		return v, read + 2*length, nil
	}
	if len(body) < length {
		return nil, 0, ferr(def.de, "truncated")
	}
	v := make([]byte, length)
	copy(v, body)
	return v, read + length, nil
}

// checkClass checks characters against the field's attribute.
func checkClass[S ~string | ~[]byte](def *fieldDef, v S) error {
	switch def.class {
	case classN:
		if !allDigits(v) {
			return ferr(def.de, "not digits")
		}
	case classXN:
		if len(v) != def.max+1 || (v[0] != 'C' && v[0] != 'D') {
			return ferrE(def.de, errBadSign)
		}
		if !allDigits(v[1:]) {
			return ferr(def.de, "not digits")
		}
	default:
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return ferr(def.de, "not printable ASCII")
			}
		}
	}
	return nil
}

func allDigits[S ~string | ~[]byte](v S) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// Pack returns the packed message (without frame header).
func (d *Dialect) Pack(m *Message) ([]byte, error) {
	return d.AppendPack(make([]byte, 0, 512), m)
}

// AppendPack appends the packed message to dst. Absent fields ("" or nil) are left out;
// fixed fields shorter than their length are zero-filled (n) or space-filled (an/ans);
// the secondary bitmap is sent only when a field above 64 is present.
func (d *Dialect) AppendPack(dst []byte, m *Message) ([]byte, error) {
	if len(m.MTI) != 4 || !allDigits(m.MTI) {
		return dst, ferr(0, "not 4 digits")
	}
	var bm [16]byte
	secondary := false
	for _, def := range d.order {
		if d.present(def.de, m) {
			bm[(def.de-1)>>3] |= 0x80 >> ((def.de - 1) & 7)
			if def.de > 64 {
				secondary = true
			}
		}
	}
	if secondary {
		bm[0] |= 0x80
	}
	if d.mtiEnc == encASCII {
		dst = append(dst, m.MTI...)
	} else {
		dst, _ = appendBCD(dst, m.MTI)
	}
	nbm := 8
	if secondary {
		nbm = 16
	}
	if d.bmHex {
		for _, b := range bm[:nbm] {
			dst = append(dst, upperHex[b>>4], upperHex[b&0x0f])
		}
	} else {
		dst = append(dst, bm[:nbm]...)
	}
	var err error
	for _, def := range d.order {
		if bm[(def.de-1)>>3]&(0x80>>((def.de-1)&7)) == 0 {
			continue
		}
		if def.class == classB {
			dst, err = d.appendBinary(dst, def, *binPtr(m, def.de))
		} else {
			dst, err = d.appendField(dst, def, *strPtr(m, def.de))
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

const upperHex = "0123456789ABCDEF"

func (d *Dialect) present(de int, m *Message) bool {
	if p := strPtr(m, de); p != nil {
		return *p != ""
	}
	if p := binPtr(m, de); p != nil {
		return *p != nil
	}
	return false
}

func appendLen(dst []byte, def *fieldDef, n int) []byte {
	if def.prefix == 0 {
		return dst
	}
	if def.bcdPref {
		if def.prefix == 2 {
			return append(dst, byte(n/10)<<4|byte(n%10))
		}
		return append(dst, byte(n/100), byte(n/10%10)<<4|byte(n%10))
	}
	if def.prefix == 3 {
		dst = append(dst, '0'+byte(n/100))
	}
	return append(dst, '0'+byte(n/10%10), '0'+byte(n%10))
}

func (d *Dialect) appendField(dst []byte, def *fieldDef, v string) ([]byte, error) {
	if def.class == classXN {
		if err := checkClass(def, v); err != nil {
			return dst, err
		}
		if def.enc == encASCII {
			return append(dst, v...), nil
		}
		dst = append(dst, v[0])
		return appendBCD(dst, v[1:])
	}
	if len(v) > def.max {
		return dst, ferr(def.de, "longer than its maximum")
	}
	if err := checkClass(def, v); err != nil {
		return dst, err
	}
	fill := 0
	if def.prefix == 0 {
		fill = def.max - len(v)
	}
	dst = appendLen(dst, def, len(v))
	if def.enc == encBCD {
		total := fill + len(v)
		if total%2 == 1 { // odd count: the 0 padding nibble
			fill++
		}
		// leading zero digits, then the value, packed as one digit stream
		for ; fill >= 2; fill -= 2 {
			dst = append(dst, 0)
		}
		if fill == 1 {
			dst = append(dst, v[0]-'0')
			v = v[1:]
		}
		return appendBCD(dst, v)
	}
	if def.class == classN {
		for ; fill > 0; fill-- {
			dst = append(dst, '0')
		}
		return append(dst, v...), nil
	}
	dst = append(dst, v...)
	for ; fill > 0; fill-- {
		dst = append(dst, ' ')
	}
	return dst, nil
}

func (d *Dialect) appendBinary(dst []byte, def *fieldDef, v []byte) ([]byte, error) {
	if def.prefix == 0 && len(v) != def.max {
		return dst, ferr(def.de, "wrong length")
	}
	if len(v) == 0 || len(v) > def.max {
		return dst, ferr(def.de, "wrong length")
	}
	dst = appendLen(dst, def, len(v))
	if def.enc == encHex {
		for _, b := range v {
			dst = append(dst, upperHex[b>>4], upperHex[b&0x0f])
		}
		return dst, nil
	}
	return append(dst, v...), nil
}

// Scan reads the MTI and DE 11 without a full unpack (host-iso8583.md §9): it walks the
// bitmap and fields 2..10. It fails when the MTI cannot be read, or DE 11 is absent or
// not six digits.
func (d *Dialect) Scan(raw []byte) (mti, stan string, err error) {
	if len(raw) > 0xFFFF {
		return "", "", ferr(0, "message longer than 65535 bytes")
	}
	var digitsArr [64]byte
	digits := digitsArr[:0]
	var bm [16]byte
	pos, mtiSpan, err := d.readHead(raw, &bm, &digits)
	if err != nil {
		return "", "", err
	}
	if d.mtiEnc == encASCII {
		mti = string(raw[mtiSpan.start:mtiSpan.end])
	} else {
		mti = string(digits[mtiSpan.start:mtiSpan.end])
	}
	for de := 2; de <= 11; de++ {
		if bm[(de-1)>>3]&(0x80>>((de-1)&7)) == 0 {
			if de == 11 {
				return mti, "", ferr(11, "absent")
			}
			continue
		}
		def := d.defs[de]
		if def == nil {
			return mti, "", ferr(de, "not a data element of this dialect")
		}
		if de != 11 {
			// Only the extent of fields 2..10 matters here: a malformed value (a PAN with
			// a letter) still leaves DE 11 readable, so the host can answer 30 (§9).
			n, err := skipField(def, raw[pos:])
			if err != nil {
				return mti, "", err
			}
			pos += n
			continue
		}
		sp, _, err := d.readField(def, raw, pos, &digits)
		if err != nil {
			return mti, "", err
		}
		{
			var v []byte
			if sp.fromDigits {
				v = digits[sp.start:sp.end]
			} else {
				v = raw[sp.start:sp.end]
			}
			if len(v) != 6 || !allDigits(v) {
				return mti, "", ferr(11, "not 6 digits")
			}
			return mti, string(v), nil
		}
	}
	return mti, "", ferr(11, "absent")
}

// skipField returns the byte size of the field at the start of src (prefix included)
// without checking its content.
func skipField(def *fieldDef, src []byte) (int, error) {
	length, read, err := readLen(def, src)
	if err != nil {
		return 0, err
	}
	var n int
	switch def.enc {
	case encASCII:
		n = length
		if def.class == classXN {
			n++
		}
	case encBCD:
		n = (length + 1) / 2
	case encSigned:
		n = 1 + (length+1)/2
	case encHex:
		n = 2 * length
	default:
		n = length
	}
	if len(src)-read < n {
		return 0, ferr(def.de, "truncated")
	}
	return read + n, nil
}
