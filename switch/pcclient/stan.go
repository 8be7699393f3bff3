package pcclient

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
)

// stanAllocator hands out the client's STANs. It counts every STAN ever allocated for
// the institution; the count's high-water mark is reserved durably a block at a time
// (one synced write per block), and a restarted host starts after the last reserved
// block. So no STAN is reused until 999,999 further STANs have been allocated, restarts
// included; STAN = count mod 999,999 + 1 (000001..999999).
type stanAllocator struct {
	store Store
	inst  string // zero-filled to 11
	block uint64

	mu    sync.Mutex
	next  uint64 // next count to hand out
	limit uint64 // counts below limit are reserved durably
}

func stanKey(inst11 string) []byte {
	return append([]byte{PrefixSTAN}, inst11...)
}

func newSTANAllocator(store Store, inst11 string, block int) (*stanAllocator, error) {
	a := &stanAllocator{store: store, inst: inst11, block: uint64(block)}
	r, err := store.View()
	if err != nil {
		return nil, fmt.Errorf("pcclient: reading STAN mark: %w", err)
	}
	defer r.Close()
	v, ok, err := r.Get(stanKey(inst11))
	if err != nil {
		return nil, fmt.Errorf("pcclient: reading STAN mark: %w", err)
	}
	if ok {
		if len(v) != 8 {
			return nil, fmt.Errorf("pcclient: STAN mark of %s is %d bytes", inst11, len(v))
		}
		a.next = binary.BigEndian.Uint64(v)
		a.limit = a.next
	}
	return a, nil
}

// Next returns the next STAN (6 digits).
func (a *stanAllocator) Next(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.limit {
		limit := a.next + a.block
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], limit)
		cmd := &ledger.Command{
			Key:         []byte("pcclient/stan/" + a.inst + "/" + strconv.FormatUint(limit, 10)),
			RequestHash: sha256.Sum256(v[:]),
			Writes:      []ledger.Write{{Key: stanKey(a.inst), Value: v[:]}},
		}
		if _, err := a.store.Submit(ctx, cmd); err != nil {
			return "", fmt.Errorf("pcclient: reserving STANs: %w", err)
		}
		a.limit = limit
	}
	n := a.next
	a.next++
	return formatSTAN(n), nil
}

func formatSTAN(count uint64) string {
	return specs.ZeroFill(strconv.FormatUint(count%999999+1, 10), 6)
}

// formatRRN is the retrieval reference number of a request the host originates:
// YDDDHH (last digit of the year, day of the year, hour, UTC) and the STAN.
func formatRRN(t time.Time, stan string) string {
	t = t.UTC()
	return fmt.Sprintf("%d%03d%02d%s", t.Year()%10, t.YearDay(), t.Hour(), stan)
}

// formatDE7 is DE 7, MMDDhhmmss in UTC.
func formatDE7(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%02d%02d%02d%02d%02d", int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}
