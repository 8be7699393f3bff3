package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"
)

// More errors returned by the store (additions to api.go).
var (
	// ErrNotReversible declines the reversal of a transfer that is itself a reversal.
	ErrNotReversible = errors.New("ledger: a reversal cannot be reversed")
	// ErrInvalid wraps every refusal of a malformed command; nothing is recorded.
	ErrInvalid = errors.New("ledger: invalid command")
	// ErrBadDate refuses a cutover to a date that is not a valid later YYYYMMDD.
	ErrBadDate = errors.New("ledger: bad business date")
	// ErrCorruptStore is returned by Open when recovery finds the store inconsistent.
	ErrCorruptStore = errors.New("ledger: store is inconsistent")
)

// MaxAmount bounds a posting's amount (minor units) so that balances cannot overflow.
const MaxAmount = int64(1e15)

// Options configures Open.
type Options struct {
	Dir    string
	FS     vfs.FS // nil: the OS file system; tests pass vfs.NewCrashableMem()
	Logger zerolog.Logger
	// MaxGroup bounds the commands in one group commit (default 1024).
	MaxGroup int
	// Clock stamps transfers and journal records (default time.Now).
	Clock func() time.Time
	// InitialDate is the business date of a new store (default: Clock's UTC date).
	InitialDate Date
	// MemTableSize is Pebble's memtable size (default 64 MiB). A batch larger than
	// half of it is handed to Pebble as a flushable batch (large imports).
	MemTableSize uint64
	// CacheSize is Pebble's block cache for sstable blocks (default 128 MiB): the
	// idempotency lookups of the sequencer read index and filter blocks on every
	// command. Pebble charges its memtables to the same cache (up to three: the mutable
	// one, one being flushed, one kept for reuse), so the cache is created that much
	// larger (memTableReserve); without it the memtables took the whole cache and every
	// lookup read its blocks from the files (docs/decisions-perf.md).
	CacheSize int64
	// L0CompactionThreshold is how many overlapping L0 sublevels Pebble lets pile up
	// before it compacts them into the base level (default 16; Pebble's own is 4). The
	// ledger's keys are mostly write-once and the idempotency keys random, so every
	// L0→Lbase compaction rewrites the base level under it: merging more sublevels per
	// compaction halved the compaction bytes of a 40 s payment run and cut the host's
	// CPU per payment by ≈ 5 % (docs/decisions-perf.md, session 3). Lookups go through
	// bloom filters, so the deeper L0 costs them little. Writes stop at 4× this.
	L0CompactionThreshold int
}

func (o *Options) setDefaults() {
	if o.MaxGroup <= 0 {
		o.MaxGroup = 1024
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 64 << 20
	}
	if o.CacheSize == 0 {
		o.CacheSize = 128 << 20
	}
	if o.L0CompactionThreshold <= 0 {
		o.L0CompactionThreshold = 16
	}
	if o.InitialDate == 0 {
		o.InitialDate = DateOf(o.Clock())
	}
}

// DateOf returns the YYYYMMDD date of t in UTC.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date(y*10000 + int(m)*100 + d)
}

// Valid reports whether d is a plausible YYYYMMDD date.
func (d Date) Valid() bool {
	y, m, day := int(d)/10000, int(d)/100%100, int(d)%100
	if y < 1970 || y > 9999 || m < 1 || m > 12 || day < 1 {
		return false
	}
	return day <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Stats counts what the sequencer did since Open.
type Stats struct {
	Groups     uint64 // groups synced (including groups with nothing to write)
	Commands   uint64 // commands acknowledged
	Transfers  uint64 // transfers committed
	Declined   uint64
	Duplicates uint64
	MaxGroup   uint64 // largest group so far
}

// StorageStats are Pebble's own counters of the store.
type StorageStats struct {
	CacheHits, CacheMisses uint64 // block cache lookups
	CacheBytes             int64  // sstable blocks held in the block cache
	L0Files                int64  // sstables in level 0 (read amplification)
	Flushes, Compactions   int64
	CompactionDebt         uint64 // estimated bytes still to compact
}

// memTableReserve is how many memtables Pebble may charge to the block cache at once:
// the mutable one, one waiting to be flushed (MemTableStopWritesThreshold 2) and one
// kept for reuse after a flush.
const memTableReserve = 3

// Store is the ledger: one Pebble database and the sequencer that owns every write.
// It implements Ledger.
type Store struct {
	opts Options
	log  zerolog.Logger
	db   *pebble.DB

	closeMu sync.RWMutex // Submit holds it shared while queueing; Close exclusively
	closed  bool
	queue   chan *request
	acks    chan *group
	seqDone chan struct{}
	ackDone chan struct{}
	failed  atomic.Pointer[error] // a failed commit: the store refuses all further work

	seq *sequencer // owned by the sequencer goroutine

	// Published state: only what is synced.
	pubMu   sync.RWMutex
	pubBal  map[string]Balance
	pubSnap *snapRef
	pubDate atomic.Uint32

	stats struct {
		groups, commands, transfers, declined, duplicates, maxGroup atomic.Uint64
	}
}

var _ Ledger = (*Store)(nil)

// request is one queued unit of work for the sequencer. Pooled.
type request struct {
	cmd    *Command
	cutTo  Date // a cutover when cmd == nil
	xfer   Transfer
	out    Outcome
	err    error
	done   chan struct{}
	digest [32]byte
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// Open opens (or creates) the store in opts.Dir, rebuilds the in-memory state from it
// and checks it: every balance must equal the sum of its transfers and Σ debits must
// equal Σ credits per currency. It refuses to start (ErrCorruptStore) otherwise.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if !opts.InitialDate.Valid() {
		return nil, fmt.Errorf("%w: initial date %d", ErrBadDate, opts.InitialDate)
	}
	s := &Store{
		opts:    opts,
		log:     opts.Logger.With().Str("component", "ledger").Logger(),
		queue:   make(chan *request, 4*opts.MaxGroup),
		acks:    make(chan *group, 2),
		seqDone: make(chan struct{}),
		ackDone: make(chan struct{}),
		pubBal:  make(map[string]Balance),
	}
	popts := &pebble.Options{
		FS:                 opts.FS,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{s.log},
		MemTableSize:       opts.MemTableSize,
		// See Options.L0CompactionThreshold.
		L0CompactionThreshold: opts.L0CompactionThreshold,
		L0StopWritesThreshold: 4 * opts.L0CompactionThreshold,
	}
	// Bloom filters on every level: the sequencer looks up each idempotency key,
	// and almost every lookup is a miss.
	for i := range popts.Levels {
		popts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	cache := pebble.NewCache(opts.CacheSize + memTableReserve*int64(opts.MemTableSize))
	popts.Cache = cache
	db, err := pebble.Open(opts.Dir, popts)
	cache.Unref()
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", opts.Dir, err)
	}
	s.db = db
	start := time.Now()
	st, err := recoverState(db, opts.InitialDate)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.seq = newSequencer(s, st)
	for k, a := range st.accounts {
		s.pubBal[k] = a.bal
	}
	s.pubDate.Store(uint32(st.date))
	s.pubSnap = newSnapRef(db.NewSnapshot())
	s.log.Info().Uint64("transfers", st.transfers).Int("accounts", len(st.accounts)).
		Uint64("journal_seq", st.seq).Uint32("business_date", uint32(st.date)).
		Dur("took", time.Since(start)).Msg("ledger recovered")
	go s.seq.run()
	go s.ackLoop()
	return s, nil
}

// Close stops accepting commands, lets the queued ones finish, and closes the
// database. Every View must be closed before Close.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.queue)
	<-s.seqDone
	<-s.ackDone
	s.pubMu.Lock()
	s.pubSnap.release()
	s.pubSnap = nil
	s.pubMu.Unlock()
	return s.db.Close()
}

// Submit queues cmd for the sequencer and returns its outcome once the group it was
// committed in is synced and published. Malformed commands return an error wrapping
// ErrInvalid and record nothing; business-rule refusals are Declined outcomes,
// remembered under the key. ctx bounds only the wait for a place in the queue: once
// queued, Submit waits for the outcome (at most one group commit), so that a caller
// never gives up on a command that may still be acknowledged.
func (s *Store) Submit(ctx context.Context, cmd *Command) (Outcome, error) {
	if err := validate(cmd); err != nil {
		return Outcome{}, err
	}
	return s.enqueue(ctx, cmd, 0)
}

func (s *Store) enqueue(ctx context.Context, cmd *Command, cutTo Date) (Outcome, error) {
	if p := s.failed.Load(); p != nil {
		return Outcome{}, *p
	}
	r := requestPool.Get().(*request)
	r.cmd, r.cutTo = cmd, cutTo
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		r.cmd = nil
		requestPool.Put(r)
		return Outcome{}, ErrClosed
	}
	select {
	case s.queue <- r:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		r.cmd = nil
		requestPool.Put(r)
		return Outcome{}, ctx.Err()
	}
	s.closeMu.RUnlock()
	<-r.done
	out, err := r.out, r.err
	*r = request{done: r.done}
	requestPool.Put(r)
	return out, err
}

// Cutover moves the business date to next through the sequencer: it is journalled,
// and every transfer committed after it carries next. A cutover to the current date
// is a no-op; to an earlier one, ErrBadDate.
func (s *Store) Cutover(ctx context.Context, next Date) error {
	if !next.Valid() {
		return fmt.Errorf("%w: %d", ErrBadDate, next)
	}
	_, err := s.enqueue(ctx, nil, next)
	return err
}

// BusinessDate is the published (durable) business date.
func (s *Store) BusinessDate() Date { return Date(s.pubDate.Load()) }

// Balance is the published (durable) balance of acct in cur.
func (s *Store) Balance(acct AccountID, cur Currency) Balance {
	var a [4 + maxOwnerLen]byte
	k := balanceKey(a[:0], acct, cur)
	s.pubMu.RLock()
	b := s.pubBal[string(k)]
	s.pubMu.RUnlock()
	return b
}

// AccountBalance is one account's published balance in one currency.
type AccountBalance struct {
	Account  AccountID
	Currency Currency
	Balance
}

// Balances lists every published balance (unordered).
func (s *Store) Balances() []AccountBalance {
	s.pubMu.RLock()
	defer s.pubMu.RUnlock()
	out := make([]AccountBalance, 0, len(s.pubBal))
	for k, b := range s.pubBal {
		acct, cur, _ := parseBalanceKey([]byte(k))
		out = append(out, AccountBalance{Account: acct, Currency: cur, Balance: b})
	}
	return out
}

// Stats returns the sequencer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Groups: s.stats.groups.Load(), Commands: s.stats.commands.Load(),
		Transfers: s.stats.transfers.Load(), Declined: s.stats.declined.Load(),
		Duplicates: s.stats.duplicates.Load(), MaxGroup: s.stats.maxGroup.Load(),
	}
}

// Storage returns Pebble's counters (one db.Metrics call: for a metrics scrape, not
// for a hot path).
func (s *Store) Storage() StorageStats {
	m := s.db.Metrics()
	return StorageStats{
		CacheHits: uint64(m.BlockCache.Hits), CacheMisses: uint64(m.BlockCache.Misses), CacheBytes: m.BlockCache.Size,
		L0Files: m.Levels[0].TablesCount, Flushes: m.Flush.Count, Compactions: m.Compact.Count,
		CompactionDebt: m.Compact.EstimatedDebt,
	}
}

// snapRef is a refcounted Pebble snapshot of a synced state.
type snapRef struct {
	snap *pebble.Snapshot
	refs atomic.Int64
}

func newSnapRef(snap *pebble.Snapshot) *snapRef {
	r := &snapRef{snap: snap}
	r.refs.Store(1)
	return r
}

func (r *snapRef) release() {
	if r.refs.Add(-1) == 0 {
		_ = r.snap.Close()
	}
}

func (s *Store) acquire() (*snapRef, error) {
	s.pubMu.RLock()
	defer s.pubMu.RUnlock()
	if s.pubSnap == nil {
		return nil, ErrClosed
	}
	s.pubSnap.refs.Add(1)
	return s.pubSnap, nil
}

// View returns a Reader over the last synced and published group. Close it.
func (s *Store) View() (Reader, error) {
	r, err := s.acquire()
	if err != nil {
		return nil, err
	}
	return &view{ref: r}, nil
}

type view struct {
	ref    *snapRef
	closed atomic.Bool
}

func (v *view) Get(key []byte) ([]byte, bool, error) {
	return getCopy(v.ref.snap, key)
}

// Scan calls fn for each key in [lower, upper); key and value are valid only during
// the call.
func (v *view) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	it, err := v.ref.snap.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(it.Key(), val) {
			break
		}
	}
	return it.Close()
}

func (v *view) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	v.ref.release()
	return nil
}

func getCopy(r pebble.Reader, key []byte) ([]byte, bool, error) {
	val, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), val...)
	return out, true, closer.Close()
}

// Lookup returns the durable outcome stored under key, if any. It never shows the
// outcome of a command whose group is not yet synced.
func (s *Store) Lookup(ctx context.Context, key []byte) (Outcome, bool, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, false, err
	}
	r, err := s.acquire()
	if err != nil {
		return Outcome{}, false, err
	}
	defer r.release()
	v, ok, err := getCopy(r.snap, idemKey(nil, key))
	if err != nil || !ok {
		return Outcome{}, false, err
	}
	rec, err := decodeIdem(v)
	if err != nil {
		return Outcome{}, false, fmt.Errorf("ledger: outcome of key %q: %w", key, err)
	}
	return rec.outcome(), true, nil
}

// Transfer returns the durable transfer id.
func (s *Store) Transfer(id TransferID) (Transfer, bool, error) {
	r, err := s.acquire()
	if err != nil {
		return Transfer{}, false, err
	}
	defer r.release()
	v, ok, err := getCopy(r.snap, transferKey(nil, id))
	if err != nil || !ok {
		return Transfer{}, false, err
	}
	t, err := decodeTransfer(id, v)
	return t, err == nil, err
}

// validate checks what can be checked without state.
func validate(cmd *Command) error {
	if cmd == nil {
		return fmt.Errorf("%w: nil command", ErrInvalid)
	}
	if len(cmd.Key) == 0 || len(cmd.Key) > maxKeyLen {
		return fmt.Errorf("%w: idempotency key must be 1..%d bytes", ErrInvalid, maxKeyLen)
	}
	if cmd.Transfer != nil && cmd.Reverse != 0 {
		return fmt.Errorf("%w: both Transfer and Reverse set", ErrInvalid)
	}
	if len(cmd.Result) > maxResult {
		return fmt.Errorf("%w: result over %d bytes", ErrInvalid, maxResult)
	}
	for i := range cmd.Writes {
		if !foreignKeyOK(cmd.Writes[i].Key) {
			return fmt.Errorf("%w: write key %x outside prefixes %#x..%#x", ErrInvalid,
				cmd.Writes[i].Key, ForeignMin, ForeignMax)
		}
	}
	if t := cmd.Transfer; t != nil {
		if err := validateTransfer(t); err != nil {
			return err
		}
	}
	return nil
}

func validateTransfer(t *Transfer) error {
	if t.Code == 0 || t.Code == CodeReversal {
		return fmt.Errorf("%w: transfer code %d (reversals go through Command.Reverse)", ErrInvalid, t.Code)
	}
	if t.Reverses != 0 {
		return fmt.Errorf("%w: Transfer.Reverses is set by the ledger", ErrInvalid)
	}
	if len(t.Postings) < 2 || len(t.Postings) > maxPostings {
		return fmt.Errorf("%w: a transfer needs 2..%d postings", ErrInvalid, maxPostings)
	}
	for _, r := range [...]string{t.Refs.PaymentID, t.Refs.RRN, t.Refs.STAN, t.Refs.Terminal} {
		if len(r) > maxRefLen {
			return fmt.Errorf("%w: reference over %d bytes", ErrInvalid, maxRefLen)
		}
	}
	// Balance per currency: few currencies per transfer, so a small slice beats a map.
	var sums [4]struct {
		cur Currency
		net int64
	}
	n := 0
	for i := range t.Postings {
		p := &t.Postings[i]
		if p.Account.Kind < KindAcquirerReceivable || p.Account.Kind > KindSuspense {
			return fmt.Errorf("%w: posting %d: account kind %d", ErrInvalid, i, p.Account.Kind)
		}
		if len(p.Account.Owner) > maxOwnerLen {
			return fmt.Errorf("%w: posting %d: owner over %d bytes", ErrInvalid, i, maxOwnerLen)
		}
		if p.Amount <= 0 || p.Amount > MaxAmount {
			return fmt.Errorf("%w: posting %d: amount %d not in 1..%d", ErrInvalid, i, p.Amount, MaxAmount)
		}
		if p.Currency == 0 {
			return fmt.Errorf("%w: posting %d: no currency", ErrInvalid, i)
		}
		var d int64
		switch p.Side {
		case Debit:
			d = p.Amount
		case Credit:
			d = -p.Amount
		default:
			return fmt.Errorf("%w: posting %d: side %d", ErrInvalid, i, p.Side)
		}
		j := 0
		for j < n && sums[j].cur != p.Currency {
			j++
		}
		if j == n {
			if n == len(sums) {
				return fmt.Errorf("%w: more than %d currencies in one transfer", ErrInvalid, len(sums))
			}
			sums[n].cur = p.Currency
			n++
		}
		sums[j].net += d
	}
	for j := 0; j < n; j++ {
		if sums[j].net != 0 {
			return fmt.Errorf("%w: %w: currency %d is off by %d", ErrInvalid, ErrUnbalanced, sums[j].cur, sums[j].net)
		}
	}
	return nil
}

// pebbleLogger sends Pebble's own logs to zerolog. Fatalf panics: Pebble calls it when
// continuing would be unsafe (a failed WAL write).
type pebbleLogger struct{ l zerolog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) { p.l.Debug().Msgf(format, args...) }
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error().Msgf(format, args...)
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error().Str("fatal", msg).Msg("pebble fatal")
	panic("pebble: " + msg)
}

var _ io.Closer = (*view)(nil)
