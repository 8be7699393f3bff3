package httpapi

import (
	"fmt"
	"strconv"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// JSON shapes of the API (api/openapi.yaml in this package is their contract).

type targetJSON struct {
	Provider string `json:"provider,omitempty"`
	Account  string `json:"account,omitempty"`
	RegCode  string `json:"regcode,omitempty"`
}

type lineJSON struct {
	Provider string `json:"provider"`
	Account  string `json:"account"`
	Service  string `json:"service"`
	Amount   string `json:"amount"`
}

type readingJSON struct {
	Service string `json:"service"`
	Meter   string `json:"meter"`
	Value   string `json:"value"`
}

type cardJSON struct {
	PAN    string `json:"pan"`
	Expiry string `json:"expiry,omitempty"` // YYMM
	CVV    string `json:"cvv,omitempty"`
}

type payRequest struct {
	Target     targetJSON    `json:"target"`
	Amount     string        `json:"amount"`
	Currency   string        `json:"currency,omitempty"`
	Allocation string        `json:"allocation,omitempty"` // auto (default) | lines
	Lines      []lineJSON    `json:"lines,omitempty"`
	Readings   []readingJSON `json:"readings,omitempty"`
	Method     string        `json:"method"` // cash | card
	Terminal   string        `json:"terminal,omitempty"`
	Card       *cardJSON     `json:"card,omitempty"`
}

type topUpRequest struct {
	Provider     string    `json:"provider"`
	Account      string    `json:"account"`
	Amount       string    `json:"amount"`
	Currency     string    `json:"currency,omitempty"`
	Method       string    `json:"method"`
	Terminal     string    `json:"terminal,omitempty"`
	Card         *cardJSON `json:"card,omitempty"`
	CardID       string    `json:"card_id,omitempty"`
	CardSequence *uint32   `json:"card_sequence,omitempty"`
	Token        bool      `json:"token,omitempty"`
}

type allocJSON struct {
	Provider string `json:"provider"`
	Account  string `json:"account"`
	Service  string `json:"service"`
	Period   string `json:"period"` // YYYYMM; 000000 = advance
	Amount   string `json:"amount"`
}

type linksJSON struct {
	Self        string `json:"self"`
	ReceiptHTML string `json:"receipt_html"`
	ReceiptPDF  string `json:"receipt_pdf"`
	Verify      string `json:"verify"`
}

type paymentJSON struct {
	Receipt          string        `json:"receipt"`
	Status           string        `json:"status"` // posted | reversed
	Kind             string        `json:"kind"`   // payment | topup
	AuthCode         string        `json:"auth_code,omitempty"`
	Target           *targetJSON   `json:"target,omitempty"`
	Amount           string        `json:"amount"`
	Commission       string        `json:"commission"`
	Currency         string        `json:"currency"`
	Channel          string        `json:"channel,omitempty"`
	Method           string        `json:"method,omitempty"`
	Acquirer         string        `json:"acquirer,omitempty"`
	Terminal         string        `json:"terminal,omitempty"`
	RRN              string        `json:"rrn,omitempty"`
	BusinessDate     string        `json:"business_date"`
	PostedAt         string        `json:"posted_at,omitempty"`
	ReversalDate     string        `json:"reversal_date,omitempty"`
	Allocations      []allocJSON   `json:"allocations"`
	Readings         []readingJSON `json:"readings,omitempty"`
	Credential       string        `json:"credential,omitempty"`
	Duplicate        bool          `json:"duplicate,omitempty"`
	VerificationCode string        `json:"verification_code"`
	Links            linksJSON     `json:"links"`
}

type debtJSON struct {
	Provider string     `json:"provider"`
	Account  string     `json:"account"`
	Service  string     `json:"service"`
	Period   string     `json:"period"`
	Amount   string     `json:"amount"`
	Meter    *meterJSON `json:"meter,omitempty"`
}

type meterJSON struct {
	ID       string `json:"id"`
	Previous string `json:"previous,omitempty"`
	Current  string `json:"current,omitempty"`
	Unit     string `json:"unit,omitempty"`
	Tariff   string `json:"tariff,omitempty"`
}

type refJSON struct {
	Provider string `json:"provider"`
	Account  string `json:"account"`
}

type inquiryJSON struct {
	Target   targetJSON `json:"target"`
	Payer    string     `json:"payer"`
	Currency string     `json:"currency"`
	Total    string     `json:"total"`
	Lines    []debtJSON `json:"lines"`
	Accounts []refJSON  `json:"accounts"`
}

type serviceJSON struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Order   int    `json:"order"`
	Prepaid bool   `json:"prepaid"`
	Rule    string `json:"amount_rule"`
}

type providerJSON struct {
	Code        string        `json:"code"`
	Name        string        `json:"name"`
	Currency    string        `json:"currency"`
	MinorDigits int           `json:"minor_digits"`
	Services    []serviceJSON `json:"services"`
}

type subscriberJSON struct {
	Code     string    `json:"code"`
	Name     string    `json:"name,omitempty"`
	Phone    string    `json:"phone,omitempty"`
	Email    string    `json:"email,omitempty"`
	Accounts []refJSON `json:"accounts"`
}

type registerRequest struct {
	Name     string    `json:"name"`
	Phone    string    `json:"phone,omitempty"`
	Email    string    `json:"email,omitempty"`
	Accounts []refJSON `json:"accounts,omitempty"`
}

func currencyString(c uint16) string { return fmt.Sprintf("%03d", c) }

func periodString(p int) string { return fmt.Sprintf("%06d", p) }

func dateString(d ledger.Date) string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", uint32(d)/10000, uint32(d)/100%100, uint32(d)%100)
}

func parseDate(s string) (ledger.Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return ledger.DateOf(t), nil
}

func dateTime(d ledger.Date) time.Time {
	return time.Date(int(d)/10000, time.Month(int(d)/100%100), int(d)%100, 0, 0, 0, 0, time.UTC)
}

func providerOut(p *billpay.Provider) providerJSON {
	out := providerJSON{Code: p.Code, Name: p.Name, Currency: currencyString(p.Currency), MinorDigits: p.MinorDigits, Services: []serviceJSON{}}
	for _, s := range p.Services {
		out.Services = append(out.Services, serviceJSON{Code: s.Code, Name: s.Name, Order: s.Order, Prepaid: s.Prepaid, Rule: s.Rule.String()})
	}
	return out
}

func subscriberOut(s *billpay.Subscriber) subscriberJSON {
	out := subscriberJSON{Code: s.Code, Name: s.Name, Phone: s.Phone, Email: s.Email, Accounts: []refJSON{}}
	for _, a := range s.Accounts {
		out.Accounts = append(out.Accounts, refJSON{a.Provider, a.Account})
	}
	return out
}

// digits returns the minor digits of a currency as the registry's providers use it.
func (s *Server) digits(cur uint16) int {
	for _, p := range s.core.Registry().Providers() {
		if p.Currency == cur {
			return p.MinorDigits
		}
	}
	return 2
}

func (s *Server) allocsOut(as []billpay.Allocation) []allocJSON {
	out := make([]allocJSON, 0, len(as))
	reg := s.core.Registry()
	for _, a := range as {
		d := 2
		if p, ok := reg.Provider(a.Provider); ok {
			d = p.MinorDigits
		}
		out = append(out, allocJSON{Provider: a.Provider, Account: a.Account, Service: a.Service, Period: periodString(a.Period), Amount: formatAmount(a.Amount, d)})
	}
	return out
}

func (s *Server) links(receipt, code string) linksJSON {
	base := "/v1/payments/" + receipt
	return linksJSON{Self: base, ReceiptHTML: base + "/receipt.html", ReceiptPDF: base + "/receipt.pdf",
		Verify: "/v1/receipts/" + receipt + "/verify?code=" + code}
}

func (s *Server) recordOut(rec *billpay.PaymentRecord) paymentJSON {
	d := s.digits(rec.Currency)
	out := paymentJSON{Receipt: rec.Receipt, Status: "posted", Kind: "payment", AuthCode: rec.AuthCode,
		Target: &targetJSON{Provider: rec.Target.Provider, Account: rec.Target.Account, RegCode: rec.Target.RegCode},
		Amount: formatAmount(rec.Amount, d), Commission: formatAmount(rec.Commission, d), Currency: currencyString(rec.Currency),
		Channel: rec.Channel.String(), Method: rec.Method.String(), Acquirer: rec.Acquirer, Terminal: rec.Terminal, RRN: rec.RRN,
		BusinessDate: dateString(rec.BusinessDate), PostedAt: rec.PostedAt.UTC().Format(time.RFC3339Nano),
		Allocations: s.allocsOut(rec.Allocations), Credential: rec.Credential}
	if rec.TopUp {
		out.Kind = "topup"
	}
	if rec.Reversed {
		out.Status = "reversed"
		out.ReversalDate = dateString(rec.ReversalDate)
	}
	for _, r := range rec.Readings {
		out.Readings = append(out.Readings, readingJSON{r.Service, r.Meter, r.Value})
	}
	out.VerificationCode = s.verificationCode(rec.Receipt, rec.Amount, rec.Currency)
	out.Links = s.links(rec.Receipt, out.VerificationCode)
	return out
}

func (s *Server) paymentOut(p *billpay.Payment, topUp bool) paymentJSON {
	d := s.digits(p.Currency)
	out := paymentJSON{Receipt: p.Receipt, Status: "posted", Kind: "payment", AuthCode: p.AuthCode, Amount: formatAmount(p.Amount, d),
		Commission: formatAmount(p.Commission, d), Currency: currencyString(p.Currency), BusinessDate: dateString(p.BusinessDate),
		Allocations: s.allocsOut(p.Allocations), Credential: p.Credential, Duplicate: p.Duplicate}
	if topUp {
		out.Kind = "topup"
	}
	out.VerificationCode = s.verificationCode(p.Receipt, p.Amount, p.Currency)
	out.Links = s.links(p.Receipt, out.VerificationCode)
	return out
}

func parseCurrency(s string) (uint16, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}
