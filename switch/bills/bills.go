package bills

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/terminals"
)

// Response codes (host-iso8583.md §6).
const (
	rcApproved        = "00"
	rcUnknownParty    = "03"
	rcDeclined        = "05"
	rcNotAllowed      = "12"
	rcInvalidAmount   = "13"
	rcInvalidCard     = "14"
	rcNotFound        = "25"
	rcFormat          = "30"
	rcNotPermitted    = "58"
	rcUnavailable     = "91"
	rcUnknownProvider = "92"
	rcDuplicate       = "94"
	rcSystem          = "96"
)

// Registry is what the handlers need of the terminal registry; *terminals.Registry is
// one.
type Registry interface {
	Route(pan string) (*terminals.Institution, bool)
	Institution(id string) (*terminals.Institution, bool)
}

// Deps are the handlers' collaborators.
type Deps struct {
	Core     *billpay.Core
	Registry Registry
	// Authorizer authorizes terminal card payments. Nil: every terminal card payment is
	// answered 91 (no processing centre reachable).
	Authorizer Authorizer
	Logger     zerolog.Logger
}

// Handlers serve the bill-payment requests of both links.
type Handlers struct {
	core    *billpay.Core
	l       ledger.Ledger
	reg     Registry
	auth    Authorizer
	log     zerolog.Logger
	keys    keyLocks // card payments in flight, by §7 key
	refused *refusalIndex
}

// New builds the handlers.
func New(d Deps) (*Handlers, error) {
	if d.Core == nil || d.Registry == nil {
		return nil, errors.New("bills: Core and Registry are required")
	}
	h := &Handlers{core: d.Core, l: d.Core.Ledger(), reg: d.Registry, auth: d.Authorizer, log: d.Logger, refused: newRefusalIndex()}
	if err := h.refused.load(h.l); err != nil {
		return nil, fmt.Errorf("bills: loading the recorded refusals: %w", err)
	}
	return h, nil
}

// Register builds the handlers and registers them on r: 0100/31, 0200/50, 0200/51,
// 0400, 0420, 0500/92 (repeats and advices route with their base MTI).
func Register(r *hostswitch.Router, d Deps) (*Handlers, error) {
	h, err := New(d)
	if err != nil {
		return nil, err
	}
	for _, e := range []struct {
		mti, pc string
		f       hostswitch.HandlerFunc
	}{
		{"0100", "31", h.inquiry},
		{"0200", "50", h.payment},
		{"0200", "51", h.payment},
		{"0400", "", h.reversal},
		{"0420", "", h.reversal},
		{"0500", "92", h.reconcile},
	} {
		if err := r.Handle(e.mti, e.pc, e.f); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (h *Handlers) inst(id string) (*terminals.Institution, bool) { return h.reg.Institution(id) }

// terminalNS is the §7 institution part of keys on the terminal link: terminals' DE 90
// carries zeros for DE 32, and DE 41 is unique in the registry, so one fixed namespace.
const terminalNS = "T"

// namespace is the institution part of a request's §7 key.
func namespace(s hostswitch.Session, req *specs.Message) string {
	if s.Link == specs.LinkPC {
		return specs.ZeroFill(req.AcquirerID, 11)
	}
	return terminalNS
}

func tid(req *specs.Message) string { return strings.TrimRight(req.TerminalID, " ") }

// wireKey is the §7 key of a request in its message class ("01", "02", "04", "05").
func wireKey(class, ns, terminal, stan, de7 string) []byte {
	return []byte(class + "|" + ns + "|" + terminal + "|" + stan + "|" + de7)
}

func classOf(mti string) string {
	if len(mti) != 4 {
		return ""
	}
	return mti[:2]
}

func reply(rc string) *specs.Message { return &specs.Message{ResponseCode: rc} }

// mmdd is DE 15 of a business date.
func mmdd(d ledger.Date) string {
	v := uint32(d) % 10000
	return string([]byte{byte('0' + v/1000), byte('0' + v/100%10), byte('0' + v/10%10), byte('0' + v%10)})
}

// declineCode maps a billpay refusal to its §6 code.
func declineCode(err error) (string, bool) {
	d, ok := billpay.DeclineOf(err)
	if !ok {
		return "", false
	}
	switch d {
	case billpay.DeclineUnknownProvider:
		return rcUnknownProvider, true
	case billpay.DeclineUnknownAccount:
		return rcNotFound, true
	case billpay.DeclineInvalidAmount:
		return rcInvalidAmount, true
	case billpay.DeclineNotAllowed, billpay.DeclineDayClosed:
		return rcNotAllowed, true
	case billpay.DeclineAlreadyReversed:
		return rcDeclined, true
	case billpay.DeclineConflict:
		return rcDuplicate, true
	case billpay.DeclineBadRequest:
		return rcFormat, true
	}
	return rcSystem, true
}

// Declines are kept under the request's §7 key so that a 0200 repeated with a seen key
// is answered 94 and a 0201 gets the first answer again even when the first answer was
// a refusal (billpay keeps only what it posted). Ledger command key "sw/d/" + wire key;
// the stored result is the response code (2 bytes) and the request hash (32).
const cmdDecline = "sw/d/"

type declineRec struct {
	rc   string
	hash [32]byte
	date ledger.Date
}

func (h *Handlers) lookupDecline(ctx context.Context, key []byte) (declineRec, bool, error) {
	if !h.refused.mayHold(key) {
		return declineRec{}, false, nil
	}
	out, ok, err := h.l.Lookup(ctx, append([]byte(cmdDecline), key...))
	if err != nil || !ok {
		return declineRec{}, false, err
	}
	if len(out.Result) != 34 {
		return declineRec{}, false, fmt.Errorf("bills: decline record of %q: %d bytes", key, len(out.Result))
	}
	return declineRec{rc: string(out.Result[:2]), hash: [32]byte(out.Result[2:]), date: out.BusinessDate}, true, nil
}

// seenRefusal answers a request whose key holds a recorded refusal: the same refusal
// when the request is the same and may be repeated (0201, 0400/0401, 0420/0421), else 94.
func (h *Handlers) seenRefusal(ctx context.Context, key []byte, hash [32]byte, repeatable bool) (*specs.Message, bool, error) {
	d, ok, err := h.lookupDecline(ctx, key)
	if err != nil || !ok {
		return nil, false, err
	}
	if d.hash != hash || !repeatable {
		return reply(rcDuplicate), true, nil
	}
	return &specs.Message{ResponseCode: d.rc, SettlementDate: mmdd(d.date)}, true, nil
}

// keepDecline durably records a refusal under key. A failure is logged: the refusal
// stands (nothing was posted); only the §7 repeat answer is weakened.
func (h *Handlers) keepDecline(ctx context.Context, key []byte, hash [32]byte, rc string) {
	res := append([]byte(rc), hash[:]...)
	_, err := h.l.Submit(context.WithoutCancel(ctx), &ledger.Command{Key: append([]byte(cmdDecline), key...), RequestHash: hash, Result: res})
	if err != nil && !errors.Is(err, ledger.ErrConflict) {
		h.log.Error().Err(err).Str("rc", rc).Msg("bills: decline not recorded")
		return
	}
	// Durable (recorded now, before, or another refusal under the key): indexed.
	h.refused.add(key)
}

// keepable says whether a refusal is final for its key (recorded): not 91/96 (nothing
// happened, the sender may try again), 94 (the key belongs to another request) or 30
// (the request could not be read).
func keepable(rc string) bool {
	switch rc {
	case rcApproved, rcUnavailable, rcSystem, rcDuplicate, rcFormat:
		return false
	}
	return true
}

func hashOf(parts ...string) [32]byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return sha256.Sum256(b)
}

// amountOf reads DE 4 (n12, minor units).
func amountOf(req *specs.Message) (int64, error) {
	if req.Amount == "" {
		return 0, errFormat
	}
	return parseMinor(req.Amount)
}

// currencyOf reads DE 49 (n3); absent = the default 944 (AZN).
func currencyOf(req *specs.Message) (uint16, error) {
	if req.Currency == "" {
		return 944, nil
	}
	if len(req.Currency) != 3 || !allDigits(req.Currency) {
		return 0, errFormat
	}
	n := 0
	for i := 0; i < 3; i++ {
		n = n*10 + int(req.Currency[i]-'0')
	}
	return uint16(n), nil
}

// luhn reports whether a PAN passes the Luhn check.
func luhn(pan string) bool {
	if len(pan) < 12 || len(pan) > 19 || !allDigits(pan) {
		return false
	}
	sum, dbl := 0, false
	for i := len(pan) - 1; i >= 0; i-- {
		d := int(pan[i] - '0')
		if dbl {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		dbl = !dbl
	}
	return sum%10 == 0
}

// Logging helpers: PAN masked, never DE 35/52.
func (h *Handlers) logReq(s hostswitch.Session, req *specs.Message) *zerolog.Event {
	return h.log.Info().Str("mti", req.MTI).Str("stan", req.STAN).Str("terminal", tid(req)).Str("institution", s.Institution).
		Str("pan", specs.MaskPAN(req.PAN))
}
