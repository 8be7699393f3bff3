package billpay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/billswitch/billswitch/ledger"
)

// ReverseRequest asks the core to reverse a payment (or top-up). The original is named
// by the caller's key of the payment (OriginalKey) or by its receipt.
type ReverseRequest struct {
	Key         []byte   // the reversal's own idempotency key
	RequestHash [32]byte // zero = computed from the fields below
	OriginalKey []byte
	Receipt     string
	// SameDayOnly refuses (DeclineDayClosed) an original of an earlier business day
	// (a 0400); an advice (0420) reverses whatever day it is.
	SameDayOnly bool
	// VoidUnknown: when the original is not found by OriginalKey, mark that key so that
	// the original, if it arrives later, is declined DeclineAlreadyReversed (§7 advice
	// before original). Without it an unknown original is DeclineUnknownAccount.
	VoidUnknown bool
	// Extra are the caller's own records (the switch's key range, ledger.SwitchPrefixMin–
	// Max), committed in the same atomic batch as the reversal and only if this request
	// reverses a payment (not for a void, a repeat or a refusal), e.g. the reversal
	// advice a card's processing centre must get. They are not part of the request's
	// identity (RequestHash).
	Extra []ledger.Write
}

// Reversal is a done reversal.
type Reversal struct {
	Receipt      string // the reversed payment's receipt ("" when Voided)
	Amount       int64
	Currency     uint16
	Allocations  []Allocation // the original's
	BusinessDate ledger.Date
	Voided       bool // the original was never seen; its key is now marked reversed
	Duplicate    bool
}

func (r *ReverseRequest) hash() [32]byte {
	if r.RequestHash != ([32]byte{}) {
		return r.RequestHash
	}
	e := enc{b: []byte{resultReverse}}
	e.by(r.OriginalKey)
	e.s(r.Receipt)
	e.bool(r.SameDayOnly)
	e.bool(r.VoidUnknown)
	return sha256.Sum256(e.b)
}

func encodeReversal(hash [32]byte, r *Reversal) []byte {
	e := enc{b: append([]byte{recFormat, resultReverse}, hash[:]...)}
	e.s(r.Receipt)
	e.i(r.Amount)
	e.u(uint64(r.Currency))
	encodeAllocs(&e, r.Allocations)
	e.bool(r.Voided)
	return e.b
}

func (c *Core) reversalFromOutcome(out ledger.Outcome, hash [32]byte) (*Reversal, error) {
	if ok, err := declinedByLedger(out, hash); ok {
		return nil, err
	}
	v := out.Result
	if len(v) < 34 || v[0] != recFormat || v[1] != resultReverse {
		return nil, errCorrupt
	}
	if [32]byte(v[2:34]) != hash {
		return nil, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	if out.Status == ledger.Declined {
		return nil, ledgerDecline(out.Reason)
	}
	d := dec{b: v[34:]}
	r := &Reversal{Receipt: d.s(), Amount: d.i(), Currency: uint16(d.u())}
	r.Allocations = decodeAllocs(&d)
	r.Voided = d.bool()
	r.BusinessDate, r.Duplicate = out.BusinessDate, out.Duplicate
	return r, d.err
}

// Reverse reverses a payment once: the money (the exact mirror of its transfer) and the
// dues it reduced, with a reversal notice to each provider, in one durable command.
func (c *Core) Reverse(ctx context.Context, req ReverseRequest) (*Reversal, error) {
	if len(req.Key) == 0 || (len(req.OriginalKey) == 0 && req.Receipt == "") {
		return nil, declinef(DeclineBadRequest, "a reversal names its own key and its original")
	}
	for _, w := range req.Extra {
		if len(w.Key) == 0 || w.Key[0] < ledger.SwitchPrefixMin || w.Key[0] > ledger.SwitchPrefixMax {
			return nil, fmt.Errorf("billpay: extra write outside the switch's key range")
		}
	}
	hash := req.hash()
	cmdKey := append([]byte(cmdReverse), req.Key...)
	if out, ok, err := c.l.Lookup(ctx, cmdKey); err != nil {
		return nil, err
	} else if ok {
		out.Duplicate = true
		return c.reversalFromOutcome(out, hash)
	}
	// Find the original payment record.
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	rec, receipt, origOut, err := c.findOriginal(ctx, view, &req)
	view.Close()
	if err != nil {
		return nil, err
	}
	if rec == nil {
		if !req.VoidUnknown || len(req.OriginalKey) == 0 {
			return nil, declinef(DeclineUnknownAccount, "original payment not found")
		}
		return c.void(ctx, &req, cmdKey, hash)
	}
	var refs []AccountRef
	for _, a := range rec.Allocations {
		refs = append(refs, AccountRef{a.Provider, a.Account})
	}
	unlock := c.lockAccounts(refs)
	defer unlock()
	c.forgetAccounts(refs) // the reversal rewrites their records (acctcache.go)
	if out, ok, err := c.l.Lookup(ctx, cmdKey); err != nil {
		return nil, err
	} else if ok {
		out.Duplicate = true
		return c.reversalFromOutcome(out, hash)
	}
	view, err = c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	v, ok, err := view.Get(paymentKey(receipt))
	if err != nil || !ok {
		return nil, errors.Join(err, errCorrupt)
	}
	if rec, err = decodePayment(v); err != nil {
		return nil, err
	}
	if rec.Reversed {
		return nil, declinef(DeclineAlreadyReversed, "payment %s was already reversed", receipt)
	}
	today := uint32(c.l.BusinessDate())
	if req.SameDayOnly && uint32(origOut.BusinessDate) != today {
		return nil, declinef(DeclineDayClosed, "payment %s was posted on %s, a closed business day", receipt, fmtDate(uint32(origOut.BusinessDate)))
	}
	// Restore the dues: the reversal is money the host gave back on the business date the
	// ledger commits it on (known inside the command).
	type acctRec struct {
		ref AccountRef
		rec *accountRec
	}
	var accts []acctRec
	if rec.Kind == resultPayment {
		done := map[AccountRef]bool{}
		for _, a := range rec.Allocations {
			ref := AccountRef{a.Provider, a.Account}
			if done[ref] {
				continue
			}
			done[ref] = true
			pr, err := getProviderRec(view, a.Provider)
			if err != nil {
				return nil, err
			}
			acct, err := getAccount(view, pr, a.Provider, a.Account)
			if err != nil {
				return nil, err
			}
			if acct != nil { // a record that is gone: the money is still restored
				accts = append(accts, acctRec{ref, acct})
			}
		}
	}
	var topUpWrite *ledger.Write
	if rec.Kind == resultTopUp && len(rec.Allocations) == 1 {
		if topUpWrite, err = c.reissueSequence(view, rec); err != nil {
			return nil, err
		}
	}
	notices, err := c.prepareNotices(view, NoticeReversal, receipt, rec.Allocations, c.clock())
	if err != nil {
		return nil, err
	}
	defer c.releaseNotices(notices)
	rec.Reversed, rec.ReversalKey = true, req.Key
	var writes []ledger.Write
	for _, a := range accts {
		for _, b := range rec.Allocations {
			if b.Provider == a.ref.Provider && b.Account == a.ref.Account {
				a.rec.addPaid(b.Service, b.Period, today, -b.Amount)
			}
		}
		writes = append(writes, ledger.Write{Key: accountKey(a.ref.Provider, a.ref.Account, a.rec.Gen), Value: a.rec.encode(nil)})
	}
	if topUpWrite != nil {
		writes = append(writes, *topUpWrite)
	}
	rec.ReversalDate = today
	writes = append(writes, ledger.Write{Key: paymentKey(receipt), Value: rec.encode()},
		// The reversal index: clearing finds the reversals of a day here, whatever the
		// age of the payment (keys.go). redate moves it with the record's date.
		ledger.Write{Key: revIndexKey(today, receipt), Value: []byte{}})
	writes = appendNotices(writes, notices, today)
	writes = append(writes, req.Extra...)
	rev := &Reversal{Receipt: receipt, Amount: rec.Amount, Currency: rec.Currency, Allocations: rec.Allocations}
	out, err := c.l.Submit(ctx, &ledger.Command{Key: cmdKey, RequestHash: hash, Reverse: origOut.TransferID, Writes: writes,
		Result: encodeReversal(hash, rev)})
	if errors.Is(err, ledger.ErrConflict) {
		return nil, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	if err != nil {
		return nil, err
	}
	if out.Duplicate || out.Status == ledger.Declined {
		return c.reversalFromOutcome(out, hash)
	}
	rev.BusinessDate = out.BusinessDate
	if uint32(out.BusinessDate) != today && rec.Kind == resultPayment {
		if ferr := c.redate(ctx, cmdKey, receipt, rec.Allocations, -1, today, uint32(out.BusinessDate)); ferr != nil {
			c.log.Error().Err(ferr).Str("receipt", receipt).Msg("netting date of a reversal posted across a cutover not moved")
		}
	}
	return rev, nil
}

// findOriginal returns the original's payment record, receipt and ledger outcome; a nil
// record when it was never posted.
func (c *Core) findOriginal(ctx context.Context, view ledger.Reader, req *ReverseRequest) (*paymentRec, string, ledger.Outcome, error) {
	var out ledger.Outcome
	receipt := req.Receipt
	if receipt == "" {
		for _, ns := range []string{cmdPay} { // payments and top-ups share the key space
			o, ok, err := c.l.Lookup(ctx, append([]byte(ns), req.OriginalKey...))
			if err != nil {
				return nil, "", out, err
			}
			if !ok {
				continue
			}
			if o.Status != ledger.Committed {
				return nil, "", out, nil
			}
			r, err := decodeResult(o.Result)
			if err != nil {
				return nil, "", out, err
			}
			if r.kind == resultVoid {
				return nil, "", out, declinef(DeclineAlreadyReversed, "the original was already voided")
			}
			if r.receipt == "" {
				return nil, "", out, nil
			}
			receipt, out = r.receipt, o
			break
		}
		if receipt == "" {
			return nil, "", out, nil
		}
	}
	v, ok, err := view.Get(paymentKey(receipt))
	if err != nil || !ok {
		return nil, "", out, err
	}
	rec, err := decodePayment(v)
	if err != nil {
		return nil, "", out, err
	}
	if req.Receipt != "" {
		o, ok, err := c.l.Lookup(ctx, rec.CmdKey)
		if err != nil || !ok {
			return nil, "", out, errors.Join(err, errCorrupt)
		}
		out = o
	}
	return rec, receipt, out, nil
}

// void marks an original that never came as reversed: its command key gets a void
// outcome, so the original, when it arrives, meets it and is declined.
func (c *Core) void(ctx context.Context, req *ReverseRequest, cmdKey []byte, hash [32]byte) (*Reversal, error) {
	rev := &Reversal{Voided: true}
	voidKey := append([]byte(cmdPay), req.OriginalKey...)
	// One command under the original's key (the marker) and one under the reversal's
	// own key (its outcome); the first wins against a racing original.
	out, err := c.l.Submit(ctx, &ledger.Command{Key: voidKey, RequestHash: [32]byte{0xff}, Result: encodeResult(resultVoid, "")})
	if errors.Is(err, ledger.ErrConflict) {
		// The original committed meanwhile: reverse it normally.
		req.VoidUnknown = false
		return c.Reverse(ctx, *req)
	}
	if err != nil {
		return nil, err
	}
	_ = out
	out, err = c.l.Submit(ctx, &ledger.Command{Key: cmdKey, RequestHash: hash, Result: encodeReversal(hash, rev)})
	if err != nil {
		return nil, err
	}
	return c.reversalFromOutcome(out, hash)
}

// reissueSequence returns the account record write that takes back the card sequence a
// reversed top-up's credential was bound to, or nil when that credential is no longer
// the last one issued (a later top-up followed it, the card was re-registered, the
// account is gone). Without it the account kept the refunded credential as "issued but
// not on the card" and refused every later top-up at the card's real sequence (12);
// with it the next top-up is bound to the same sequence, so the meter, which accepts a
// sequence once, takes one of the two credentials and never both.
func (c *Core) reissueSequence(view ledger.Reader, rec *paymentRec) (*ledger.Write, error) {
	a := rec.Allocations[0]
	prov, ok := c.Registry().Provider(a.Provider)
	if !ok || prov.TopUpKey == nil {
		return nil, nil
	}
	pr, err := getProviderRec(view, a.Provider)
	if err != nil {
		return nil, err
	}
	acct, err := getAccount(view, pr, a.Provider, a.Account)
	if err != nil || acct == nil || acct.IssuedSeq == 0 || acct.CardID == "" {
		return nil, err
	}
	token := !strings.HasPrefix(rec.Credential, "W1:")
	if !VerifyCredential(prov.TopUpKey, token, a.Provider, a.Account, acct.CardID, acct.IssuedSeq, rec.Amount, rec.Credential) {
		return nil, nil
	}
	acct.IssuedSeq--
	acct.CardSeq = min(acct.CardSeq, acct.IssuedSeq)
	return &ledger.Write{Key: accountKey(a.Provider, a.Account, acct.Gen), Value: acct.encode(nil)}, nil
}
