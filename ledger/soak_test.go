package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestSoakLargeImport commits billpay's worst case, a 1,000,000-record debt import of
// about 150 MB, as one command on the real disk while payments keep flowing, then
// checks it is whole after a restart. Only with -soak.
func TestSoakLargeImport(t *testing.T) {
	if !*soak {
		t.Skip("with -soak")
	}
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Logger: zerolog.Nop(), InitialDate: 20261121})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1_000_000
	val := make([]byte, 140)
	stop := make(chan struct{})
	var paid atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("soak-%d-%d", g, i)
				if out, err := s.Submit(context.Background(), cmdOf(key, payment(100, 1, key))); err != nil || out.Status != Committed {
					t.Errorf("payment: %+v %v", out, err)
					return
				}
				paid.Add(1)
			}
		}(g)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	out, err := s.Submit(context.Background(), &Command{Key: []byte("bp/imp/soak"), WriteFunc: func(w Writer) error {
		k := make([]byte, 9)
		k[0] = 0x22
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint64(k[1:], uint64(i))
			if err := w.Set(k, val); err != nil {
				return err
			}
		}
		return nil
	}})
	took := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stop)
	wg.Wait()
	if err != nil || out.Status != Committed {
		t.Fatalf("import: %+v %v", out, err)
	}
	t.Logf("import of %d records (%d MB) committed in %v; %d payments meanwhile; heap in use %d MB → %d MB",
		n, n*(9+140)>>20, took, paid.Load(), before.HeapInuse>>20, after.HeapInuse>>20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, _ := s.View()
	defer v.Close()
	count := 0
	if err := v.Scan([]byte{0x22}, []byte{0x23}, func(_, _ []byte) bool { count++; return true }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("after restart %d records, want %d", count, n)
	}
	mustVerify(t, s)
}
