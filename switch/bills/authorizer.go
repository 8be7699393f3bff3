package bills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// Authorizer asks a processing centre to authorize a terminal's card payment
// (host-iso8583.md §3) and settles the authorization afterwards. PCAuthorizer (over
// *pcclient.Clients) is the real one.
type Authorizer interface {
	// Authorize must return 91 (and keep a durable reversal advice) when the PC did not
	// answer in time, and never an approval that came after its timeout.
	Authorize(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest) (pcclient.AuthResult, error)
	// Reverse durably queues a reversal advice for an approved authorization: one the
	// host did not post, or whose payment the terminal reversed.
	Reverse(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest, res pcclient.AuthResult) error
	// Complete ends an approved authorization whose payment was posted (pcclient's
	// write-ahead advice); a no-op without write-ahead.
	Complete(ctx context.Context, pc *terminals.Institution, res pcclient.AuthResult) error
	// CompletionWrite is the write that ends an approved authorization's write-ahead
	// advice when it is committed in the payment's own command (so a crash can neither
	// leave the authorization standing without its payment, nor reverse a posted one).
	// False when there is nothing to complete.
	CompletionWrite(pc *terminals.Institution, res pcclient.AuthResult) (ledger.Write, bool)
	// ReversalWrite builds the reversal advice of an approved authorization whose posted
	// payment is being reversed; its Write goes into the reversal's own ledger command
	// (billpay.ReverseRequest.Extra), so a crash can never leave the host's reversal
	// without the PC's advice.
	ReversalWrite(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest, res pcclient.AuthResult) (pcclient.PendingReversal, error)
	// QueueReversal hands an advice from ReversalWrite to the PC's live queue once the
	// command holding it has committed (after a crash, the restarted client loads it).
	QueueReversal(pc *terminals.Institution, adv pcclient.PendingReversal)
}

// PCAuthorizer authorizes terminal card payments through the host's clients of the
// processing centres it dials (switch/pcclient: timeout, 91, durable 0420/0421).
type PCAuthorizer struct {
	Clients *pcclient.Clients
}

var errNoClient = errors.New("bills: the host does not dial this processing centre")

func (a PCAuthorizer) client(pc *terminals.Institution) (*pcclient.Client, bool) {
	if a.Clients == nil {
		return nil, false
	}
	return a.Clients.Client(pc.ID)
}

// Authorize sends the authorization to pc's client. A PC the host does not dial (one
// that only dials in) has no client: the answer is 91 and nothing is sent (see
// docs/decisions-iso-handlers.md).
func (a PCAuthorizer) Authorize(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest) (pcclient.AuthResult, error) {
	c, ok := a.client(pc)
	if !ok {
		return pcclient.AuthResult{ResponseCode: pcclient.CodeUnavailable}, nil
	}
	return c.Authorize(ctx, r)
}

// Reverse queues the reversal advice with pc's client.
func (a PCAuthorizer) Reverse(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest, res pcclient.AuthResult) error {
	c, ok := a.client(pc)
	if !ok {
		return errNoClient
	}
	return c.Reverse(ctx, r, res)
}

// CompletionWrite is the client's write that ends the authorization's write-ahead
// advice, for the payment's own command.
func (a PCAuthorizer) CompletionWrite(pc *terminals.Institution, res pcclient.AuthResult) (ledger.Write, bool) {
	c, ok := a.client(pc)
	if !ok {
		return ledger.Write{}, false
	}
	return c.CompletionWrite(res)
}

// ReversalWrite builds pc's reversal advice for an approved authorization, for the
// reversal's own command.
func (a PCAuthorizer) ReversalWrite(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest, res pcclient.AuthResult) (pcclient.PendingReversal, error) {
	c, ok := a.client(pc)
	if !ok {
		return pcclient.PendingReversal{}, errNoClient
	}
	return c.ReversalWrite(ctx, r, res)
}

// QueueReversal queues a committed advice from ReversalWrite with pc's client.
func (a PCAuthorizer) QueueReversal(pc *terminals.Institution, adv pcclient.PendingReversal) {
	if c, ok := a.client(pc); ok {
		c.QueueReversal(adv)
	}
}

// Complete ends the write-ahead advice of an approved, posted authorization.
func (a PCAuthorizer) Complete(ctx context.Context, pc *terminals.Institution, res pcclient.AuthResult) error {
	c, ok := a.client(pc)
	if !ok {
		return errNoClient
	}
	return c.Complete(ctx, res)
}

// PrefixAuth: 0x41 | the payment's 02 key → authRec (JSON): the PC authorization of a
// terminal card payment, kept so that a reversal of the payment can be forwarded to the
// PC as a reversal advice.
const PrefixAuth byte = 0x41

// authRec is what a reversal advice for a PC authorization needs.
type authRec struct {
	PC           string `json:"pc"`
	STAN         string `json:"stan"` // the host's DE 11 of the 0200 to the PC
	RRN          string `json:"rrn"`
	DE7          string `json:"de7"`
	Amount       int64  `json:"amount"`
	Currency     string `json:"currency"`
	Terminal     string `json:"terminal"`
	CardAcceptor string `json:"card_acceptor,omitempty"`
	// Reversed: the PC's reversal advice for this authorization was committed with the
	// payment's reversal (no other advice is ever built for it).
	Reversed bool `json:"reversed,omitempty"`
}

func authKey(payKey []byte) []byte { return append([]byte{PrefixAuth}, payKey...) }

// authWrite is the record of an approved authorization (for a later reversal's advice
// to the PC), written in the payment's own command.
func authWrite(payKey []byte, a authRec) (ledger.Write, error) {
	v, err := json.Marshal(a)
	if err != nil {
		return ledger.Write{}, err
	}
	return ledger.Write{Key: authKey(payKey), Value: v}, nil
}

func (h *Handlers) lookupAuth(payKey []byte) (authRec, bool, error) {
	view, err := h.l.View()
	if err != nil {
		return authRec{}, false, err
	}
	defer view.Close()
	v, ok, err := view.Get(authKey(payKey))
	if err != nil || !ok {
		return authRec{}, false, err
	}
	var a authRec
	if err := json.Unmarshal(v, &a); err != nil {
		return authRec{}, false, fmt.Errorf("bills: authorization record: %w", err)
	}
	return a, true, nil
}

func (a authRec) request() pcclient.AuthRequest {
	return pcclient.AuthRequest{Amount: a.Amount, Currency: a.Currency, Terminal: a.Terminal, CardAcceptor: a.CardAcceptor}
}

func (a authRec) result() pcclient.AuthResult {
	return pcclient.AuthResult{ResponseCode: pcclient.CodeApproved, Approved: true, STAN: a.STAN, RRN: a.RRN,
		TransmissionDateTime: a.DE7, Sent: true}
}

// pcReversal is the PC's reversal advice for a terminal card payment being reversed.
type pcReversal struct {
	pc     *terminals.Institution
	adv    pcclient.PendingReversal
	writes []ledger.Write // for the reversal's command: the advice, the record marked Reversed
}

// prepareReversal builds the PC's reversal advice for the card authorization of the
// payment with key payKey, before the reversal's command. It returns nil when the
// payment has no authorization record (not a terminal card payment, or not posted) or
// when its advice was already committed (Reversed: the payment is reversed, and this
// request will be a repeat or refused), and a refusal code when an advice is needed but
// cannot be built (see reversal).
func (h *Handlers) prepareReversal(ctx context.Context, payKey []byte, stan string) (*pcReversal, string, error) {
	a, ok, err := h.lookupAuth(payKey)
	if err != nil || !ok || a.Reversed {
		return nil, "", err
	}
	refuse := func(err error, why string) (*pcReversal, string, error) {
		h.log.Error().Err(err).Str("pc", a.PC).Str("pc_stan", a.STAN).Str("pc_rrn", a.RRN).Str("stan", stan).
			Msg("bills: reversal of a card payment refused (91): " + why)
		return nil, rcUnavailable, nil
	}
	if h.auth == nil {
		return refuse(nil, "no authorizer to advise the PC")
	}
	pc, ok := h.inst(a.PC)
	if !ok {
		return refuse(nil, "its PC is no longer registered")
	}
	adv, err := h.auth.ReversalWrite(ctx, pc, a.request(), a.result())
	if err != nil {
		return refuse(err, "the PC's reversal advice cannot be built")
	}
	a.Reversed = true
	mark, err := authWrite(payKey, a)
	if err != nil {
		return nil, "", err
	}
	return &pcReversal{pc: pc, adv: adv, writes: []ledger.Write{adv.Write(), mark}}, "", nil
}

// forwardReversal queues, on its own, the PC's reversal advice for the card
// authorization of the payment with key payKey. Only for the race in which the payment
// committed after reversal looked for its authorization record and before its
// reversal found the payment: the advice is then durable only after the host's
// reversal (a crash in between loses it, as the log says).
func (h *Handlers) forwardReversal(ctx context.Context, payKey []byte, stan string) {
	a, ok, err := h.lookupAuth(payKey)
	if err != nil {
		h.log.Error().Err(err).Str("stan", stan).Msg("bills: reversed card payment: authorization record unreadable; PC not advised")
		return
	}
	if !ok || a.Reversed || h.auth == nil {
		return
	}
	pc, ok := h.inst(a.PC)
	if !ok {
		h.log.Error().Str("pc", a.PC).Str("stan", stan).Msg("bills: reversed card payment: PC no longer registered; PC not advised")
		return
	}
	if err := h.auth.Reverse(ctx, pc, a.request(), a.result()); err != nil {
		h.log.Error().Err(err).Str("pc", a.PC).Str("pc_stan", a.STAN).Str("pc_rrn", a.RRN).Str("stan", stan).
			Msg("bills: reversed card payment: reversal advice to the PC not queued")
	}
}
