package debtfile

import (
	"bytes"
	"math"
	"strconv"
)

// Field syntax. Each check returns "" when the value is good, else what is
// wrong with it. No check parses floats: amounts become int64 minor units
// digit by digit.

// codeTab: provider codes, account numbers, service codes, meter and card
// ids consist of letters, digits, '-', '/' and '.' (host-iso8583.md §4), so
// ':' ';' '=' never occur inside them on the ISO link.
var codeTab = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['/'], t['.'] = true, true, true
	return
}()

func checkCode(b []byte, max int) string {
	if len(b) == 0 {
		return "empty"
	}
	if len(b) > max {
		return "longer than " + strconv.Itoa(max) + " characters"
	}
	for _, c := range b {
		if !codeTab[c] {
			return "only letters, digits, '-', '/' and '.' are allowed"
		}
	}
	return ""
}

// checkText: UTF-8 (the scanner has checked it) without control characters,
// at most max bytes.
func checkText(b []byte, max int) string {
	if len(b) > max {
		return "longer than " + strconv.Itoa(max) + " bytes"
	}
	for i, c := range b {
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f) {
			return "control character"
		}
	}
	return ""
}

func checkPhone(b []byte) string {
	if len(b) > maxPhoneLen {
		return "longer than " + strconv.Itoa(maxPhoneLen) + " characters"
	}
	digits := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digits++
		case c == '+' || c == ' ' || c == '-' || c == '(' || c == ')':
		default:
			return "only digits, '+', '-', '(', ')' and spaces are allowed"
		}
	}
	if digits == 0 && len(b) > 0 {
		return "no digits"
	}
	return ""
}

func checkEmail(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxEmailLen {
		return "longer than " + strconv.Itoa(maxEmailLen) + " bytes"
	}
	at := bytes.IndexByte(b, '@')
	if at <= 0 || at == len(b)-1 || bytes.IndexByte(b[at+1:], '@') >= 0 {
		return "not an e-mail address"
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' {
			return "not an e-mail address"
		}
	}
	return checkText(b, maxEmailLen)
}

// parsePeriod reads YYYYMM.
func parsePeriod(b []byte) (int, string) {
	if len(b) != 6 {
		return 0, "not YYYYMM"
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, "not YYYYMM"
		}
		v = v*10 + int(c-'0')
	}
	y, m := v/100, v%100
	if m < 1 || m > 12 {
		return 0, "month " + strconv.Itoa(m)
	}
	if y < minYear || y > maxYear {
		return 0, "year " + strconv.Itoa(y) + " out of range " + strconv.Itoa(minYear) + "–" + strconv.Itoa(maxYear)
	}
	return v, ""
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000}

// parseAmount reads -?D+(.D{1,minor})? into minor units, |v| < MaxAmount.
func parseAmount(b []byte, minor int) (int64, string) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	ip, frac := b, []byte(nil)
	hasDot := false
	if dot := bytes.IndexByte(b, '.'); dot >= 0 {
		ip, frac, hasDot = b[:dot], b[dot+1:], true
	}
	if len(ip) == 0 || (hasDot && len(frac) == 0) {
		return 0, "not a decimal amount"
	}
	var v int64
	for _, c := range ip {
		if c < '0' || c > '9' {
			return 0, "not a decimal amount"
		}
		v = v*10 + int64(c-'0')
		if v >= MaxAmount {
			return 0, "too large"
		}
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, "not a decimal amount"
		}
	}
	if len(frac) > minor {
		return 0, "more than " + strconv.Itoa(minor) + " decimals"
	}
	if v > (MaxAmount-1)/pow10[minor] {
		return 0, "too large"
	}
	v *= pow10[minor]
	var f int64
	for _, c := range frac {
		f = f*10 + int64(c-'0')
	}
	v += f * pow10[minor-len(frac)]
	if v >= MaxAmount {
		return 0, "too large"
	}
	if neg {
		v = -v
	}
	return v, ""
}

// checkReading: a meter reading or tariff, a non-negative decimal.
func checkReading(b []byte) string {
	if len(b) > maxMeterNumLen {
		return "longer than " + strconv.Itoa(maxMeterNumLen) + " characters"
	}
	dot, digits := false, 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0:
			dot = true
			digits = 0
		default:
			return "not a non-negative decimal number"
		}
	}
	if digits == 0 {
		return "not a non-negative decimal number"
	}
	return ""
}

func parseSequence(b []byte) (uint32, string) {
	if len(b) == 0 || len(b) > 10 {
		return 0, "not a card sequence number"
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, "not a card sequence number"
		}
		v = v*10 + uint64(c-'0')
	}
	if v > math.MaxUint32 {
		return 0, "card sequence number too large"
	}
	return uint32(v), ""
}

// quote renders a bad value for a message: quoted, at most 40 bytes.
func quote(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "…"
	}
	return strconv.Quote(string(b))
}
