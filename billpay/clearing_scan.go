package billpay

// Read access and the day gate for clearing (billpay/clearing). Added by the clearing
// work over the core's existing records and locks: nothing here writes a record.

import (
	"context"
	"fmt"

	"github.com/billswitch/billswitch/ledger"
)

// ClearingPayment is one stored payment or top-up as clearing reads it.
type ClearingPayment struct {
	Receipt            string
	TopUp              bool
	Amount, Commission int64 // Commission: the hub's, over every provider the payment paid
	Currency           uint16
	Channel            Channel
	Method             Method
	Acquirer, Terminal string
	RRN                string
	Readings           []Reading
	Allocations        []Allocation
	BusinessDate       ledger.Date // the day it was posted (its receipt's day)
	PostedAt           int64       // unix nanoseconds
	Reversed           bool
	ReversalDate       ledger.Date // 0 unless Reversed
	Key                []byte      // its ledger command key (Ledger.Lookup gives its transfer)
}

func receiptDayKey(d ledger.Date) []byte {
	return paymentKey(fmt.Sprintf("R%06d", uint32(d)%1_000_000))
}

// ClearingDay reads, from one durable view, what the clearing of business date date
// needs: every payment and top-up posted on date (reversal = false, receipt order),
// then every payment of an earlier day reversed on date (reversal = true, receipt
// order). The payments come first; each call gets a value of its own.
//
// The late reversals come from the reversal index of date (keys.go: every reversal
// Reverse posted on date, whatever the age of its payment) and, for stores written
// before the index existed, from a scan of the payments of receipt days [from, date)
// reversed on date; a receipt both find is given once. A reversal older than the
// window is found only through the index; one the window finds gives the same entry
// whether the index holds it or not, so the figures of a day cleared before the index
// existed do not change.
//
// Cost: one range scan over the day's payment records, one over the day's index keys
// (a record read per key), and one over the records of the window's days, which are
// skipped without decoding unless reversed on date.
func (c *Core) ClearingDay(ctx context.Context, date, from ledger.Date, fn func(p *ClearingPayment, reversal bool) error) error {
	if from > date {
		from = date
	}
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	// The receipts the index holds for date, in receipt order (a day's reversals).
	var indexed []string
	idx := revIndexPrefix(uint32(date))
	if err := view.Scan(idx, prefixEnd(idx), func(k, _ []byte) bool {
		indexed = append(indexed, string(k[len(idx):]))
		return true
	}); err != nil {
		return err
	}
	var ferr error
	n := 0
	// late hands fn a payment record if it is a late reversal of date.
	late := func(receipt string, rec *paymentRec) error {
		if !rec.Reversed || rec.ReversalDate != uint32(date) || rec.PaidDate >= uint32(date) {
			return nil
		}
		return fn(clearingPayment(receipt, rec), true)
	}
	// flush gives the indexed receipts below receipt (all when receipt is ""), and skips
	// receipt itself when the index holds it (the window found it).
	next := 0
	flush := func(receipt string) error {
		for ; next < len(indexed) && (receipt == "" || indexed[next] <= receipt); next++ {
			r := indexed[next]
			if r == receipt {
				continue
			}
			v, ok, err := view.Get(paymentKey(r))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("billpay: reversal index of %d names payment %s, which is not stored: %w", date, r, errCorrupt)
			}
			rec, err := decodePayment(v)
			if err != nil {
				return fmt.Errorf("billpay: payment %s: %w", r, err)
			}
			if err := late(r, rec); err != nil {
				return err
			}
		}
		return nil
	}
	scan := func(lo, hi []byte, reversal bool) error {
		err := view.Scan(lo, hi, func(k, v []byte) bool {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				ferr = ctx.Err()
				return false
			}
			if reversal {
				rev, rdate, ok := peekReversal(v)
				if !ok {
					ferr = fmt.Errorf("billpay: payment %s: %w", k[1:], errCorrupt)
					return false
				}
				if !rev || rdate != uint32(date) {
					return true
				}
			}
			rec, err := decodePayment(v)
			if err != nil {
				ferr = fmt.Errorf("billpay: payment %s: %w", k[1:], err)
				return false
			}
			if reversal {
				if rec.PaidDate >= uint32(date) {
					return true
				}
				receipt := string(k[1:])
				if ferr = flush(receipt); ferr != nil {
					return false
				}
				ferr = late(receipt, rec)
				return ferr == nil
			}
			if rec.PaidDate != uint32(date) {
				return true
			}
			if ferr = fn(clearingPayment(string(k[1:]), rec), false); ferr != nil {
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		return ferr
	}
	day := receiptDayKey(date)
	if err := scan(day, prefixEnd(day), false); err != nil {
		return err
	}
	if from < date {
		if err := scan(receiptDayKey(from), day, true); err != nil {
			return err
		}
	}
	return flush("")
}

func clearingPayment(receipt string, rec *paymentRec) *ClearingPayment {
	return &ClearingPayment{Receipt: receipt, TopUp: rec.Kind == resultTopUp, Amount: rec.Amount,
		Commission: rec.Commission, Currency: rec.Currency, Channel: rec.Channel, Method: rec.Method,
		Acquirer: rec.Acquirer, Terminal: rec.Terminal, RRN: rec.RRN, Readings: rec.Readings,
		Allocations: rec.Allocations, BusinessDate: ledger.Date(rec.PaidDate), PostedAt: rec.PostedAt,
		Reversed: rec.Reversed, ReversalDate: ledger.Date(rec.ReversalDate), Key: rec.CmdKey}
}

// peekReversal reads a payment record's reversed flag and reversal date without
// allocating (the fields before them are skipped).
func peekReversal(v []byte) (reversed bool, date uint32, ok bool) {
	if len(v) < 2 || v[0] != recFormat {
		return false, 0, false
	}
	d := dec{b: v[2:]}
	d.by()        // command key
	d.by()        // target provider
	d.by()        // target account
	d.by()        // target regcode
	d.i()         // amount
	d.i()         // commission
	d.u()         // currency
	d.u()         // channel
	d.u()         // method
	for range 4 { // acquirer, terminal, RRN, STAN
		d.by()
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.by()
		d.by()
		d.by()
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.by()
		d.by()
		d.by()
		d.u()
		d.i()
	}
	d.u() // paid date
	d.i() // posted at
	reversed = d.bool()
	d.by() // reversal key
	date = uint32(d.u())
	return reversed, date, d.err == nil
}

// Cutover closes the business day and opens next without letting any payment, top-up
// or reversal straddle it: it takes every account lock (the locks under which those
// read the business date, allocate a receipt and wait for their durable commit), moves
// the ledger's date, and releases them. Every payment is therefore wholly on the old
// day (its record, receipt and transfer) or wholly on the new one, and a reversal
// that arrives after it lands on the new day. Route every cutover through it (the
// switch's scheduled cutover too: see clearing.GatedLedger).
func (c *Core) Cutover(ctx context.Context, next ledger.Date) error {
	for i := range c.acctLocks {
		c.acctLocks[i].Lock()
	}
	defer func() {
		for i := len(c.acctLocks) - 1; i >= 0; i-- {
			c.acctLocks[i].Unlock()
		}
	}()
	return c.l.Cutover(ctx, next)
}
