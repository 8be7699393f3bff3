package bills

import (
	"context"
	"strconv"
	"strings"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// payReq is a parsed 0200/0201.
type payReq struct {
	repeat bool
	topUp  bool
	bill   billReq
	amount int64
	cur    uint16
	pan    string // from DE 2, or DE 35 before its separator
	card   bool
	key    []byte
	hash   [32]byte
}

// parsePayment checks and reads a 0200/0201; a non-empty rc is the refusal.
func parsePayment(s hostswitch.Session, req *specs.Message) (payReq, string) {
	var p payReq
	pc := req.ProcessingCode
	if len(pc) != 6 || pc[4:] != "00" || (pc[:2] != "50" && pc[:2] != "51") {
		return p, rcNotAllowed
	}
	switch pc[2:4] {
	case "00", "10", "20", "30":
	default:
		return p, rcNotAllowed
	}
	p.repeat, p.topUp = req.MTI == "0201", pc[:2] == "51"
	var err error
	if p.bill, err = parseBill(req.AdditionalData); err != nil {
		return p, rcFormat
	}
	if p.amount, err = amountOf(req); err != nil {
		return p, rcFormat
	}
	if p.cur, err = currencyOf(req); err != nil {
		return p, rcFormat
	}
	p.pan = req.PAN
	if p.pan == "" && req.Track2 != "" {
		p.pan, _, _ = strings.Cut(req.Track2, "=")
		p.pan, _, _ = strings.Cut(p.pan, "D")
	}
	p.card = req.PAN != "" || req.Track2 != ""
	p.key = wireKey("02", namespace(s, req), tid(req), req.STAN, req.TransmissionDateTime)
	t := p.bill.Target
	p.hash = hashOf("02", pc, strconv.FormatInt(p.amount, 10), strconv.Itoa(int(p.cur)), t.Provider, t.Account, t.RegCode)
	if p.amount == 0 {
		return p, rcInvalidAmount
	}
	if p.card && !luhn(p.pan) {
		return p, rcInvalidCard
	}
	return p, ""
}

// payment serves 0200/0201 with 50xx00 (bill payment) and 51xx00 (top-up).
func (h *Handlers) payment(ctx context.Context, s hostswitch.Session, req *specs.Message) (*specs.Message, error) {
	p, rc := parsePayment(s, req)
	if rc != "" && (p.key == nil || !keepable(rc)) {
		return reply(rc), nil
	}
	// A key seen before with a refusal: 94 for a 0200, the same answer for a 0201.
	if out, seen, err := h.seenRefusal(ctx, p.key, p.hash, p.repeat); seen || err != nil {
		return out, err
	}
	if rc != "" {
		return h.refuse(ctx, p, rc)
	}
	pr := billpay.PaymentRequest{
		Key: p.key, RequestHash: p.hash, Target: p.bill.Target, Amount: p.amount, Currency: p.cur,
		Mode: p.bill.Mode, Lines: p.bill.Lines, Readings: p.bill.Readings,
		Terminal: tid(req), RRN: strings.TrimSpace(req.RRN), STAN: req.STAN,
	}
	if s.Link == specs.LinkPC {
		// Already authorized by the PC (§3): posted directly. The host let the request
		// through only on a connection signed on for this DE 32.
		if strings.TrimLeft(req.AcquirerID, "0") != strings.TrimLeft(s.Institution, "0") {
			return reply(rcUnknownParty), nil
		}
		pr.Acquirer = s.Institution
		pr.Channel = billpay.ChannelBank
		if s.Terminal != nil && s.Terminal.Kind == terminals.KindATM {
			pr.Channel = billpay.ChannelATM
		}
		pr.Method = billpay.MethodAccount
		if p.card {
			pr.Method = billpay.MethodCard
		}
		m, _, err := h.post(ctx, p, pr)
		return m, err
	}
	if s.Terminal == nil {
		return reply(rcUnknownParty), nil
	}
	pr.Channel = terminalChannel(s.Terminal.Kind)
	if !p.card {
		if !s.Terminal.Cash {
			return h.refuse(ctx, p, rcNotPermitted)
		}
		pr.Method, pr.Acquirer = billpay.MethodCash, s.Institution
		m, _, err := h.post(ctx, p, pr)
		return m, err
	}
	return h.cardPayment(ctx, s, req, p, pr)
}

// terminalChannel is the billpay channel of a terminal-link payment. A terminal of kind
// ATM on the terminal link counts as a kiosk: ChannelATM (and Bank) mean the PC link,
// which reconciliation relies on.
func terminalChannel(k terminals.Kind) billpay.Channel {
	switch k {
	case terminals.KindPOS:
		return billpay.ChannelPOS
	case terminals.KindCashier:
		return billpay.ChannelCashier
	default:
		return billpay.ChannelKiosk
	}
}

// cardPayment authorizes a terminal's card payment at the card's PC and posts it only
// on the PC's 00 (§3).
func (h *Handlers) cardPayment(ctx context.Context, s hostswitch.Session, req *specs.Message, p payReq, pr billpay.PaymentRequest) (*specs.Message, error) {
	unlock := h.keys.lock(p.key)
	defer unlock()
	// A refusal recorded while this request waited for the key.
	if out, seen, err := h.seenRefusal(ctx, p.key, p.hash, p.repeat); seen || err != nil {
		return out, err
	}
	// A repeat of a posted payment (or one voided by an advice) never authorizes again.
	if pay, found, err := h.core.PaymentOutcome(ctx, p.key, p.hash); found {
		if err != nil {
			if rc, ok := declineCode(err); ok {
				return reply(rc), nil
			}
			return nil, err
		}
		pay.Duplicate = true
		return h.approved(p, pay)
	} else if err != nil {
		return nil, err
	}
	// Check what can be checked before the card is charged.
	if rc, err := h.precheck(ctx, p); err != nil {
		return nil, err
	} else if rc != "" {
		return h.refuse(ctx, p, rc)
	}
	pc, ok := h.reg.Route(p.pan)
	if !ok {
		return h.refuse(ctx, p, rcNotAllowed)
	}
	if h.auth == nil {
		return reply(rcUnavailable), nil
	}
	cur := req.Currency
	if cur == "" {
		cur = "944"
	}
	res, err := h.auth.Authorize(ctx, pc, pcclient.AuthRequest{
		PAN: req.PAN, Track2: req.Track2, Expiry: req.Expiry, PINBlock: req.PINBlock,
		Amount: p.amount, Currency: cur, POSEntryMode: req.POSEntryMode,
		Terminal: tid(req), CardAcceptor: strings.TrimSpace(req.CardAcceptorID), CardAcceptorName: strings.TrimSpace(req.CardAcceptorName),
	})
	if err != nil {
		h.log.Warn().Err(err).Str("pc", pc.ID).Str("stan", req.STAN).Str("pan", specs.MaskPAN(p.pan)).Str("rc", res.ResponseCode).Msg("bills: card authorization failed")
	}
	if !res.Approved {
		rc := res.ResponseCode
		if rc == "" || rc == rcApproved {
			rc = rcSystem
		}
		if keepable(rc) {
			return h.refuse(ctx, p, rc)
		}
		return reply(rc), nil
	}
	pr.Method, pr.Acquirer = billpay.MethodCard, pc.ID
	if pr.RRN == "" {
		pr.RRN = res.RRN
	}
	// The authorization's record (for a later reversal's advice to the PC) and the end of
	// its write-ahead advice commit in the payment's own command: a crash leaves either
	// the posted payment with its completed authorization, or no payment and an advice
	// that reverses the authorization at the PC on restart.
	ar := authRec{PC: pc.ID, STAN: res.STAN, RRN: res.RRN, DE7: res.TransmissionDateTime, Amount: p.amount, Currency: cur,
		Terminal: tid(req), CardAcceptor: strings.TrimSpace(req.CardAcceptorID)}
	aw, err := authWrite(p.key, ar)
	if err != nil {
		return nil, err
	}
	pr.Extra = []ledger.Write{aw}
	completion, inBatch := h.auth.CompletionWrite(pc, res)
	if inBatch {
		pr.Extra = append(pr.Extra, completion)
	}
	out, posted, err := h.post(ctx, p, pr)
	if !posted {
		// The PC approved, this request did not post (a race after the pre-check, an
		// advice voided the key meanwhile, or a concurrent repeat posted first): the PC
		// gets a reversal advice for this authorization.
		h.log.Warn().Err(err).Str("pc", pc.ID).Str("pc_stan", res.STAN).Str("pc_rrn", res.RRN).Str("stan", req.STAN).
			Msg("bills: card authorized by the PC but this request posted nothing: reversing the authorization")
		if rerr := h.auth.Reverse(ctx, pc, ar.request(), res); rerr != nil {
			h.log.Error().Err(rerr).Str("pc", pc.ID).Str("pc_stan", res.STAN).Str("pc_rrn", res.RRN).
				Msg("bills: reversal advice for an unposted authorization not queued")
		}
		return out, err
	}
	if !inBatch {
		if cerr := h.auth.Complete(ctx, pc, res); cerr != nil {
			h.log.Error().Err(cerr).Str("pc", pc.ID).Str("pc_stan", res.STAN).Msg("bills: authorization not completed")
		}
	}
	return out, nil
}

// precheck runs the payment's checks against the current dues without posting, so that
// a payment the host would refuse never charges the card. Races (dues changed between
// the check and the post) remain possible and are logged by cardPayment.
func (h *Handlers) precheck(ctx context.Context, p payReq) (string, error) {
	inq, err := h.core.Inquire(ctx, p.bill.Target)
	if err != nil {
		if rc, ok := declineCode(err); ok {
			return rc, nil
		}
		return "", err
	}
	if inq.Currency != p.cur {
		return rcInvalidAmount, nil
	}
	if p.topUp {
		return "", nil
	}
	var dues []billpay.AccountDues
	reg := h.core.Registry()
	for _, l := range inq.Lines {
		if n := len(dues); n == 0 || dues[n-1].Provider.Code != l.Provider || dues[n-1].Account != l.Account {
			found := false
			for i := range dues {
				if dues[i].Provider.Code == l.Provider && dues[i].Account == l.Account {
					dues[i].Dues = append(dues[i].Dues, billpay.Due{Service: l.Service, Period: l.Period, Amount: l.Amount})
					found = true
					break
				}
			}
			if found {
				continue
			}
			prov, ok := reg.Provider(l.Provider)
			if !ok {
				return rcUnknownProvider, nil
			}
			dues = append(dues, billpay.AccountDues{Provider: prov, Account: l.Account})
		}
		d := &dues[len(dues)-1]
		d.Dues = append(d.Dues, billpay.Due{Service: l.Service, Period: l.Period, Amount: l.Amount})
	}
	// Accounts without any line still take advances.
	for _, a := range inq.Accounts {
		found := false
		for _, d := range dues {
			if d.Provider.Code == a.Provider && d.Account == a.Account {
				found = true
			}
		}
		if !found {
			if prov, ok := reg.Provider(a.Provider); ok {
				dues = append(dues, billpay.AccountDues{Provider: prov, Account: a.Account})
			}
		}
	}
	if _, err := billpay.Allocate(p.amount, p.bill.Mode, p.bill.Lines, dues, p.bill.Target.RegCode == ""); err != nil {
		if rc, ok := declineCode(err); ok {
			return rc, nil
		}
		return "", err
	}
	return "", nil
}

// post takes the payment (or top-up) in billpay and answers it.
// post hands the payment to billpay. posted says whether this call's command was
// committed (false for a refusal, an error, or the replay of an earlier payment).
func (h *Handlers) post(ctx context.Context, p payReq, pr billpay.PaymentRequest) (*specs.Message, bool, error) {
	var pay *billpay.Payment
	var err error
	if p.topUp {
		pay, err = h.core.TopUp(ctx, billpay.TopUpRequest{PaymentRequest: pr, CardID: p.bill.CardID, CardSequence: p.bill.CardSeq, Token: !p.bill.HasCard})
	} else {
		pay, err = h.core.Pay(ctx, pr)
	}
	if err != nil {
		if rc, ok := declineCode(err); ok {
			if keepable(rc) {
				m, err := h.refuse(ctx, p, rc)
				return m, false, err
			}
			return reply(rc), false, nil
		}
		return nil, false, err
	}
	if pay.Duplicate && !p.repeat {
		return reply(rcDuplicate), false, nil
	}
	m, err := h.approved(p, pay)
	return m, !pay.Duplicate, err
}

// approved is the 0210 of a posted payment: DE 38, DE 15 = the date it was posted on,
// tag 22 receipt, tag 23 credential (top-up), tag 24 allocation.
func (h *Handlers) approved(p payReq, pay *billpay.Payment) (*specs.Message, error) {
	if pay.Duplicate && !p.repeat {
		return reply(rcDuplicate), nil
	}
	entries := []specs.DE48Entry{{Tag: specs.Tag22Receipt, Value: pay.Receipt}}
	room := maxDE48 - entryLen(len(pay.Receipt))
	if pay.Credential != "" {
		entries = append(entries, specs.DE48Entry{Tag: specs.Tag23Credential, Value: pay.Credential})
		room -= entryLen(len(pay.Credential))
	}
	entries = append(entries, specs.DE48Entry{Tag: specs.Tag24Allocated, Value: allocTag(pay.Allocations, room)})
	de48, err := encodeDE48(entries...)
	if err != nil {
		return nil, err
	}
	return &specs.Message{ResponseCode: rcApproved, AuthID: pay.AuthCode, SettlementDate: mmdd(pay.BusinessDate), AdditionalData: de48}, nil
}

// refuse answers rc and keeps it under the request's key (see keepDecline).
func (h *Handlers) refuse(ctx context.Context, p payReq, rc string) (*specs.Message, error) {
	if keepable(rc) {
		h.keepDecline(ctx, p.key, p.hash, rc)
	}
	return reply(rc), nil
}
