package bills

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/billswitch/billswitch/ledger"
)

// refusalIndex answers, without reading the store, that a §7 key holds no recorded
// refusal — the case of almost every payment and reversal. Each request used to look
// its key up in Pebble (a snapshot Get that misses through the whole memtable), which
// was 12–22 % of the host's CPU under load.
//
// It holds a 64-bit hash of every key recorded under cmdDecline: loaded from the store
// when the handlers are built and added to once each refusal is durable (keepDecline),
// which is when the lookup would have seen it too. A hash present is only a hint: the
// store is then read as before. So it never answers "refused" wrongly, and it answers
// "not refused" only for keys with no durable refusal. It must know every refusal of
// the store: one Handlers per store (the host has one; bills.Inbound reuses it).
// Memory: ≈ 20–40 bytes per refusal ever recorded.
type refusalIndex struct {
	seed maphash.Seed
	mu   sync.RWMutex
	set  map[uint64]struct{}
}

// idemPrefix is the ledger's key prefix of command outcomes (docs/storage.md: 0x04 |
// idempotency key); TestRefusalIndexLoads fails if the layout moves.
const idemPrefix = 0x04

func newRefusalIndex() *refusalIndex {
	return &refusalIndex{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}}
}

// load adds every refusal recorded in the store.
func (x *refusalIndex) load(l ledger.Ledger) error {
	view, err := l.View()
	if err != nil {
		return err
	}
	defer view.Close()
	lower := append([]byte{idemPrefix}, cmdDecline...)
	upper := bytes.Clone(lower)
	upper[len(upper)-1]++
	x.mu.Lock()
	defer x.mu.Unlock()
	return view.Scan(lower, upper, func(k, _ []byte) bool {
		x.set[maphash.Bytes(x.seed, k[len(lower):])] = struct{}{}
		return true
	})
}

func (x *refusalIndex) add(key []byte) {
	h := maphash.Bytes(x.seed, key)
	x.mu.Lock()
	x.set[h] = struct{}{}
	x.mu.Unlock()
}

// mayHold reports whether key may hold a recorded refusal (false: it surely holds none).
func (x *refusalIndex) mayHold(key []byte) bool {
	h := maphash.Bytes(x.seed, key)
	x.mu.RLock()
	_, ok := x.set[h]
	x.mu.RUnlock()
	return ok
}
