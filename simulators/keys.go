package simulators

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// Keys numbers requests so that no two requests of a process share an exactly-once key
// (host-iso8583.md §7: DE 32, DE 41, DE 11, DE 7). DE 11 comes from one counter that
// starts from the clock: the start moves 100 000 a second, so a process started after
// another one does not meet its keys, and the counter wraps (every 999 999 requests)
// only after DE 7, which has whole seconds, has moved on. One Keys is shared by every
// connection of a process. It is safe for concurrent use.
type Keys struct {
	stan atomic.Uint32
	now  func() time.Time
}

// NewKeys returns a counter seeded from the clock.
func NewKeys() *Keys { return NewKeysAt(time.Now) }

// NewKeysAt returns a counter seeded from now(), which also gives DE 7 (tests).
func NewKeysAt(now func() time.Time) *Keys {
	k := &Keys{now: now}
	k.stan.Store(uint32(now().UnixMicro() / 10 % 999999))
	return k
}

// NextSTAN returns the next DE 11 (six digits, 000001..999999).
func (k *Keys) NextSTAN() string {
	n := k.stan.Add(1)%999999 + 1
	return pad6(n)
}

// TransmissionTime is DE 7 now, MMDDhhmmss in UTC.
func (k *Keys) TransmissionTime() string { return k.now().UTC().Format("0102150405") }

// Now is the Keys clock.
func (k *Keys) Now() time.Time { return k.now() }

// RRN is a retrieval reference number (DE 37, an12) in the usual YDDDhh + STAN form.
func (k *Keys) RRN(stan string) string {
	t := k.now().UTC()
	b := make([]byte, 0, 12)
	b = strconv.AppendInt(b, int64(t.Year()%10), 10)
	b = appendPadded(b, int64(t.YearDay()), 3)
	b = appendPadded(b, int64(t.Hour()), 2)
	b = append(b, stan...)
	return string(b)
}

func pad6(n uint32) string {
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[:])
}

func appendPadded(b []byte, v int64, width int) []byte {
	s := strconv.FormatInt(v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// N12 formats an amount in minor units as DE 4 (n12).
func N12(v int64) string {
	b := make([]byte, 0, 12)
	return string(appendPadded(b, v, 12))
}

// Luhn completes digits with their Luhn check digit.
func Luhn(digits string) string {
	return digits + string(rune('0'+luhnDigit(digits)))
}

// LuhnValid reports whether a PAN's last digit is its Luhn check digit.
func LuhnValid(pan string) bool {
	if len(pan) < 2 {
		return false
	}
	for i := 0; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return false
		}
	}
	return luhnDigit(pan[:len(pan)-1]) == int(pan[len(pan)-1]-'0')
}

func luhnDigit(digits string) int {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// maskPAN is specs.MaskPAN, the one masking rule for logs and summaries.
func maskPAN(pan string) string { return specs.MaskPAN(pan) }
