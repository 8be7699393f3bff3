package bills

import (
	"context"
	"strconv"

	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
)

// inquiry serves 0100/310000 (§5): tag 20 debts (cut with tag 25 T to fit DE 48),
// tag 21 payer, DE 54 the total due.
func (h *Handlers) inquiry(ctx context.Context, s hostswitch.Session, req *specs.Message) (*specs.Message, error) {
	if req.ProcessingCode != "310000" {
		return reply(rcNotAllowed), nil
	}
	br, err := parseBill(req.AdditionalData)
	if err != nil {
		return reply(rcFormat), nil
	}
	if req.PAN != "" && !luhn(req.PAN) {
		return reply(rcInvalidCard), nil
	}
	inq, err := h.core.Inquire(ctx, br.Target)
	if err != nil {
		if rc, ok := declineCode(err); ok {
			return reply(rc), nil
		}
		return nil, err
	}
	if cur, err := currencyOf(req); err != nil {
		return reply(rcFormat), nil
	} else if req.Currency != "" && cur != inq.Currency {
		return reply(rcInvalidAmount), nil
	}
	cur := strconv.Itoa(int(inq.Currency))
	for len(cur) < 3 {
		cur = "0" + cur
	}
	de54, err := specs.FormatDE54(specs.InquiryTotal(inq.Total, cur))
	if err != nil {
		return nil, err
	}
	payer := inq.Payer
	if len(payer) > 40 {
		payer = payer[:40]
	}
	room := maxDE48 - entryLen(len(payer))
	debts, cut := debtsTag(inq.Lines, room)
	if cut {
		debts, _ = debtsTag(inq.Lines, room-entryLen(1))
	}
	entries := []specs.DE48Entry{{Tag: specs.Tag20Debts, Value: debts}, {Tag: specs.Tag21PayerName, Value: payer}}
	if cut {
		entries = append(entries, specs.DE48Entry{Tag: specs.Tag25Truncated, Value: "T"})
	}
	de48, err := encodeDE48(entries...)
	if err != nil {
		return nil, err
	}
	return &specs.Message{ResponseCode: rcApproved, AdditionalData: de48, AdditionalAmounts: de54, Currency: cur}, nil
}
