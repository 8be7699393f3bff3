// Package httpcards authorizes the HTTP channels' card payments through the host's
// processing-centre clients: it adapts the switch's card authorizer (BIN routing by the
// terminal registry; switch/pcclient underneath: timeout, 91, durable reversal advices)
// to billpay/httpapi's CardAuthorizer, CardReverser and CardCompleter, which must not
// import switch/. cmd wires it:
//
//	cards := httpcards.New(bills.PCAuthorizer{Clients: clients}, registry)
//	srv, disp, err := httpapi.New(cfg, httpapi.Deps{Core: core, Authorizer: cards, Logger: log})
//
// It must never log or keep card data (httpapi logs the PAN masked 6+4), nor answer an
// approval the processing centre did not give.
package httpcards

import (
	"context"
	"errors"
	"fmt"

	"github.com/billswitch/billswitch/billpay/httpapi"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// Router finds the processing centre of a card; *terminals.Registry is one.
type Router interface {
	Route(pan string) (*terminals.Institution, bool)
}

// Cards is an httpapi.CardAuthorizer (and CardReverser, CardCompleter) over the
// switch's authorizer.
type Cards struct {
	auth  bills.Authorizer
	route Router
}

// New builds the adapter.
func New(auth bills.Authorizer, route Router) *Cards { return &Cards{auth: auth, route: route} }

// ErrNoAnswer: the processing centre did not answer (91): nothing was taken; when a
// request may have reached it, its client keeps a durable reversal advice.
var ErrNoAnswer = errors.New("httpcards: the card's processing centre did not answer")

// ref is what Reverse and Complete need of an authorization.
type ref struct {
	pc  *terminals.Institution
	req pcclient.AuthRequest
	res pcclient.AuthResult
}

// Authorize sends the payment to the card's processing centre as a 0200/500000.
// A card no processing centre takes is declined 14 (invalid card number) without a
// request; a 91 (no answer, timeout, no link) is ErrNoAnswer.
func (c *Cards) Authorize(ctx context.Context, a httpapi.CardAuth) (httpapi.CardResult, error) {
	pc, ok := c.route.Route(a.PAN)
	if !ok {
		return httpapi.CardResult{ResponseCode: "14"}, nil
	}
	req := pcclient.AuthRequest{PAN: a.PAN, Expiry: a.Expiry, Amount: a.Amount, Currency: fmt.Sprintf("%03d", a.Currency), Terminal: a.Terminal}
	res, err := c.auth.Authorize(ctx, pc, req)
	if err != nil {
		return httpapi.CardResult{}, err
	}
	if !res.Approved && (res.ResponseCode == pcclient.CodeUnavailable || res.ResponseCode == "") {
		return httpapi.CardResult{}, ErrNoAnswer
	}
	out := httpapi.CardResult{Approved: res.Approved, ResponseCode: res.ResponseCode, AuthID: res.AuthID,
		Acquirer: pc.ID, RRN: res.RRN, STAN: res.STAN, Ref: &ref{pc: pc, req: req, res: res}}
	if w, ok := c.auth.CompletionWrite(pc, res); ok && res.Approved {
		out.Completion = []ledger.Write{w}
	}
	return out, nil
}

// ReverseAuthorization queues a durable reversal advice for an approval whose payment
// the core declined.
func (c *Cards) ReverseAuthorization(ctx context.Context, _ httpapi.CardAuth, r httpapi.CardResult) error {
	rf, ok := r.Ref.(*ref)
	if !ok {
		return errors.New("httpcards: not an authorization of this adapter")
	}
	return c.auth.Reverse(ctx, rf.pc, rf.req, rf.res)
}

// CompleteAuthorization ends the authorization of a posted payment.
func (c *Cards) CompleteAuthorization(ctx context.Context, _ httpapi.CardAuth, r httpapi.CardResult) error {
	rf, ok := r.Ref.(*ref)
	if !ok {
		return errors.New("httpcards: not an authorization of this adapter")
	}
	return c.auth.Complete(ctx, rf.pc, rf.res)
}
