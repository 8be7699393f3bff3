package bills

import (
	"context"
	"strings"

	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/switch/pcclient"
)

// Inbound returns the handler of a PC's requests on connections the host dialled
// (pcclient.Config.Inbound): the same routes as the host's own PC link (r), with the
// checks the host makes centrally on accepted connections (§3 sign-on, §9 mandatory
// fields) and the same response completion (echoed fields, DE 15 from businessDate).
// "Signed on" on a dialled connection is the host's own sign-on answered 00.
func Inbound(r *hostswitch.Router, dir hostswitch.Directory, businessDate func() string) pcclient.InboundHandler {
	return func(ctx context.Context, p pcclient.Peer, req *specs.Message) (*specs.Message, error) {
		resp := serveInbound(ctx, r, dir, p, req)
		hostswitch.CompleteResponse(resp, req, businessDate)
		return resp, nil
	}
}

func serveInbound(ctx context.Context, r *hostswitch.Router, dir hostswitch.Directory, p pcclient.Peer, req *specs.Message) *specs.Message {
	mti := req.MTI
	if len(req.TransmissionDateTime) != 10 || !allDigits(req.TransmissionDateTime) || req.AcquirerID == "" {
		return reply(rcFormat)
	}
	if mti == "0800" {
		switch req.NetworkCode {
		case "":
			return reply(rcFormat)
		case "001", "002", "301":
			return &specs.Message{ResponseCode: rcApproved, NetworkCode: req.NetworkCode}
		}
		return &specs.Message{ResponseCode: rcNotAllowed, NetworkCode: req.NetworkCode}
	}
	switch mti {
	case "0100", "0200", "0201", "0400", "0401", "0420", "0421":
		if tid(req) == "" || req.ProcessingCode == "" {
			return reply(rcFormat)
		}
	case "0500":
		if req.ProcessingCode == "" {
			return reply(rcFormat)
		}
	default:
		return reply(rcNotAllowed)
	}
	if req.AdditionalData != "" {
		if _, err := specs.ParseDE48(req.AdditionalData); err != nil {
			return reply(rcFormat)
		}
	}
	if strings.TrimLeft(req.AcquirerID, "0") != strings.TrimLeft(p.Institution, "0") {
		return reply(rcUnknownParty)
	}
	if !p.SignedOn {
		return reply(rcUnavailable)
	}
	h, ok := r.Lookup(mti, req.ProcessingCode)
	if !ok {
		return reply(rcNotAllowed)
	}
	s := hostswitch.Session{Link: specs.LinkPC, Conn: p.Conn, Remote: p.Remote, SignedOn: true, Institution: p.Institution}
	if t, ok := dir.Terminal(tid(req)); ok && t.Owner == p.Institution {
		s.Terminal = t
	}
	resp, err := h.ServeISO(ctx, s, req)
	if err != nil || resp == nil || resp.ResponseCode == "" {
		return reply(rcSystem)
	}
	return resp
}
