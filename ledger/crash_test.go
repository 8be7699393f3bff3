package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"
)

// ack is what a submitter was told, to be found again after a crash.
type ack struct {
	status   Status
	transfer TransferID
}

// workload drives a store from several goroutines with payments (each with a
// billpay-range write), reversals, payouts that may be declined and resubmissions.
type workload struct {
	s      *Store
	tag    string
	ops    atomic.Int64
	mu     sync.Mutex
	acked  map[string]ack
	posted []TransferID // committed payments, candidates for reversal
	onAck  func(key string, a ack)
}

func newWorkload(s *Store, tag string) *workload {
	return &workload{s: s, tag: tag, acked: make(map[string]ack)}
}

func writeKey(key string) []byte { return append([]byte{0x20}, key...) }

// run submits until stop is closed or ops reaches limit (0: no limit).
func (w *workload) run(t testing.TB, worker int, seed uint64, limit int64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(worker)))
	ctx := context.Background()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if n := w.ops.Add(1); limit > 0 && n > limit {
			return
		}
		key := fmt.Sprintf("%s-w%d-%d", w.tag, worker, i)
		cmd := &Command{Key: []byte(key), RequestHash: hashOf(key)}
		switch p := rng.IntN(100); {
		case p < 65:
			cmd.Transfer = payment(int64(1+rng.IntN(100_000)), int64(rng.IntN(300)), key)
		case p < 78:
			w.mu.Lock()
			if len(w.posted) > 0 {
				cmd.Reverse = w.posted[rng.IntN(len(w.posted))]
			}
			w.mu.Unlock()
			if cmd.Reverse == 0 {
				cmd.Transfer = payment(500, 5, key)
			}
		case p < 90:
			cmd.Transfer = move(provider, settle, int64(1+rng.IntN(400_000)))
			cmd.Transfer.Code = CodePayout
		default:
			// Resubmit an acknowledged key: the stored outcome, no effect.
			w.mu.Lock()
			var old string
			var want ack
			for k, a := range w.acked {
				old, want = k, a
				break
			}
			w.mu.Unlock()
			if old == "" {
				continue
			}
			out, err := w.s.Submit(ctx, &Command{Key: []byte(old), RequestHash: hashOf(old), Transfer: payment(1, 1, "dup")})
			if errors.Is(err, ErrClosed) {
				return
			}
			if err != nil || !out.Duplicate || out.Status != want.status || out.TransferID != want.transfer {
				t.Errorf("resubmit %s: %+v %v, want %+v", old, out, err, want)
			}
			continue
		}
		cmd.Writes = []Write{{Key: writeKey(key), Value: []byte(key)}}
		out, err := w.s.Submit(ctx, cmd)
		if errors.Is(err, ErrClosed) {
			return
		}
		if err != nil {
			t.Errorf("submit %s: %v", key, err)
			return
		}
		a := ack{status: out.Status, transfer: out.TransferID}
		w.mu.Lock()
		w.acked[key] = a
		if out.Status == Committed && cmd.Transfer != nil && cmd.Transfer.Code == CodePayment {
			w.posted = append(w.posted, out.TransferID)
		}
		w.mu.Unlock()
		if w.onAck != nil {
			w.onAck(key, a)
		}
	}
}

func (w *workload) snapshot() map[string]ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[string]ack, len(w.acked))
	for k, a := range w.acked {
		m[k] = a
	}
	return m
}

// checkRecovered opens the store on fs/dir and checks the crash invariants: every
// acknowledged command is present exactly once with its outcome, every outcome is
// applied whole (its write present iff committed), the journal verifies and
// Σ debits = Σ credits. It returns how many outcomes survived.
func checkRecovered(t testing.TB, opts Options, acked map[string]ack) int {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	// Scans, not one Get per key: race builds of Pebble capture a stack per sstable
	// iterator, which makes point reads slow.
	v, err := s.View()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	outcomes := make(map[string]idemRecord)
	lo, hi := prefixBounds(prefixIdem)
	err = v.Scan(lo, hi, func(k, val []byte) bool {
		rec, err := decodeIdem(val)
		if err != nil {
			t.Errorf("outcome %q: %v", k[1:], err)
			return false
		}
		rec.result = nil
		outcomes[string(k[1:])] = rec
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, a := range acked {
		rec, ok := outcomes[key]
		if !ok {
			t.Fatalf("acknowledged %s lost", key)
		}
		if rec.status != a.status || rec.transfer != a.transfer {
			t.Fatalf("acknowledged %s: recovered %+v, was told %+v", key, rec, a)
		}
	}
	writes := 0
	err = v.Scan([]byte{0x20}, []byte{0x21}, func(k, _ []byte) bool {
		writes++
		if rec, ok := outcomes[string(k[1:])]; !ok || rec.status != Committed {
			t.Errorf("write %q without a committed outcome (half-applied)", k[1:])
			return false
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	// Exactly once: no payment was posted twice (each carries its key as PaymentID;
	// a reversal copies the refs of its original, so count payments only).
	seenPay := make(map[string]bool)
	lo, hi = prefixBounds(prefixTransfer)
	err = v.Scan(lo, hi, func(k, val []byte) bool {
		tr, err := decodeTransfer(0, val)
		if err != nil {
			t.Errorf("transfer %x: %v", k, err)
			return false
		}
		if tr.Code == CodePayment && tr.Refs.PaymentID != "" {
			if seenPay[tr.Refs.PaymentID] {
				t.Errorf("payment %s posted twice", tr.Refs.PaymentID)
				return false
			}
			seenPay[tr.Refs.PaymentID] = true
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	committed := 0
	rep, err := s.Verify()
	if err != nil {
		t.Fatalf("verify after crash: %v\n%s", err, rep)
	}
	committed = int(rep.Committed)
	if writes != committed {
		t.Fatalf("%d billpay writes for %d committed outcomes", writes, committed)
	}
	for _, c := range rep.Currencies {
		if c.Debits != c.Credits {
			t.Fatalf("currency %d unbalanced after crash", c.Currency)
		}
	}
	return len(outcomes)
}

// TestCrashMem runs the workload on Pebble's crashable in-memory file system and, at
// seeded random points, takes a crash image (dropping a random share of unsynced
// data), reopens it and checks the invariants.
func TestCrashMem(t *testing.T) {
	ops, crashes, seeds := int64(2500), 5, []uint64{1}
	if *soak {
		ops, crashes, seeds = 15_000, 12, []uint64{1, 2}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			fs := vfs.NewCrashableMem()
			opts := testOptions(fs)
			opts.MaxGroup = 1 + rng.IntN(64)
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			w := newWorkload(s, "c")
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					w.run(t, i, seed, ops, nil)
				}(i)
			}
			points := make([]int64, crashes)
			for i := range points {
				points[i] = 1 + rng.Int64N(ops)
			}
			for _, p := range sortedInt64(points) {
				for w.ops.Load() < p && w.ops.Load() <= ops {
					time.Sleep(50 * time.Microsecond)
				}
				acked := w.snapshot()
				img := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(seed, uint64(p)))})
				// Verify reads the image as a crashed process left it (read-only, WAL
				// replayed in memory) before Open recovers it.
				if rep, err := VerifyFS(img, "db"); err != nil {
					t.Fatalf("verify crash image: %v\n%s", err, rep)
				}
				o := testOptions(img)
				n := checkRecovered(t, o, acked)
				if n < len(acked) {
					t.Fatalf("%d outcomes survived, %d acknowledged", n, len(acked))
				}
			}
			wg.Wait()
			acked := w.snapshot()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkRecovered(t, testOptions(fs), acked)
			t.Logf("seed %d: %d ops, %d acknowledged, %d crash images checked", seed, ops, len(acked), crashes)
		})
	}
}

func sortedInt64(v []int64) []int64 {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v
}

const crashEnv = "BILLSWITCH_LEDGER_CRASH_WRITER"

// TestCrashWriterProcess is the child of TestCrashSubprocess: it writes under
// concurrent load and prints "A key status transfer" after each acknowledgement,
// until it is killed.
func TestCrashWriterProcess(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrashSubprocess")
	}
	s, err := Open(Options{Dir: dir, Logger: zerolog.Nop(), InitialDate: 20261121})
	if err != nil {
		fmt.Printf("E open: %v\n", err)
		os.Exit(3)
	}
	w := newWorkload(s, os.Getenv(crashEnv+"_TAG"))
	var out sync.Mutex
	w.onAck = func(key string, a ack) {
		line := fmt.Sprintf("A %s %d %d\n", key, a.status, a.transfer)
		out.Lock()
		_, _ = os.Stdout.WriteString(line) // unbuffered: a printed line was acknowledged
		out.Unlock()
	}
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w.run(t, i, uint64(time.Now().UnixNano()), 0, nil)
		}(i)
	}
	wg.Wait() // never: the parent kills us
}

// TestCrashSubprocess SIGKILLs a process writing under concurrent load on the real
// disk, restarts on its data and checks that every acknowledged command is present
// exactly once, nothing unacknowledged is half-applied, the journal chain verifies and
// Σ debits = Σ credits. Rounds accumulate in one store.
func TestCrashSubprocess(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	rounds, minRun, maxRun := 2, 150*time.Millisecond, 400*time.Millisecond
	if *soak {
		rounds, minRun, maxRun = 10, 200*time.Millisecond, 3*time.Second
	}
	dir := t.TempDir()
	all := make(map[string]ack)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_TAG=r%d", crashEnv, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		first := make(chan struct{})
		done := make(chan int)
		go func() {
			sc := bufio.NewScanner(stdout)
			n := 0
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 4 || f[0] != "A" {
					continue
				}
				st, _ := strconv.Atoi(f[2])
				id, _ := strconv.ParseUint(f[3], 10, 64)
				all[f[1]] = ack{status: Status(st), transfer: TransferID(id)}
				if n++; n == 1 {
					close(first)
				}
			}
			done <- n
		}()
		select {
		case <-first:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("child acknowledged nothing in 30s")
		}
		time.Sleep(minRun + time.Duration(rng.Int64N(int64(maxRun-minRun))))
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		n := <-done
		_ = cmd.Wait()
		got := checkRecovered(t, Options{Dir: dir, Logger: zerolog.Nop()}, all)
		t.Logf("round %d: %d acknowledged before SIGKILL; store holds %d outcomes, %d acknowledged in all", round, n, got, len(all))
	}
	rep, err := Verify(dir)
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}
