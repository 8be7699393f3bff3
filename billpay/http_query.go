package billpay

// Read-only views of stored payments and applied debt lists for the HTTP adapter
// (billpay/httpapi): payment status, receipts, history, import status. Added by the
// HTTP adapter's helper over the core's existing records; nothing here writes.

import (
	"context"
	"fmt"
	"time"

	"github.com/billswitch/billswitch/billpay/debtfile"
	"github.com/billswitch/billswitch/ledger"
)

// PaymentRecord is a stored payment or top-up as a channel shows it (status, receipt,
// history).
type PaymentRecord struct {
	Receipt            string
	AuthCode           string
	TopUp              bool
	Target             Target
	Amount, Commission int64
	Currency           uint16
	Channel            Channel
	Method             Method
	Acquirer, Terminal string
	RRN, STAN          string
	Readings           []Reading
	Allocations        []Allocation
	BusinessDate       ledger.Date // the day its dues were reduced on (its receipt's day)
	PostedAt           time.Time
	Reversed           bool
	ReversalDate       ledger.Date // 0 unless Reversed
	Credential         string      // top-up only
}

func (r *paymentRec) record(receipt string) *PaymentRecord {
	out := &PaymentRecord{Receipt: receipt, TopUp: r.Kind == resultTopUp, Target: r.Target, Amount: r.Amount,
		Commission: r.Commission, Currency: r.Currency, Channel: r.Channel, Method: r.Method, Acquirer: r.Acquirer,
		Terminal: r.Terminal, RRN: r.RRN, STAN: r.STAN, Readings: r.Readings, Allocations: r.Allocations,
		BusinessDate: ledger.Date(r.PaidDate), PostedAt: time.Unix(0, r.PostedAt), Reversed: r.Reversed,
		ReversalDate: ledger.Date(r.ReversalDate), Credential: r.Credential}
	// The authorization code is the receipt's day sequence modulo 10^6 (commitPayment).
	out.AuthCode = authCode(receipt)
	return out
}

// PaymentByReceipt returns the stored payment or top-up with the given receipt, as of
// the last durable state; DeclineUnknownAccount when there is none.
func (c *Core) PaymentByReceipt(ctx context.Context, receipt string) (*PaymentRecord, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	v, ok, err := view.Get(paymentKey(receipt))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, declinef(DeclineUnknownAccount, "no payment with receipt %q", receipt)
	}
	rec, err := decodePayment(v)
	if err != nil {
		return nil, err
	}
	return rec.record(receipt), nil
}

// PaymentsBetween calls fn for every payment and top-up whose receipt is of a business
// date in [from, to], in receipt order, until fn returns false. Cost: one range scan
// over those days' payment records.
func (c *Core) PaymentsBetween(ctx context.Context, from, to ledger.Date, fn func(*PaymentRecord) bool) error {
	if to < from {
		return nil
	}
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	lo := paymentKey(fmt.Sprintf("R%06d", uint32(from)%1_000_000))
	hi := prefixEnd(paymentKey(fmt.Sprintf("R%06d", uint32(to)%1_000_000)))
	var derr error
	err = view.Scan(lo, hi, func(k, v []byte) bool {
		if ctx.Err() != nil {
			derr = ctx.Err()
			return false
		}
		rec, err := decodePayment(v)
		if err != nil {
			derr = err
			return false
		}
		return fn(rec.record(string(k[1:])))
	})
	if err != nil {
		return err
	}
	return derr
}

// ImportedFile is a debt list the core applied (import status).
type ImportedFile struct {
	Provider, FileID string
	Mode             debtfile.Mode
	Created          time.Time // the file's created, to the second
	Accounts, Debts  int
	SHA256           [32]byte // of the file's bytes
}

// ImportedFile returns the applied debt list fileID of provider, found = false when no
// such file was applied.
func (c *Core) ImportedFile(ctx context.Context, provider, fileID string) (*ImportedFile, bool, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, false, err
	}
	defer view.Close()
	v, ok, err := view.Get(fileKey(provider, fileID))
	if err != nil || !ok {
		return nil, false, err
	}
	if len(v) < 2 || v[0] != recFormat {
		return nil, false, errCorrupt
	}
	d := dec{b: v[2:]}
	f := &ImportedFile{Provider: provider, FileID: fileID, Mode: debtfile.Mode(v[1])}
	f.Created = time.Unix(d.i(), 0).UTC()
	f.Accounts, f.Debts = int(d.u()), int(d.u())
	// The record ends with the file's SHA-256 (length-prefixed); fields the core may
	// keep between the counts and the hash are skipped.
	if d.err != nil || len(v) < 2+33 || v[len(v)-33] != 32 {
		return nil, false, errCorrupt
	}
	copy(f.SHA256[:], v[len(v)-32:])
	return f, true, nil
}
