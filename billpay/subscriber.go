package billpay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/billswitch/billswitch/ledger"
)

// SubscriberRequest registers a subscriber.
type SubscriberRequest struct {
	Name, Phone, Email string       // contact details for notices
	Accounts           []AccountRef // may be empty; link more later
	// Key, when set, makes the registration idempotent: a repeat of the same request
	// with the same key returns the code issued the first time (Duplicate), another
	// request under the key is declined DeclineConflict.
	Key []byte
}

func (r *SubscriberRequest) hash(accts []AccountRef) [32]byte {
	e := enc{b: []byte{1}}
	e.s(r.Name)
	e.s(r.Phone)
	e.s(r.Email)
	e.u(uint64(len(accts)))
	for _, a := range accts {
		e.s(a.Provider)
		e.s(a.Account)
	}
	return sha256.Sum256(e.b)
}

// registeredUnder returns the code issued under key, if any, and checks hash.
func (c *Core) registeredUnder(view ledger.Reader, key []byte, hash [32]byte) (string, bool, error) {
	v, ok, err := view.Get(regKeyKey(key))
	if err != nil || !ok {
		return "", false, err
	}
	if len(v) < 34 || v[0] != recFormat {
		return "", false, errCorrupt
	}
	if [32]byte(v[1:33]) != hash {
		return "", false, declinef(DeclineConflict, "idempotency key reused with a different request")
	}
	return string(v[33:]), true, nil
}

// editKey returns a fresh ledger key for a subscriber change (each is its own command).
func editKey(kind, code string) []byte {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return []byte(kind + code + "/" + hex.EncodeToString(b[:]))
}

func (c *Core) checkAccountExists(view ledger.Reader, ref AccountRef) error {
	if _, ok := c.Registry().Provider(ref.Provider); !ok {
		return declinef(DeclineUnknownProvider, "provider %q is not registered", ref.Provider)
	}
	pr, err := getProviderRec(view, ref.Provider)
	if err != nil {
		return err
	}
	rec, err := getAccount(view, pr, ref.Provider, ref.Account)
	if err != nil {
		return err
	}
	if rec == nil {
		return declinef(DeclineUnknownAccount, "account %s of %s is unknown", ref.Account, ref.Provider)
	}
	return nil
}

// Register issues a new registration code for a subscriber and links its accounts.
func (c *Core) Register(ctx context.Context, req SubscriberRequest) (*Subscriber, error) {
	var accts []AccountRef
	for _, a := range req.Accounts {
		if !slices.Contains(accts, a) {
			accts = append(accts, a)
		}
	}
	hash := req.hash(accts)
	if len(req.Key) > 0 {
		// One registration per key at a time in this process (the only writer of the
		// store): the second of two concurrent repeats finds the first's record.
		unlock := c.lockSubscriber("key\x00" + string(req.Key))
		defer unlock()
	}
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	if len(req.Key) > 0 {
		code, found, err := c.registeredUnder(view, req.Key, hash)
		if err != nil || found {
			view.Close()
			if err != nil {
				return nil, err
			}
			sub, err := c.Subscriber(ctx, code)
			if err != nil {
				return nil, err
			}
			sub.Duplicate = true
			return sub, nil
		}
	}
	for _, a := range accts {
		if err := c.checkAccountExists(view, a); err != nil {
			view.Close()
			return nil, err
		}
	}
	view.Close()
	for range 8 {
		code, err := newRegCode()
		if err != nil {
			return nil, err
		}
		sub := &Subscriber{Code: code, Name: req.Name, Phone: req.Phone, Email: req.Email, Accounts: accts}
		writes := []ledger.Write{{Key: subscriberKey(code), Value: sub.encode()}}
		for _, a := range accts {
			writes = append(writes, ledger.Write{Key: accountCodeKey(a.Provider, a.Account, code), Value: []byte{}})
		}
		if len(req.Key) > 0 {
			v := append(append([]byte{recFormat}, hash[:]...), code...)
			writes = append(writes, ledger.Write{Key: regKeyKey(req.Key), Value: v})
		}
		// The code is the command key: a code drawn twice meets the ledger's idempotency
		// record and is drawn again, so no two subscribers ever share one.
		out, err := c.l.Submit(ctx, &ledger.Command{Key: []byte(cmdRegister + code), Writes: writes})
		if err != nil {
			return nil, err
		}
		if out.Duplicate {
			continue
		}
		c.log.Info().Str("regcode", code).Int("accounts", len(accts)).Msg("subscriber registered")
		return sub, nil
	}
	return nil, fmt.Errorf("billpay: could not draw an unused registration code")
}

// Subscriber returns the subscriber holding code.
func (c *Core) Subscriber(ctx context.Context, code string) (*Subscriber, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	return readSubscriber(view, code)
}

// CodesOf returns the registration codes that link an account.
func (c *Core) CodesOf(ctx context.Context, ref AccountRef) ([]string, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	var out []string
	pfx := accountCodePrefix(ref.Provider, ref.Account)
	err = view.Scan(pfx, prefixEnd(pfx), func(k, _ []byte) bool {
		out = append(out, string(k[len(pfx):]))
		return true
	})
	return out, err
}

// editSubscriber applies fn to the subscriber under its lock and commits the change.
func (c *Core) editSubscriber(ctx context.Context, code string, fn func(view ledger.Reader, s *Subscriber) ([]ledger.Write, error)) (*Subscriber, error) {
	unlock := c.lockSubscriber(code)
	defer unlock()
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	sub, err := readSubscriber(view, code)
	if err != nil {
		view.Close()
		return nil, err
	}
	extra, err := fn(view, sub)
	view.Close()
	if err != nil || extra == nil {
		return sub, err
	}
	writes := append([]ledger.Write{{Key: subscriberKey(code), Value: sub.encode()}}, extra...)
	if _, err := c.l.Submit(ctx, &ledger.Command{Key: editKey(cmdSubEdit, code), Writes: writes}); err != nil {
		return nil, err
	}
	return sub, nil
}

// Link links an account to a registration code (a no-op when it already is).
func (c *Core) Link(ctx context.Context, code string, ref AccountRef) (*Subscriber, error) {
	return c.editSubscriber(ctx, code, func(view ledger.Reader, s *Subscriber) ([]ledger.Write, error) {
		if err := c.checkAccountExists(view, ref); err != nil {
			return nil, err
		}
		if slices.Contains(s.Accounts, ref) {
			return nil, nil
		}
		s.Accounts = append(s.Accounts, ref)
		return []ledger.Write{{Key: accountCodeKey(ref.Provider, ref.Account, code), Value: []byte{}}}, nil
	})
}

// Unlink removes an account from a registration code.
func (c *Core) Unlink(ctx context.Context, code string, ref AccountRef) (*Subscriber, error) {
	return c.editSubscriber(ctx, code, func(view ledger.Reader, s *Subscriber) ([]ledger.Write, error) {
		i := slices.Index(s.Accounts, ref)
		if i < 0 {
			return nil, declinef(DeclineUnknownAccount, "account %s of %s is not linked to %s", ref.Account, ref.Provider, code)
		}
		s.Accounts = slices.Delete(s.Accounts, i, i+1)
		return []ledger.Write{{Key: accountCodeKey(ref.Provider, ref.Account, code), Delete: true}}, nil
	})
}

// UpdateContact replaces the subscriber's contact details.
func (c *Core) UpdateContact(ctx context.Context, code, name, phone, email string) (*Subscriber, error) {
	return c.editSubscriber(ctx, code, func(_ ledger.Reader, s *Subscriber) ([]ledger.Write, error) {
		s.Name, s.Phone, s.Email = name, phone, email
		return []ledger.Write{}, nil
	})
}
