package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Hand-written binary encodings of the ledger's records. All integers are big-endian;
// strings carry a one-byte (owner, refs) or two-byte (keys) length. Each record starts
// with a version byte so that the format can evolve.

const recordVersion byte = 1

var errCorrupt = errors.New("ledger: corrupt record")

// Reason codes stored with a declined outcome.
const (
	reasonNone byte = iota
	reasonInsufficientFunds
	reasonAlreadyReversed
	reasonNotFound
	reasonNotReversible
)

func reasonCode(err error) byte {
	switch err {
	case nil:
		return reasonNone
	case ErrInsufficientFunds:
		return reasonInsufficientFunds
	case ErrAlreadyReversed:
		return reasonAlreadyReversed
	case ErrNotFound:
		return reasonNotFound
	case ErrNotReversible:
		return reasonNotReversible
	}
	panic(fmt.Sprintf("ledger: no reason code for %v", err))
}

func reasonErr(c byte) (error, bool) {
	switch c {
	case reasonNone:
		return nil, true
	case reasonInsufficientFunds:
		return ErrInsufficientFunds, true
	case reasonAlreadyReversed:
		return ErrAlreadyReversed, true
	case reasonNotFound:
		return ErrNotFound, true
	case reasonNotReversible:
		return ErrNotReversible, true
	}
	return nil, false
}

// appendTransfer encodes t:
//
//	version u8 | code u16 | reverses u64 | date u32 | postedAt i64 | n u8 |
//	n × (kind u8 | side u8 | currency u16 | amount i64 | ownerLen u8 | owner) |
//	4 × (len u8 | ref)   — PaymentID, RRN, STAN, Terminal
//
// The id is the key, not part of the value.
func appendTransfer(dst []byte, t *Transfer) []byte {
	dst = append(dst, recordVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(t.Code))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Reverses))
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.BusinessDate))
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.PostedAt))
	dst = append(dst, byte(len(t.Postings)))
	for i := range t.Postings {
		p := &t.Postings[i]
		dst = append(dst, byte(p.Account.Kind), byte(p.Side))
		dst = binary.BigEndian.AppendUint16(dst, uint16(p.Currency))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.Amount))
		dst = append(dst, byte(len(p.Account.Owner)))
		dst = append(dst, p.Account.Owner...)
	}
	for _, s := range [...]string{t.Refs.PaymentID, t.Refs.RRN, t.Refs.STAN, t.Refs.Terminal} {
		dst = append(dst, byte(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// decoder reads a record and remembers the first error.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || len(d.b) < n {
		d.bad = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str8() string   { return string(d.take(int(d.u8()))) }
func (d *decoder) bytes8() []byte { return d.take(int(d.u8())) }

func (d *decoder) done() error {
	if d.bad || len(d.b) != 0 {
		return errCorrupt
	}
	return nil
}

// decodeTransfer decodes a transfer record stored under id.
func decodeTransfer(id TransferID, v []byte) (Transfer, error) {
	d := decoder{b: v}
	if d.u8() != recordVersion {
		return Transfer{}, errCorrupt
	}
	t := Transfer{ID: id}
	t.Code = Code(d.u16())
	t.Reverses = TransferID(d.u64())
	t.BusinessDate = Date(d.u32())
	t.PostedAt = int64(d.u64())
	n := int(d.u8())
	if !d.bad {
		t.Postings = make([]Posting, n)
	}
	for i := 0; i < n && !d.bad; i++ {
		p := &t.Postings[i]
		p.Account.Kind = AccountKind(d.u8())
		p.Side = Side(d.u8())
		p.Currency = Currency(d.u16())
		p.Amount = int64(d.u64())
		p.Account.Owner = d.str8()
	}
	t.Refs.PaymentID = d.str8()
	t.Refs.RRN = d.str8()
	t.Refs.STAN = d.str8()
	t.Refs.Terminal = d.str8()
	return t, d.done()
}

// postingView is a posting decoded without allocating: owner aliases the record.
type postingView struct {
	kind   AccountKind
	side   Side
	cur    Currency
	amount int64
	owner  []byte
}

// scanTransferPostings calls fn for each posting of an encoded transfer without
// allocating, and returns the transfer's reverses field and code.
func scanTransferPostings(v []byte, fn func(p postingView)) (reverses TransferID, code Code, err error) {
	d := decoder{b: v}
	if d.u8() != recordVersion {
		return 0, 0, errCorrupt
	}
	code = Code(d.u16())
	reverses = TransferID(d.u64())
	d.take(4 + 8)
	n := int(d.u8())
	for i := 0; i < n && !d.bad; i++ {
		var p postingView
		p.kind = AccountKind(d.u8())
		p.side = Side(d.u8())
		p.cur = Currency(d.u16())
		p.amount = int64(d.u64())
		p.owner = d.bytes8()
		if !d.bad {
			fn(p)
		}
	}
	for i := 0; i < 4; i++ {
		d.bytes8()
	}
	return reverses, code, d.done()
}

// idemRecord is the stored outcome of an idempotency key.
type idemRecord struct {
	hash     [32]byte
	status   Status
	reason   byte
	transfer TransferID
	date     Date
	seq      uint64 // journal group that committed it
	result   []byte
}

// appendIdem encodes r:
//
//	version u8 | requestHash [32] | status u8 | reason u8 | transfer u64 | date u32 |
//	group seq u64 | resultLen u32 | result
func appendIdem(dst []byte, r *idemRecord) []byte {
	dst = append(dst, recordVersion)
	dst = append(dst, r.hash[:]...)
	dst = append(dst, byte(r.status), r.reason)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.transfer))
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.date))
	dst = binary.BigEndian.AppendUint64(dst, r.seq)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.result)))
	return append(dst, r.result...)
}

// decodeIdem decodes an outcome record; result aliases v.
func decodeIdem(v []byte) (idemRecord, error) {
	d := decoder{b: v}
	var r idemRecord
	if d.u8() != recordVersion {
		return r, errCorrupt
	}
	copy(r.hash[:], d.take(32))
	r.status = Status(d.u8())
	r.reason = d.u8()
	r.transfer = TransferID(d.u64())
	r.date = Date(d.u32())
	r.seq = d.u64()
	r.result = d.take(int(d.u32()))
	if err := d.done(); err != nil {
		return r, err
	}
	if r.status != Committed && r.status != Declined {
		return r, errCorrupt
	}
	if _, ok := reasonErr(r.reason); !ok {
		return r, errCorrupt
	}
	return r, nil
}

func (r *idemRecord) outcome() Outcome {
	reason, _ := reasonErr(r.reason)
	var res []byte
	if len(r.result) > 0 {
		res = append([]byte(nil), r.result...)
	}
	return Outcome{Status: r.status, Reason: reason, TransferID: r.transfer,
		BusinessDate: r.date, Result: res, RequestHash: r.hash}
}

func appendBalance(dst []byte, b Balance) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Debits))
	return binary.BigEndian.AppendUint64(dst, uint64(b.Credits))
}

func decodeBalance(v []byte) (Balance, error) {
	if len(v) != 16 {
		return Balance{}, errCorrupt
	}
	return Balance{Debits: int64(binary.BigEndian.Uint64(v)),
		Credits: int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

// Journal entry types.
const (
	entryCommand byte = 1
	entryCutover byte = 2
)

// journalEntry is one entry of a journal record.
type journalEntry struct {
	typ          byte
	key          []byte   // entryCommand: the idempotency key
	writesDigest [32]byte // entryCommand: SHA-256 of the command's writes (zero if none)
	from, to     Date     // entryCutover
}

// journalRecord is one committed group.
type journalRecord struct {
	prev, hash  [32]byte
	committedAt int64
	entries     []journalEntry
}

// appendJournal encodes r:
//
//	version u8 | prev [32] | hash [32] | committedAt i64 | n u32 |
//	n × (type u8 | command: keyLen u16 | key | writesDigest [32]
//	             | cutover: from u32 | to u32)
func appendJournal(dst []byte, r *journalRecord) []byte {
	dst = append(dst, recordVersion)
	dst = append(dst, r.prev[:]...)
	dst = append(dst, r.hash[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.committedAt))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(r.entries)))
	for i := range r.entries {
		dst = appendJournalEntry(dst, &r.entries[i])
	}
	return dst
}

func appendJournalEntry(dst []byte, e *journalEntry) []byte {
	dst = append(dst, e.typ)
	switch e.typ {
	case entryCommand:
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(e.key)))
		dst = append(dst, e.key...)
		dst = append(dst, e.writesDigest[:]...)
	case entryCutover:
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.from))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.to))
	}
	return dst
}

func decodeJournal(v []byte) (journalRecord, error) {
	d := decoder{b: v}
	var r journalRecord
	if d.u8() != recordVersion {
		return r, errCorrupt
	}
	copy(r.prev[:], d.take(32))
	copy(r.hash[:], d.take(32))
	r.committedAt = int64(d.u64())
	n := int(d.u32())
	if d.bad || n > len(d.b) {
		return r, errCorrupt
	}
	r.entries = make([]journalEntry, 0, n)
	for i := 0; i < n && !d.bad; i++ {
		var e journalEntry
		e.typ = d.u8()
		switch e.typ {
		case entryCommand:
			e.key = d.take(int(d.u16()))
			copy(e.writesDigest[:], d.take(32))
		case entryCutover:
			e.from = Date(d.u32())
			e.to = Date(d.u32())
		default:
			return r, errCorrupt
		}
		r.entries = append(r.entries, e)
	}
	return r, d.done()
}
