package billpay

import (
	"crypto/rand"
	"math/big"
)

// Registration codes are 10 decimal digits: 9 digits and a Damm check digit. Damm
// catches every single-digit error and every transposition of adjacent digits (Luhn
// misses 09↔90), and the check digit is 0..9, never a letter.

var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

// dammDigit returns the Damm check digit of the decimal string s (digits only).
func dammDigit(s string) byte {
	var interim byte
	for i := 0; i < len(s); i++ {
		interim = dammTable[interim][s[i]-'0']
	}
	return interim
}

// ValidRegCode reports whether s is 10 digits whose last is the Damm check digit of the
// first nine.
func ValidRegCode(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < 10; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return dammDigit(s) == 0 // a valid Damm string checks to 0
}

// newRegCode draws a random registration code (never starting with 0, so it survives
// systems that store it as a number).
func newRegCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		return "", err
	}
	body := big.NewInt(0).Add(n, big.NewInt(100_000_000)).String()
	return body + string('0'+dammDigit(body)), nil
}
