package bills

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
)

// PrefixMismatch: 0x40 | party kind ('P' PC, 'T' terminal) | party id | 0x00 | business
// date u32 | the 0500's §7 key → Mismatch (JSON). One per 0500 whose figures did not
// match the host's (§8), for the operator's reconciliation report.
const PrefixMismatch byte = 0x40

const cmdRecon = "sw/rc/"

// Figures are the four reconciliation totals of §8 (DE 76, 88, 77, 89).
type Figures struct {
	Payments        int64 `json:"payments"`         // DE 76
	PaymentAmount   int64 `json:"payment_amount"`   // DE 88, minor units
	Reversals       int64 `json:"reversals"`        // DE 77
	ReversalsAmount int64 `json:"reversals_amount"` // DE 89, minor units
}

// Net is DE 97: DE 88 − DE 89.
func (f Figures) Net() int64 { return f.PaymentAmount - f.ReversalsAmount }

// Mismatch is one 0500 whose figures differed from the host's.
type Mismatch struct {
	Link     string      `json:"link"`  // "pc" or "terminal"
	Party    string      `json:"party"` // the PC's DE 32, or the terminal's DE 41
	Date     ledger.Date `json:"date"`  // the settlement date (DE 15) resolved to a business date
	STAN     string      `json:"stan"`
	DE7      string      `json:"de7"`
	Received time.Time   `json:"received"`
	Theirs   Figures     `json:"theirs"`
	Ours     Figures     `json:"ours"`
}

func partyKind(l specs.Link) byte {
	if l == specs.LinkPC {
		return 'P'
	}
	return 'T'
}

func mismatchPrefix(l specs.Link, party string) []byte {
	k := []byte{PrefixMismatch, partyKind(l)}
	k = append(k, party...)
	return append(k, 0)
}

// Mismatches lists the recorded reconciliation mismatches of one party (a PC's id on
// specs.LinkPC, a terminal's id on specs.LinkTerminal) for one business date, in the
// order of their keys. r is a durable view (ledger.Ledger.View).
func Mismatches(r ledger.Reader, link specs.Link, party string, date ledger.Date) ([]Mismatch, error) {
	lo := binary.BigEndian.AppendUint32(mismatchPrefix(link, party), uint32(date))
	hi := binary.BigEndian.AppendUint32(mismatchPrefix(link, party), uint32(date)+1)
	var out []Mismatch
	var derr error
	err := r.Scan(lo, hi, func(_, v []byte) bool {
		var m Mismatch
		if derr = json.Unmarshal(v, &m); derr != nil {
			return false
		}
		out = append(out, m)
		return true
	})
	return out, errors.Join(err, derr)
}

// AllMismatches lists every recorded mismatch of every party and date.
func AllMismatches(r ledger.Reader) ([]Mismatch, error) {
	var out []Mismatch
	var derr error
	err := r.Scan([]byte{PrefixMismatch}, []byte{PrefixMismatch + 1}, func(_, v []byte) bool {
		var m Mismatch
		if derr = json.Unmarshal(v, &m); derr != nil {
			return false
		}
		out = append(out, m)
		return true
	})
	return out, errors.Join(err, derr)
}

// Tally returns the host's figures of one party for one business date: the payments
// posted that day acquired by the PC (on specs.LinkPC: acquirer = the PC, channel ATM or
// BANK) or taken at the terminal (specs.LinkTerminal: DE 41 = the terminal, a terminal
// channel), and of those the ones reversed since (whatever day the reversal came).
func Tally(ctx context.Context, core *billpay.Core, link specs.Link, party string, date ledger.Date) (Figures, error) {
	var f Figures
	err := core.PaymentsOn(ctx, date, func(p billpay.PaymentSummary) bool {
		pcChannel := p.Channel == billpay.ChannelATM || p.Channel == billpay.ChannelBank
		if link == specs.LinkPC {
			if !pcChannel || p.Acquirer != party {
				return true
			}
		} else if pcChannel || p.Terminal != party || p.Channel == billpay.ChannelWeb {
			return true
		}
		f.Payments++
		f.PaymentAmount += p.Amount
		if p.Reversed {
			f.Reversals++
			f.ReversalsAmount += p.Amount
		}
		return true
	})
	return f, err
}

// resolveDate turns DE 15 (MMDD) into the business date it names: the latest date with
// that month and day not after the host's business date.
func resolveDate(mmddStr string, today ledger.Date) (ledger.Date, bool) {
	if len(mmddStr) != 4 || !allDigits(mmddStr) {
		return 0, false
	}
	m, _ := strconv.Atoi(mmddStr[:2])
	d, _ := strconv.Atoi(mmddStr[2:])
	y := int(today) / 10000
	for _, yy := range []int{y, y - 1} {
		t := time.Date(yy, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if t.Month() != time.Month(m) || t.Day() != d || m < 1 || m > 12 {
			return 0, false
		}
		if cand := ledger.DateOf(t); cand <= today {
			return cand, true
		}
	}
	return 0, false
}

func parseCount(s string, n int) (int64, bool) {
	if len(s) == 0 || len(s) > n || !allDigits(s) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// reconcile serves 0500/920000 (§8).
func (h *Handlers) reconcile(ctx context.Context, s hostswitch.Session, req *specs.Message) (*specs.Message, error) {
	if req.ProcessingCode != "920000" {
		return reply(rcNotAllowed), nil
	}
	party := s.Institution
	if s.Link == specs.LinkTerminal {
		party = tid(req)
		if party == "" {
			return reply(rcFormat), nil
		}
	}
	date, ok := resolveDate(req.SettlementDate, h.l.BusinessDate())
	var theirs Figures
	var ok1, ok2, ok3, ok4 bool
	theirs.Payments, ok1 = parseCount(req.DebitsNumber, 10)
	theirs.Reversals, ok2 = parseCount(req.DebitsReversalNumber, 10)
	theirs.PaymentAmount, ok3 = parseCount(req.DebitsAmount, 16)
	theirs.ReversalsAmount, ok4 = parseCount(req.DebitsReversalAmount, 16)
	net, err := specs.ParseDE97(req.NetSettlement)
	if !ok || !ok1 || !ok2 || !ok3 || !ok4 || err != nil || net != theirs.Net() {
		return reply(rcFormat), nil
	}
	ours, err := Tally(ctx, h.core, s.Link, party, date)
	if err != nil {
		return nil, err
	}
	resp := &specs.Message{
		ResponseCode:         rcApproved,
		SettlementDate:       req.SettlementDate,
		SettlementCode:       "1",
		DebitsNumber:         fmt.Sprintf("%010d", ours.Payments),
		DebitsReversalNumber: fmt.Sprintf("%010d", ours.Reversals),
		DebitsAmount:         fmt.Sprintf("%016d", ours.PaymentAmount),
		DebitsReversalAmount: fmt.Sprintf("%016d", ours.ReversalsAmount),
	}
	if resp.NetSettlement, err = specs.FormatDE97(ours.Net()); err != nil {
		return nil, err
	}
	if theirs == ours {
		return resp, nil
	}
	resp.SettlementCode = "2"
	own := wireKey("05", namespace(s, req), tid(req), req.STAN, req.TransmissionDateTime)
	m := Mismatch{Link: "terminal", Party: party, Date: date, STAN: req.STAN, DE7: req.TransmissionDateTime,
		Received: time.Now().UTC(), Theirs: theirs, Ours: ours}
	if s.Link == specs.LinkPC {
		m.Link = "pc"
	}
	v, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	k := binary.BigEndian.AppendUint32(mismatchPrefix(s.Link, party), uint32(date))
	k = append(k, own...)
	_, err = h.l.Submit(ctx, &ledger.Command{Key: append([]byte(cmdRecon), own...),
		RequestHash: hashOf("05", strconv.FormatInt(theirs.Payments, 10), strconv.FormatInt(theirs.PaymentAmount, 10),
			strconv.FormatInt(theirs.Reversals, 10), strconv.FormatInt(theirs.ReversalsAmount, 10), req.SettlementDate),
		Writes: []ledger.Write{{Key: k, Value: v}}})
	if err != nil && !errors.Is(err, ledger.ErrConflict) {
		// Not durably kept: refuse rather than answer a figure the report will not have.
		return nil, err
	}
	return resp, nil
}
