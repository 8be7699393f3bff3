package terminals

import "fmt"

// Kind is what sort of device a terminal is. The zero value is not a valid
// kind, so a Terminal built by hand without one is caught.
type Kind uint8

// The terminal kinds a registry file may name (as "POS", "KIOSK", "ATM",
// "CASHIER").
const (
	KindPOS Kind = iota + 1
	KindKiosk
	KindATM
	KindCashier
)

// String returns the name used in registry files ("POS", "KIOSK", "ATM",
// "CASHIER"), or "Kind(n)" for an invalid value.
func (k Kind) String() string {
	switch k {
	case KindPOS:
		return "POS"
	case KindKiosk:
		return "KIOSK"
	case KindATM:
		return "ATM"
	case KindCashier:
		return "CASHIER"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindPOS && k <= KindCashier }

// ParseKind parses a kind name exactly as String prints it (upper case).
func ParseKind(s string) (Kind, error) {
	for k := KindPOS; k <= KindCashier; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown terminal kind %q (want POS, KIOSK, ATM or CASHIER)", s)
}
