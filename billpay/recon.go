package billpay

// Queries for the switch's exactly-once checks and 0500 reconciliation (host-iso8583.md
// §7, §8). Added by the ISO-handlers work (switch/bills); read-only over billpay's
// records, no new record kinds.

import (
	"context"
	"fmt"
	"time"

	"github.com/billswitch/billswitch/ledger"
)

// PaymentOutcome returns the stored outcome of a payment or top-up taken under the
// caller's key (PaymentRequest.Key), without taking anything: found = false when the key
// was never used. With found = true, exactly one of p and err is set: the payment
// (Duplicate = true), DeclineAlreadyReversed when a reversal advice voided the key before
// its original came (§7), or DeclineConflict when the stored request's hash is not hash.
// The switch calls it before it asks a processing centre to authorize a card, so a
// repeat never authorizes twice.
func (c *Core) PaymentOutcome(ctx context.Context, key []byte, hash [32]byte) (p *Payment, found bool, err error) {
	cmdKey := append([]byte(cmdPay), key...)
	p, done, err := c.replay(ctx, cmdKey, hash)
	if err == nil && p == nil && done {
		return nil, true, fmt.Errorf("billpay: payment outcome of key %q is empty", key)
	}
	return p, done, err
}

// PaymentSummary is one payment (or top-up) as reconciliation sees it.
type PaymentSummary struct {
	Receipt      string
	Acquirer     string
	Terminal     string
	Channel      Channel
	Method       Method
	Amount       int64
	Currency     uint16
	BusinessDate ledger.Date // the day it was posted (its receipt's day)
	Reversed     bool
	ReversalDate ledger.Date // 0 unless Reversed
}

// PaymentsOn calls fn for every payment and top-up posted on business date date until
// fn returns false. It reads the last durable state. A payment's receipt names the day
// it was taken on, but a cutover between that and its commit re-dates it to the next
// day, so the receipts of the day before are read too (in receipt order, that day's
// first). Cost: range scans over two days of payment records (about 150 bytes each);
// nothing is indexed beyond the receipt order.
func (c *Core) PaymentsOn(ctx context.Context, date ledger.Date, fn func(PaymentSummary) bool) error {
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	d := time.Date(int(date)/10000, time.Month(int(date)/100%100), int(date)%100, 0, 0, 0, 0, time.UTC)
	more := true
	for _, day := range []ledger.Date{ledger.DateOf(d.AddDate(0, 0, -1)), date} {
		if !more {
			break
		}
		if more, err = c.paymentsOf(ctx, view, day, date, fn); err != nil {
			return err
		}
	}
	return nil
}

// paymentsOf scans the receipts of day for payments posted on date.
func (c *Core) paymentsOf(ctx context.Context, view ledger.Reader, day, date ledger.Date, fn func(PaymentSummary) bool) (bool, error) {
	pfx := paymentKey(fmt.Sprintf("R%06d", uint32(day)%1_000_000))
	var derr error
	more := true
	n := 0
	err := view.Scan(pfx, prefixEnd(pfx), func(k, v []byte) bool {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			derr = ctx.Err()
			return false
		}
		rec, err := decodePayment(v)
		if err != nil {
			derr = fmt.Errorf("billpay: payment %s: %w", k[1:], err)
			return false
		}
		if rec.PaidDate != uint32(date) {
			return true
		}
		s := PaymentSummary{Receipt: string(k[1:]), Acquirer: rec.Acquirer, Terminal: rec.Terminal, Channel: rec.Channel,
			Method: rec.Method, Amount: rec.Amount, Currency: rec.Currency, BusinessDate: ledger.Date(rec.PaidDate),
			Reversed: rec.Reversed}
		if rec.Reversed {
			s.ReversalDate = ledger.Date(rec.ReversalDate)
		}
		more = fn(s)
		return more
	})
	if err != nil {
		return false, err
	}
	return more && derr == nil, derr
}
