package specs

import (
	"errors"

	"github.com/moov-io/iso8583/encoding"
)

// bcdCodec is a packed-BCD encoding.Encoder that replaces moov's encoding.BCD in the
// loaded term87b spec: moov's builds a new yerden/go-util encoder per call, this one
// is plain arithmetic with no per-call set-up. An odd count of digits is left-padded
// with a 0 nibble (host-iso8583.md §1), and a padding nibble must read back as 0.
type bcdCodec struct{}

var _ encoding.Encoder = bcdCodec{}

var (
	errNotDigits  = errors.New("not decimal digits")
	errShort      = errors.New("not enough data")
	errBadNibble  = errors.New("invalid BCD digit")
	errBadPadding = errors.New("non-zero BCD padding nibble")
	errBadSign    = errors.New("sign is neither C nor D")
)

func (bcdCodec) Encode(src []byte) ([]byte, error) {
	dst := make([]byte, 0, (len(src)+1)/2)
	return appendBCD(dst, src)
}

func (bcdCodec) Decode(src []byte, length int) ([]byte, int, error) {
	if length < 0 {
		return nil, 0, errors.New("negative length")
	}
	n := (length + 1) / 2
	if len(src) < n {
		return nil, 0, errShort
	}
	out, err := appendDigits(make([]byte, 0, length), src[:n], length)
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// appendBCD packs the ASCII digits of src (a string or byte slice) onto dst.
func appendBCD[S ~string | ~[]byte](dst []byte, src S) ([]byte, error) {
	i := 0
	if len(src)%2 == 1 {
		c := src[0] - '0'
		if c > 9 {
			return dst, errNotDigits
		}
		dst = append(dst, c)
		i = 1
	}
	for ; i < len(src); i += 2 {
		hi, lo := src[i]-'0', src[i+1]-'0'
		if hi > 9 || lo > 9 {
			return dst, errNotDigits
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, nil
}

// appendDigits unpacks digits BCD digits from src (exactly (digits+1)/2 bytes) onto dst.
func appendDigits(dst, src []byte, digits int) ([]byte, error) {
	i := 0
	if digits%2 == 1 {
		b := src[0]
		if b>>4 != 0 {
			return dst, errBadPadding
		}
		if b&0x0f > 9 {
			return dst, errBadNibble
		}
		dst = append(dst, '0'+b)
		i = 1
	}
	for _, b := range src[i:] {
		hi, lo := b>>4, b&0x0f
		if hi > 9 || lo > 9 {
			return dst, errBadNibble
		}
		dst = append(dst, '0'+hi, '0'+lo)
	}
	return dst, nil
}

// signedBCDCodec is the term87b encoding of DE 97 (x+n16): the sign `C` or `D` as one
// ASCII byte, then the digits packed BCD. It cannot be named in moov's JSON, so the
// loader substitutes it for the placeholder encoding of that field.
type signedBCDCodec struct{}

var _ encoding.Encoder = signedBCDCodec{}

func (signedBCDCodec) Encode(src []byte) ([]byte, error) {
	if len(src) < 1 || (src[0] != 'C' && src[0] != 'D') {
		return nil, errBadSign
	}
	dst := make([]byte, 0, 1+len(src)/2)
	dst = append(dst, src[0])
	return appendBCD(dst, src[1:])
}

func (signedBCDCodec) Decode(src []byte, length int) ([]byte, int, error) {
	if length < 1 {
		return nil, 0, errors.New("length below 1")
	}
	n := 1 + length/2
	if len(src) < n {
		return nil, 0, errShort
	}
	if src[0] != 'C' && src[0] != 'D' {
		return nil, 0, errBadSign
	}
	out := make([]byte, 1, length)
	out[0] = src[0]
	out, err := appendDigits(out, src[1:n], length-1)
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}
