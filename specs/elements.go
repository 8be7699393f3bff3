package specs

import (
	"errors"
	"strings"
)

// MaskPAN keeps the first 6 and last 4 digits of a PAN and replaces the rest with '*'.
// A value shorter than 13 characters (no valid PAN) is masked entirely, so that a short
// or garbled PAN never leaks through the 6+4 rule.
func MaskPAN(pan string) string {
	if len(pan) < 13 {
		return strings.Repeat("*", len(pan))
	}
	return pan[:6] + strings.Repeat("*", len(pan)-10) + pan[len(pan)-4:]
}

// Errors of the inner-structure helpers.
var (
	ErrDE54Format = errors.New("specs: DE 54 entry malformed")
	ErrDE90Format = errors.New("specs: DE 90 malformed")
	ErrDE97Format = errors.New("specs: DE 97 malformed")
	ErrRange      = errors.New("specs: amount out of range")
)

const max12 = 999_999_999_999
const max16 = 9_999_999_999_999_999

// AdditionalAmount is one 20-character DE 54 entry (§5): account type (2), amount type
// (2), currency (3), sign D/C, 12 digits. Amount is signed minor units: D ≥ 0, C < 0.
type AdditionalAmount struct {
	AccountType string // "00"
	AmountType  string // "02" amount due
	Currency    string // "944"
	Amount      int64
}

// InquiryTotal is the DE 54 entry of a debt inquiry's total (§5): account type 00,
// amount type 02, sign D for a due (also zero) and C for a net credit.
func InquiryTotal(total int64, currency string) AdditionalAmount {
	return AdditionalAmount{AccountType: "00", AmountType: "02", Currency: currency, Amount: total}
}

// AppendTo appends the 20-character entry.
func (a AdditionalAmount) AppendTo(dst []byte) ([]byte, error) {
	if len(a.AccountType) != 2 || !allDigits(a.AccountType) || len(a.AmountType) != 2 ||
		!allDigits(a.AmountType) || len(a.Currency) != 3 || !allDigits(a.Currency) {
		return dst, ErrDE54Format
	}
	sign, v := byte('D'), a.Amount
	if v < 0 {
		sign, v = 'C', -v
	}
	if v > max12 || v < 0 {
		return dst, ErrRange
	}
	dst = append(dst, a.AccountType...)
	dst = append(dst, a.AmountType...)
	dst = append(dst, a.Currency...)
	dst = append(dst, sign)
	return appendDigitsN(dst, uint64(v), 12), nil
}

// FormatDE54 encodes entries as DE 54.
func FormatDE54(entries ...AdditionalAmount) (string, error) {
	b := make([]byte, 0, 20*len(entries))
	for _, e := range entries {
		var err error
		if b, err = e.AppendTo(b); err != nil {
			return "", err
		}
	}
	return string(b), nil
}

// ParseDE54 decodes DE 54 (a whole number of 20-character entries).
func ParseDE54(s string) ([]AdditionalAmount, error) {
	if len(s) == 0 || len(s)%20 != 0 {
		return nil, ErrDE54Format
	}
	out := make([]AdditionalAmount, 0, len(s)/20)
	for i := 0; i < len(s); i += 20 {
		e := s[i : i+20]
		if !allDigits(e[:7]) || !allDigits(e[8:]) || (e[7] != 'D' && e[7] != 'C') {
			return nil, ErrDE54Format
		}
		v := int64(parseDigits(e[8:]))
		if e[7] == 'C' {
			v = -v
		}
		out = append(out, AdditionalAmount{AccountType: e[:2], AmountType: e[2:4], Currency: e[4:7], Amount: v})
	}
	return out, nil
}

// OriginalData is DE 90 (n42): the original's MTI(4), STAN(6), DE 7(10), DE 32(11) and
// DE 33(11). ParseDE90 returns DE 32 and DE 33 zero-filled to 11 digits as they travel;
// compare them with ZeroFill(de32, 11).
type OriginalData struct {
	MTI                  string
	STAN                 string
	TransmissionDateTime string
	AcquirerID           string // zero-filled to 11; all zeros for a terminal's original
	ForwarderID          string // zero-filled to 11; all zeros when absent
}

// FormatDE90 encodes o, zero-filling each part right-justified to its width.
func FormatDE90(o OriginalData) (string, error) {
	b := make([]byte, 0, 42)
	var ok bool
	for _, p := range [...]struct {
		v string
		n int
	}{{o.MTI, 4}, {o.STAN, 6}, {o.TransmissionDateTime, 10}, {o.AcquirerID, 11}, {o.ForwarderID, 11}} {
		if b, ok = appendZeroFilled(b, p.v, p.n); !ok {
			return "", ErrDE90Format
		}
	}
	return string(b), nil
}

// ParseDE90 decodes DE 90.
func ParseDE90(s string) (OriginalData, error) {
	if len(s) != 42 || !allDigits(s) {
		return OriginalData{}, ErrDE90Format
	}
	return OriginalData{MTI: s[0:4], STAN: s[4:10], TransmissionDateTime: s[10:20],
		AcquirerID: s[20:31], ForwarderID: s[31:42]}, nil
}

// ZeroFill right-justifies the digits v in n characters, zero-filled. It returns "" if v
// is not digits or longer than n.
func ZeroFill(v string, n int) string {
	b, ok := appendZeroFilled(make([]byte, 0, n), v, n)
	if !ok {
		return ""
	}
	return string(b)
}

func appendZeroFilled(dst []byte, v string, n int) ([]byte, bool) {
	if len(v) > n || !allDigits(v) {
		return dst, false
	}
	for i := len(v); i < n; i++ {
		dst = append(dst, '0')
	}
	return append(dst, v...), true
}

// FormatDE97 encodes the net settlement amount (DE 88 − DE 89, minor units): `D` when
// net ≥ 0, else `C`, then 16 digits of its absolute value.
func FormatDE97(net int64) (string, error) {
	sign := byte('D')
	if net < 0 {
		sign, net = 'C', -net
	}
	if net > max16 || net < 0 {
		return "", ErrRange
	}
	b := make([]byte, 0, 17)
	b = append(b, sign)
	return string(appendDigitsN(b, uint64(net), 16)), nil
}

// ParseDE97 decodes DE 97 into signed minor units (D positive, C negative).
func ParseDE97(s string) (int64, error) {
	if len(s) != 17 || (s[0] != 'D' && s[0] != 'C') || !allDigits(s[1:]) {
		return 0, ErrDE97Format
	}
	v := int64(parseDigits(s[1:]))
	if s[0] == 'C' {
		v = -v
	}
	return v, nil
}

func appendDigitsN(dst []byte, v uint64, n int) []byte {
	var buf [20]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = '0' + byte(v%10)
		v /= 10
	}
	return append(dst, buf[:n]...)
}

func parseDigits(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	return v
}
