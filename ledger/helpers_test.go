package ledger

import (
	"context"
	"crypto/sha256"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"
)

var soak = flag.Bool("soak", false, "run the long crash and soak tests")

var (
	drawer   = AccountID{Kind: KindCashDrawer, Owner: "PP-1"}
	provider = AccountID{Kind: KindProviderPayable, Owner: "AZERISIQ"}
	income   = AccountID{Kind: KindCommissionIncome}
	settle   = AccountID{Kind: KindSettlement}
	advances = AccountID{Kind: KindSubscriberAdvances}
	acquirer = AccountID{Kind: KindAcquirerReceivable, Owner: "BANK-7"}
	suspense = AccountID{Kind: KindSuspense}
)

const azn Currency = 944

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// payment is a 3-leg payment: cash in at the drawer, owed to the provider, commission.
func payment(amount, fee int64, pid string) *Transfer {
	if fee == 0 {
		t := move(drawer, provider, amount)
		t.Code, t.Refs = CodePayment, Refs{PaymentID: pid}
		return t
	}
	return &Transfer{Code: CodePayment, Refs: Refs{PaymentID: pid, RRN: "123456789012", STAN: "000001", Terminal: "T0000001"},
		Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: amount + fee, Currency: azn},
			{Account: provider, Side: Credit, Amount: amount, Currency: azn},
			{Account: income, Side: Credit, Amount: fee, Currency: azn},
		}}
}

func move(from, to AccountID, amount int64) *Transfer {
	return &Transfer{Code: CodeAdjustment, Postings: []Posting{
		{Account: from, Side: Debit, Amount: amount, Currency: azn},
		{Account: to, Side: Credit, Amount: amount, Currency: azn},
	}}
}

func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Microsecond)
		return t
	}
}

func testOptions(fs vfs.FS) Options {
	return Options{Dir: "db", FS: fs, Logger: zerolog.Nop(), Clock: fixedClock(), InitialDate: 20261121}
}

func openTest(t testing.TB, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open(testOptions(fs))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func submit(t testing.TB, s *Store, cmd *Command) Outcome {
	t.Helper()
	out, err := s.Submit(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Submit %q: %v", cmd.Key, err)
	}
	return out
}

func cmdOf(key string, tr *Transfer) *Command {
	return &Command{Key: []byte(key), RequestHash: hashOf(key), Transfer: tr}
}

func mustVerify(t testing.TB, s *Store) Report {
	t.Helper()
	rep, err := s.Verify()
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	return rep
}

// gateFS holds the WAL's syncs while closed, to observe state between apply and sync.
type gateFS struct {
	vfs.FS
	mu      sync.Mutex
	closed  bool
	opened  chan struct{} // closed by open()
	waiting chan struct{} // receives when a sync blocks
}

func newGateFS(fs vfs.FS) *gateFS {
	return &gateFS{FS: fs, opened: make(chan struct{}), waiting: make(chan struct{}, 16)}
}

func (g *gateFS) close() {
	g.mu.Lock()
	g.closed = true
	g.opened = make(chan struct{})
	g.mu.Unlock()
}

func (g *gateFS) open() {
	g.mu.Lock()
	if g.closed {
		g.closed = false
		close(g.opened)
	}
	g.mu.Unlock()
}

func (g *gateFS) wait() {
	g.mu.Lock()
	closed, ch := g.closed, g.opened
	g.mu.Unlock()
	if closed {
		select {
		case g.waiting <- struct{}{}:
		default:
		}
		<-ch
	}
}

func (g *gateFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &gateFile{File: f, g: g}, nil
}

func (g *gateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, c)
	return g.wrap(name, f, err)
}

func (g *gateFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(old, name, c)
	return g.wrap(name, f, err)
}

type gateFile struct {
	vfs.File
	g *gateFS
}

func (f *gateFile) Sync() error     { f.g.wait(); return f.File.Sync() }
func (f *gateFile) SyncData() error { f.g.wait(); return f.File.SyncData() }
func (f *gateFile) SyncTo(n int64) (bool, error) {
	f.g.wait()
	return f.File.SyncTo(n)
}
