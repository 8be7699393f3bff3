package bills

import (
	"context"

	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// PCAuthorizer authorizes terminal card payments through the host's clients of the
// processing centres it dials (switch/pcclient: timeout, 91, durable 0420/0421).
type PCAuthorizer struct {
	Clients *pcclient.Clients
}

// Authorize sends the authorization to pc's client. A PC the host does not dial (one
// that only dials in) has no client: the answer is 91 and nothing is sent (see
// docs/decisions-iso-handlers.md).
func (a PCAuthorizer) Authorize(ctx context.Context, pc *terminals.Institution, r pcclient.AuthRequest) (pcclient.AuthResult, error) {
	if a.Clients == nil {
		return pcclient.AuthResult{ResponseCode: pcclient.CodeUnavailable}, nil
	}
	c, ok := a.Clients.Client(pc.ID)
	if !ok {
		return pcclient.AuthResult{ResponseCode: pcclient.CodeUnavailable}, nil
	}
	return c.Authorize(ctx, r)
}
