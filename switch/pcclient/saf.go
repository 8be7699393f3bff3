package pcclient

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
)

// advice is one reversal advice (0420, repeated as 0421) waiting for its 0430. It holds
// no card data: DE 2, 35 and 52 are never written to disk; the PC finds the original
// by DE 90 (and DE 37).
type advice struct {
	Seq            uint64    `json:"seq"`
	STAN           string    `json:"stan"`         // the advice's own DE 11
	DE7            string    `json:"de7"`          // the advice's own DE 7
	RRN            string    `json:"rrn"`          // the original's DE 37
	ProcessingCode string    `json:"pc"`           // DE 3 as in the original
	Amount         string    `json:"amt"`          // DE 4 as in the original
	Currency       string    `json:"cur"`          // DE 49 as in the original
	Terminal       string    `json:"tid"`          // DE 41 as in the original
	CardAcceptor   string    `json:"mid"`          // DE 42 as in the original
	Original       string    `json:"de90"`         // DE 90: 0200, its STAN, DE 7, host DE 32, zeros
	Sent           bool      `json:"sent"`         // transmitted at least once: later ones are 0421
	InFlight       bool      `json:"wa,omitempty"` // written ahead of its 0200; not to be sent (yet)
	Created        time.Time `json:"at"`           // when it was queued
	OrigSTAN       string    `json:"ostan"`        // for logs

	queued bool // under safQueue.mu: handed to queueOnce (never queued twice)
}

// message builds the advice as mti (0420 or 0421).
func (a *advice) message(mti, hostID string) *specs.Message {
	return &specs.Message{
		MTI:                  mti,
		ProcessingCode:       a.ProcessingCode,
		Amount:               a.Amount,
		TransmissionDateTime: a.DE7,
		STAN:                 a.STAN,
		AcquirerID:           hostID,
		RRN:                  a.RRN,
		TerminalID:           a.Terminal,
		CardAcceptorID:       a.CardAcceptor,
		Currency:             a.Currency,
		OriginalData:         a.Original,
	}
}

// safQueue is one PC's store-and-forward queue of reversal advices, in the order they
// were queued. Memory mirrors the durable records under PrefixAdvice; an advice is in
// memory from the moment it is queued until its 0430 is durably recorded (its record
// deleted).
type safQueue struct {
	store  Store
	inst11 string

	mu      sync.Mutex
	items   []*advice
	lastSeq uint64
	wake    chan struct{} // signalled when an advice is queued
}

func newSAFQueue(store Store, inst11 string) *safQueue {
	return &safQueue{store: store, inst11: inst11, wake: make(chan struct{}, 1)}
}

func (q *safQueue) prefix() []byte { return append([]byte{PrefixAdvice}, q.inst11...) }

func (q *safQueue) key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(q.prefix(), seq)
}

// load reads the pending advices of the institution from the store (durable state).
func (q *safQueue) load() error {
	r, err := q.store.View()
	if err != nil {
		return fmt.Errorf("pcclient: reading advices: %w", err)
	}
	defer r.Close()
	lower := q.prefix()
	upper := append([]byte(nil), lower...)
	upper[len(upper)-1]++ // the prefix ends in an ASCII digit: no carry
	var items []*advice
	var bad error
	err = r.Scan(lower, upper, func(k, v []byte) bool {
		var a advice
		if len(k) != len(lower)+8 {
			bad = fmt.Errorf("pcclient: advice key of %d bytes", len(k))
			return false
		}
		if err := json.Unmarshal(v, &a); err != nil {
			bad = fmt.Errorf("pcclient: advice record unreadable: %w", err)
			return false
		}
		a.Seq = binary.BigEndian.Uint64(k[len(lower):])
		a.InFlight = false // a record in flight at a restart is an authorization to reverse
		items = append(items, &a)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.items = items
	for _, a := range items {
		q.lastSeq = max(q.lastSeq, a.Seq)
	}
	q.mu.Unlock()
	if len(items) > 0 {
		q.signal()
	}
	return nil
}

func (q *safQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// put writes a's record durably under idempotency key ikey.
func (q *safQueue) put(ctx context.Context, ikey string, a *advice) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	_, err = q.store.Submit(ctx, &ledger.Command{
		Key:         []byte(ikey),
		RequestHash: sha256.Sum256(v),
		Writes:      []ledger.Write{{Key: q.key(a.Seq), Value: v}},
	})
	return err
}

// enqueue gives a a sequence number, writes it durably and queues it. The advice is
// queued in memory even when the write fails (it is then sent, but would not survive a
// restart), and the error says so.
func (q *safQueue) enqueue(ctx context.Context, a *advice) error {
	var err error
	for range 3 {
		q.mu.Lock()
		a.Seq = max(uint64(a.Created.UnixNano()), q.lastSeq+1)
		q.lastSeq = a.Seq
		q.mu.Unlock()
		err = q.put(ctx, "pcclient/advice/"+q.inst11+"/"+strconv.FormatUint(a.Seq, 10), a)
		if !errors.Is(err, ledger.ErrConflict) {
			break // a conflict means the clock went back onto an old sequence number
		}
	}
	q.mu.Lock()
	q.items = append(q.items, a)
	q.mu.Unlock()
	q.signal()
	return err
}

// prepare gives a a sequence number and returns its record's write, for a ledger command
// of the caller's (see queueOnce).
func (q *safQueue) prepare(a *advice) (ledger.Write, error) {
	q.mu.Lock()
	a.Seq = max(uint64(a.Created.UnixNano()), q.lastSeq+1)
	q.lastSeq = a.Seq
	q.mu.Unlock()
	v, err := json.Marshal(a)
	if err != nil {
		return ledger.Write{}, err
	}
	return ledger.Write{Key: q.key(a.Seq), Value: v}, nil
}

// queueOnce queues a prepared advice whose record has been committed, once: not again
// after an earlier call, nor while an advice for the same original (DE 90) is queued
// (loaded from the store, say). It reports whether it queued a.
func (q *safQueue) queueOnce(a *advice) bool {
	q.mu.Lock()
	if a.queued {
		q.mu.Unlock()
		return false
	}
	a.queued = true
	for _, x := range q.items {
		if x.Seq == a.Seq || x.Original == a.Original {
			q.mu.Unlock()
			return false
		}
	}
	q.items = append(q.items, a)
	q.mu.Unlock()
	q.signal()
	return true
}

// writeAhead gives a a sequence number and writes it durably, in flight: it is not
// queued (see activate, discard).
func (q *safQueue) writeAhead(ctx context.Context, a *advice) error {
	a.InFlight = true
	var err error
	for range 3 {
		q.mu.Lock()
		a.Seq = max(uint64(a.Created.UnixNano()), q.lastSeq+1)
		q.lastSeq = a.Seq
		q.mu.Unlock()
		err = q.put(ctx, "pcclient/advice-ahead/"+q.inst11+"/"+strconv.FormatUint(a.Seq, 10), a)
		if !errors.Is(err, ledger.ErrConflict) {
			break
		}
	}
	return err
}

// activate turns a written-ahead advice into a queued one (durably, then in memory; in
// memory also when the write fails, and the error says so).
func (q *safQueue) activate(ctx context.Context, a *advice) error {
	a.InFlight = false
	err := q.put(ctx, "pcclient/advice/"+q.inst11+"/"+strconv.FormatUint(a.Seq, 10), a)
	q.mu.Lock()
	q.items = append(q.items, a)
	q.mu.Unlock()
	q.signal()
	return err
}

// discard deletes a written-ahead advice (its authorization was declined).
func (q *safQueue) discard(ctx context.Context, seq uint64) error {
	_, err := q.store.Submit(ctx, &ledger.Command{
		Key:         []byte("pcclient/advice-done/" + q.inst11 + "/" + strconv.FormatUint(seq, 10)),
		RequestHash: sha256.Sum256(q.key(seq)),
		Writes:      []ledger.Write{q.deleteWrite(seq)},
	})
	return err
}

// deleteWrite is the write that deletes advice seq's record.
func (q *safQueue) deleteWrite(seq uint64) ledger.Write {
	return ledger.Write{Key: q.key(seq), Delete: true}
}

// markSent records durably that a is about to be transmitted for the first time, so
// that every later transmission, after a restart too, is a 0421.
func (q *safQueue) markSent(ctx context.Context, a *advice) error {
	q.mu.Lock()
	a.Sent = true
	c := *a
	q.mu.Unlock()
	return q.put(ctx, "pcclient/advice-sent/"+q.inst11+"/"+strconv.FormatUint(c.Seq, 10), &c)
}

// done deletes a's record durably and then drops it from the queue.
func (q *safQueue) done(ctx context.Context, a *advice) error {
	k := q.key(a.Seq)
	_, err := q.store.Submit(ctx, &ledger.Command{
		Key:         []byte("pcclient/advice-done/" + q.inst11 + "/" + strconv.FormatUint(a.Seq, 10)),
		RequestHash: sha256.Sum256(k),
		Writes:      []ledger.Write{{Key: k, Delete: true}},
	})
	if err != nil {
		return err
	}
	q.mu.Lock()
	for i, x := range q.items {
		if x == a {
			q.items = append(q.items[:i], q.items[i+1:]...)
			break
		}
	}
	q.mu.Unlock()
	return nil
}

// head returns the oldest pending advice (a copy), or false.
func (q *safQueue) head() (*advice, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	return q.items[0], true
}

func (q *safQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
