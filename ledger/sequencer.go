package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// The sequencer is the one goroutine that owns every balance. For each group it drains
// the queue (up to MaxGroup commands), validates each command against its working
// state, writes one Pebble batch (transfers, outcomes, the commands' own writes,
// touched balances, one journal record) and applies it with Sync without waiting for
// the fsync. It then takes a snapshot of exactly that state and hands the group to the
// acker, and goes on building the next group while the WAL syncs (pipelining). The
// acker waits for the sync, publishes the snapshot, balances and date, and only then
// acknowledges the group's commands. Groups are acknowledged in order, and a later
// group's WAL records follow the earlier one's, so nothing is ever acknowledged or
// visible before it is durable.

// account is the sequencer's working balance of one (account, currency).
type account struct {
	key     string // balanceKey
	kind    AccountKind
	bal     Balance
	touched uint64 // group seq that last changed it
}

// recovered is the state rebuilt by Open.
type recovered struct {
	accounts  map[string]*account
	date      Date
	seq       uint64
	head      [32]byte
	lastID    TransferID
	transfers uint64
}

// group is one commit unit passed from the sequencer to the acker.
type group struct {
	reqs     []*request
	batch    *pebble.Batch // nil when the group wrote nothing
	snap     *pebble.Snapshot
	balances []pubBalance
	date     Date
	err      error // the commit failed: fail every request
}

type pubBalance struct {
	key string
	bal Balance
}

type delta struct {
	a      *account
	dr, cr int64
}

type sequencer struct {
	s *Store

	accounts map[string]*account
	date     Date
	seq      uint64
	head     [32]byte
	lastID   TransferID

	// per group
	g         *group
	batch     *pebble.Batch
	now       int64
	entries   []journalEntry
	inGroup   map[string]*request     // idempotency keys decided in this group
	newXfers  map[TransferID]*request // transfers committed in this group
	reversed  map[TransferID]bool     // reversed in this group
	touched   []*account
	hasher    hash.Hash
	whash     hash.Hash
	buf, kbuf []byte
	hbuf      []byte // a command's writes as its digest hashes them
	deltas    []delta
	pending   *request // a large command held over for a group of its own
	idemIt    *pebble.Iterator
	lastSize  int
	ents      []batchEntry // sortedBatch's scratch: the writes
	order     []uint32     // and their order
}

// batchEntry is one write of a group's batch, as sortedBatch reads it back.
type batchEntry struct {
	del      bool
	key, val []byte
}

func newSequencer(s *Store, st *recovered) *sequencer {
	return &sequencer{
		s: s, accounts: st.accounts, date: st.date, seq: st.seq, head: st.head,
		lastID:   st.lastID,
		inGroup:  make(map[string]*request),
		newXfers: make(map[TransferID]*request),
		reversed: make(map[TransferID]bool),
		hasher:   sha256.New(),
		whash:    sha256.New(),
	}
}

func (q *sequencer) run() {
	defer close(q.s.seqDone)
	defer close(q.s.acks)
	for {
		r := q.pending
		q.pending = nil
		if r == nil {
			var ok bool
			if r, ok = <-q.s.queue; !ok {
				return
			}
		}
		q.begin()
		q.add(r)
		// A command with streamed writes goes alone in its group.
		for r.cmd == nil || r.cmd.WriteFunc == nil {
			if len(q.g.reqs) >= q.s.opts.MaxGroup {
				break
			}
			var ok bool
			select {
			case r, ok = <-q.s.queue:
			default:
			}
			if !ok || r == nil {
				break
			}
			if r.cmd != nil && r.cmd.WriteFunc != nil {
				q.pending = r
				break
			}
			q.add(r)
		}
		q.commit()
	}
}

func (q *sequencer) begin() {
	q.g = &group{reqs: make([]*request, 0, 16)}
	if q.lastSize > 16 {
		q.g.reqs = make([]*request, 0, q.lastSize)
	}
	q.now = q.s.opts.Clock().UnixNano()
	q.entries = q.entries[:0]
	q.touched = q.touched[:0]
	clear(q.inGroup)
	clear(q.newXfers)
	clear(q.reversed)
	q.hasher.Reset()
	q.hasher.Write(q.head[:])
	var h [16]byte
	binary.BigEndian.PutUint64(h[:], q.seq+1)
	binary.BigEndian.PutUint64(h[8:], uint64(q.now))
	q.hasher.Write(h[:])
}

func (q *sequencer) ensureBatch() {
	if q.batch == nil {
		q.batch = q.s.db.NewBatch()
	}
}

// add decides one request and writes its records into the group's batch.
func (q *sequencer) add(r *request) {
	q.g.reqs = append(q.g.reqs, r)
	if r.cmd == nil {
		q.cutover(r)
		return
	}
	cmd := r.cmd
	if prev, ok := q.inGroup[string(cmd.Key)]; ok {
		if prev.cmd.RequestHash != cmd.RequestHash {
			r.err = ErrConflict
			return
		}
		r.out = prev.out
		r.out.Duplicate = true
		return
	}
	q.kbuf = idemKey(q.kbuf[:0], cmd.Key)
	v, found, err := q.lookupIdem(q.kbuf)
	if err != nil {
		r.err = fmt.Errorf("ledger: read outcome: %w", err)
		return
	}
	if found {
		rec, derr := decodeIdem(v)
		switch {
		case derr != nil:
			r.err = fmt.Errorf("ledger: stored outcome of key %q: %w", cmd.Key, derr)
		case rec.hash != cmd.RequestHash:
			r.err = ErrConflict
		default:
			r.out = rec.outcome()
			r.out.Duplicate = true
		}
		return
	}

	// Decide.
	reason := error(nil)
	var t *Transfer
	switch {
	case cmd.Transfer != nil:
		r.xfer = *cmd.Transfer
		t = &r.xfer
		reason = q.check(t.Postings, true)
	case cmd.Reverse != 0:
		t = &r.xfer
		reason = q.reversal(cmd.Reverse, t)
	}
	if reason != nil {
		r.out = Outcome{Status: Declined, Reason: reason, BusinessDate: q.date, RequestHash: cmd.RequestHash}
		q.record(r, nil)
		return
	}
	if cmd.WriteFunc != nil {
		// Alone in its group: on failure nothing of the group is written.
		if err := q.streamWrites(r); err != nil {
			r.err = err
			q.discard()
			return
		}
	} else if len(cmd.Writes) > 0 {
		q.ensureBatch()
		// The digest's input, gathered into one buffer: one hash Write per command
		// instead of four per write.
		q.hbuf = q.hbuf[:0]
		for i := range cmd.Writes {
			w := &cmd.Writes[i]
			q.hbuf = appendHashedWrite(q.hbuf, w.Key, w.Value, w.Delete)
			if w.Delete {
				_ = q.batch.Delete(w.Key, nil)
			} else {
				_ = q.batch.Set(w.Key, w.Value, nil)
			}
		}
		q.whash.Reset()
		q.whash.Write(q.hbuf)
		q.whash.Sum(r.digest[:0])
	}
	r.out = Outcome{Status: Committed, BusinessDate: q.date, Result: cmd.Result, RequestHash: cmd.RequestHash}
	if t != nil {
		q.post(r, t)
	}
	q.record(r, t)
}

// lookupIdem reads a stored outcome through one iterator per group (created at the
// first lookup, so it sees every group applied before this one; keys decided in this
// group are in inGroup). SeekPrefixGE uses the bloom filters, and one iterator per
// group is cheaper than one Get (which builds its own) per command.
func (q *sequencer) lookupIdem(key []byte) ([]byte, bool, error) {
	if q.idemIt == nil {
		it, err := q.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixIdem}, UpperBound: []byte{prefixIdem + 1}})
		if err != nil {
			return nil, false, err
		}
		q.idemIt = it
	}
	if q.idemIt.SeekPrefixGE(key) && bytes.Equal(q.idemIt.Key(), key) {
		v, err := q.idemIt.ValueAndErr()
		return v, err == nil, err
	}
	return nil, false, q.idemIt.Error()
}

// check computes the balance deltas of postings and, with rules, applies the balance
// rules. The deltas stay in q.deltas for post.
func (q *sequencer) check(ps []Posting, rules bool) error {
	q.deltas = q.deltas[:0]
	for i := range ps {
		p := &ps[i]
		q.kbuf = balanceKey(q.kbuf[:0], p.Account, p.Currency)
		a := q.accounts[string(q.kbuf)]
		if a == nil {
			a = &account{key: string(q.kbuf), kind: p.Account.Kind}
			q.accounts[a.key] = a
		}
		j := 0
		for j < len(q.deltas) && q.deltas[j].a != a {
			j++
		}
		if j == len(q.deltas) {
			q.deltas = append(q.deltas, delta{a: a})
		}
		if p.Side == Debit {
			q.deltas[j].dr += p.Amount
		} else {
			q.deltas[j].cr += p.Amount
		}
	}
	for _, d := range q.deltas {
		// Only a net debit is held to the rule: a transfer that credits an account a
		// reversal took below zero (a payment to a provider that owes the hub) brings it
		// back towards zero and is not refused for leaving it below.
		if rules && d.dr > d.cr && !allowed(d.a.kind, d.a.bal.Debits+d.dr, d.a.bal.Credits+d.cr) {
			return ErrInsufficientFunds
		}
	}
	return nil
}

// allowed is the balance rule of an account kind. Credit-normal accounts that hold
// money owed to others (provider payable, subscriber advances) and commission income
// may not go negative: their debits may not exceed their credits (checked for a
// transfer that debits the account, net). The others are free.
func allowed(k AccountKind, debits, credits int64) bool {
	switch k {
	case KindProviderPayable, KindCommissionIncome, KindSubscriberAdvances:
		return debits <= credits
	}
	return true
}

// reversal builds in t the mirror of transfer orig, or returns why it is declined.
func (q *sequencer) reversal(orig TransferID, t *Transfer) error {
	var o Transfer
	if r, ok := q.newXfers[orig]; ok {
		o = r.xfer
	} else {
		q.kbuf = transferKey(q.kbuf[:0], orig)
		v, closer, err := q.s.db.Get(q.kbuf)
		if errors.Is(err, pebble.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			q.s.log.Error().Err(err).Uint64("transfer", uint64(orig)).Msg("read transfer")
			return ErrNotFound
		}
		o, err = decodeTransfer(orig, v)
		_ = closer.Close()
		if err != nil {
			q.s.log.Error().Err(err).Uint64("transfer", uint64(orig)).Msg("decode transfer")
			return ErrNotFound
		}
	}
	if o.Reverses != 0 {
		return ErrNotReversible
	}
	if q.reversed[orig] {
		return ErrAlreadyReversed
	}
	q.kbuf = reversedKey(q.kbuf[:0], orig)
	if _, closer, err := q.s.db.Get(q.kbuf); err == nil {
		_ = closer.Close()
		return ErrAlreadyReversed
	}
	*t = Transfer{Code: CodeReversal, Refs: o.Refs, Reverses: orig,
		Postings: make([]Posting, len(o.Postings))}
	for i, p := range o.Postings {
		p.Side = Debit + Credit - p.Side
		t.Postings[i] = p
	}
	// A reversal undoes money that did move; it is not held to the balance rules. After
	// a payout it takes the provider payable (and commission income) below zero: the
	// provider then owes the hub that amount, which clearing shows in its positions.
	// Refusing it would leave an advice (host-iso8583.md §7: always acknowledged)
	// unanswerable.
	return q.check(t.Postings, false)
}

// post assigns t its id and date, applies the deltas computed by check and writes the
// transfer.
func (q *sequencer) post(r *request, t *Transfer) {
	id := TransferID(q.now)
	if id <= q.lastID {
		id = q.lastID + 1
	}
	q.lastID = id
	t.ID, t.BusinessDate, t.PostedAt = id, q.date, q.now
	r.out.TransferID = id
	for _, d := range q.deltas {
		d.a.bal.Debits += d.dr
		d.a.bal.Credits += d.cr
		if d.a.touched != q.seq+1 {
			d.a.touched = q.seq + 1
			q.touched = append(q.touched, d.a)
		}
	}
	q.newXfers[id] = r
	if t.Reverses != 0 {
		q.reversed[t.Reverses] = true
		q.kbuf = reversedKey(q.kbuf[:0], t.Reverses)
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(id))
		q.ensureBatch()
		_ = q.batch.Set(q.kbuf, v[:], nil)
	}
}

// record writes the outcome (and transfer) of r and adds its journal entry.
func (q *sequencer) record(r *request, t *Transfer) {
	q.ensureBatch()
	cmd := r.cmd
	rec := idemRecord{hash: cmd.RequestHash, status: r.out.Status, reason: reasonCode(r.out.Reason),
		transfer: r.out.TransferID, date: r.out.BusinessDate, seq: q.seq + 1}
	if rec.status == Committed {
		rec.result = cmd.Result
	}
	// canonical entry: type | keyLen | key | idemLen | idem | xferLen | xfer | digest
	b := append(q.buf[:0], entryCommand)
	b = binary.BigEndian.AppendUint16(b, uint16(len(cmd.Key)))
	b = append(b, cmd.Key...)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendIdem(b, &rec)
	idem := b[lenAt+4:]
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(idem)))
	q.kbuf = idemKey(q.kbuf[:0], cmd.Key)
	_ = q.batch.Set(q.kbuf, idem, nil)
	lenAt = len(b)
	b = append(b, 0, 0, 0, 0)
	if t != nil && rec.status == Committed {
		b = appendTransfer(b, t)
		xfer := b[lenAt+4:]
		binary.BigEndian.PutUint32(b[lenAt:], uint32(len(xfer)))
		q.kbuf = transferKey(q.kbuf[:0], t.ID)
		_ = q.batch.Set(q.kbuf, xfer, nil)
	}
	b = append(b, r.digest[:]...)
	q.hasher.Write(b)
	q.buf = b
	q.entries = append(q.entries, journalEntry{typ: entryCommand, key: cmd.Key, writesDigest: r.digest})
	q.inGroup[string(cmd.Key)] = r
}

func (q *sequencer) cutover(r *request) {
	switch {
	case r.cutTo == q.date:
		return
	case r.cutTo < q.date:
		r.err = fmt.Errorf("%w: cutover to %d before current %d", ErrBadDate, r.cutTo, q.date)
		return
	}
	e := journalEntry{typ: entryCutover, from: q.date, to: r.cutTo}
	q.buf = appendJournalEntry(q.buf[:0], &e)
	q.hasher.Write(q.buf)
	q.entries = append(q.entries, e)
	q.date = r.cutTo
	q.ensureBatch()
	var v [4]byte
	binary.BigEndian.PutUint32(v[:], uint32(q.date))
	_ = q.batch.Set(metaDateKey, v[:], nil)
}

// streamWrites runs cmd.WriteFunc into the batch, hashing what it writes.
func (q *sequencer) streamWrites(r *request) error {
	q.ensureBatch()
	q.whash.Reset()
	w := &streamWriter{b: q.batch, h: q.whash, date: q.date}
	if err := r.cmd.WriteFunc(w); err != nil {
		return fmt.Errorf("ledger: command writes: %w", err)
	}
	q.whash.Sum(r.digest[:0])
	return nil
}

// DatedWriter is what WriteFunc receives: a Writer that also tells the business date
// the command is being posted on (records written in the command can carry it).
type DatedWriter interface {
	Writer
	BusinessDate() Date
}

type streamWriter struct {
	b    *pebble.Batch
	h    hash.Hash
	buf  []byte // one write as the digest hashes it
	date Date
}

var _ DatedWriter = (*streamWriter)(nil)

// BusinessDate is the date the command is posted on.
func (w *streamWriter) BusinessDate() Date { return w.date }

func (w *streamWriter) Set(key, value []byte) error {
	if !foreignKeyOK(key) {
		return fmt.Errorf("%w: write key %x outside prefixes %#x..%#x", ErrInvalid, key, ForeignMin, ForeignMax)
	}
	w.buf = appendHashedWrite(w.buf[:0], key, value, false)
	w.h.Write(w.buf)
	return w.b.Set(key, value, nil)
}

func (w *streamWriter) Delete(key []byte) error {
	if !foreignKeyOK(key) {
		return fmt.Errorf("%w: delete key %x outside prefixes %#x..%#x", ErrInvalid, key, ForeignMin, ForeignMax)
	}
	w.buf = appendHashedWrite(w.buf[:0], key, nil, true)
	w.h.Write(w.buf)
	return w.b.Delete(key, nil)
}

// appendHashedWrite appends one write as a command's writes digest hashes it:
// op u8 (1 set, 2 delete) | keyLen u32 | key | valLen u32 | val.
func appendHashedWrite(dst, key, value []byte, del bool) []byte {
	op := byte(1)
	if del {
		op = 2
	}
	dst = append(dst, op)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(key)))
	dst = append(dst, key...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// discard drops the group's batch (only ever holding one streamed command).
func (q *sequencer) discard() {
	if q.batch != nil {
		_ = q.batch.Close()
		q.batch = nil
	}
	q.entries = q.entries[:0]
}

// commit finishes the group: balances, journal record, apply, snapshot, hand-off.
func (q *sequencer) commit() {
	g := q.g
	if q.idemIt != nil {
		_ = q.idemIt.Close()
		q.idemIt = nil
	}
	q.lastSize = len(g.reqs)
	if q.batch != nil && len(q.entries) > 0 {
		for _, a := range q.touched {
			q.buf = appendBalance(q.buf[:0], a.bal)
			_ = q.batch.Set([]byte(a.key), q.buf, nil)
			g.balances = append(g.balances, pubBalance{key: a.key, bal: a.bal})
		}
		jr := journalRecord{prev: q.head, committedAt: q.now, entries: q.entries}
		q.hasher.Sum(jr.hash[:0])
		q.buf = appendJournal(q.buf[:0], &jr)
		q.kbuf = journalKey(q.kbuf[:0], q.seq+1)
		_ = q.batch.Set(q.kbuf, q.buf, nil)
		if p := q.s.failed.Load(); p != nil {
			g.err = *p
			_ = q.batch.Close()
		} else {
			// A streamed command (alone in its group, possibly a large batch) is applied
			// as written: the sort is for the many small commands of a group.
			streamed := len(g.reqs) == 1 && g.reqs[0].cmd != nil && g.reqs[0].cmd.WriteFunc != nil
			if !streamed {
				if sorted := q.sortedBatch(q.batch); sorted != nil {
					_ = q.batch.Close()
					q.batch = sorted
				}
			}
			if err := q.s.db.ApplyNoSyncWait(q.batch, pebble.Sync); err != nil {
				g.err = fmt.Errorf("ledger: commit group %d: %w", q.seq+1, err)
				_ = q.batch.Close()
			} else {
				g.batch = q.batch
				g.snap = q.s.db.NewSnapshot()
				q.seq++
				q.head = jr.hash
			}
		}
		q.batch = nil
	} else if q.batch != nil {
		q.discard()
	}
	g.date = q.date
	q.s.acks <- g
	q.g = nil
}

// sortedBatch returns the writes of b in key order, as a new batch, or nil when b holds
// anything but sets and deletes. The order is stable: writes of one key keep their
// order, so the batch means the same. Pebble inserts a batch's keys into the memtable's
// skiplist one by one with the previous insert's splice as a hint; in key order the hint
// spares most of each search (the memtable insert was ≈ 13 % of the host's CPU under
// payments, docs/decisions-perf.md). The sort is cheap because a group's writes come
// in runs: a stable bucket sort by the one-byte record prefix, then a sort of each
// bucket that is not already in order (the transfers', payments' and notices' are).
func (q *sequencer) sortedBatch(b *pebble.Batch) *pebble.Batch {
	q.ents = q.ents[:0]
	var count [257]uint32
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if !ok {
			if err != nil {
				clear(q.ents)
				return nil
			}
			break
		}
		switch kind {
		case pebble.InternalKeyKindSet:
			q.ents = append(q.ents, batchEntry{key: k, val: v})
		case pebble.InternalKeyKindDelete:
			q.ents = append(q.ents, batchEntry{del: true, key: k})
		default:
			clear(q.ents)
			return nil
		}
		count[bucketOf(k)+1]++
	}
	ents := q.ents
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1] // count[p] = first position of bucket p
	}
	starts := count
	if cap(q.order) < len(ents) {
		q.order = make([]uint32, len(ents))
	}
	q.order = q.order[:len(ents)]
	for i := range ents {
		p := bucketOf(ents[i].key)
		q.order[starts[p]] = uint32(i)
		starts[p]++
	}
	less := func(a, b uint32) int {
		if c := bytes.Compare(ents[a].key, ents[b].key); c != 0 {
			return c
		}
		return int(a) - int(b) // stable
	}
	for p := 0; p < 256; p++ {
		run := q.order[count[p]:count[p+1]]
		for i := 1; i < len(run); i++ {
			if less(run[i-1], run[i]) > 0 {
				slices.SortFunc(run, less)
				break
			}
		}
	}
	nb := q.s.db.NewBatchWithSize(len(b.Repr()))
	for _, i := range q.order {
		if e := &ents[i]; e.del {
			_ = nb.Delete(e.key, nil)
		} else {
			_ = nb.Set(e.key, e.val, nil)
		}
	}
	clear(q.ents) // no references into b once it is closed
	return nb
}

// bucketOf is a key's first byte (0 for the empty key, which sorts first anyway).
func bucketOf(k []byte) int {
	if len(k) == 0 {
		return 0
	}
	return int(k[0])
}

// ackLoop waits for each group's sync in order, publishes its state, then
// acknowledges its commands.
func (s *Store) ackLoop() {
	defer close(s.ackDone)
	for g := range s.acks {
		err := g.err
		if g.batch != nil {
			err = g.batch.SyncWait()
			_ = g.batch.Close()
		}
		if p := s.failed.Load(); err == nil && p != nil {
			err = *p
		}
		if err != nil {
			s.failed.CompareAndSwap(nil, &err)
			s.log.Error().Err(err).Msg("ledger commit failed: refusing further work")
			if g.snap != nil {
				_ = g.snap.Close()
			}
			for _, r := range g.reqs {
				r.err = err
				r.done <- struct{}{}
			}
			continue
		}
		if g.snap != nil || len(g.balances) > 0 {
			s.pubMu.Lock()
			for _, b := range g.balances {
				s.pubBal[b.key] = b.bal
			}
			if g.snap != nil {
				old := s.pubSnap
				s.pubSnap = newSnapRef(g.snap)
				old.release()
			}
			s.pubMu.Unlock()
		}
		if prev := Date(s.pubDate.Swap(uint32(g.date))); prev != g.date {
			s.log.Info().Uint32("from", uint32(prev)).Uint32("to", uint32(g.date)).Msg("business day cutover")
		}
		var transfers, declined, dups uint64
		for _, r := range g.reqs {
			switch {
			case r.err != nil:
			case r.out.Duplicate:
				dups++
			case r.out.Status == Declined:
				declined++
			case r.out.TransferID != 0:
				transfers++
			}
		}
		s.stats.groups.Add(1)
		s.stats.commands.Add(uint64(len(g.reqs)))
		s.stats.transfers.Add(transfers)
		s.stats.declined.Add(declined)
		s.stats.duplicates.Add(dups)
		if n := uint64(len(g.reqs)); n > s.stats.maxGroup.Load() {
			s.stats.maxGroup.Store(n)
		}
		for _, r := range g.reqs {
			r.done <- struct{}{}
		}
	}
}
