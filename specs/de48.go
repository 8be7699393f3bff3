package specs

import (
	"errors"
	"strconv"
)

// DE 48 sub-element tags (host-iso8583.md §4).
const (
	Tag01Provider   = 1  // req: provider code, an..16
	Tag02Account    = 2  // req: subscriber account number, ans..32
	Tag03RegCode    = 3  // req: registration code, n10
	Tag04Allocation = 4  // req: `A` automatic (default) or `L` lines as in 05
	Tag05Lines      = 5  // req: PROVIDER:ACCOUNT:SERVICE=AMOUNT;…
	Tag06Meters     = 6  // req: SERVICE:METERID=VALUE;…
	Tag07SmartCard  = 7  // req: CARDID:SEQUENCE
	Tag20Debts      = 20 // resp: PROVIDER:ACCOUNT:SERVICE:PERIOD:AMOUNT;…
	Tag21PayerName  = 21 // resp: payer name, masked and transliterated
	Tag22Receipt    = 22 // resp: receipt number
	Tag23Credential = 23 // resp: top-up credential (card write record or token)
	Tag24Allocated  = 24 // resp: PROVIDER:ACCOUNT:SERVICE:PERIOD=AMOUNT;…
	Tag25Truncated  = 25 // resp: `T` when tag 20 was cut to fit
)

// DE48Entry is one `TT LLL VALUE` sub-element.
type DE48Entry struct {
	Tag   int // 0..99
	Value string
}

// DE48 is the ordered sequence of DE 48 sub-elements. Unknown tags are kept (and
// re-encoded) so that callers may ignore them.
type DE48 struct {
	Entries []DE48Entry
}

// DE 48 errors (the host answers 30).
var (
	ErrDE48Truncated = errors.New("specs: DE 48 truncated")
	ErrDE48Malformed = errors.New("specs: DE 48 malformed tag or length")
	ErrDE48TooLong   = errors.New("specs: DE 48 value over 999 characters")
)

// ParseDE48 splits s into its sub-elements. An empty s is an empty DE48.
// The error never quotes s.
func ParseDE48(s string) (DE48, error) {
	var d DE48
	for i := 0; i < len(s); {
		if len(s)-i < 5 {
			return DE48{}, ErrDE48Truncated
		}
		h := s[i : i+5]
		if !allDigits(h) {
			return DE48{}, ErrDE48Malformed
		}
		tag := int(h[0]-'0')*10 + int(h[1]-'0')
		n := int(h[2]-'0')*100 + int(h[3]-'0')*10 + int(h[4]-'0')
		i += 5
		if len(s)-i < n {
			return DE48{}, ErrDE48Truncated
		}
		if d.Entries == nil {
			d.Entries = make([]DE48Entry, 0, 4)
		}
		d.Entries = append(d.Entries, DE48Entry{Tag: tag, Value: s[i : i+n]})
		i += n
	}
	return d, nil
}

// Get returns the value of the first entry with tag.
func (d DE48) Get(tag int) (string, bool) {
	for _, e := range d.Entries {
		if e.Tag == tag {
			return e.Value, true
		}
	}
	return "", false
}

// Set replaces the value of the first entry with tag, or appends one.
func (d *DE48) Set(tag int, v string) {
	for i := range d.Entries {
		if d.Entries[i].Tag == tag {
			d.Entries[i].Value = v
			return
		}
	}
	d.Entries = append(d.Entries, DE48Entry{Tag: tag, Value: v})
}

// AppendTo appends the encoding of d to dst. It fails on a tag outside 0..99 or a
// value over 999 characters; fitting the whole into DE 48's 999 is the caller's job.
func (d DE48) AppendTo(dst []byte) ([]byte, error) {
	for _, e := range d.Entries {
		if e.Tag < 0 || e.Tag > 99 {
			return dst, ErrDE48Malformed
		}
		n := len(e.Value)
		if n > 999 {
			return dst, ErrDE48TooLong
		}
		dst = append(dst, '0'+byte(e.Tag/10), '0'+byte(e.Tag%10),
			'0'+byte(n/100), '0'+byte(n/10%10), '0'+byte(n%10))
		dst = append(dst, e.Value...)
	}
	return dst, nil
}

// Len is the length of the encoding of d.
func (d DE48) Len() int {
	n := 0
	for _, e := range d.Entries {
		n += 5 + len(e.Value)
	}
	return n
}

// String is the encoding of d, or "" when AppendTo would fail.
func (d DE48) String() string {
	b, err := d.AppendTo(make([]byte, 0, d.Len()))
	if err != nil {
		return ""
	}
	return string(b)
}

// GoString keeps values out of %#v output (they may carry account data).
func (d DE48) GoString() string {
	return "specs.DE48{" + strconv.Itoa(len(d.Entries)) + " entries}"
}
