package clearing

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// Append-style formatting of the day's files: no reflection, no fmt on the per-payment
// path (a day holds millions of entries).

const timeLayout = "2006-01-02T15:04:05-07:00"

// timeFmt formats payment times in one zone, remembering the last second formatted
// (a day's payments come in receipt order, many in the same second).
type timeFmt struct {
	loc *time.Location
	sec int64
	out []byte
}

func (f *timeFmt) append(b []byte, unixNano int64) []byte {
	sec := unixNano / 1e9
	if unixNano < 0 && unixNano%1e9 != 0 {
		sec--
	}
	if f.out == nil || sec != f.sec {
		f.sec = sec
		f.out = time.Unix(sec, 0).In(f.loc).AppendFormat(f.out[:0], timeLayout)
	}
	return append(b, f.out...)
}

// appendAmount appends v minor units as a decimal with digits fraction digits ("-5.00").
func appendAmount(b []byte, v int64, digits int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v // |v| ≤ MaxAmount·n, far from MinInt64
	}
	if digits <= 0 {
		return strconv.AppendInt(b, v, 10)
	}
	var pow int64 = 1
	for range digits {
		pow *= 10
	}
	b = strconv.AppendInt(b, v/pow, 10)
	b = append(b, '.')
	frac := v % pow
	for p := pow / 10; p > 1 && frac < p; p /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10)
}

// appendXML appends s escaped for an XML attribute or text. Control characters that
// XML 1.0 does not allow become '?'; tab, newline and carriage return are written as
// character references so that attribute values keep them.
func appendXML(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				b = append(b, "&amp;"...)
			case c == '<':
				b = append(b, "&lt;"...)
			case c == '>':
				b = append(b, "&gt;"...)
			case c == '"':
				b = append(b, "&quot;"...)
			case c == '\t':
				b = append(b, "&#9;"...)
			case c == '\n':
				b = append(b, "&#10;"...)
			case c == '\r':
				b = append(b, "&#13;"...)
			case c < 0x20 || c == 0x7f:
				b = append(b, '?')
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			b = append(b, '?')
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// appendCSV appends one CSV field (RFC 4180: quoted when it holds a comma, a quote or
// a line break).
func appendCSV(b []byte, s string) []byte {
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func appendAttr(b []byte, name, v string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendXML(b, v)
	return append(b, '"')
}

func appendAmountAttr(b []byte, name string, v int64, digits int) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendAmount(b, v, digits)
	return append(b, '"')
}

func appendISODate(b []byte, d ledger.Date) []byte {
	v := uint32(d)
	b = appendPad(b, int64(v/10000), 4)
	b = append(b, '-')
	b = appendPad(b, int64(v/100%100), 2)
	b = append(b, '-')
	return appendPad(b, int64(v%100), 2)
}

func appendPad(b []byte, v int64, width int) []byte {
	s := strconv.AppendInt(nil, v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendPayment appends one register <payment>: one account of provider paid by p, its
// lines, and the readings of the services on those lines (provider-exchange.md §4).
func appendPayment(b []byte, p *billpay.ClearingPayment, provider, acct string, amount int64, prov *billpay.Provider, tf *timeFmt) []byte {
	digits := prov.MinorDigits
	b = append(b, "  <payment"...)
	b = appendAttr(b, "receipt", p.Receipt)
	if p.RRN != "" {
		b = appendAttr(b, "rrn", p.RRN)
	}
	b = append(b, ` time="`...)
	b = tf.append(b, p.PostedAt)
	b = append(b, '"')
	b = appendAttr(b, "channel", p.Channel.String())
	if p.Acquirer != "" {
		b = appendAttr(b, "acquirer", p.Acquirer)
	}
	if p.Terminal != "" {
		b = appendAttr(b, "terminal", p.Terminal)
	}
	b = appendAttr(b, "method", p.Method.String())
	b = appendAttr(b, "account", acct)
	b = appendAmountAttr(b, "amount", amount, digits)
	b = append(b, ">\n"...)
	for _, a := range p.Allocations {
		if a.Provider != provider || a.Account != acct {
			continue
		}
		b = append(b, "    <line"...)
		b = appendAttr(b, "service", a.Service)
		if a.Period != 0 {
			b = append(b, ` period="`...)
			b = strconv.AppendInt(b, int64(a.Period), 10)
			b = append(b, '"')
		}
		b = appendAmountAttr(b, "amount", a.Amount, digits)
		b = append(b, "/>\n"...)
	}
	for _, r := range p.Readings {
		if !hasLine(p.Allocations, provider, acct, r.Service) {
			continue
		}
		b = append(b, "    <reading"...)
		b = appendAttr(b, "service", r.Service)
		b = appendAttr(b, "meter", r.Meter)
		b = appendAttr(b, "value", r.Value)
		b = append(b, "/>\n"...)
	}
	return append(b, "  </payment>\n"...)
}

func hasLine(as []billpay.Allocation, provider, acct, service string) bool {
	for _, a := range as {
		if a.Provider == provider && a.Account == acct && a.Service == service {
			return true
		}
	}
	return false
}

// appendReversal appends one register <reversal> (amount negative).
func appendReversal(b []byte, p *billpay.ClearingPayment, acct string, amount int64, digits int) []byte {
	b = append(b, "  <reversal"...)
	b = appendAttr(b, "receipt", p.Receipt)
	b = append(b, ` business-date="`...)
	b = appendISODate(b, p.BusinessDate)
	b = append(b, '"')
	b = appendAttr(b, "account", acct)
	b = appendAmountAttr(b, "amount", amount, digits)
	return append(b, "/>\n"...)
}

// bankHeader is the first line of a per-bank list.
const bankHeader = "type,provider,provider_iban,receipt,business_date,time,rrn,terminal,channel,method,account,count,amount,currency\n"

// appendBankRow appends one row of a per-bank list: a payment, or a late reversal
// (negative, with the original's business date and time).
func appendBankRow(b []byte, p *billpay.ClearingPayment, reversal bool, acct string, amount int64, prov *billpay.Provider, tf *timeFmt) []byte {
	if reversal {
		b = append(b, "reversal,"...)
	} else {
		b = append(b, "payment,"...)
	}
	b = appendCSV(b, prov.Code)
	b = append(b, ',')
	b = appendCSV(b, prov.IBAN)
	b = append(b, ',')
	b = appendCSV(b, p.Receipt)
	b = append(b, ',')
	b = appendISODate(b, p.BusinessDate)
	b = append(b, ',')
	b = tf.append(b, p.PostedAt)
	b = append(b, ',')
	b = appendCSV(b, p.RRN)
	b = append(b, ',')
	b = appendCSV(b, p.Terminal)
	b = append(b, ',')
	b = append(b, p.Channel.String()...)
	b = append(b, ',')
	b = append(b, p.Method.String()...)
	b = append(b, ',')
	b = appendCSV(b, acct)
	b = append(b, ",1,"...)
	b = appendAmount(b, amount, prov.MinorDigits)
	b = append(b, ',')
	b = append(b, currencyCode(prov.Currency)...)
	return append(b, '\n')
}

// currencyCode returns the ISO 4217 alphabetic code of a numeric one (the currencies of
// the region and the common ones), or the three digits when it is not in the table.
func currencyCode(n uint16) string {
	switch n {
	case 944:
		return "AZN"
	case 398:
		return "KZT"
	case 643:
		return "RUB"
	case 860:
		return "UZS"
	case 417:
		return "KGS"
	case 972:
		return "TJS"
	case 934:
		return "TMT"
	case 981:
		return "GEL"
	case 51:
		return "AMD"
	case 933:
		return "BYN"
	case 980:
		return "UAH"
	case 949:
		return "TRY"
	case 840:
		return "USD"
	case 978:
		return "EUR"
	case 826:
		return "GBP"
	case 756:
		return "CHF"
	case 156:
		return "CNY"
	}
	return string(appendPad(nil, int64(n), 3))
}

func knownCurrency(n uint16) bool {
	c := currencyCode(n)
	return c[0] >= 'A' && c[0] <= 'Z'
}
