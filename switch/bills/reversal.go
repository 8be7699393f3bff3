package bills

import (
	"context"
	"strings"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
)

// reversal serves 0400/0401 (reversal request: same business day only) and 0420/0421
// (reversal advice: always acknowledged once durable) (§7).
func (h *Handlers) reversal(ctx context.Context, s hostswitch.Session, req *specs.Message) (*specs.Message, error) {
	advice := req.MTI == "0420" || req.MTI == "0421"
	if req.OriginalData == "" {
		return reply(rcFormat), nil
	}
	od, err := specs.ParseDE90(req.OriginalData)
	if err != nil || od.STAN == "" || od.TransmissionDateTime == "" {
		return reply(rcFormat), nil
	}
	ns := namespace(s, req)
	origNS := terminalNS
	if s.Link == specs.LinkPC {
		origNS = od.AcquirerID
		if strings.Trim(origNS, "0") == "" {
			origNS = ns
		}
		if origNS != ns {
			// A PC reverses only what it acquired itself.
			return reply(rcNotAllowed), nil
		}
	}
	if classOf(od.MTI) != "02" {
		if advice {
			return reply(rcNotAllowed), nil
		}
		return reply(rcNotFound), nil
	}
	kind := "0400"
	if advice {
		kind = "0420"
	}
	own := wireKey("04", ns, tid(req), req.STAN, req.TransmissionDateTime)
	orig := wireKey("02", origNS, tid(req), od.STAN, od.TransmissionDateTime)
	hash := hashOf("04", kind, string(orig))
	if out, seen, err := h.seenRefusal(ctx, own, hash, true); seen || err != nil {
		return out, err
	}
	rr := billpay.ReverseRequest{Key: own, RequestHash: hash, OriginalKey: orig, SameDayOnly: !advice, VoidUnknown: advice}
	var pcr *pcReversal
	if s.Link == specs.LinkTerminal {
		// A terminal card payment: the PC releases the card's money on a reversal advice,
		// whose record commits in the reversal's own command (Extra), so the host never
		// refunds without it, crash or not. When the payment has an authorization record
		// but no advice can be built (its PC is no longer registered or dialled, no
		// client), the request is refused 91 and nothing is reversed: the host keeps the
		// payment and the PC keeps the card's money, which agree. That holds for a 0420
		// too: §7 acknowledges an advice once it is durably recorded, and §3 has a 91'd
		// advice kept and sent again by its sender; acknowledging it here would refund
		// the payment while the card stays charged. 91 is not kept: a repeat (0401/0421)
		// is served afresh once the PC's client is back.
		var rc string
		if pcr, rc, err = h.prepareReversal(ctx, orig, req.STAN); err != nil {
			return nil, err
		} else if rc != "" {
			return reply(rc), nil
		}
		if pcr != nil {
			rr.Extra = pcr.writes
		}
	}
	rev, err := h.core.Reverse(ctx, rr)
	if err != nil {
		rc, ok := declineCode(err)
		if !ok {
			return nil, err
		}
		if advice && rc == rcDeclined {
			// A second advice for an original already reversed (or voided): no second
			// effect, acknowledged (§7).
			return reply(rcApproved), nil
		}
		if keepable(rc) {
			h.keepDecline(ctx, own, hash, rc)
		}
		return reply(rc), nil
	}
	if s.Link == specs.LinkTerminal && !rev.Voided && !rev.Duplicate {
		if pcr != nil {
			// Committed with the reversal: now sent. A repeat (Duplicate) or a second
			// reversal (already reversed) committed no advice and queues none, so the PC
			// gets one advice per authorization.
			h.auth.QueueReversal(pcr.pc, pcr.adv)
		} else {
			// The payment may have committed after prepareReversal looked (a race).
			h.forwardReversal(ctx, orig, req.STAN)
		}
	}
	out := reply(rcApproved)
	if rev.BusinessDate != 0 {
		out.SettlementDate = mmdd(rev.BusinessDate)
	}
	return out, nil
}
