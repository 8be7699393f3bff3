package billpay

import (
	"errors"
	"fmt"
)

// Decline is the stable kind of a refusal. The switch maps it to an ISO 8583 response
// code (the mapping in the comments is host-iso8583.md §6); other channels map it to
// their own status.
type Decline uint8

const (
	DeclineUnknownProvider Decline = iota + 1 // 92: provider code not registered
	DeclineUnknownAccount                     // 25: account, registration code or original not found
	DeclineInvalidAmount                      // 13: zero, rule violation, lines not adding up, overpayment, currency
	DeclineNotAllowed                         // 12: not prepaid, no card, not allowed for this account
	DeclineAlreadyReversed                    // 05: the original was already reversed (or voided before it came)
	DeclineDayClosed                          // 12: the original's business day is closed
	DeclineConflict                           // 94: idempotency key reused with a different request
	DeclineBadRequest                         // 30: a request the core cannot read (bad field)
)

var declineNames = [...]string{
	DeclineUnknownProvider: "unknown provider",
	DeclineUnknownAccount:  "unknown account",
	DeclineInvalidAmount:   "invalid amount",
	DeclineNotAllowed:      "not allowed",
	DeclineAlreadyReversed: "already reversed",
	DeclineDayClosed:       "business day closed",
	DeclineConflict:        "conflict",
	DeclineBadRequest:      "bad request",
}

func (d Decline) String() string {
	if int(d) < len(declineNames) && declineNames[d] != "" {
		return declineNames[d]
	}
	return fmt.Sprintf("decline(%d)", uint8(d))
}

// DeclineError is a refusal of a request; nothing was posted.
type DeclineError struct {
	Code Decline
	Msg  string
}

func (e *DeclineError) Error() string { return "billpay: " + e.Code.String() + ": " + e.Msg }

func declinef(code Decline, format string, args ...any) error {
	return &DeclineError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// DeclineOf returns the decline kind of err, if err is (or wraps) a *DeclineError.
func DeclineOf(err error) (Decline, bool) {
	var de *DeclineError
	if errors.As(err, &de) {
		return de.Code, true
	}
	return 0, false
}
