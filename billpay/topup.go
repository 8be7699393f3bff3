package billpay

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"

	"github.com/billswitch/billswitch/ledger"
)

// TopUpRequest asks for a prepaid top-up (host-iso8583.md §5, processing code 51xx00).
// The payment fields (Key, Amount, Currency, Channel, Method, Acquirer, Terminal, RRN,
// STAN) are those of a payment; Target names one account.
type TopUpRequest struct {
	PaymentRequest
	CardID       string // tag 07: the card in the reader ("" for a token meter)
	CardSequence uint32 // tag 07: the sequence read from the card
	Token        bool   // issue a 20-digit token instead of a card write record
}

// Credentials are bound to: the provider, the account, the card (or meter) id, the next
// card sequence, and the amount. The write record is
//
//	W1:<card id>:<sequence>:<amount minor units>:<HMAC-SHA256 hex, first 16 bytes>
//
// with the MAC over "W1|provider|account|card|sequence|amount" under the provider's
// top-up key; the token is the same MAC over "T1|…" read as a big-endian integer modulo
// 10^20, written as 20 digits. The meter accepts a credential for sequence N once and
// then expects N+1, so a credential can never credit twice.
func credential(key []byte, token bool, provider, account, card string, seq uint32, amount int64) string {
	kind := "W1"
	if token {
		kind = "T1"
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s|%s|%s|%s|%d|%d", kind, provider, account, card, seq, amount)
	sum := m.Sum(nil)
	if token {
		n := new(big.Int).SetBytes(sum)
		n.Mod(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
		return fmt.Sprintf("%020s", n.String())
	}
	return fmt.Sprintf("W1:%s:%d:%d:%s", card, seq, amount, hex.EncodeToString(sum[:16]))
}

// VerifyCredential checks a credential as the provider's meter would (tests, provider
// tools).
func VerifyCredential(key []byte, token bool, provider, account, card string, seq uint32, amount int64, cred string) bool {
	return hmac.Equal([]byte(credential(key, token, provider, account, card, seq, amount)), []byte(cred))
}

// TopUp sells prepaid credit: a payment on the account's prepaid service (an advance,
// period 0) whose answer carries the credential for the card's next sequence. The same
// request (same key) returns the same credential, never a second credit.
func (c *Core) TopUp(ctx context.Context, req TopUpRequest) (*Payment, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	if req.Target.RegCode != "" {
		return nil, declinef(DeclineNotAllowed, "a top-up names one account, not a registration code")
	}
	hash := req.hash(resultTopUp, req.CardID+"|"+strconv.FormatBool(req.Token), req.CardSequence)
	cmdKey := append([]byte(cmdPay), req.Key...) // one key space with payments (02xx)
	if p, done, err := c.replay(ctx, cmdKey, hash); done {
		return p, err
	}
	refs := []AccountRef{{req.Target.Provider, req.Target.Account}}
	if _, ok := c.Registry().Provider(req.Target.Provider); !ok {
		return nil, declinef(DeclineUnknownProvider, "provider %q is not registered", req.Target.Provider)
	}
	unlock := c.lockAccounts(refs)
	defer unlock()
	if p, done, err := c.replay(ctx, cmdKey, hash); done {
		return p, err
	}
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	accts, err := c.resolve(view, req.Target, refs, true)
	if err != nil {
		return nil, err
	}
	a := accts[0]
	if a.prov.Currency != req.Currency {
		return nil, declinef(DeclineInvalidAmount, "currency %d, %s takes %d", req.Currency, a.prov.Code, a.prov.Currency)
	}
	svc, ok := a.prov.PrepaidService()
	if !ok || !a.rec.Prepaid || a.prov.TopUpKey == nil {
		return nil, declinef(DeclineNotAllowed, "account %s of %s is not a prepaid account", a.ref.Account, a.prov.Code)
	}
	card := a.rec.CardID
	if card == "" {
		return nil, declinef(DeclineNotAllowed, "account %s of %s has no registered card or meter", a.ref.Account, a.prov.Code)
	}
	if req.CardID != "" && req.CardID != card {
		return nil, declinef(DeclineNotAllowed, "card %s is not the account's card", req.CardID)
	}
	seq := req.CardSequence
	if req.CardID == "" {
		// A token meter: nothing is read from it; the host keeps its sequence and each
		// token is bound to the next one.
		seq = max(a.rec.CardSeq, a.rec.IssuedSeq)
	}
	if seq < a.rec.CardSeq {
		return nil, declinef(DeclineNotAllowed, "card sequence %d is behind the known %d", seq, a.rec.CardSeq)
	}
	if a.rec.IssuedSeq > seq {
		return nil, declinef(DeclineNotAllowed, "a credential for sequence %d is not yet on the card; repeat that request to get it again", a.rec.IssuedSeq)
	}
	next := seq + 1
	cred := credential(a.prov.TopUpKey, req.Token, a.prov.Code, a.ref.Account, card, next, req.Amount)
	a.rec.CardSeq, a.rec.IssuedSeq = seq, next
	c.forgetAccounts(refs) // its record changes here (acctcache.go)
	writes := []ledger.Write{{Key: accountKey(a.prov.Code, a.ref.Account, a.rec.Gen), Value: a.rec.encode(nil)}}
	allocs := []Allocation{{a.prov.Code, a.ref.Account, svc.Code, 0, req.Amount}}
	return c.commitPayment(ctx, view, &req.PaymentRequest, cmdKey, hash, resultTopUp, allocs, uint32(c.l.BusinessDate()), writes, nil, cred)
}
