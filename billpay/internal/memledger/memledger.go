// Package memledger is an in-memory ledger.Ledger for billpay's unit tests: the same
// contract (idempotency, balances, reversal once, writes atomic with the transfer, reads
// of committed state only) without a disk. It is not durable and never used in
// production.
package memledger

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/billswitch/billswitch/ledger"
)

type idem struct {
	hash    [32]byte
	outcome ledger.Outcome
}

// Ledger implements ledger.Ledger in memory.
type Ledger struct {
	mu       sync.Mutex
	date     ledger.Date
	nextID   ledger.TransferID
	data     map[string][]byte
	idem     map[string]idem
	balances map[ledger.AccountID]map[ledger.Currency]ledger.Balance
	trans    map[ledger.TransferID]*ledger.Transfer
	reversed map[ledger.TransferID]bool
	// FailNext, when set, makes the next Submit fail with it (nothing applied).
	FailNext error
	// Submits counts Submit calls.
	Submits int
	// BeforeSubmit, when set, runs at the start of every Submit (holding no lock): tests
	// use it to move the business date between a caller's read and its commit.
	BeforeSubmit func()
}

// New returns an empty ledger on business date d.
func New(d ledger.Date) *Ledger {
	return &Ledger{date: d, data: map[string][]byte{}, idem: map[string]idem{},
		balances: map[ledger.AccountID]map[ledger.Currency]ledger.Balance{},
		trans:    map[ledger.TransferID]*ledger.Transfer{}, reversed: map[ledger.TransferID]bool{}}
}

var _ ledger.Ledger = (*Ledger)(nil)

type staging struct {
	date ledger.Date
	base map[string][]byte
	sets map[string][]byte
	dels map[string]bool
}

func (s *staging) Set(k, v []byte) error {
	if len(k) == 0 || k[0] < ledger.ForeignMin || k[0] > ledger.ForeignMax {
		return errors.New("memledger: foreign key outside the allowed prefixes")
	}
	s.sets[string(k)] = slices.Clone(v)
	delete(s.dels, string(k))
	return nil
}

// BusinessDate makes staging a ledger.DatedWriter.
func (s *staging) BusinessDate() ledger.Date { return s.date }

func (s *staging) Delete(k []byte) error {
	delete(s.sets, string(k))
	s.dels[string(k)] = true
	return nil
}

// Submit applies cmd atomically.
func (l *Ledger) Submit(ctx context.Context, cmd *ledger.Command) (ledger.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return ledger.Outcome{}, err
	}
	if f := l.BeforeSubmit; f != nil {
		f()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Submits++
	if err := l.FailNext; err != nil {
		l.FailNext = nil
		return ledger.Outcome{}, err
	}
	if len(cmd.Key) == 0 {
		return ledger.Outcome{}, errors.New("memledger: empty key")
	}
	if prev, ok := l.idem[string(cmd.Key)]; ok {
		if prev.hash != cmd.RequestHash {
			return ledger.Outcome{}, ledger.ErrConflict
		}
		o := prev.outcome
		o.Duplicate = true
		return o, nil
	}
	out := ledger.Outcome{Status: ledger.Committed, BusinessDate: l.date, Result: slices.Clone(cmd.Result), RequestHash: cmd.RequestHash}
	var t *ledger.Transfer
	switch {
	case cmd.Reverse != 0:
		orig, ok := l.trans[cmd.Reverse]
		if !ok {
			return ledger.Outcome{}, ledger.ErrNotFound
		}
		if l.reversed[cmd.Reverse] {
			out = ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrAlreadyReversed, BusinessDate: l.date, RequestHash: cmd.RequestHash} // no Result, as the real ledger
			l.idem[string(cmd.Key)] = idem{cmd.RequestHash, out}
			return out, nil
		}
		t = &ledger.Transfer{Code: ledger.CodeReversal, Reverses: orig.ID, Refs: orig.Refs}
		for _, p := range orig.Postings {
			p.Side = 3 - p.Side
			t.Postings = append(t.Postings, p)
		}
	case cmd.Transfer != nil:
		c := *cmd.Transfer
		t = &c
	}
	if t != nil {
		sums := map[ledger.Currency]int64{}
		for _, p := range t.Postings {
			if p.Amount <= 0 {
				return ledger.Outcome{}, ledger.ErrUnbalanced
			}
			if p.Side == ledger.Debit {
				sums[p.Currency] += p.Amount
			} else {
				sums[p.Currency] -= p.Amount
			}
		}
		for _, s := range sums {
			if s != 0 {
				return ledger.Outcome{}, ledger.ErrUnbalanced
			}
		}
		// Provider payables may not go negative, but for a reversal (as the real ledger).
		for _, p := range t.Postings {
			if cmd.Reverse == 0 && p.Account.Kind == ledger.KindProviderPayable && p.Side == ledger.Debit {
				b := l.balances[p.Account][p.Currency]
				if b.Credits-b.Debits-p.Amount < 0 {
					out = ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrInsufficientFunds, BusinessDate: l.date, RequestHash: cmd.RequestHash}
					l.idem[string(cmd.Key)] = idem{cmd.RequestHash, out}
					return out, nil
				}
			}
		}
	}
	st := &staging{date: l.date, sets: map[string][]byte{}, dels: map[string]bool{}}
	for _, w := range cmd.Writes {
		var err error
		if w.Delete {
			err = st.Delete(w.Key)
		} else {
			err = st.Set(w.Key, w.Value)
		}
		if err != nil {
			return ledger.Outcome{}, err
		}
	}
	if cmd.WriteFunc != nil {
		if err := cmd.WriteFunc(st); err != nil {
			return ledger.Outcome{}, err
		}
	}
	// Commit.
	for k := range st.dels {
		delete(l.data, k)
	}
	for k, v := range st.sets {
		l.data[k] = v
	}
	if t != nil {
		l.nextID++
		t.ID = l.nextID
		t.BusinessDate = l.date
		l.trans[t.ID] = t
		if t.Reverses != 0 {
			l.reversed[t.Reverses] = true
		}
		for _, p := range t.Postings {
			m := l.balances[p.Account]
			if m == nil {
				m = map[ledger.Currency]ledger.Balance{}
				l.balances[p.Account] = m
			}
			b := m[p.Currency]
			if p.Side == ledger.Debit {
				b.Debits += p.Amount
			} else {
				b.Credits += p.Amount
			}
			m[p.Currency] = b
		}
		out.TransferID = t.ID
	}
	l.idem[string(cmd.Key)] = idem{cmd.RequestHash, out}
	return out, nil
}

// Lookup returns the stored outcome of key.
func (l *Ledger) Lookup(ctx context.Context, key []byte) (ledger.Outcome, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, ok := l.idem[string(key)]
	if !ok {
		return ledger.Outcome{}, false, nil
	}
	o := prev.outcome
	o.Duplicate = true
	return o, true, nil
}

// Balance returns the balance of acct in cur.
func (l *Ledger) Balance(acct ledger.AccountID, cur ledger.Currency) ledger.Balance {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.balances[acct][cur]
}

// BusinessDate returns the current business date.
func (l *Ledger) BusinessDate() ledger.Date {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.date
}

// Cutover moves to the next business date.
func (l *Ledger) Cutover(ctx context.Context, next ledger.Date) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if next <= l.date {
		return errors.New("memledger: cutover must move forward")
	}
	l.date = next
	return nil
}

// Snapshot returns a copy of every billpay/switch record (for tests comparing states).
func (l *Ledger) Snapshot() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]string, len(l.data))
	for k, v := range l.data {
		m[k] = string(v)
	}
	return m
}

// View returns a snapshot reader.
func (l *Ledger) View() (ledger.Reader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0, len(l.data))
	snap := make(map[string][]byte, len(l.data))
	for k, v := range l.data {
		keys = append(keys, k)
		snap[k] = v
	}
	sort.Strings(keys)
	return &reader{keys: keys, data: snap}, nil
}

type reader struct {
	keys []string
	data map[string][]byte
}

func (r *reader) Get(k []byte) ([]byte, bool, error) {
	v, ok := r.data[string(k)]
	return v, ok, nil
}

func (r *reader) Scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	i := sort.SearchStrings(r.keys, string(lower))
	for ; i < len(r.keys); i++ {
		k := r.keys[i]
		if upper != nil && k >= string(upper) {
			break
		}
		if !fn([]byte(k), r.data[k]) {
			break
		}
	}
	return nil
}

func (r *reader) Close() error { return nil }
