package bills

import (
	"errors"
	"strconv"
	"strings"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/specs"
)

// errFormat is a request field the handlers cannot read (§6 30).
var errFormat = errors.New("bills: format error")

// billReq is the bill-payment content of a request's DE 48 (§4).
type billReq struct {
	Target   billpay.Target
	Mode     billpay.Mode
	Lines    []billpay.Line
	Readings []billpay.Reading
	CardID   string
	CardSeq  uint32
	HasCard  bool // tag 07 present
}

// parseBill reads the request tags of DE 48: a target by 01+02 or by 03 (exactly one
// form), 04 A/L (default A), 05 lines, 06 readings, 07 smart card. Unknown tags are
// ignored (§4).
func parseBill(de48 string) (billReq, error) {
	var r billReq
	d, err := specs.ParseDE48(de48)
	if err != nil {
		return r, errFormat
	}
	prov, hasProv := d.Get(specs.Tag01Provider)
	acct, hasAcct := d.Get(specs.Tag02Account)
	code, hasCode := d.Get(specs.Tag03RegCode)
	switch {
	case hasCode && !hasProv && !hasAcct:
		if len(code) != 10 || !allDigits(code) {
			return r, errFormat
		}
		r.Target.RegCode = code
	case hasProv && hasAcct && !hasCode:
		if !validCode(prov, 16) || !validCode(acct, 32) {
			return r, errFormat
		}
		r.Target.Provider, r.Target.Account = prov, acct
	default:
		return r, errFormat
	}
	switch v, _ := d.Get(specs.Tag04Allocation); v {
	case "", "A":
		r.Mode = billpay.ModeAuto
	case "L":
		r.Mode = billpay.ModeLines
	default:
		return r, errFormat
	}
	if v, ok := d.Get(specs.Tag05Lines); ok {
		if r.Lines, err = parseLines(v); err != nil {
			return r, err
		}
	}
	if r.Mode == billpay.ModeLines && len(r.Lines) == 0 {
		return r, errFormat
	}
	if v, ok := d.Get(specs.Tag06Meters); ok {
		if r.Readings, err = parseReadings(v); err != nil {
			return r, err
		}
	}
	if v, ok := d.Get(specs.Tag07SmartCard); ok {
		id, seq, ok := strings.Cut(v, ":")
		n, err := strconv.ParseUint(seq, 10, 32)
		if !ok || !validCode(id, 64) || err != nil || !allDigits(seq) {
			return r, errFormat
		}
		r.CardID, r.CardSeq, r.HasCard = id, uint32(n), true
	}
	return r, nil
}

// parseLines reads tag 05: PROVIDER:ACCOUNT:SERVICE=AMOUNT;… (a trailing ';' allowed).
func parseLines(v string) ([]billpay.Line, error) {
	var out []billpay.Line
	for _, e := range splitEntries(v) {
		lhs, amt, ok := strings.Cut(e, "=")
		if !ok {
			return nil, errFormat
		}
		parts := strings.Split(lhs, ":")
		if len(parts) != 3 || !validCode(parts[0], 16) || !validCode(parts[1], 32) || !validCode(parts[2], 32) {
			return nil, errFormat
		}
		n, err := parseMinor(amt)
		if err != nil {
			return nil, err
		}
		out = append(out, billpay.Line{Provider: parts[0], Account: parts[1], Service: parts[2], Amount: n})
	}
	if len(out) == 0 {
		return nil, errFormat
	}
	return out, nil
}

// parseReadings reads tag 06: SERVICE:METERID=VALUE;…
func parseReadings(v string) ([]billpay.Reading, error) {
	var out []billpay.Reading
	for _, e := range splitEntries(v) {
		lhs, val, ok := strings.Cut(e, "=")
		svc, meter, ok2 := strings.Cut(lhs, ":")
		if !ok || !ok2 || !validCode(svc, 32) || !validCode(meter, 32) || val == "" || strings.ContainsAny(val, ":;=") {
			return nil, errFormat
		}
		out = append(out, billpay.Reading{Service: svc, Meter: meter, Value: val})
	}
	return out, nil
}

func splitEntries(v string) []string {
	v = strings.TrimSuffix(v, ";")
	if v == "" {
		return nil
	}
	return strings.Split(v, ";")
}

// parseMinor reads an amount in minor units: digits only, at most 12.
func parseMinor(s string) (int64, error) {
	if s == "" || len(s) > 12 || !allDigits(s) {
		return 0, errFormat
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errFormat
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validCode: provider codes, accounts, services and meter ids are letters, digits, '-',
// '/' and '.' only (§4), 1..max characters.
func validCode(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '-', c == '/', c == '.':
		default:
			return false
		}
	}
	return true
}

// maxDE48 is DE 48's capacity (ans..999).
const maxDE48 = 999

// entryLen is the encoded size of one DE 48 entry with a value of n characters.
func entryLen(n int) int { return 5 + n }

func period(p int) string {
	if p == 0 {
		return "000000"
	}
	return strconv.Itoa(p)
}

// debtsTag builds tag 20 from the inquiry lines (already in §5 allocation order) with at
// most room characters of DE 48 for the tag itself; cut reports whether entries were
// left out (then tag 25 T must follow, and room must leave space for it).
func debtsTag(lines []billpay.DebtLine, room int) (v string, cut bool) {
	var b strings.Builder
	for i, l := range lines {
		e := l.Provider + ":" + l.Account + ":" + l.Service + ":" + period(l.Period) + ":" + strconv.FormatInt(l.Amount, 10) + ";"
		if entryLen(b.Len()+len(e)) > room || b.Len()+len(e) > maxDE48 {
			return b.String(), i < len(lines)
		}
		b.WriteString(e)
	}
	return b.String(), false
}

// allocTag builds tag 24 with at most room characters of DE 48 for the tag; entries
// that do not fit are left out (documented: only a payment over many accounts of a
// registration code could reach that).
func allocTag(as []billpay.Allocation, room int) string {
	buf := make([]byte, 0, 48*len(as))
	for _, a := range as {
		n := len(buf)
		buf = append(buf, a.Provider...)
		buf = append(buf, ':')
		buf = append(buf, a.Account...)
		buf = append(buf, ':')
		buf = append(buf, a.Service...)
		buf = append(buf, ':')
		if a.Period == 0 {
			buf = append(buf, "000000"...)
		} else {
			buf = strconv.AppendInt(buf, int64(a.Period), 10)
		}
		buf = append(buf, '=')
		buf = strconv.AppendInt(buf, a.Amount, 10)
		buf = append(buf, ';')
		if entryLen(len(buf)) > room || len(buf) > maxDE48 {
			buf = buf[:n]
			break
		}
	}
	return string(buf)
}

// encodeDE48 encodes entries in order; values must already fit.
func encodeDE48(entries ...specs.DE48Entry) (string, error) {
	d := specs.DE48{Entries: entries}
	n := 0
	for _, e := range entries {
		n += 5 + len(e.Value)
	}
	b, err := d.AppendTo(make([]byte, 0, n))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
