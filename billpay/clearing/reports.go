package clearing

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/billswitch/billswitch/ledger"
)

// writeRegister writes one provider's register (provider-exchange.md §4): the header
// with count, total, commission and payout, its payments in receipt order, then its
// late reversals in receipt order.
func (d *day) writeRegister(w io.Writer, pp ProviderPosition, a *provAgg) error {
	b := append([]byte(nil), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<register xmlns=\"urn:billpay:register:1\""...)
	b = appendAttr(b, "id", pp.RegisterID)
	b = appendAttr(b, "provider", pp.Provider)
	b = append(b, ` business-date="`...)
	b = appendISODate(b, d.opts.Date)
	b = append(b, `" count="`...)
	b = strconv.AppendInt(b, int64(pp.Count), 10)
	b = append(b, '"')
	b = appendAmountAttr(b, "total", pp.Total, pp.Digits)
	b = appendAmountAttr(b, "commission", pp.Commission, pp.Digits)
	b = appendAmountAttr(b, "payout", pp.Payout, pp.Digits)
	b = append(b, ">\n"...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	if err := a.payments.copyTo(w); err != nil {
		return err
	}
	if err := a.reversals.copyTo(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, "</register>\n")
	return err
}

func hasPayout(res *Result) bool {
	return slices.ContainsFunc(res.Providers, func(p ProviderPosition) bool { return p.PaidOut > 0 })
}

// writePayout writes the ISO 20022 pain.001.001.03 payout file: one PmtInf per currency
// from the hub's settlement account, one CdtTrfTxInf per provider with a payout above
// zero once its carried balance is netted (PaidOut; end-to-end id = its register's id;
// the carried balance netted, if any, in the remittance text). Every identifier and
// time derives from the date: MsgId BSW-PAYOUT-YYYYMMDD, CreDtTm and ReqdExctnDt the
// next day.
func (d *day) writePayout(w io.Writer, res *Result) error {
	date := uint32(d.opts.Date)
	next := addDays(d.opts.Date, 1)
	type tx struct {
		pp   ProviderPosition
		iban string
		name string
	}
	byCur := map[uint16][]tx{}
	var n int
	for _, pp := range res.Providers {
		if pp.PaidOut <= 0 {
			continue
		}
		a := d.provs[pp.Provider]
		if a.prov.IBAN == "" {
			return fmt.Errorf("clearing: provider %s has a payout of %d but no IBAN", pp.Provider, pp.PaidOut)
		}
		if len(pp.RegisterID) > 35 {
			return fmt.Errorf("clearing: register id %s is longer than an end-to-end id (35)", pp.RegisterID)
		}
		if !knownCurrency(pp.Currency) {
			return fmt.Errorf("clearing: provider %s: currency %d has no alphabetic code", pp.Provider, pp.Currency)
		}
		byCur[pp.Currency] = append(byCur[pp.Currency], tx{pp, a.prov.IBAN, a.prov.Name})
		n++
	}
	hub := d.opts.Hub
	var b []byte
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\">\n  <CstmrCdtTrfInitn>\n    <GrpHdr>\n"...)
	b = fmt.Appendf(b, "      <MsgId>BSW-PAYOUT-%08d</MsgId>\n", date)
	b = append(b, "      <CreDtTm>"...)
	b = appendISODate(b, next)
	b = append(b, "T00:00:00</CreDtTm>\n"...)
	b = fmt.Appendf(b, "      <NbOfTxs>%d</NbOfTxs>\n", n)
	// CtrlSum: the plain sum of every amount, whatever its currency (as the schema says).
	var sum int64
	maxDigits := 0
	for _, pp := range res.Providers {
		if pp.PaidOut > 0 {
			maxDigits = max(maxDigits, pp.Digits)
		}
	}
	for _, pp := range res.Providers {
		if pp.PaidOut > 0 {
			sum += pp.PaidOut * pow10(maxDigits-pp.Digits)
		}
	}
	b = append(b, "      <CtrlSum>"...)
	b = appendAmount(b, sum, maxDigits)
	b = append(b, "</CtrlSum>\n      <InitgPty>\n        <Nm>"...)
	b = appendXML(b, max140(hub.Name))
	b = append(b, "</Nm>\n      </InitgPty>\n    </GrpHdr>\n"...)
	for _, cur := range sortedKeys(byCur) {
		txs := byCur[cur]
		code := currencyCode(cur)
		var csum int64
		for _, t := range txs {
			csum += t.pp.PaidOut
		}
		b = append(b, "    <PmtInf>\n"...)
		b = fmt.Appendf(b, "      <PmtInfId>BSW-PAYOUT-%08d-%s</PmtInfId>\n      <PmtMtd>TRF</PmtMtd>\n      <BtchBookg>false</BtchBookg>\n", date, code)
		b = fmt.Appendf(b, "      <NbOfTxs>%d</NbOfTxs>\n      <CtrlSum>", len(txs))
		b = appendAmount(b, csum, txs[0].pp.Digits)
		b = append(b, "</CtrlSum>\n      <ReqdExctnDt>"...)
		b = appendISODate(b, next)
		b = append(b, "</ReqdExctnDt>\n      <Dbtr>\n        <Nm>"...)
		b = appendXML(b, max140(hub.Name))
		b = append(b, "</Nm>\n      </Dbtr>\n      <DbtrAcct>\n        <Id>\n          <IBAN>"...)
		b = appendXML(b, hub.IBAN)
		b = append(b, "</IBAN>\n        </Id>\n        <Ccy>"...)
		b = append(b, code...)
		b = append(b, "</Ccy>\n      </DbtrAcct>\n      <DbtrAgt>\n        <FinInstnId>\n"...)
		if hub.BIC != "" {
			b = append(b, "          <BIC>"...)
			b = appendXML(b, hub.BIC)
			b = append(b, "</BIC>\n"...)
		} else {
			b = append(b, "          <Othr>\n            <Id>NOTPROVIDED</Id>\n          </Othr>\n"...)
		}
		b = append(b, "        </FinInstnId>\n      </DbtrAgt>\n      <ChrgBr>SLEV</ChrgBr>\n"...)
		for _, t := range txs {
			b = append(b, "      <CdtTrfTxInf>\n        <PmtId>\n          <EndToEndId>"...)
			b = appendXML(b, t.pp.RegisterID)
			b = append(b, "</EndToEndId>\n        </PmtId>\n        <Amt>\n          <InstdAmt Ccy=\""...)
			b = append(b, code...)
			b = append(b, "\">"...)
			b = appendAmount(b, t.pp.PaidOut, t.pp.Digits)
			b = append(b, "</InstdAmt>\n        </Amt>\n        <Cdtr>\n          <Nm>"...)
			b = appendXML(b, max140(t.name))
			b = append(b, "</Nm>\n        </Cdtr>\n        <CdtrAcct>\n          <Id>\n            <IBAN>"...)
			b = appendXML(b, t.iban)
			b = append(b, "</IBAN>\n          </Id>\n        </CdtrAcct>\n        <RmtInf>\n          <Ustrd>"...)
			// The register's figures and, when the payout nets a balance the provider
			// carried from earlier days (< 0: it owed the hub), that balance.
			u := fmt.Appendf(nil, "%s %s: %d entries, total ", t.pp.RegisterID, isoDate(d.opts.Date), t.pp.Count)
			u = appendAmount(u, t.pp.Total, t.pp.Digits)
			u = append(u, ", commission "...)
			u = appendAmount(u, t.pp.Commission, t.pp.Digits)
			if t.pp.CarriedIn != 0 {
				u = append(u, ", carried "...)
				u = appendAmount(u, t.pp.CarriedIn, t.pp.Digits)
			}
			b = appendXML(b, max140(string(u)))
			b = append(b, "</Ustrd>\n        </RmtInf>\n      </CdtTrfTxInf>\n"...)
		}
		b = append(b, "    </PmtInf>\n"...)
	}
	b = append(b, "  </CstmrCdtTrfInitn>\n</Document>\n"...)
	_, err := w.Write(b)
	return err
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}

// max140 cuts s to 140 characters (Max140Text).
func max140(s string) string {
	if utf8.RuneCountInString(s) <= 140 {
		return s
	}
	r := []rune(s)
	return string(r[:140])
}

// currencyDigits returns the minor digits of a currency as the providers define them
// (2 when no provider of the day uses it).
func (d *day) currencyDigits(cur uint16) int {
	for _, code := range sortedKeys(d.provs) {
		if p := d.provs[code].prov; p.Currency == cur {
			return p.MinorDigits
		}
	}
	return 2
}

const positionsHeader = "role,party,currency,entries,collected,reversed,commission,position,transfer,register\n"

// writePositions writes the position report: each acquirer (or cash drawer) with what
// it owes (position > 0), each provider with what it is owed for the day (position < 0;
// its register's payout), the hub's commission (position < 0) and, per currency, the
// total (0), then memo rows of the providers' carried balances. transfer is the ledger
// transfer that settled the line.
func (d *day) writePositions(w io.Writer, res *Result) error {
	b := append([]byte(nil), positionsHeader...)
	curs := map[uint16]bool{}
	for _, a := range res.Acquirers {
		curs[a.Currency] = true
	}
	for _, p := range res.Providers {
		curs[p.Currency] = true
	}
	for _, cur := range sortedKeys(curs) {
		code := currencyCode(cur)
		digits := d.currencyDigits(cur)
		var total int64
		for _, a := range res.Acquirers {
			if a.Currency != cur {
				continue
			}
			role := "acquirer"
			if a.Kind == ledger.KindCashDrawer {
				role = "cash-drawer"
			}
			b = append(b, role...)
			b = append(b, ',')
			b = appendCSV(b, a.Owner)
			b = fmt.Appendf(b, ",%s,%d,", code, a.Payments+a.Reversals)
			b = appendAmount(b, a.PaymentAmount, digits)
			b = append(b, ',')
			b = appendAmount(b, a.Reversed, digits)
			b = append(b, ",,"...)
			b = appendAmount(b, a.Owes, digits)
			b = appendTransfer(b, a.Transfer)
			b = append(b, ",\n"...)
			total += a.Owes
		}
		var com int64
		for _, p := range res.Providers {
			if p.Currency != cur {
				continue
			}
			b = append(b, "provider,"...)
			b = appendCSV(b, p.Provider)
			b = fmt.Appendf(b, ",%s,%d,", code, p.Count)
			b = appendAmount(b, p.Paid, digits)
			b = append(b, ',')
			b = appendAmount(b, p.Reversed, digits)
			b = append(b, ',')
			b = appendAmount(b, p.Commission, digits)
			b = append(b, ',')
			b = appendAmount(b, -p.Payout, digits)
			b = appendTransfer(b, p.Transfer)
			b = append(b, ',')
			b = appendCSV(b, p.RegisterID)
			b = append(b, '\n')
			total -= p.Payout
			com += p.Commission
		}
		b = fmt.Appendf(b, "commission,hub,%s,,,,", code)
		b = appendAmount(b, com, digits)
		b = append(b, ',')
		b = appendAmount(b, -com, digits)
		b = append(b, ",,\n"...)
		total -= com
		b = fmt.Appendf(b, "total,,%s,,,,,", code)
		b = appendAmount(b, total, digits)
		b = append(b, ",,\n"...)
		// Memo rows, outside the day's total: a provider's balance carried from
		// earlier days and netted into this day's payout (carried-in), and what it
		// carries on to its next payout (carried-out); position > 0: the provider owes
		// the hub. Its payout transfer moves −position(provider) − carried-in +
		// carried-out.
		for _, p := range res.Providers {
			if p.Currency != cur {
				continue
			}
			for _, m := range [...]struct {
				role string
				v    int64
			}{{"carried-in", p.CarriedIn}, {"carried-out", p.CarriedOut}} {
				if m.v == 0 {
					continue
				}
				b = append(b, m.role...)
				b = append(b, ',')
				b = appendCSV(b, p.Provider)
				b = fmt.Appendf(b, ",%s,,,,,", code)
				b = appendAmount(b, -m.v, digits)
				b = append(b, ",,"...)
				b = appendCSV(b, p.RegisterID)
				b = append(b, '\n')
			}
		}
	}
	_, err := w.Write(b)
	return err
}

func appendTransfer(b []byte, id ledger.TransferID) []byte {
	b = append(b, ',')
	if id != 0 {
		b = strconv.AppendUint(b, uint64(id), 10)
	}
	return b
}

// writeBank writes one bank's payment list, the ALSECO way: for each provider (in code
// order) the payments the bank accepted for it and its late reversals, in receipt
// order, then a total row (count, amount) from which the bank pays the provider.
func (d *day) writeBank(w io.Writer, bank string) error {
	if _, err := io.WriteString(w, bankHeader); err != nil {
		return err
	}
	byProv := d.banks[bank]
	for _, code := range sortedKeys(byProv) {
		ba := byProv[code]
		if err := ba.rows.copyTo(w); err != nil {
			return err
		}
		p := d.provs[code].prov
		b := append([]byte(nil), "total,"...)
		b = appendCSV(b, code)
		b = append(b, ',')
		b = appendCSV(b, p.IBAN)
		b = append(b, ",,,,,,,,,"...)
		b = strconv.AppendInt(b, int64(ba.count), 10)
		b = append(b, ',')
		b = appendAmount(b, ba.total, ba.digits)
		b = append(b, ',')
		b = append(b, currencyCode(p.Currency)...)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// Figures are a party's reconciliation totals (host-iso8583.md §8: DE 76, 88, 77, 89),
// amounts in minor units.
type Figures struct {
	Payments        int64
	PaymentAmount   int64
	Reversals       int64
	ReversalsAmount int64
}

// Mismatch is one 0500 whose figures differed from the host's, as the switch recorded
// it.
type Mismatch struct {
	Link   string // "pc" or "terminal"
	Party  string // the PC's institution id (DE 32) or the terminal (DE 41)
	Date   ledger.Date
	STAN   string
	DE7    string
	Theirs Figures
	Ours   Figures // the host's figures when the 0500 came
}

// MismatchSource supplies the recorded 0500 mismatches of one business date. The
// switch records them; cmd adapts its records (clearing must not import switch/).
type MismatchSource interface {
	Mismatches(ctx context.Context, date ledger.Date) ([]Mismatch, error)
}

// MismatchFunc adapts a function to MismatchSource.
type MismatchFunc func(ctx context.Context, date ledger.Date) ([]Mismatch, error)

// Mismatches calls f.
func (f MismatchFunc) Mismatches(ctx context.Context, date ledger.Date) ([]Mismatch, error) {
	return f(ctx, date)
}

const reconHeader = "record,link,party,business_date,payments,payment_amount,reversals,reversal_amount,net,stan,de7,host_payments,host_payment_amount,host_reversals,host_reversal_amount\n"

// writeRecon writes the reconciliation report of the day: for each institution and
// terminal what the host holds (payments posted on the day, reversals posted on the
// day, minor units), then each recorded 0500 mismatch with its figures and the host's
// figures it was compared with.
func (d *day) writeRecon(w io.Writer, ms []Mismatch) error {
	date := isoDate(d.opts.Date)
	b := append([]byte(nil), reconHeader...)
	host := func(link string, m map[string]*tally) {
		for _, k := range sortedKeys(m) {
			t := m[k]
			b = fmt.Appendf(b, "host,%s,", link)
			b = appendCSV(b, k)
			b = fmt.Appendf(b, ",%s,%d,%d,%d,%d,%d,,,,,,\n", date, t.payments, t.paid, t.reversals, t.reversed, t.paid-t.reversed)
		}
	}
	host("institution", d.inst)
	host("terminal", d.terms)
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(x, y Mismatch) int {
		return cmp.Or(cmp.Compare(x.Link, y.Link), cmp.Compare(x.Party, y.Party), cmp.Compare(x.STAN, y.STAN), cmp.Compare(x.DE7, y.DE7))
	})
	for _, m := range ms {
		if m.Date != d.opts.Date {
			continue
		}
		b = append(b, "mismatch,"...)
		b = appendCSV(b, m.Link)
		b = append(b, ',')
		b = appendCSV(b, m.Party)
		t, o := m.Theirs, m.Ours
		b = fmt.Appendf(b, ",%s,%d,%d,%d,%d,%d,", date, t.Payments, t.PaymentAmount, t.Reversals, t.ReversalsAmount, t.PaymentAmount-t.ReversalsAmount)
		b = appendCSV(b, m.STAN)
		b = append(b, ',')
		b = appendCSV(b, m.DE7)
		b = fmt.Appendf(b, ",%d,%d,%d,%d\n", o.Payments, o.PaymentAmount, o.Reversals, o.ReversalsAmount)
	}
	_, err := w.Write(b)
	return err
}
