package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrVerify is returned (wrapped) by Verify when the store fails a check.
var ErrVerify = errors.New("ledger: verification failed")

// Report is what Verify found. String prints it for `billswitch ledger verify`.
type Report struct {
	Groups       uint64   // journal records
	Head         [32]byte // hash of the last journal record
	Outcomes     uint64   // idempotency records
	Committed    uint64
	Declined     uint64
	Transfers    uint64
	Reversals    uint64
	Accounts     int // (account, currency) balances
	BusinessDate Date
	Currencies   []CurrencyTotal
	// FirstBroken is the seq of the first journal record whose link or hash does not
	// verify (0: the chain verifies).
	FirstBroken uint64
	Problems    []string // the first problems found, in order
	more        int
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 20

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.more++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal: %d groups, head %s\n", r.Groups, hex.EncodeToString(r.Head[:]))
	if r.FirstBroken != 0 {
		fmt.Fprintf(&b, "journal: FIRST BROKEN LINK at group %d\n", r.FirstBroken)
	} else {
		fmt.Fprintf(&b, "journal: chain verifies\n")
	}
	fmt.Fprintf(&b, "outcomes: %d (%d committed, %d declined)\n", r.Outcomes, r.Committed, r.Declined)
	fmt.Fprintf(&b, "transfers: %d (%d reversals)\naccounts: %d\nbusiness date: %d\n",
		r.Transfers, r.Reversals, r.Accounts, r.BusinessDate)
	for _, c := range r.Currencies {
		mark := "ok"
		if c.Debits != c.Credits {
			mark = "UNBALANCED"
		}
		fmt.Fprintf(&b, "currency %03d: Σ debits %d, Σ credits %d: %s\n", c.Currency, c.Debits, c.Credits, mark)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "PROBLEM: %s\n", p)
	}
	if r.more > 0 {
		fmt.Fprintf(&b, "PROBLEM: … and %d more\n", r.more)
	}
	if r.OK() {
		b.WriteString("OK\n")
	}
	return b.String()
}

// Verify opens the store in dir read-only and checks it: the journal's hash chain
// (reporting the first broken link), that every outcome and transfer belongs to
// exactly one journal record, that every stored balance equals the sum of its
// transfers, and that Σ debits = Σ credits per currency. The error wraps ErrVerify
// when a check fails; the report says which. The store must not be open elsewhere.
func Verify(dir string) (Report, error) { return VerifyFS(vfs.Default, dir) }

// VerifyFS is Verify on a given file system.
func VerifyFS(fs vfs.FS, dir string) (Report, error) {
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, ReadOnly: true, ErrorIfNotExists: true,
		FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}})
	if err != nil {
		return Report{}, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	defer db.Close()
	return verifyReader(db)
}

// Verify checks the last published state of the open store (see the package Verify).
func (s *Store) Verify() (Report, error) {
	r, err := s.acquire()
	if err != nil {
		return Report{}, err
	}
	defer r.release()
	return verifyReader(r.snap)
}

func verifyReader(db pebble.Reader) (Report, error) {
	var rep Report
	if v, ok, err := getCopy(db, metaDateKey); err != nil {
		return rep, err
	} else if ok && len(v) == 4 {
		rep.BusinessDate = Date(binary.BigEndian.Uint32(v))
	} else {
		rep.problem("no business date record")
	}

	// 1. The journal chain, and which keys and transfers each group committed.
	seen := make(map[TransferID]uint64) // transfer → journal seq that committed it
	var prev [32]byte
	var expect uint64 = 1
	lo, hi := prefixBounds(prefixJournal)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return rep, err
	}
	h := sha256.New()
	var buf, kb []byte
	// Point reads through two reused iterators rather than Get: no iterator stack per
	// read, and transfer ids come in ascending order, so that seek only moves forward.
	idemIt, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixIdem}, UpperBound: []byte{prefixIdem + 1}})
	if err != nil {
		_ = it.Close()
		return rep, err
	}
	defer idemIt.Close()
	xferIt, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixTransfer}, UpperBound: []byte{prefixTransfer + 1}})
	if err != nil {
		_ = it.Close()
		return rep, err
	}
	defer xferIt.Close()
	seek := func(it *pebble.Iterator, key []byte) ([]byte, bool, error) {
		if it.SeekGE(key) && bytes.Equal(it.Key(), key) {
			v, err := it.ValueAndErr()
			return v, err == nil, err
		}
		return nil, false, it.Error()
	}
	broken := func(seq uint64, format string, args ...any) {
		if rep.FirstBroken == 0 {
			rep.FirstBroken = seq
		}
		rep.problem("journal group %d: "+format, append([]any{seq}, args...)...)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 9 {
			broken(expect, "bad key %x", k)
			continue
		}
		seq := binary.BigEndian.Uint64(k[1:])
		if seq != expect {
			broken(expect, "missing (next record is %d)", seq)
			expect = seq
		}
		expect++
		rep.Groups++
		jr, err := decodeJournal(it.Value())
		if err != nil {
			broken(seq, "undecodable record")
			continue
		}
		if jr.prev != prev {
			broken(seq, "previous hash %x does not match the chain %x", jr.prev[:8], prev[:8])
		}
		h.Reset()
		h.Write(jr.prev[:])
		var hdr [16]byte
		binary.BigEndian.PutUint64(hdr[:], seq)
		binary.BigEndian.PutUint64(hdr[8:], uint64(jr.committedAt))
		h.Write(hdr[:])
		for i := range jr.entries {
			e := &jr.entries[i]
			if e.typ == entryCutover {
				buf = appendJournalEntry(buf[:0], e)
				h.Write(buf)
				continue
			}
			buf = append(buf[:0], entryCommand)
			buf = binary.BigEndian.AppendUint16(buf, uint16(len(e.key)))
			buf = append(buf, e.key...)
			kb = idemKey(kb[:0], e.key)
			iv, ok, err := seek(idemIt, kb)
			if err != nil {
				return rep, err
			}
			if !ok {
				broken(seq, "outcome of key %q missing", e.key)
				continue
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(iv)))
			buf = append(buf, iv...)
			rec, err := decodeIdem(buf[len(buf)-len(iv):])
			if err != nil {
				broken(seq, "outcome of key %q undecodable", e.key)
				continue
			}
			if rec.seq != seq {
				broken(seq, "outcome of key %q claims group %d", e.key, rec.seq)
			}
			if rec.status == Committed && rec.transfer != 0 {
				kb = transferKey(kb[:0], rec.transfer)
				tv, ok, err := seek(xferIt, kb)
				if err != nil {
					return rep, err
				}
				if !ok {
					broken(seq, "transfer %d of key %q missing", rec.transfer, e.key)
				}
				if s, dup := seen[rec.transfer]; dup {
					rep.problem("transfer %d committed twice (groups %d and %d)", rec.transfer, s, seq)
				}
				seen[rec.transfer] = seq
				buf = binary.BigEndian.AppendUint32(buf, uint32(len(tv)))
				buf = append(buf, tv...)
			} else {
				buf = binary.BigEndian.AppendUint32(buf, 0)
			}
			buf = append(buf, e.writesDigest[:]...)
			h.Write(buf)
		}
		var sum [32]byte
		h.Sum(sum[:0])
		if sum != jr.hash {
			broken(seq, "contents hash %x, record says %x", sum[:8], jr.hash[:8])
		}
		prev = jr.hash
	}
	if err := it.Close(); err != nil {
		return rep, err
	}
	rep.Head = prev

	// 2. Every outcome belongs to a journal group.
	lo, hi = prefixBounds(prefixIdem)
	it, err = db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return rep, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		rep.Outcomes++
		rec, err := decodeIdem(it.Value())
		if err != nil {
			rep.problem("outcome %q undecodable", it.Key()[1:])
			continue
		}
		if rec.status == Committed {
			rep.Committed++
		} else {
			rep.Declined++
		}
		if rec.seq == 0 || rec.seq >= expect {
			rep.problem("outcome %q claims group %d beyond the journal", it.Key()[1:], rec.seq)
		}
		if rec.transfer != 0 && seen[rec.transfer] != rec.seq {
			rep.problem("outcome %q: transfer %d not committed by its group", it.Key()[1:], rec.transfer)
		}
	}
	if err := it.Close(); err != nil {
		return rep, err
	}

	// 3. Every transfer is journalled once; reversals are indexed.
	lo, hi = prefixBounds(prefixTransfer)
	it, err = db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return rep, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		rep.Transfers++
		id := TransferID(binary.BigEndian.Uint64(it.Key()[1:]))
		if _, ok := seen[id]; !ok {
			rep.problem("transfer %d is in no journal group", id)
		}
		rev, _, err := scanTransferPostings(it.Value(), func(postingView) {})
		if err != nil {
			rep.problem("transfer %d undecodable", id)
			continue
		}
		if rev != 0 {
			rep.Reversals++
			v, ok, err := getCopy(db, reversedKey(nil, rev))
			if err != nil {
				return rep, err
			}
			if !ok || len(v) != 8 || TransferID(binary.BigEndian.Uint64(v)) != id {
				rep.problem("reversal %d of %d is not the indexed reversal", id, rev)
			}
		}
	}
	if err := it.Close(); err != nil {
		return rep, err
	}

	// 4. Balances equal the sums of transfers; Σ debits = Σ credits per currency.
	sums, _, _, err := sumTransfers(db)
	if err != nil {
		rep.problem("%v", err)
		return rep, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	stored, err := loadBalances(db)
	if err != nil {
		rep.problem("%v", err)
	} else if err := compareBalances(stored, sums); err != nil {
		rep.problem("%v", err)
	}
	rep.Accounts = len(sums)
	for _, t := range currencyTotals(sums) {
		rep.Currencies = append(rep.Currencies, *t)
		if t.Debits != t.Credits {
			rep.problem("currency %d: Σ debits %d ≠ Σ credits %d", t.Currency, t.Debits, t.Credits)
		}
	}
	slices.SortFunc(rep.Currencies, func(a, b CurrencyTotal) int { return int(a.Currency) - int(b.Currency) })
	if !rep.OK() {
		return rep, fmt.Errorf("%w: %s", ErrVerify, rep.Problems[0])
	}
	return rep, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
