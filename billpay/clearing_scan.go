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
// and every payment of a receipt day in [from, date) reversed on date (reversal =
// true, receipt order). The payments come first; each call gets a value of its own.
//
// Cost: one range scan over the day's payment records, and one over the records of
// the earlier days in the window, which are skipped without decoding unless reversed
// on date (no reversal index exists yet).
func (c *Core) ClearingDay(ctx context.Context, date, from ledger.Date, fn func(p *ClearingPayment, reversal bool) error) error {
	if from > date {
		from = date
	}
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	var ferr error
	n := 0
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
			if !reversal && rec.PaidDate != uint32(date) {
				return true
			}
			if reversal && rec.PaidDate >= uint32(date) {
				return true
			}
			p := &ClearingPayment{Receipt: string(k[1:]), TopUp: rec.Kind == resultTopUp, Amount: rec.Amount,
				Commission: rec.Commission, Currency: rec.Currency, Channel: rec.Channel, Method: rec.Method,
				Acquirer: rec.Acquirer, Terminal: rec.Terminal, RRN: rec.RRN, Readings: rec.Readings,
				Allocations: rec.Allocations, BusinessDate: ledger.Date(rec.PaidDate), PostedAt: rec.PostedAt,
				Reversed: rec.Reversed, ReversalDate: ledger.Date(rec.ReversalDate), Key: rec.CmdKey}
			if ferr = fn(p, reversal); ferr != nil {
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
		return scan(receiptDayKey(from), day, true)
	}
	return nil
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
