package billpay

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/billswitch/billswitch/ledger"
)

// NoticeKind says what a provider notice reports (provider-exchange.md §3).
type NoticeKind uint8

const (
	NoticePayment NoticeKind = iota + 1
	NoticeReversal
)

func (k NoticeKind) String() string {
	if k == NoticeReversal {
		return "reversal"
	}
	return "payment"
}

// Notice is one payment or reversal offered to a provider, for one of its accounts.
// Notices are written in the same commit as what they report, keyed by provider and a
// per-provider sequence; the notices of one account are committed in order (the
// account's payments are serialized), so delivering a provider's pending notices in
// sequence order keeps each account's order.
type Notice struct {
	Seq          uint64
	Kind         NoticeKind
	Provider     string
	Account      string
	Receipt      string // the payment's receipt (for a reversal: the reversed payment's)
	Amount       int64  // for this account; negative for a reversal
	Currency     uint16
	Allocations  []Allocation // this account's lines (negated for a reversal)
	Readings     []Reading
	Channel      Channel
	Method       Method
	Acquirer     string
	Terminal     string
	RRN          string
	BusinessDate uint32
	Time         time.Time
}

// A notice is stored in format 2: format | kind | account | receipt | business date |
// time. It names its payment: the lines, readings and channel are read back from the
// payment record when the notice is delivered (fillNotice), so that each payment stores
// them once (≈ 70 bytes less per payment than format 1, docs/decisions-perf.md). Format
// 1, written before, carried them all; it is still read.
const noticeFormat = 2

func (n *Notice) encode() []byte {
	e := newEnc(24+len(n.Account)+len(n.Receipt), noticeFormat, byte(n.Kind))
	e.s(n.Account)
	e.s(n.Receipt)
	e.u(uint64(n.BusinessDate))
	e.i(n.Time.UnixNano())
	return e.b
}

// decodeNotice decodes a stored notice; a format-2 one is completed from its payment
// record, read through view (recs caches the records read, by receipt).
func (c *Core) decodeNotice(view ledger.Reader, provider string, seq uint64, v []byte, recs map[string]*paymentRec) (*Notice, error) {
	if len(v) < 2 || (v[0] != recFormat && v[0] != noticeFormat) {
		return nil, errCorrupt
	}
	d := dec{b: v[2:]}
	n := &Notice{Seq: seq, Kind: NoticeKind(v[1]), Provider: provider}
	if v[0] == noticeFormat {
		n.Account, n.Receipt = d.s(), d.s()
		n.BusinessDate = uint32(d.u())
		n.Time = time.Unix(0, d.i())
		if d.err != nil {
			return nil, d.err
		}
		rec := recs[n.Receipt]
		if rec == nil {
			pv, ok, err := view.Get(paymentKey(n.Receipt))
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("billpay: notice %s/%d names payment %s, which has no record: %w", provider, seq, n.Receipt, errCorrupt)
			}
			if rec, err = decodePayment(pv); err != nil {
				return nil, err
			}
			recs[n.Receipt] = rec
		}
		c.fillNotice(n, rec)
		// The date the ledger posted it on: a payment or reversal that raced a cutover
		// was posted on the next day, and redate moved its record's date (before the
		// notice was released, so no reader saw the stale one) but not the notice's.
		if d := rec.PaidDate; n.Kind == NoticePayment && d != 0 {
			n.BusinessDate = d
		} else if d := rec.ReversalDate; n.Kind == NoticeReversal && d != 0 {
			n.BusinessDate = d
		}
		return n, nil
	}
	n.Account, n.Receipt, n.Amount = d.s(), d.s(), d.i()
	n.Currency = uint16(d.u())
	n.Allocations = decodeAllocs(&d)
	cnt := d.count()
	for i := 0; i < cnt && d.err == nil; i++ {
		n.Readings = append(n.Readings, Reading{d.s(), d.s(), d.s()})
	}
	n.Channel, n.Method = Channel(d.u()), Method(d.u())
	n.Acquirer, n.Terminal, n.RRN = d.s(), d.s(), d.s()
	n.BusinessDate = uint32(d.u())
	n.Time = time.Unix(0, d.i())
	return n, d.err
}

// fillNotice completes n (kind, provider, account set) from its payment's record: the
// lines of n's account (negated for a reversal) and their sum, the currency, channel,
// method, acquirer, terminal and RRN, and for a payment the readings of services n's
// provider has (as the registry has them when the notice is read).
func (c *Core) fillNotice(n *Notice, rec *paymentRec) {
	n.Currency, n.Channel, n.Method = rec.Currency, rec.Channel, rec.Method
	n.Acquirer, n.Terminal, n.RRN = rec.Acquirer, rec.Terminal, rec.RRN
	for _, b := range rec.Allocations {
		if b.Provider == n.Provider && b.Account == n.Account {
			if n.Kind == NoticeReversal {
				b.Amount = -b.Amount
			}
			n.Allocations = append(n.Allocations, b)
			n.Amount += b.Amount
		}
	}
	if n.Kind == NoticePayment && len(rec.Readings) > 0 {
		if p, ok := c.Registry().Provider(n.Provider); ok {
			for _, r := range rec.Readings {
				if _, _, ok := p.Service(r.Service); ok {
					n.Readings = append(n.Readings, r)
				}
			}
		}
	}
}

// noticeSeqs is one provider's notice sequences in this process: the last one
// assigned, and those assigned to a command that has not finished yet (in flight).
//
// A sequence is assigned before its command is submitted, so commands commit out of
// sequence order: a payment holding 5 may commit after one holding 6. A reader that
// saw 6 but not 5 would, paging with after=6 or acknowledging through 6, skip 5 for
// good. PendingNotices therefore shows only notices below the horizon: the lowest
// sequence still in flight (or the next to be assigned) when it starts. Every
// sequence below it has finished: committed and published (so in the view taken after
// it), or failed and never written.
type noticeSeqs struct {
	last     uint64
	inflight map[uint64]struct{}
}

// nextNotice allocates the next notice sequence of provider p and marks it in flight
// until releaseNotices. The first use in a process continues after the highest of: the
// pending notices in the store and the highest acknowledged one, so sequences never
// repeat across restarts.
func (c *Core) nextNotice(view ledger.Reader, p string) (uint64, error) {
	c.obMu.Lock()
	defer c.obMu.Unlock()
	st, ok := c.ob[p]
	if !ok {
		st = &noticeSeqs{inflight: map[uint64]struct{}{}}
		if v, found, err := view.Get(outboxAckKey(p)); err != nil {
			return 0, err
		} else if found && len(v) == 8 {
			st.last = binary.BigEndian.Uint64(v)
		}
		pfx := outboxPrefix(p)
		err := view.Scan(pfx, prefixEnd(pfx), func(k, _ []byte) bool {
			if s := binary.BigEndian.Uint64(k[len(pfx):]); s > st.last {
				st.last = s
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		c.ob[p] = st
	}
	st.last++
	st.inflight[st.last] = struct{}{}
	return st.last, nil
}

// releaseNotices ends the flight of ns's sequences: their command has finished
// (Submit returned, so it is published or will never be written).
func (c *Core) releaseNotices(ns []*Notice) {
	if len(ns) == 0 {
		return
	}
	c.obMu.Lock()
	for _, n := range ns {
		if st := c.ob[n.Provider]; st != nil {
			delete(st.inflight, n.Seq)
		}
	}
	c.obMu.Unlock()
}

// noticeHorizon is the lowest notice sequence of provider p that a reader may not see
// yet (see noticeSeqs); it is taken before the reader's view.
func (c *Core) noticeHorizon(p string) uint64 {
	c.obMu.Lock()
	defer c.obMu.Unlock()
	st := c.ob[p]
	if st == nil {
		return math.MaxUint64 // nothing assigned in this process: nothing in flight
	}
	h := st.last + 1
	for s := range st.inflight {
		h = min(h, s)
	}
	return h
}

// prepareNotices builds one notice per account touched by allocs, with its sequence
// (BusinessDate is set when written). Only what a stored notice keeps is set: the rest
// is its payment record's (fillNotice). The caller releases the notices
// (releaseNotices) once the command that writes them has finished.
func (c *Core) prepareNotices(view ledger.Reader, kind NoticeKind, receipt string, allocs []Allocation, now time.Time) ([]*Notice, error) {
	out := make([]*Notice, 0, 1)
next:
	for i, a := range allocs {
		for _, b := range allocs[:i] {
			if b.Provider == a.Provider && b.Account == a.Account {
				continue next
			}
		}
		seq, err := c.nextNotice(view, a.Provider)
		if err != nil {
			c.releaseNotices(out)
			return nil, err
		}
		out = append(out, &Notice{Seq: seq, Kind: kind, Provider: a.Provider, Account: a.Account, Receipt: receipt, Time: now})
	}
	return out, nil
}

func appendNotices(writes []ledger.Write, ns []*Notice, date uint32) []ledger.Write {
	for _, n := range ns {
		n.BusinessDate = date
		writes = append(writes, ledger.Write{Key: outboxKey(n.Provider, n.Seq), Value: n.encode()})
	}
	return writes
}

// PendingNotices returns up to limit unacknowledged notices of provider p with a
// sequence above after, in sequence order.
func (c *Core) PendingNotices(ctx context.Context, p string, after uint64, limit int) ([]*Notice, error) {
	if after == math.MaxUint64 {
		return nil, nil // nothing lies above it (and after+1 would wrap to the start)
	}
	horizon := c.noticeHorizon(p) // before the view: see noticeSeqs
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	var out []*Notice
	var derr error
	pfx := outboxPrefix(p)
	recs := map[string]*paymentRec{}
	err = view.Scan(outboxKey(p, after+1), prefixEnd(pfx), func(k, v []byte) bool {
		seq := binary.BigEndian.Uint64(k[len(pfx):])
		if seq >= horizon {
			return false
		}
		n, err := c.decodeNotice(view, p, seq, v, recs)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, n)
		return limit <= 0 || len(out) < limit
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// AckNotices removes acknowledged notices of provider p (durably; acknowledging one
// twice, or one that does not exist, is harmless). The acknowledged high-water mark,
// which keeps sequences from repeating once every notice is gone, rises only with
// notices that exist: a provider acknowledging a sequence never assigned (say
// 2^64−1) would otherwise push the next restart's sequences past it, or wrap them.
func (c *Core) AckNotices(ctx context.Context, p string, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	c.ackMu.Lock() // the acknowledged high-water mark is read, then written
	defer c.ackMu.Unlock()
	view, err := c.l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	writes := make([]ledger.Write, 0, len(seqs)+1)
	var top uint64
	if v, found, err := view.Get(outboxAckKey(p)); err != nil {
		return err
	} else if found && len(v) == 8 {
		top = binary.BigEndian.Uint64(v)
	}
	mark := top
	for _, s := range seqs {
		k := outboxKey(p, s)
		_, found, err := view.Get(k)
		if err != nil {
			return err
		}
		if !found {
			continue // already acknowledged, or never was
		}
		writes = append(writes, ledger.Write{Key: k, Delete: true})
		top = max(top, s)
	}
	if len(writes) == 0 {
		return nil
	}
	if top != mark {
		writes = append(writes, ledger.Write{Key: outboxAckKey(p), Value: binary.BigEndian.AppendUint64(nil, top)})
	}
	_, err = c.l.Submit(ctx, &ledger.Command{Key: editKey(cmdOutbox, p), Writes: writes})
	return err
}
