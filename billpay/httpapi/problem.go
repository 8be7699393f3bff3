package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/billswitch/billswitch/billpay"
)

// Problem is an RFC 9457 problem details object with a stable machine code.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Code is stable: clients switch on it (docs/decisions-http.md lists them).
	Code string `json:"code"`
	// Errors names each bad field or record (validation problems).
	Errors []FieldError `json:"errors,omitempty"`
	// ResponseCode is the processing centre's answer of a declined card (card_declined).
	ResponseCode string `json:"response_code,omitempty"`
}

// FieldError is one bad field or record of a request.
type FieldError struct {
	Field  string `json:"field,omitempty"` // JSON path, e.g. accounts[2].debts[0].amount
	Detail string `json:"detail"`
}

// The stable problem codes.
const (
	CodeMalformedJSON       = "malformed_json"
	CodeInvalidField        = "invalid_field"
	CodeInvalidAmount       = "invalid_amount"
	CodeBodyTooLarge        = "body_too_large"
	CodeUnsupportedMedia    = "unsupported_media_type"
	CodeUnauthorized        = "unauthorized"
	CodeForbidden           = "forbidden"
	CodeNotFound            = "not_found"
	CodeMethodNotAllowed    = "method_not_allowed"
	CodeIdempotencyRequired = "idempotency_key_required"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeUnknownProvider     = "unknown_provider"
	CodeUnknownAccount      = "unknown_account"
	CodeUnknownReceipt      = "unknown_receipt"
	CodeNotAllowed          = "not_allowed"
	CodeAlreadyReversed     = "already_reversed"
	CodeDayClosed           = "day_closed"
	CodeBadRequest          = "bad_request"
	CodeTLSRequired         = "tls_required"
	CodeCardDeclined        = "card_declined"
	CodeCardUnavailable     = "card_unavailable"
	CodeCardReversal        = "card_reversal_not_here"
	CodeImportRefused       = "import_refused"
	CodeSignatureRequired   = "signature_required"
	CodeInvalidCode         = "invalid_verification_code"
	CodeTimeout             = "timeout"
	CodeUnavailable         = "unavailable"
	CodeInternal            = "internal"
)

var titles = map[string]string{
	CodeMalformedJSON: "Malformed JSON", CodeInvalidField: "Invalid field", CodeInvalidAmount: "Invalid amount",
	CodeBodyTooLarge: "Request body too large", CodeUnsupportedMedia: "Unsupported media type",
	CodeUnauthorized: "Unauthorized", CodeForbidden: "Forbidden", CodeNotFound: "Not found",
	CodeMethodNotAllowed: "Method not allowed", CodeIdempotencyRequired: "Idempotency-Key header required",
	CodeIdempotencyConflict: "Idempotency key reused with a different request", CodeUnknownProvider: "Unknown provider",
	CodeUnknownAccount: "Unknown account", CodeUnknownReceipt: "Unknown receipt", CodeNotAllowed: "Not allowed",
	CodeAlreadyReversed: "Already reversed", CodeDayClosed: "Business day closed", CodeBadRequest: "Bad request",
	CodeTLSRequired: "Card data only over TLS", CodeCardDeclined: "Card declined",
	CodeCardUnavailable: "Card processing unavailable", CodeCardReversal: "Card payments are reversed through the processing centre", CodeImportRefused: "Update refused",
	CodeSignatureRequired: "Signature required", CodeInvalidCode: "Invalid verification code",
	CodeTimeout: "Timed out", CodeUnavailable: "Service unavailable", CodeInternal: "Internal error",
}

// problemTypeBase prefixes the type URI of every problem: <base><code>.
const problemTypeBase = "https://billswitch.example/problems/"

func newProblem(status int, code, detail string) *Problem {
	return &Problem{Type: problemTypeBase + code, Title: titles[code], Status: status, Detail: detail, Code: code}
}

// apiError carries a problem through the handlers.
type apiError struct{ p *Problem }

func (e *apiError) Error() string { return e.p.Code + ": " + e.p.Detail }

func perr(status int, code, detail string) error { return &apiError{newProblem(status, code, detail)} }

func fieldErr(field, detail string) error {
	p := newProblem(http.StatusBadRequest, CodeInvalidField, field+": "+detail)
	p.Errors = []FieldError{{Field: field, Detail: detail}}
	return &apiError{p}
}

func amountErr(field, detail string) error {
	p := newProblem(http.StatusUnprocessableEntity, CodeInvalidAmount, field+": "+detail)
	p.Errors = []FieldError{{Field: field, Detail: detail}}
	return &apiError{p}
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// declineProblem maps the core's decline kinds to HTTP problems.
func declineProblem(d billpay.Decline, msg string) *Problem {
	switch d {
	case billpay.DeclineUnknownProvider:
		return newProblem(http.StatusNotFound, CodeUnknownProvider, msg)
	case billpay.DeclineUnknownAccount:
		return newProblem(http.StatusNotFound, CodeUnknownAccount, msg)
	case billpay.DeclineInvalidAmount:
		return newProblem(http.StatusUnprocessableEntity, CodeInvalidAmount, msg)
	case billpay.DeclineNotAllowed:
		return newProblem(http.StatusUnprocessableEntity, CodeNotAllowed, msg)
	case billpay.DeclineAlreadyReversed:
		return newProblem(http.StatusConflict, CodeAlreadyReversed, msg)
	case billpay.DeclineDayClosed:
		return newProblem(http.StatusConflict, CodeDayClosed, msg)
	case billpay.DeclineConflict:
		return newProblem(http.StatusConflict, CodeIdempotencyConflict, msg)
	default:
		return newProblem(http.StatusBadRequest, CodeBadRequest, msg)
	}
}

// toProblem turns any handler error into a problem; unknown errors are 500 (or 503 on
// a deadline) and their text is not shown.
func toProblem(err error) (*Problem, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.p, true
	}
	var de *billpay.DeclineError
	if errors.As(err, &de) {
		return declineProblem(de.Code, de.Msg), true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newProblem(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "the request body is larger than the limit"), true
	}
	if errors.Is(err, errDeadline) {
		return newProblem(http.StatusServiceUnavailable, CodeTimeout, "the request did not complete in time; repeat it with the same Idempotency-Key"), false
	}
	return newProblem(http.StatusInternalServerError, CodeInternal, "internal error; repeat the request with the same Idempotency-Key"), false
}
