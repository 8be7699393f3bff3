package simulators

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/billswitch/billswitch/specs"
)

// Target names what a request is about: one account (DE 48 tags 01+02) or every
// account linked to a registration code (tag 03).
type Target struct {
	Provider, Account string
	RegCode           string
}

// AccountTarget is a one-account target.
func AccountTarget(provider, account string) Target {
	return Target{Provider: provider, Account: account}
}

// RegCodeTarget is a registration-code target.
func RegCodeTarget(code string) Target { return Target{RegCode: code} }

func (t Target) String() string {
	if t.RegCode != "" {
		return "regcode " + t.RegCode
	}
	return t.Provider + ":" + t.Account
}

// DE48 is the request DE 48 naming the target, with extra sub-elements after it.
func (t Target) DE48(extra ...specs.DE48Entry) string {
	var d specs.DE48
	if t.RegCode != "" {
		d.Entries = append(d.Entries, specs.DE48Entry{Tag: specs.Tag03RegCode, Value: t.RegCode})
	} else {
		d.Entries = append(d.Entries,
			specs.DE48Entry{Tag: specs.Tag01Provider, Value: t.Provider},
			specs.DE48Entry{Tag: specs.Tag02Account, Value: t.Account})
	}
	d.Entries = append(d.Entries, extra...)
	return d.String()
}

// Card is the card data of a card payment. Track2 and PIN block are never logged.
type Card struct {
	PAN      string
	Expiry   string // YYMM
	Track2   string // optional
	PINBlock []byte // optional, 8 bytes
}

// Origin is who sends requests on a link: the PC link's acquiring institution (DE 32)
// or nothing on the terminal link, and the terminal id (DE 41).
type Origin struct {
	Link        specs.Link
	Institution string // DE 32, PC link only
	Terminal    string // DE 41
	Keys        *Keys
}

// Request starts a request with a fresh DE 7 and DE 11, and DE 32 on the PC link.
func (o Origin) Request(mti string) *specs.Message {
	m := &specs.Message{MTI: mti, TransmissionDateTime: o.Keys.TransmissionTime(), STAN: o.Keys.NextSTAN()}
	if o.Link == specs.LinkPC {
		m.AcquirerID = o.Institution
	}
	return m
}

func (o Origin) localTime(m *specs.Message) {
	now := o.Keys.Now()
	m.LocalTime = now.Format("150405")
	m.LocalDate = now.Format("0102")
}

// NetMgmt is an 0800 with network management code DE 70 (001 sign-on, 002 sign-off,
// 301 echo). On the terminal link it carries DE 41.
func (o Origin) NetMgmt(code string) *specs.Message {
	m := o.Request("0800")
	m.NetworkCode = code
	if o.Link == specs.LinkTerminal {
		m.TerminalID = o.Terminal
	}
	return m
}

// Inquiry is a debt inquiry, 0100/310000.
func (o Origin) Inquiry(t Target) *specs.Message {
	m := o.Request("0100")
	o.localTime(m)
	m.ProcessingCode = "310000"
	m.TerminalID = o.Terminal
	m.AdditionalData = t.DE48()
	return m
}

// PaymentOptions are the optional parts of a payment.
type PaymentOptions struct {
	Card           *Card  // nil: a cash payment (terminal link)
	ProcessingCode string // default 500000
	EntryMode      string // DE 22, default 021 with a card (051 with track 2), 010 without
	Currency       string // default 944
	Lines          string // tag 05 (sets tag 04 L)
	Allocation     string // tag 04 when not L ("" leaves it out: A is the default)
}

// Payment is a bill payment, 0200.
func (o Origin) Payment(t Target, amount int64, po PaymentOptions) *specs.Message {
	m := o.Request("0200")
	o.localTime(m)
	m.ProcessingCode = po.ProcessingCode
	if m.ProcessingCode == "" {
		m.ProcessingCode = "500000"
	}
	m.Amount = N12(amount)
	m.MerchantType = "4900"
	m.TerminalID = o.Terminal
	m.Currency = po.Currency
	if m.Currency == "" {
		m.Currency = "944"
	}
	var extra []specs.DE48Entry
	switch {
	case po.Lines != "":
		extra = append(extra, specs.DE48Entry{Tag: specs.Tag04Allocation, Value: "L"}, specs.DE48Entry{Tag: specs.Tag05Lines, Value: po.Lines})
	case po.Allocation != "":
		extra = append(extra, specs.DE48Entry{Tag: specs.Tag04Allocation, Value: po.Allocation})
	}
	m.AdditionalData = t.DE48(extra...)
	if c := po.Card; c != nil {
		m.PAN = c.PAN
		m.Expiry = c.Expiry
		m.Track2 = c.Track2
		m.PINBlock = c.PINBlock
		m.RRN = o.Keys.RRN(m.STAN)
		m.POSEntryMode = po.EntryMode
		if m.POSEntryMode == "" {
			m.POSEntryMode = "021"
			if c.Track2 != "" {
				m.POSEntryMode = "051"
			}
		}
	} else if po.EntryMode != "" {
		m.POSEntryMode = po.EntryMode
	}
	return m
}

// Reversal is an 0400 (void) or 0420 (reversal advice) for an original request: a
// request of its own with a fresh DE 7 and DE 11 that carries the original's DE 3, 4,
// 41, 48, 49 and names the original in DE 90 (host-iso8583.md §7).
func (o Origin) Reversal(mti string, orig *specs.Message) (*specs.Message, error) {
	m := o.Request(mti)
	m.ProcessingCode = orig.ProcessingCode
	m.Amount = orig.Amount
	m.TerminalID = orig.TerminalID
	m.AdditionalData = orig.AdditionalData
	m.Currency = orig.Currency
	de90, err := specs.FormatDE90(specs.OriginalData{
		MTI: orig.MTI, STAN: orig.STAN, TransmissionDateTime: orig.TransmissionDateTime,
		AcquirerID: orig.AcquirerID, ForwarderID: orig.ForwarderID,
	})
	if err != nil {
		return nil, err
	}
	m.OriginalData = de90
	return m, nil
}

// Repeat is the same request again under another MTI (0201, 0421): the same key.
func Repeat(mti string, orig *specs.Message) *specs.Message {
	m := *orig
	m.MTI = mti
	return &m
}

// Totals are the reconciliation figures of §8 (minor units).
type Totals struct {
	Count, RevCount   int64 // DE 76, DE 77
	Amount, RevAmount int64 // DE 88, DE 89
}

// Net is DE 88 − DE 89.
func (x Totals) Net() int64 { return x.Amount - x.RevAmount }

func (x Totals) String() string {
	return fmt.Sprintf("payments %d/%s, reversals %d/%s", x.Count, FormatMinor(x.Amount), x.RevCount, FormatMinor(x.RevAmount))
}

// Recon is a reconciliation request, 0500/920000, for a settlement date (MMDD). A
// terminal's carries its DE 41.
func (o Origin) Recon(date string, x Totals) (*specs.Message, error) {
	m := o.Request("0500")
	m.ProcessingCode = "920000"
	m.SettlementDate = date
	m.DebitsNumber = fmt.Sprintf("%010d", x.Count)
	m.DebitsReversalNumber = fmt.Sprintf("%010d", x.RevCount)
	m.DebitsAmount = fmt.Sprintf("%016d", x.Amount)
	m.DebitsReversalAmount = fmt.Sprintf("%016d", x.RevAmount)
	net, err := specs.FormatDE97(x.Net())
	if err != nil {
		return nil, err
	}
	m.NetSettlement = net
	if o.Link == specs.LinkTerminal {
		m.TerminalID = o.Terminal
	}
	return m, nil
}

// ParseTotals reads the figures of an 0510.
func ParseTotals(m *specs.Message) (Totals, error) {
	var x Totals
	var err error
	num := func(id int, s string) int64 {
		v, e := strconv.ParseInt(s, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("DE %d %q: not a number", id, s)
		}
		return v
	}
	x.Count = num(76, m.DebitsNumber)
	x.RevCount = num(77, m.DebitsReversalNumber)
	x.Amount = num(88, m.DebitsAmount)
	x.RevAmount = num(89, m.DebitsReversalAmount)
	return x, err
}

// Response builds the response to req: MTI + 10, the fields a response echoes, and
// DE 39.
func Response(req *specs.Message, rc string) *specs.Message {
	return &specs.Message{
		MTI:                  ResponseMTI(req.MTI),
		ProcessingCode:       req.ProcessingCode,
		Amount:               req.Amount,
		TransmissionDateTime: req.TransmissionDateTime,
		STAN:                 req.STAN,
		SettlementDate:       req.SettlementDate,
		AcquirerID:           req.AcquirerID,
		RRN:                  req.RRN,
		ResponseCode:         rc,
		TerminalID:           req.TerminalID,
		Currency:             req.Currency,
		NetworkCode:          req.NetworkCode,
	}
}

// Debt is one entry of tag 20 (or, with Period, of tag 24).
type Debt struct {
	Provider, Account, Service, Period string
	Amount                             int64 // minor units; negative = credit
}

// ParseDebts reads tag 20 (PROVIDER:ACCOUNT:SERVICE:PERIOD:AMOUNT;…).
func ParseDebts(s string) ([]Debt, error) { return parseEntries(s, ':') }

// ParseAllocation reads tag 24 (PROVIDER:ACCOUNT:SERVICE:PERIOD=AMOUNT;…).
func ParseAllocation(s string) ([]Debt, error) { return parseEntries(s, '=') }

func parseEntries(s string, amountSep byte) ([]Debt, error) {
	var out []Debt
	for _, e := range strings.Split(s, ";") {
		if e == "" {
			continue
		}
		i := strings.LastIndexByte(e, amountSep)
		if i < 0 {
			return nil, fmt.Errorf("entry %q: no amount", e)
		}
		parts := strings.Split(e[:i], ":")
		if len(parts) != 4 {
			return nil, fmt.Errorf("entry %q: want PROVIDER:ACCOUNT:SERVICE:PERIOD", e)
		}
		v, err := strconv.ParseInt(e[i+1:], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("entry %q: amount: %v", e, err)
		}
		out = append(out, Debt{Provider: parts[0], Account: parts[1], Service: parts[2], Period: parts[3], Amount: v})
	}
	return out, nil
}

// FormatMinor prints minor units with two decimals (AZN): 418518 → "4185.18".
func FormatMinor(v int64) string {
	sign := ""
	if v < 0 {
		sign = "-"
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// InquiryResult is what a 0110 says.
type InquiryResult struct {
	RC        string
	Debts     []Debt
	Payer     string
	Total     int64 // DE 54 (signed: credit negative)
	Truncated bool
	Date      string // DE 15
}

// ParseInquiry reads a 0110.
func ParseInquiry(m *specs.Message) (InquiryResult, error) {
	r := InquiryResult{RC: m.ResponseCode, Date: m.SettlementDate}
	if m.ResponseCode != "00" {
		return r, nil
	}
	d48, err := specs.ParseDE48(m.AdditionalData)
	if err != nil {
		return r, err
	}
	if v, ok := d48.Get(specs.Tag20Debts); ok {
		if r.Debts, err = ParseDebts(v); err != nil {
			return r, err
		}
	}
	r.Payer, _ = d48.Get(specs.Tag21PayerName)
	if v, _ := d48.Get(specs.Tag25Truncated); v == "T" {
		r.Truncated = true
	}
	if m.AdditionalAmounts != "" {
		aa, err := specs.ParseDE54(m.AdditionalAmounts)
		if err != nil {
			return r, err
		}
		if len(aa) > 0 {
			r.Total = aa[0].Amount
		}
	}
	return r, nil
}

// PaymentResult is what a 0210 says.
type PaymentResult struct {
	RC        string
	AuthID    string // DE 38
	Receipt   string // tag 22
	Allocated []Debt // tag 24
	Date      string // DE 15
}

// ParsePayment reads a 0210.
func ParsePayment(m *specs.Message) (PaymentResult, error) {
	r := PaymentResult{RC: m.ResponseCode, AuthID: m.AuthID, Date: m.SettlementDate}
	if m.AdditionalData == "" {
		return r, nil
	}
	d48, err := specs.ParseDE48(m.AdditionalData)
	if err != nil {
		return r, err
	}
	r.Receipt, _ = d48.Get(specs.Tag22Receipt)
	if v, ok := d48.Get(specs.Tag24Allocated); ok {
		if r.Allocated, err = ParseAllocation(v); err != nil {
			return r, err
		}
	}
	return r, nil
}

// ParseMinor reads a decimal amount with at most two decimals ("4185.18", "5", "0.5")
// into minor units, without floating point.
func ParseMinor(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || len(whole) > 15 {
		return 0, fmt.Errorf("amount %q: want digits with at most two decimals", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err1 := strconv.ParseUint(whole, 10, 64)
	f, err2 := strconv.ParseUint(frac, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("amount %q: want digits with at most two decimals", s)
	}
	v := int64(w*100 + f)
	if neg {
		v = -v
	}
	return v, nil
}
