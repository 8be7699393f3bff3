package billpay

import (
	"context"
	"encoding/binary"
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

func (n *Notice) encode() []byte {
	e := newEnc(192, recFormat, byte(n.Kind))
	e.s(n.Account)
	e.s(n.Receipt)
	e.i(n.Amount)
	e.u(uint64(n.Currency))
	encodeAllocs(&e, n.Allocations)
	e.u(uint64(len(n.Readings)))
	for _, r := range n.Readings {
		e.s(r.Service)
		e.s(r.Meter)
		e.s(r.Value)
	}
	e.u(uint64(n.Channel))
	e.u(uint64(n.Method))
	e.s(n.Acquirer)
	e.s(n.Terminal)
	e.s(n.RRN)
	e.u(uint64(n.BusinessDate))
	e.i(n.Time.UnixNano())
	return e.b
}

func decodeNotice(provider string, seq uint64, v []byte) (*Notice, error) {
	if len(v) < 2 || v[0] != recFormat {
		return nil, errCorrupt
	}
	d := dec{b: v[2:]}
	n := &Notice{Seq: seq, Kind: NoticeKind(v[1]), Provider: provider}
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

// nextNotice allocates the next notice sequence of provider p. The first use in a
// process continues after the highest of: the pending notices in the store and the
// highest acknowledged one, so sequences never repeat across restarts.
func (c *Core) nextNotice(view ledger.Reader, p string) (uint64, error) {
	c.obMu.Lock()
	defer c.obMu.Unlock()
	last, ok := c.ob[p]
	if !ok {
		if v, found, err := view.Get(outboxAckKey(p)); err != nil {
			return 0, err
		} else if found && len(v) == 8 {
			last = binary.BigEndian.Uint64(v)
		}
		pfx := outboxPrefix(p)
		err := view.Scan(pfx, prefixEnd(pfx), func(k, _ []byte) bool {
			if s := binary.BigEndian.Uint64(k[len(pfx):]); s > last {
				last = s
			}
			return true
		})
		if err != nil {
			return 0, err
		}
	}
	last++
	c.ob[p] = last
	return last, nil
}

// prepareNotices builds one notice per account touched by allocs, with its sequence
// (BusinessDate is set when written).
func (c *Core) prepareNotices(view ledger.Reader, kind NoticeKind, rec *paymentRec, receipt string, allocs []Allocation, now time.Time) ([]*Notice, error) {
	var out []*Notice
	done := map[AccountRef]bool{}
	for _, a := range allocs {
		ref := AccountRef{a.Provider, a.Account}
		if done[ref] {
			continue
		}
		done[ref] = true
		n := &Notice{Kind: kind, Provider: a.Provider, Account: a.Account, Receipt: receipt, Currency: rec.Currency,
			Channel: rec.Channel, Method: rec.Method, Acquirer: rec.Acquirer, Terminal: rec.Terminal, RRN: rec.RRN, Time: now}
		for _, b := range allocs {
			if b.Provider == a.Provider && b.Account == a.Account {
				if kind == NoticeReversal {
					b.Amount = -b.Amount
				}
				n.Allocations = append(n.Allocations, b)
				n.Amount += b.Amount
			}
		}
		if kind == NoticePayment {
			for _, r := range rec.Readings {
				if p, ok := c.Registry().Provider(a.Provider); ok {
					if _, _, ok := p.Service(r.Service); ok {
						n.Readings = append(n.Readings, r)
					}
				}
			}
		}
		seq, err := c.nextNotice(view, a.Provider)
		if err != nil {
			return nil, err
		}
		n.Seq = seq
		out = append(out, n)
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
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	var out []*Notice
	var derr error
	pfx := outboxPrefix(p)
	err = view.Scan(outboxKey(p, after+1), prefixEnd(pfx), func(k, v []byte) bool {
		n, err := decodeNotice(p, binary.BigEndian.Uint64(k[len(pfx):]), v)
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
// twice, or one that does not exist, is harmless).
func (c *Core) AckNotices(ctx context.Context, p string, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	c.ackMu.Lock() // the acknowledged high-water mark is read, then written
	defer c.ackMu.Unlock()
	writes := make([]ledger.Write, 0, len(seqs)+1)
	var top uint64
	for _, s := range seqs {
		writes = append(writes, ledger.Write{Key: outboxKey(p, s), Delete: true})
		top = max(top, s)
	}
	view, err := c.l.View()
	if err != nil {
		return err
	}
	if v, found, err := view.Get(outboxAckKey(p)); err == nil && found && len(v) == 8 {
		top = max(top, binary.BigEndian.Uint64(v))
	}
	view.Close()
	writes = append(writes, ledger.Write{Key: outboxAckKey(p), Value: binary.BigEndian.AppendUint64(nil, top)})
	_, err = c.l.Submit(ctx, &ledger.Command{Key: editKey(cmdOutbox, p), Writes: writes})
	return err
}
