package httpapi

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request, _ *Client) error {
	out := []providerJSON{}
	for _, p := range s.core.Registry().Providers() {
		out = append(out, providerOut(p))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"providers": out})
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request, _ *Client) error {
	p, ok := s.core.Registry().Provider(r.PathValue("provider"))
	if !ok {
		return perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("provider %q is not registered", r.PathValue("provider")))
	}
	return writeJSON(w, http.StatusOK, providerOut(p))
}

// target checks a target and returns the provider whose currency the amounts are in.
func (s *Server) target(r *http.Request, t targetJSON) (billpay.Target, *billpay.Provider, error) {
	switch {
	case t.RegCode != "" && (t.Provider != "" || t.Account != ""):
		return billpay.Target{}, nil, fieldErr("target", "name either provider and account, or regcode")
	case t.RegCode != "":
		if !billpay.ValidRegCode(t.RegCode) {
			return billpay.Target{}, nil, fieldErr("target.regcode", "not a valid registration code (10 digits with a check digit)")
		}
		sub, err := s.core.Subscriber(r.Context(), t.RegCode)
		if err != nil {
			return billpay.Target{}, nil, err
		}
		for _, a := range sub.Accounts {
			if p, ok := s.core.Registry().Provider(a.Provider); ok {
				return billpay.Target{RegCode: t.RegCode}, p, nil
			}
		}
		return billpay.Target{}, nil, perr(http.StatusNotFound, CodeUnknownAccount, "the registration code links no account")
	case t.Provider == "" || t.Account == "":
		return billpay.Target{}, nil, fieldErr("target", "name provider and account, or regcode")
	default:
		if len(t.Account) > 32 {
			return billpay.Target{}, nil, fieldErr("target.account", "at most 32 characters")
		}
		p, ok := s.core.Registry().Provider(t.Provider)
		if !ok {
			return billpay.Target{}, nil, perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("provider %q is not registered", t.Provider))
		}
		return billpay.Target{Provider: t.Provider, Account: t.Account}, p, nil
	}
}

func (s *Server) inquiry(w http.ResponseWriter, r *http.Request, _ *Client) error {
	q := r.URL.Query()
	tj := targetJSON{Provider: q.Get("provider"), Account: q.Get("account"), RegCode: q.Get("regcode")}
	t, prov, err := s.target(r, tj)
	if err != nil {
		return err
	}
	inq, err := s.core.Inquire(r.Context(), t)
	if err != nil {
		return err
	}
	cur := inq.Currency
	if cur == 0 {
		cur = prov.Currency
	}
	d := s.digits(cur)
	out := inquiryJSON{Target: tj, Payer: inq.Payer, Currency: currencyString(cur), Total: formatAmount(inq.Total, d),
		Lines: []debtJSON{}, Accounts: []refJSON{}}
	for _, l := range inq.Lines {
		dj := debtJSON{Provider: l.Provider, Account: l.Account, Service: l.Service, Period: periodString(l.Period), Amount: formatAmount(l.Amount, d)}
		if l.Meter != nil {
			dj.Meter = &meterJSON{ID: l.Meter.ID, Previous: l.Meter.Previous, Current: l.Meter.Current, Unit: l.Meter.Unit, Tariff: l.Meter.Tariff}
		}
		out.Lines = append(out.Lines, dj)
	}
	for _, a := range inq.Accounts {
		out.Accounts = append(out.Accounts, refJSON{a.Provider, a.Account})
	}
	return writeJSON(w, http.StatusOK, out)
}

// method checks the payment method against the client's channel and returns the
// payment point.
func (s *Server) method(r *http.Request, c *Client, method, terminal string, card *cardJSON) (billpay.Method, string, error) {
	if terminal == "" {
		terminal = c.Terminal
	}
	if len(terminal) > 8 {
		return 0, "", fieldErr("terminal", "at most 8 characters (DE 41)")
	}
	if terminal != "" && !c.allowsTerminal(terminal) {
		return 0, "", perr(http.StatusForbidden, CodeForbidden, fmt.Sprintf("payment point %q is not one of this client's", terminal))
	}
	switch method {
	case "cash":
		if c.Channel == billpay.ChannelWeb {
			return 0, "", perr(http.StatusUnprocessableEntity, CodeNotAllowed, "the web channel takes no cash")
		}
		if card != nil {
			return 0, "", fieldErr("card", "a cash payment carries no card")
		}
		if terminal == "" {
			return 0, "", fieldErr("terminal", "a cash payment names its payment point")
		}
		return billpay.MethodCash, terminal, nil
	case "card":
		if card == nil {
			return 0, "", fieldErr("card", "a card payment carries the card")
		}
		if s.cfg.RequireTLSForCards && r.TLS == nil && !(s.cfg.TrustForwardedProto && r.Header.Get("X-Forwarded-Proto") == "https") {
			return 0, "", perr(http.StatusForbidden, CodeTLSRequired, "card data is accepted only over TLS")
		}
		if n := len(card.PAN); n < 12 || n > 19 || !digitsOnly(card.PAN) {
			return 0, "", fieldErr("card.pan", "12 to 19 digits")
		}
		if card.Expiry != "" && (len(card.Expiry) != 4 || !digitsOnly(card.Expiry)) {
			return 0, "", fieldErr("card.expiry", "YYMM")
		}
		if card.CVV != "" && (len(card.CVV) < 3 || len(card.CVV) > 4 || !digitsOnly(card.CVV)) {
			return 0, "", fieldErr("card.cvv", "3 or 4 digits")
		}
		return billpay.MethodCard, terminal, nil
	case "":
		return 0, "", fieldErr("method", "required: cash or card")
	default:
		return 0, "", fieldErr("method", "cash or card")
	}
}

func digitsOnly(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// hasher builds a request hash field by field (length-prefixed).
type hasher struct{ b []byte }

func (h *hasher) s(v string) *hasher {
	h.b = strconv.AppendInt(h.b, int64(len(v)), 10)
	h.b = append(h.b, ':')
	h.b = append(h.b, v...)
	return h
}

func (h *hasher) sum() [32]byte { return sha256.Sum256(h.b) }

func (s *Server) pay(w http.ResponseWriter, r *http.Request, c *Client) error {
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req payRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t, prov, err := s.target(r, req.Target)
	if err != nil {
		return err
	}
	amount, err := positiveAmount(prov, req.Amount, req.Currency, "payment")
	if err != nil {
		return err
	}
	method, terminal, err := s.method(r, c, req.Method, req.Terminal, req.Card)
	if err != nil {
		return err
	}
	pr := billpay.PaymentRequest{Target: t, Amount: amount, Currency: prov.Currency, Channel: c.Channel, Method: method,
		Acquirer: c.Acquirer, Terminal: terminal}
	// pay/2: every list is counted (pay/1 was not, so readings could spell out lines and
	// a different body hash like another under the same key).
	h := (&hasher{}).s("pay/2").s(t.Provider).s(t.Account).s(t.RegCode).s(strconv.FormatInt(amount, 10)).s(req.Method).s(terminal)
	switch req.Allocation {
	case "", "auto":
		if len(req.Lines) > 0 {
			return fieldErr("lines", "lines need allocation \"lines\"")
		}
	case "lines":
		pr.Mode = billpay.ModeLines
		if len(req.Lines) == 0 {
			return fieldErr("lines", "allocation \"lines\" needs at least one line")
		}
		h.s("lines").s(strconv.Itoa(len(req.Lines)))
		for i, l := range req.Lines {
			lp, ok := s.core.Registry().Provider(l.Provider)
			if !ok {
				return perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("lines[%d]: provider %q is not registered", i, l.Provider))
			}
			a, err := parseAmount(l.Amount, lp.MinorDigits, false)
			if err != nil {
				return amountErr(fmt.Sprintf("lines[%d].amount", i), err.Error())
			}
			if l.Account == "" || l.Service == "" {
				return fieldErr(fmt.Sprintf("lines[%d]", i), "account and service are required")
			}
			pr.Lines = append(pr.Lines, billpay.Line{Provider: l.Provider, Account: l.Account, Service: l.Service, Amount: a})
			h.s(l.Provider).s(l.Account).s(l.Service).s(strconv.FormatInt(a, 10))
		}
	default:
		return fieldErr("allocation", "auto or lines")
	}
	h.s(strconv.Itoa(len(req.Readings)))
	for i, rd := range req.Readings {
		if rd.Service == "" || rd.Meter == "" || rd.Value == "" {
			return fieldErr(fmt.Sprintf("readings[%d]", i), "service, meter and value are required")
		}
		pr.Readings = append(pr.Readings, billpay.Reading{Service: rd.Service, Meter: rd.Meter, Value: rd.Value})
		h.s(rd.Service).s(rd.Meter).s(rd.Value)
	}
	pr.Key = []byte("h/" + c.Name + "/" + key)
	if req.Card != nil {
		panHash := sha256.Sum256([]byte(req.Card.PAN))
		h.s(string(panHash[:])).s(req.Card.Expiry)
	}
	pr.RequestHash = h.sum()
	var p *billpay.Payment
	if method == billpay.MethodCard {
		p, err = s.cardPay(r, c, req.Card, &pr, false, func(pr *billpay.PaymentRequest) (*billpay.Payment, error) {
			return s.core.Pay(r.Context(), *pr)
		})
	} else {
		p, err = s.core.Pay(r.Context(), pr)
	}
	if err != nil {
		return err
	}
	s.disp.Kick()
	return s.writePayment(w, p, false)
}

func (s *Server) writePayment(w http.ResponseWriter, p *billpay.Payment, topUp bool) error {
	status := http.StatusCreated
	if p.Duplicate {
		status = http.StatusOK
	}
	out := s.paymentOut(p, topUp)
	w.Header().Set("Location", out.Links.Self)
	return writeJSON(w, status, out)
}

// cardPay authorizes a card payment at its processing centre, then posts it: a repeat
// of a taken key is answered from the store without a second authorization.
func (s *Server) cardPay(r *http.Request, c *Client, card *cardJSON, pr *billpay.PaymentRequest, topUp bool,
	post func(*billpay.PaymentRequest) (*billpay.Payment, error)) (*billpay.Payment, error) {
	ctx := r.Context()
	unlock := s.lockKey(string(pr.Key))
	defer unlock()
	if p, found, err := s.core.PaymentOutcome(ctx, pr.Key, pr.RequestHash); found {
		return p, err
	} else if err != nil {
		return nil, err
	}
	if s.auth == nil {
		return nil, perr(http.StatusServiceUnavailable, CodeCardUnavailable, "no processing centre is configured for card payments")
	}
	// What the core would refuse never charges the card (races remain possible: the
	// authorization is then reversed below).
	if err := s.precheck(r, pr, topUp); err != nil {
		return nil, err
	}
	terminal := pr.Terminal
	if terminal == "" {
		terminal = c.Channel.String()
	}
	ca := CardAuth{PAN: card.PAN, Expiry: card.Expiry, CVV: card.CVV, Amount: pr.Amount, Currency: pr.Currency, Terminal: terminal, Key: string(pr.Key)}
	res, err := s.auth.Authorize(ctx, ca)
	if err != nil {
		s.log.Warn().Err(err).Str("pan", maskPAN(card.PAN)).Str("client", c.Name).Msg("card authorization unanswered")
		return nil, perr(http.StatusServiceUnavailable, CodeCardUnavailable, "the card's processing centre did not answer; nothing was taken")
	}
	if !res.Approved {
		p := newProblem(http.StatusPaymentRequired, CodeCardDeclined, "the card's processing centre declined the payment")
		p.ResponseCode = res.ResponseCode
		return nil, &apiError{p}
	}
	if res.Acquirer != "" {
		pr.Acquirer = res.Acquirer
	}
	pr.RRN, pr.STAN = res.RRN, res.STAN
	pr.Extra = append(pr.Extra, res.Completion...)
	p, err := post(pr)
	if err != nil || p.Duplicate {
		// Approved at the PC but not posted by this request (declined, or a concurrent
		// repeat posted first): give the money of this authorization back.
		if rv, ok := s.auth.(CardReverser); ok {
			if rerr := rv.ReverseAuthorization(ctx, ca, res); rerr != nil {
				s.log.Error().Err(rerr).Str("pan", maskPAN(card.PAN)).Str("rrn", res.RRN).Msg("reversing a card authorization the core declined")
			}
		} else {
			s.log.Error().Str("pan", maskPAN(card.PAN)).Str("rrn", res.RRN).Msg("a card authorization the core declined cannot be reversed (no CardReverser)")
		}
		if err != nil {
			return nil, err
		}
	}
	if cc, ok := s.auth.(CardCompleter); ok && len(res.Completion) == 0 && !p.Duplicate {
		if err := cc.CompleteAuthorization(ctx, ca, res); err != nil {
			s.log.Error().Err(err).Str("receipt", p.Receipt).Str("rrn", res.RRN).Msg("completing a posted card authorization")
		}
	}
	s.log.Info().Str("receipt", p.Receipt).Str("pan", maskPAN(card.PAN)).Str("rrn", res.RRN).Str("client", c.Name).Msg("card payment posted")
	return p, nil
}

// precheck runs a payment's allocation against the current dues without posting
// (as the ISO flow does before it asks a processing centre).
func (s *Server) precheck(r *http.Request, pr *billpay.PaymentRequest, topUp bool) error {
	inq, err := s.core.Inquire(r.Context(), pr.Target)
	if err != nil {
		return err
	}
	if len(inq.Accounts) > 0 && inq.Currency != pr.Currency {
		return amountErr("currency", fmt.Sprintf("the target is in %s", currencyString(inq.Currency)))
	}
	if topUp {
		return nil
	}
	reg := s.core.Registry()
	var dues []billpay.AccountDues
	index := map[billpay.AccountRef]int{}
	add := func(p, a string) int {
		ref := billpay.AccountRef{Provider: p, Account: a}
		if i, ok := index[ref]; ok {
			return i
		}
		prov, ok := reg.Provider(p)
		if !ok {
			return -1
		}
		index[ref] = len(dues)
		dues = append(dues, billpay.AccountDues{Provider: prov, Account: a})
		return len(dues) - 1
	}
	for _, l := range inq.Lines {
		if i := add(l.Provider, l.Account); i >= 0 {
			dues[i].Dues = append(dues[i].Dues, billpay.Due{Service: l.Service, Period: l.Period, Amount: l.Amount})
		}
	}
	for _, a := range inq.Accounts {
		add(a.Provider, a.Account)
	}
	_, err = billpay.Allocate(pr.Amount, pr.Mode, pr.Lines, dues, pr.Target.RegCode == "")
	return err
}

// maskPAN keeps the first 6 and last 4 digits.
func maskPAN(pan string) string {
	if len(pan) < 11 {
		return "****"
	}
	b := []byte(pan)
	for i := 6; i < len(b)-4; i++ {
		b[i] = '*'
	}
	return string(b)
}

func (s *Server) topUp(w http.ResponseWriter, r *http.Request, c *Client) error {
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req topUpRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	t, prov, err := s.target(r, targetJSON{Provider: req.Provider, Account: req.Account})
	if err != nil {
		return err
	}
	amount, err := positiveAmount(prov, req.Amount, req.Currency, "top-up")
	if err != nil {
		return err
	}
	if req.CardSequence == nil {
		return fieldErr("card_sequence", "required: the sequence read from the card or meter")
	}
	method, terminal, err := s.method(r, c, req.Method, req.Terminal, req.Card)
	if err != nil {
		return err
	}
	tr := billpay.TopUpRequest{PaymentRequest: billpay.PaymentRequest{Key: []byte("h/" + c.Name + "/" + key), Target: t, Amount: amount,
		Currency: prov.Currency, Channel: c.Channel, Method: method, Acquirer: c.Acquirer, Terminal: terminal},
		CardID: req.CardID, CardSequence: *req.CardSequence, Token: req.Token}
	h := (&hasher{}).s("topup/1").s(t.Provider).s(t.Account).s(strconv.FormatInt(amount, 10)).s(req.Method).s(terminal).
		s(req.CardID).s(strconv.FormatUint(uint64(*req.CardSequence), 10)).s(strconv.FormatBool(req.Token))
	if req.Card != nil {
		panHash := sha256.Sum256([]byte(req.Card.PAN))
		h.s(string(panHash[:])).s(req.Card.Expiry)
	}
	tr.RequestHash = h.sum()
	var p *billpay.Payment
	if method == billpay.MethodCard {
		p, err = s.cardPay(r, c, req.Card, &tr.PaymentRequest, true, func(pr *billpay.PaymentRequest) (*billpay.Payment, error) {
			tr.PaymentRequest = *pr
			return s.core.TopUp(r.Context(), tr)
		})
	} else {
		p, err = s.core.TopUp(r.Context(), tr)
	}
	if err != nil {
		return err
	}
	s.disp.Kick()
	return s.writePayment(w, p, true)
}

func (s *Server) paymentByReceipt(r *http.Request) (*billpay.PaymentRecord, error) {
	rc := r.PathValue("receipt")
	if len(rc) != 14 || rc[0] != 'R' || !digitsOnly(rc[1:]) {
		return nil, perr(http.StatusNotFound, CodeUnknownReceipt, fmt.Sprintf("%q is not a receipt number", rc))
	}
	rec, err := s.core.PaymentByReceipt(r.Context(), rc)
	if d, ok := billpay.DeclineOf(err); ok && d == billpay.DeclineUnknownAccount {
		return nil, perr(http.StatusNotFound, CodeUnknownReceipt, fmt.Sprintf("no payment with receipt %s", rc))
	}
	return rec, err
}

func (s *Server) paymentStatus(w http.ResponseWriter, r *http.Request, _ *Client) error {
	rec, err := s.paymentByReceipt(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.recordOut(rec))
}

type reversalJSON struct {
	Receipt      string      `json:"receipt"`
	Status       string      `json:"status"`
	Amount       string      `json:"amount"`
	Currency     string      `json:"currency"`
	BusinessDate string      `json:"business_date"`
	Allocations  []allocJSON `json:"allocations"`
	Duplicate    bool        `json:"duplicate,omitempty"`
}

func (s *Server) reverse(w http.ResponseWriter, r *http.Request, op *Operator) error {
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	if r.ContentLength != 0 {
		// An optional JSON body ({"reason": "..."}) is read and checked, nothing more.
		body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			return err
		}
		if len(body) > 0 {
			var v struct {
				Reason string `json:"reason"`
			}
			if err := decodeJSON(body, &v); err != nil {
				return err
			}
		}
	}
	rec, err := s.paymentByReceipt(r)
	if err != nil {
		return err
	}
	if rec.Method == billpay.MethodCard && !rec.Reversed {
		// The card's money is held at its processing centre; reversing the payment here
		// alone would leave the card charged. Card payments are reversed on the ISO side
		// (a terminal's 0400/0420, which also advise the PC).
		return perr(http.StatusConflict, CodeCardReversal,
			"a card payment is reversed through its processing centre (ISO 0400/0420), not by an operator over HTTP")
	}
	rv, err := s.core.Reverse(r.Context(), billpay.ReverseRequest{Key: []byte("h/op/" + op.Name + "/" + key), Receipt: rec.Receipt, SameDayOnly: true})
	if err != nil {
		return err
	}
	s.disp.Kick()
	s.log.Info().Str("receipt", rec.Receipt).Str("operator", op.Name).Bool("duplicate", rv.Duplicate).Msg("payment reversed")
	d := s.digits(rv.Currency)
	status := http.StatusCreated
	if rv.Duplicate {
		status = http.StatusOK
	}
	return writeJSON(w, status, reversalJSON{Receipt: rec.Receipt, Status: "reversed", Amount: formatAmount(rv.Amount, d),
		Currency: currencyString(rv.Currency), BusinessDate: dateString(rv.BusinessDate), Allocations: s.allocsOut(rv.Allocations), Duplicate: rv.Duplicate})
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, c *Client) error {
	body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req registerRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fieldErr("name", "required")
	}
	sr := billpay.SubscriberRequest{Name: req.Name, Phone: req.Phone, Email: req.Email}
	for i, a := range req.Accounts {
		if _, ok := s.core.Registry().Provider(a.Provider); !ok {
			return perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("accounts[%d]: provider %q is not registered", i, a.Provider))
		}
		if a.Account == "" {
			return fieldErr(fmt.Sprintf("accounts[%d].account", i), "required")
		}
		sr.Accounts = append(sr.Accounts, billpay.AccountRef{Provider: a.Provider, Account: a.Account})
	}
	if r.Header.Get("Idempotency-Key") != "" {
		// Optional here: with it a repeat returns the code issued the first time.
		key, err := idemKey(r)
		if err != nil {
			return err
		}
		sr.Key = []byte("h/" + c.Name + "/" + key) // per client, as payments' keys
	}
	sub, err := s.core.Register(r.Context(), sr)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/subscribers/"+sub.Code)
	status := http.StatusCreated
	if sub.Duplicate {
		status = http.StatusOK
	}
	return writeJSON(w, status, subscriberOut(sub))
}

func (s *Server) regCode(r *http.Request) (string, error) {
	code := r.PathValue("code")
	if !billpay.ValidRegCode(code) {
		return "", perr(http.StatusNotFound, CodeUnknownAccount, fmt.Sprintf("%q is not a registration code", code))
	}
	return code, nil
}

func (s *Server) subscriber(w http.ResponseWriter, r *http.Request, _ *Client) error {
	code, err := s.regCode(r)
	if err != nil {
		return err
	}
	sub, err := s.core.Subscriber(r.Context(), code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, subscriberOut(sub))
}

func (s *Server) linkRef(r *http.Request) (string, billpay.AccountRef, error) {
	code, err := s.regCode(r)
	if err != nil {
		return "", billpay.AccountRef{}, err
	}
	ref := billpay.AccountRef{Provider: r.PathValue("provider"), Account: r.PathValue("account")}
	if _, ok := s.core.Registry().Provider(ref.Provider); !ok {
		return "", ref, perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("provider %q is not registered", ref.Provider))
	}
	return code, ref, nil
}

func (s *Server) link(w http.ResponseWriter, r *http.Request, _ *Client) error {
	code, ref, err := s.linkRef(r)
	if err != nil {
		return err
	}
	sub, err := s.core.Link(r.Context(), code, ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, subscriberOut(sub))
}

func (s *Server) unlink(w http.ResponseWriter, r *http.Request, _ *Client) error {
	code, ref, err := s.linkRef(r)
	if err != nil {
		return err
	}
	sub, err := s.core.Unlink(r.Context(), code, ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, subscriberOut(sub))
}

// history lists the payments of a registration code: those made to the code and those
// that paid an account it links, over [from, to] (business dates).
func (s *Server) history(w http.ResponseWriter, r *http.Request, _ *Client) error {
	code, err := s.regCode(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	to := s.core.Ledger().BusinessDate()
	if v := q.Get("to"); v != "" {
		if to, err = parseDate(v); err != nil {
			return fieldErr("to", err.Error())
		}
	}
	from := ledger.DateOf(dateTime(to).AddDate(0, 0, -s.cfg.HistoryDays))
	if v := q.Get("from"); v != "" {
		if from, err = parseDate(v); err != nil {
			return fieldErr("from", err.Error())
		}
	}
	if from > to {
		return fieldErr("from", "after to")
	}
	if dateTime(to).Sub(dateTime(from)) > time.Duration(s.cfg.MaxHistoryDays)*24*time.Hour {
		return fieldErr("from", fmt.Sprintf("the span is at most %d days", s.cfg.MaxHistoryDays))
	}
	sub, err := s.core.Subscriber(r.Context(), code)
	if err != nil {
		return err
	}
	linked := map[billpay.AccountRef]bool{}
	for _, a := range sub.Accounts {
		linked[a] = true
	}
	out := []paymentJSON{}
	err = s.core.PaymentsBetween(r.Context(), from, to, func(p *billpay.PaymentRecord) bool {
		match := p.Target.RegCode == code || linked[billpay.AccountRef{Provider: p.Target.Provider, Account: p.Target.Account}]
		for _, a := range p.Allocations {
			match = match || linked[billpay.AccountRef{Provider: a.Provider, Account: a.Account}]
		}
		if match {
			pj := s.recordOut(p)
			pj.Credential = ""
			out = append(out, pj)
		}
		return len(out) < 1000
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"regcode": code, "from": dateString(from), "to": dateString(to), "payments": out})
}

// positiveAmount reads a payment's or top-up's amount (above zero, in the provider's
// minor digits) and checks its currency, when given, against the provider's.
func positiveAmount(prov *billpay.Provider, amount, currency, what string) (int64, error) {
	v, err := parseAmount(amount, prov.MinorDigits, false)
	if err != nil {
		return 0, amountErr("amount", err.Error())
	}
	if v == 0 {
		return 0, amountErr("amount", "must be above zero")
	}
	if currency != "" {
		if cur, ok := parseCurrency(currency); !ok || cur != prov.Currency {
			return 0, amountErr("currency", fmt.Sprintf("the %s is in %s", what, currencyString(prov.Currency)))
		}
	}
	return v, nil
}
