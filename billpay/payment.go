package billpay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"

	"github.com/billswitch/billswitch/ledger"
)

// Channel a payment came through (provider-exchange.md §4).
type Channel uint8

const (
	ChannelATM Channel = iota + 1
	ChannelPOS
	ChannelKiosk
	ChannelWeb
	ChannelCashier
	ChannelBank
)

var channelNames = [...]string{ChannelATM: "ATM", ChannelPOS: "POS", ChannelKiosk: "KIOSK", ChannelWeb: "WEB", ChannelCashier: "CASHIER", ChannelBank: "BANK"}

func (c Channel) String() string {
	if int(c) < len(channelNames) && channelNames[c] != "" {
		return channelNames[c]
	}
	return "channel(" + strconv.Itoa(int(c)) + ")"
}

// Method of a payment.
type Method uint8

const (
	MethodCard Method = iota + 1
	MethodCash
	MethodAccount
)

var methodNames = [...]string{MethodCard: "CARD", MethodCash: "CASH", MethodAccount: "ACCOUNT"}

func (m Method) String() string {
	if int(m) < len(methodNames) && methodNames[m] != "" {
		return methodNames[m]
	}
	return "method(" + strconv.Itoa(int(m)) + ")"
}

// PaymentRequest asks the core to take a payment.
type PaymentRequest struct {
	// Key is the caller's idempotency key (the switch: DE 32/41/11/7 of the 02xx class).
	// The same key with the same request returns the first payment; with another
	// request it is declined DeclineConflict.
	Key []byte
	// RequestHash identifies the request under Key; zero = computed from the fields below.
	RequestHash [32]byte
	Target      Target
	Amount      int64 // minor units
	Currency    uint16
	Mode        Mode
	Lines       []Line
	Readings    []Reading
	Channel     Channel
	Method      Method
	Acquirer    string // institution or agent that collected the money
	Terminal    string // DE 41 / payment point
	RRN, STAN   string
	// Extra are the caller's own records (the switch's key range, ledger.SwitchPrefixMin–
	// Max), committed in the same atomic batch as the payment and only if it posts, e.g.
	// the end of a card authorization's write-ahead reversal advice. They are not part
	// of the request's identity (RequestHash).
	Extra []ledger.Write
}

// Payment is an accepted payment.
type Payment struct {
	Receipt      string // unique; sorts by business day, then sequence
	AuthCode     string // 6 characters (DE 38)
	Amount       int64
	Commission   int64
	Currency     uint16
	Allocations  []Allocation
	Credential   string // top-up only: the card write record or the 20-digit token (tag 23)
	BusinessDate ledger.Date
	TransferID   ledger.TransferID
	Duplicate    bool // the stored outcome of an earlier request with the same key
}

func (r *PaymentRequest) validate() error {
	if len(r.Key) == 0 {
		return declinef(DeclineBadRequest, "idempotency key required")
	}
	if r.Channel < ChannelATM || r.Channel > ChannelBank {
		return declinef(DeclineBadRequest, "unknown channel %d", r.Channel)
	}
	if r.Method < MethodCard || r.Method > MethodAccount {
		return declinef(DeclineBadRequest, "unknown method %d", r.Method)
	}
	if r.Method == MethodCash && r.Terminal == "" {
		return declinef(DeclineBadRequest, "a cash payment names its terminal")
	}
	if r.Method != MethodCash && r.Acquirer == "" {
		return declinef(DeclineBadRequest, "a card or account payment names its acquirer")
	}
	if r.Amount <= 0 {
		return declinef(DeclineInvalidAmount, "amount must be above zero")
	}
	return nil
}

func (r *PaymentRequest) hash(kind byte, card string, cardSeq uint32) [32]byte {
	if r.RequestHash != ([32]byte{}) {
		return r.RequestHash
	}
	e := newEnc(128, kind)
	e.s(r.Target.Provider)
	e.s(r.Target.Account)
	e.s(r.Target.RegCode)
	e.i(r.Amount)
	e.u(uint64(r.Currency))
	e.u(uint64(r.Mode))
	e.u(uint64(len(r.Lines)))
	for _, l := range r.Lines {
		e.s(l.Provider)
		e.s(l.Account)
		e.s(l.Service)
		e.i(l.Amount)
	}
	e.u(uint64(len(r.Readings)))
	for _, rd := range r.Readings {
		e.s(rd.Service)
		e.s(rd.Meter)
		e.s(rd.Value)
	}
	e.u(uint64(r.Channel))
	e.u(uint64(r.Method))
	e.s(r.Acquirer)
	e.s(r.Terminal)
	e.s(card)
	e.u(uint64(cardSeq))
	return sha256.Sum256(e.b)
}

// Result kinds stored with a command's ledger key.
const (
	resultPayment byte = 1
	resultTopUp   byte = 2
	resultVoid    byte = 3 // the key was reversed before its original came (§7 advice)
	resultReverse byte = 4
)

// A payment's result, stored with its command key in the ledger's outcome record, is
// written in format 2: format | kind | receipt. It only names the payment: the request
// hash is the ledger's own (Outcome.RequestHash) and the details are the payment record's
// (read back by receipt on a replay), so that each payment stores them once (≈ 150 bytes
// less per payment than format 1, docs/decisions-perf.md). Format 1, written before,
// carried a copy of the hash and the whole answer; it is still read.
const resultFormat = 2

func encodeResult(kind byte, receipt string) []byte {
	e := newEnc(3+len(receipt), resultFormat, kind)
	if receipt != "" {
		e.s(receipt)
	}
	return e.b
}

// storedResult is a decoded result: kind, and the payment it names (receipt), with, in
// format 1, the stored request hash and the whole payment.
type storedResult struct {
	kind    byte
	receipt string
	v1      bool
	hash    [32]byte // format 1 only
	p       *Payment // format 1 only
}

func decodeResult(v []byte) (storedResult, error) {
	var r storedResult
	switch {
	case len(v) >= 2 && v[0] == resultFormat:
		r.kind = v[1]
		if len(v) > 2 {
			d := dec{b: v[2:]}
			r.receipt = d.s()
			if d.err != nil {
				return r, d.err
			}
		}
		return r, nil
	case len(v) >= 34 && v[0] == recFormat:
		r.kind, r.v1 = v[1], true
		copy(r.hash[:], v[2:34])
		d := dec{b: v[34:]}
		if len(d.b) == 0 {
			return r, nil
		}
		p := &Payment{Receipt: d.s(), AuthCode: d.s(), Amount: d.i(), Commission: d.i(), Currency: uint16(d.u())}
		p.Allocations = decodeAllocs(&d)
		p.Credential = d.s()
		r.p, r.receipt = p, p.Receipt
		return r, d.err
	}
	return r, errCorrupt
}

// authCode is the authorization code of receipt: its day sequence modulo 10^6, i.e. the
// last six of its seven zero-padded sequence digits.
func authCode(receipt string) string {
	if len(receipt) == 14 {
		return receipt[8:]
	}
	return ""
}

// paymentRecOf reads the record of the payment named by receipt (one a stored outcome
// names: missing is corrupt).
func (c *Core) paymentRecOf(receipt string) (*paymentRec, error) {
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
		return nil, fmt.Errorf("billpay: payment record %s of a stored outcome: %w", receipt, errCorrupt)
	}
	return decodePayment(v)
}

// paymentOf is the payment of rec (receipt), as Pay answered it.
func paymentOf(receipt string, rec *paymentRec) *Payment {
	return &Payment{Receipt: receipt, AuthCode: authCode(receipt), Amount: rec.Amount, Commission: rec.Commission,
		Currency: rec.Currency, Allocations: rec.Allocations, Credential: rec.Credential}
}

func encodeAllocs(e *enc, as []Allocation) {
	e.u(uint64(len(as)))
	for _, a := range as {
		e.s(a.Provider)
		e.s(a.Account)
		e.s(a.Service)
		e.u(uint64(a.Period))
		e.i(a.Amount)
	}
}

func decodeAllocs(d *dec) []Allocation {
	n := d.count()
	var out []Allocation
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, Allocation{Provider: d.s(), Account: d.s(), Service: d.s(), Period: int(d.u()), Amount: d.i()})
	}
	return out
}

// paymentRec is a payment as stored (0x25 | receipt).
type paymentRec struct {
	Kind               byte // resultPayment or resultTopUp
	CmdKey             []byte
	Target             Target
	Amount, Commission int64
	Currency           uint16
	Channel            Channel
	Method             Method
	Acquirer, Terminal string
	RRN, STAN          string
	Readings           []Reading
	Allocations        []Allocation
	PaidDate           uint32 // business date the payment's dues were reduced on
	PostedAt           int64
	Reversed           bool
	ReversalKey        []byte
	ReversalDate       uint32
	Credential         string
}

func (r *paymentRec) encode() []byte {
	e := newEnc(256, recFormat, r.Kind)
	e.by(r.CmdKey)
	e.s(r.Target.Provider)
	e.s(r.Target.Account)
	e.s(r.Target.RegCode)
	e.i(r.Amount)
	e.i(r.Commission)
	e.u(uint64(r.Currency))
	e.u(uint64(r.Channel))
	e.u(uint64(r.Method))
	e.s(r.Acquirer)
	e.s(r.Terminal)
	e.s(r.RRN)
	e.s(r.STAN)
	e.u(uint64(len(r.Readings)))
	for _, rd := range r.Readings {
		e.s(rd.Service)
		e.s(rd.Meter)
		e.s(rd.Value)
	}
	encodeAllocs(&e, r.Allocations)
	e.u(uint64(r.PaidDate))
	e.i(r.PostedAt)
	e.bool(r.Reversed)
	e.by(r.ReversalKey)
	e.u(uint64(r.ReversalDate))
	e.s(r.Credential)
	return e.b
}

func decodePayment(v []byte) (*paymentRec, error) {
	if len(v) < 2 || v[0] != recFormat {
		return nil, errCorrupt
	}
	d := dec{b: v[2:]}
	r := &paymentRec{Kind: v[1]}
	r.CmdKey = bytes.Clone(d.by())
	r.Target = Target{Provider: d.s(), Account: d.s(), RegCode: d.s()}
	r.Amount, r.Commission = d.i(), d.i()
	r.Currency = uint16(d.u())
	r.Channel, r.Method = Channel(d.u()), Method(d.u())
	r.Acquirer, r.Terminal, r.RRN, r.STAN = d.s(), d.s(), d.s(), d.s()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		r.Readings = append(r.Readings, Reading{d.s(), d.s(), d.s()})
	}
	r.Allocations = decodeAllocs(&d)
	r.PaidDate = uint32(d.u())
	r.PostedAt = d.i()
	r.Reversed = d.bool()
	r.ReversalKey = bytes.Clone(d.by())
	r.ReversalDate = uint32(d.u())
	r.Credential = d.s()
	return r, d.err
}

// nextReceipt returns a new receipt number for business date date: "R" YYMMDD and a
// seven-digit sequence of that day. The sequence continues after the highest receipt of
// the day in the store (read once per day per process), so receipts are unique across
// restarts; an uncommitted number may be skipped, never reused once durable.
func (c *Core) nextReceipt(view ledger.Reader, date uint32) (string, error) {
	c.rcptMu.Lock()
	defer c.rcptMu.Unlock()
	// "R" YYMMDD seq7, built in one buffer (one allocation: the string).
	var b [14]byte
	b[0] = 'R'
	for i, v := 6, date%1_000_000; i >= 1; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	last, ok := c.rcpt[date]
	if !ok {
		pfx := paymentKey(string(b[:7]))
		err := view.Scan(pfx, prefixEnd(pfx), func(k, _ []byte) bool {
			if n, err := strconv.ParseUint(string(k[len(pfx):]), 10, 64); err == nil && n > last {
				last = n
			}
			return true
		})
		if err != nil {
			return "", err
		}
	}
	last++
	if last > 9_999_999 {
		return "", errors.New("billpay: receipt sequence of the day exhausted")
	}
	c.rcpt[date] = last
	for i, v := 13, last; i >= 7; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	return string(b[:]), nil
}

// Pay takes a payment: allocates it over the target's current debts (host-iso8583.md
// §5), and commits the payment, its allocations, the debt changes, the ledger transfer
// with its commission and the providers' notices as one durable ledger command.
func (c *Core) Pay(ctx context.Context, req PaymentRequest) (*Payment, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	hash := req.hash(resultPayment, "", 0)
	cmdKey := append([]byte(cmdPay), req.Key...)
	refs, err := c.targetRefs(req.Target)
	if err != nil {
		// A repeat of an accepted payment gets its outcome even if the target is gone.
		if p, done, err2 := c.replay(ctx, cmdKey, hash); done {
			return p, err2
		}
		return nil, err
	}
	unlock := c.lockAccounts(refs)
	defer unlock()
	// A repeat of the key is answered by the ledger at Submit (its stored outcome); the
	// key is looked up here only when the request would be declined, so that a repeat of
	// an accepted payment is never declined because its own debts are now paid.
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	allocs, accts, err := c.allocate(view, &req, refs)
	if err != nil {
		if p, done, err2 := c.replay(ctx, cmdKey, hash); done {
			return p, err2
		}
		return nil, err
	}
	date := uint32(c.l.BusinessDate())
	return c.commitPayment(ctx, view, &req, cmdKey, hash, resultPayment, allocs, date, nil, accts, "")
}

func (c *Core) allocate(view ledger.Reader, req *PaymentRequest, refs []AccountRef) ([]Allocation, []targetAccount, error) {
	accts, err := c.resolve(view, req.Target, refs, true)
	if err != nil {
		return nil, nil, err
	}
	if len(accts) == 0 {
		return nil, nil, declinef(DeclineUnknownAccount, "%s has no open account", req.Target)
	}
	dues := make([]AccountDues, len(accts))
	for i, a := range accts {
		if a.prov.Currency != req.Currency {
			return nil, nil, declinef(DeclineInvalidAmount, "currency %d, %s takes %d", req.Currency, a.prov.Code, a.prov.Currency)
		}
		dues[i] = AccountDues{Provider: a.prov, Account: a.ref.Account, Dues: a.rec.dues()}
	}
	allocs, err := Allocate(req.Amount, req.Mode, req.Lines, dues, req.Target.RegCode == "")
	return allocs, accts, err
}

// redate moves the netting entries of a payment (sign 1) or reversal (sign -1) from
// business date from to to, in the accounts it touched and in its payment record, and
// a reversal's index key (keys.go) with them. It runs under the accounts' locks, as its
// own idempotent command; a crash before it leaves the entries on the earlier date (the
// due then shows the payment again after a file registering through that date, until a
// later file counts it; the record and the index stay together on that date).
func (c *Core) redate(ctx context.Context, cmdKey []byte, receipt string, allocs []Allocation, sign int64, from, to uint32) error {
	for _, a := range allocs {
		c.forgetAccounts([]AccountRef{{a.Provider, a.Account}})
	}
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	var writes []ledger.Write
	done := map[AccountRef]bool{}
	for _, a := range allocs {
		ref := AccountRef{a.Provider, a.Account}
		if done[ref] {
			continue
		}
		done[ref] = true
		pr, err := getProviderRec(view, a.Provider)
		if err != nil {
			return err
		}
		acct, err := getAccount(view, pr, a.Provider, a.Account)
		if err != nil || acct == nil {
			return err
		}
		for _, b := range allocs {
			if b.Provider == a.Provider && b.Account == a.Account {
				acct.addPaid(b.Service, b.Period, from, -sign*b.Amount)
				acct.addPaid(b.Service, b.Period, to, sign*b.Amount)
			}
		}
		acct.compactPaid()
		writes = append(writes, ledger.Write{Key: accountKey(a.Provider, a.Account, acct.Gen), Value: acct.encode(nil)})
	}
	if v, ok, err := view.Get(paymentKey(receipt)); err == nil && ok {
		if rec, err := decodePayment(v); err == nil {
			if sign > 0 {
				rec.PaidDate = to
			} else {
				rec.ReversalDate = to
			}
			writes = append(writes, ledger.Write{Key: paymentKey(receipt), Value: rec.encode()})
		}
	}
	if sign < 0 {
		writes = append(writes, ledger.Write{Key: revIndexKey(from, receipt), Delete: true},
			ledger.Write{Key: revIndexKey(to, receipt), Value: []byte{}})
	}
	_, err = c.l.Submit(ctx, &ledger.Command{Key: append([]byte("bp/redate/"), cmdKey...), Writes: writes})
	return err
}

// replay returns the stored outcome of cmdKey, if any (done = true).
func (c *Core) replay(ctx context.Context, cmdKey []byte, hash [32]byte) (*Payment, bool, error) {
	out, ok, err := c.l.Lookup(ctx, cmdKey)
	if err != nil {
		return nil, true, err
	}
	if !ok {
		return nil, false, nil
	}
	out.Duplicate = true // a stored outcome, whatever Lookup says
	p, err := c.fromOutcome(out, hash)
	return p, true, err
}

// declinedByLedger answers an outcome the ledger declined itself (it keeps no result
// with a decline; its request hash tells a repeat from another request). ok = false
// for any other outcome.
func declinedByLedger(out ledger.Outcome, hash [32]byte) (ok bool, err error) {
	if out.Status != ledger.Declined || len(out.Result) != 0 {
		return false, nil
	}
	if out.RequestHash != hash {
		return true, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	return true, ledgerDecline(out.Reason)
}

func (c *Core) fromOutcome(out ledger.Outcome, hash [32]byte) (*Payment, error) {
	if ok, err := declinedByLedger(out, hash); ok {
		return nil, err
	}
	r, err := decodeResult(out.Result)
	if err != nil {
		return nil, err
	}
	if r.kind == resultVoid {
		return nil, declinef(DeclineAlreadyReversed, "the payment was reversed before it arrived")
	}
	stored := out.RequestHash
	if r.v1 {
		stored = r.hash
	}
	if stored != hash {
		return nil, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	if out.Status == ledger.Declined {
		return nil, ledgerDecline(out.Reason)
	}
	p := r.p
	if p == nil || r.kind == resultTopUp {
		receipt := r.receipt
		if p != nil {
			receipt = p.Receipt // format 1 carries the payment; a top-up still needs its record
		}
		if receipt == "" {
			return nil, errCorrupt
		}
		rec, err := c.paymentRecOf(receipt)
		if err != nil {
			return nil, err
		}
		if r.kind == resultTopUp && rec.Reversed {
			// A reversed top-up's money went back: handing its credential out again (a
			// 0201, an HTTP replay) would let the card be credited for nothing.
			return nil, declinef(DeclineAlreadyReversed, "top-up %s was reversed: its credential is void", receipt)
		}
		if p == nil {
			p = paymentOf(receipt, rec)
		}
	}
	p.BusinessDate, p.TransferID, p.Duplicate = out.BusinessDate, out.TransferID, out.Duplicate
	return p, nil
}

func ledgerDecline(reason error) error {
	switch {
	case errors.Is(reason, ledger.ErrAlreadyReversed):
		return declinef(DeclineAlreadyReversed, "already reversed")
	default:
		return declinef(DeclineNotAllowed, "ledger declined: %v", reason)
	}
}

// commitPayment builds the transfer, the payment record and the notices and submits
// them with writes as one command.
func (c *Core) commitPayment(ctx context.Context, view ledger.Reader, req *PaymentRequest, cmdKey []byte, hash [32]byte,
	kind byte, allocs []Allocation, date uint32, writes []ledger.Write, accts []targetAccount, credential string) (*Payment, error) {
	receipt, err := c.nextReceipt(view, date)
	if err != nil {
		return nil, err
	}
	cur := ledger.Currency(req.Currency)
	var debit ledger.AccountID
	if req.Method == MethodCash {
		debit = ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: req.Terminal}
	} else {
		debit = ledger.AccountID{Kind: ledger.KindAcquirerReceivable, Owner: req.Acquirer}
	}
	t := &ledger.Transfer{Code: ledger.CodePayment, Refs: ledger.Refs{PaymentID: receipt, RRN: req.RRN, STAN: req.STAN, Terminal: req.Terminal},
		Postings: make([]ledger.Posting, 0, 3)}
	t.Postings = append(t.Postings, ledger.Posting{Account: debit, Side: ledger.Debit, Amount: req.Amount, Currency: cur})
	// Per provider: its part less the commission to the provider's payable, the
	// commission to the hub.
	reg := c.Registry()
	var commission int64
	// Each provider's part, in the order the allocations first name it (a payment names
	// one provider or a few: a slice, not a map).
	type provPart struct {
		code   string
		amount int64
	}
	var partsBuf [2]provPart
	parts := partsBuf[:0]
next:
	for _, a := range allocs {
		for i := range parts {
			if parts[i].code == a.Provider {
				parts[i].amount += a.Amount
				continue next
			}
		}
		parts = append(parts, provPart{a.Provider, a.Amount})
	}
	for _, pp := range parts {
		prov, _ := reg.Provider(pp.code)
		fee := prov.Commission.Of(pp.amount)
		commission += fee
		if net := pp.amount - fee; net > 0 {
			t.Postings = append(t.Postings, ledger.Posting{Account: ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: pp.code}, Side: ledger.Credit, Amount: net, Currency: cur})
		}
	}
	if commission > 0 {
		t.Postings = append(t.Postings, ledger.Posting{Account: ledger.AccountID{Kind: ledger.KindCommissionIncome}, Side: ledger.Credit, Amount: commission, Currency: cur})
	}
	now := c.clock()
	pay := &Payment{Receipt: receipt, AuthCode: authCode(receipt), Amount: req.Amount, Commission: commission,
		Currency: req.Currency, Allocations: allocs, Credential: credential}
	rec := &paymentRec{Kind: kind, CmdKey: cmdKey, Target: req.Target, Amount: req.Amount, Commission: commission, Currency: req.Currency,
		Channel: req.Channel, Method: req.Method, Acquirer: req.Acquirer, Terminal: req.Terminal, RRN: req.RRN, STAN: req.STAN,
		Readings: req.Readings, Allocations: allocs, PaidDate: date, PostedAt: now.UnixNano(), Credential: credential}
	notices, err := c.prepareNotices(view, NoticePayment, receipt, allocs, now)
	if err != nil {
		return nil, err
	}
	defer c.releaseNotices(notices)
	// Everything is precomputed as Writes (a WriteFunc command would commit alone, out of
	// the sequencer's group commit), dated with the business date read before Submit.
	wrote := make([]targetAccount, 0, len(accts)) // account records of this command, for the cache once durable
	for _, a := range accts {
		touched := false
		for _, al := range allocs {
			if al.Provider == a.prov.Code && al.Account == a.ref.Account {
				a.rec.addPaid(al.Service, al.Period, date, al.Amount)
				touched = true
			}
		}
		if touched {
			writes = append(writes, ledger.Write{Key: accountKey(a.prov.Code, a.ref.Account, a.rec.Gen), Value: a.rec.encode(nil)})
			wrote = append(wrote, a)
		}
		// Whatever the outcome, no cached record of a target account outlives this
		// command unless it is put back below (acctcache.go).
		c.forgetAccounts([]AccountRef{a.ref})
	}
	rec.PaidDate = date
	writes = append(writes, ledger.Write{Key: paymentKey(receipt), Value: rec.encode()})
	writes = appendNotices(writes, notices, date)
	for _, w := range req.Extra {
		if len(w.Key) == 0 || w.Key[0] < ledger.SwitchPrefixMin || w.Key[0] > ledger.SwitchPrefixMax {
			return nil, fmt.Errorf("billpay: extra write outside the switch's key range")
		}
		writes = append(writes, w)
	}
	out, err := c.l.Submit(ctx, &ledger.Command{Key: cmdKey, RequestHash: hash, Transfer: t, Writes: writes,
		Result: encodeResult(kind, receipt)})
	if err == nil && !out.Duplicate && out.Status == ledger.Committed && uint32(out.BusinessDate) == date {
		// Durable and published: the records written are the accounts' current ones.
		// The cache takes them over (nothing below uses accts' records again).
		epoch := c.acctEpoch.Load()
		for _, w := range wrote {
			c.cacheAccount(w.ref, w.rec, epoch)
		}
	}
	if err == nil && !out.Duplicate && out.Status == ledger.Committed && uint32(out.BusinessDate) != date && kind == resultPayment {
		// The payment raced a cutover: it was posted on the next day. Move its netting
		// entries to that day (we still hold the accounts' locks).
		if ferr := c.redate(ctx, cmdKey, receipt, allocs, 1, date, uint32(out.BusinessDate)); ferr != nil {
			c.log.Error().Err(ferr).Str("receipt", receipt).Msg("netting date of a payment posted across a cutover not moved")
		}
	}
	if errors.Is(err, ledger.ErrConflict) {
		// Another request holds the key: a different body, or a void marker.
		if p, done, err2 := c.replay(ctx, cmdKey, hash); done && err2 != nil {
			return p, err2
		}
		return nil, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	if err != nil {
		return nil, err
	}
	if out.Duplicate || out.Status == ledger.Declined {
		return c.fromOutcome(out, hash)
	}
	pay.BusinessDate, pay.TransferID = out.BusinessDate, out.TransferID
	return pay, nil
}
