package ledger

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// recoverState rebuilds the sequencer's state from the store and checks it.
//
// Balances are stored (one record per account and currency, rewritten by each group
// that touches it) and also recomputed from every transfer at start; the two must
// agree. Recomputing costs one sequential scan of the transfers (about 1 s per
// million on this machine) and buys a check that no transfer was lost or doubled
// relative to the balances; a store with far more transfers would want balance
// checkpoints per business day instead (docs/decisions-ledger.md).
func recoverState(db *pebble.DB, initial Date) (*recovered, error) {
	st := &recovered{accounts: make(map[string]*account)}
	v, ok, err := getCopy(db, metaFormatKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: read format: %w", err)
	}
	if !ok {
		lo, _ := prefixBounds(LedgerPrefixMin)
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{LedgerPrefixMax + 1}})
		if err != nil {
			return nil, err
		}
		nonEmpty := it.First()
		if err := it.Close(); err != nil {
			return nil, err
		}
		if nonEmpty {
			return nil, fmt.Errorf("%w: ledger records without a format record", ErrCorruptStore)
		}
		b := db.NewBatch()
		var f [4]byte
		binary.BigEndian.PutUint32(f[:], storeFormat)
		_ = b.Set(metaFormatKey, f[:], nil)
		var d [4]byte
		binary.BigEndian.PutUint32(d[:], uint32(initial))
		_ = b.Set(metaDateKey, d[:], nil)
		if err := db.Apply(b, pebble.Sync); err != nil {
			return nil, fmt.Errorf("ledger: initialise store: %w", err)
		}
		st.date = initial
		return st, nil
	}
	if len(v) != 4 || binary.BigEndian.Uint32(v) != storeFormat {
		return nil, fmt.Errorf("%w: unknown store format %x", ErrCorruptStore, v)
	}
	if v, ok, err = getCopy(db, metaDateKey); err != nil || !ok || len(v) != 4 {
		return nil, fmt.Errorf("%w: no business date (err %v)", ErrCorruptStore, err)
	}
	st.date = Date(binary.BigEndian.Uint32(v))

	// Journal head.
	lo, hi := prefixBounds(prefixJournal)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	if it.Last() {
		st.seq = binary.BigEndian.Uint64(it.Key()[1:])
		jr, err := decodeJournal(it.Value())
		if err != nil || len(it.Key()) != 9 {
			_ = it.Close()
			return nil, fmt.Errorf("%w: journal record %d: %v", ErrCorruptStore, st.seq, err)
		}
		st.head = jr.hash
	}
	if err := it.Close(); err != nil {
		return nil, err
	}

	sums, n, lastID, err := sumTransfers(db)
	if err != nil {
		return nil, err
	}
	st.transfers, st.lastID = n, lastID
	stored, err := loadBalances(db)
	if err != nil {
		return nil, err
	}
	if err := compareBalances(stored, sums); err != nil {
		return nil, err
	}
	if err := checkCurrencies(sums); err != nil {
		return nil, err
	}
	for k, b := range sums {
		st.accounts[k] = &account{key: k, kind: AccountKind(k[1]), bal: b}
	}
	return st, nil
}

// sumTransfers recomputes every balance from the transfers.
func sumTransfers(r pebble.Reader) (map[string]Balance, uint64, TransferID, error) {
	acc := make(map[string]*Balance)
	lo, hi := prefixBounds(prefixTransfer)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, 0, 0, err
	}
	var n uint64
	var last TransferID
	var kb []byte
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 {
			_ = it.Close()
			return nil, 0, 0, fmt.Errorf("%w: transfer key %x", ErrCorruptStore, k)
		}
		id := TransferID(binary.BigEndian.Uint64(k[1:]))
		_, _, err := scanTransferPostings(it.Value(), func(p postingView) {
			kb = append(kb[:0], prefixBalance, byte(p.kind))
			kb = binary.BigEndian.AppendUint16(kb, uint16(p.cur))
			kb = append(kb, p.owner...)
			b := acc[string(kb)] // no allocation on lookup
			if b == nil {
				b = new(Balance)
				acc[string(kb)] = b
			}
			if p.side == Debit {
				b.Debits += p.amount
			} else {
				b.Credits += p.amount
			}
		})
		if err != nil {
			_ = it.Close()
			return nil, 0, 0, fmt.Errorf("%w: transfer %d: %v", ErrCorruptStore, id, err)
		}
		n++
		last = id
	}
	sums := make(map[string]Balance, len(acc))
	for k, b := range acc {
		sums[k] = *b
	}
	return sums, n, last, it.Close()
}

func loadBalances(r pebble.Reader) (map[string]Balance, error) {
	out := make(map[string]Balance)
	lo, hi := prefixBounds(prefixBalance)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		b, err := decodeBalance(it.Value())
		if err != nil || len(it.Key()) < 4 {
			_ = it.Close()
			return nil, fmt.Errorf("%w: balance record %x", ErrCorruptStore, it.Key())
		}
		out[string(it.Key())] = b
	}
	return out, it.Close()
}

func describeBalanceKey(k string) string {
	acct, cur, _ := parseBalanceKey([]byte(k))
	return fmt.Sprintf("account %d/%q currency %d", acct.Kind, acct.Owner, cur)
}

// compareBalances checks stored balances against the sums of transfers.
func compareBalances(stored, sums map[string]Balance) error {
	for k, b := range stored {
		if s := sums[k]; s != b {
			return fmt.Errorf("%w: %s: stored balance (debits %d, credits %d) differs from its transfers (debits %d, credits %d)",
				ErrCorruptStore, describeBalanceKey(k), b.Debits, b.Credits, s.Debits, s.Credits)
		}
	}
	for k, s := range sums {
		if _, ok := stored[k]; !ok {
			return fmt.Errorf("%w: %s: transfers (debits %d, credits %d) but no stored balance",
				ErrCorruptStore, describeBalanceKey(k), s.Debits, s.Credits)
		}
	}
	return nil
}

// CurrencyTotal is Σ debits and Σ credits of one currency over every account.
type CurrencyTotal struct {
	Currency        Currency
	Debits, Credits int64
}

func currencyTotals(sums map[string]Balance) map[Currency]*CurrencyTotal {
	out := make(map[Currency]*CurrencyTotal)
	for k, b := range sums {
		_, cur, _ := parseBalanceKey([]byte(k))
		t := out[cur]
		if t == nil {
			t = &CurrencyTotal{Currency: cur}
			out[cur] = t
		}
		t.Debits += b.Debits
		t.Credits += b.Credits
	}
	return out
}

func checkCurrencies(sums map[string]Balance) error {
	for _, t := range currencyTotals(sums) {
		if t.Debits != t.Credits {
			return fmt.Errorf("%w: currency %d: Σ debits %d ≠ Σ credits %d", ErrCorruptStore, t.Currency, t.Debits, t.Credits)
		}
	}
	return nil
}
