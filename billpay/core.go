package billpay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/ledger"
)

// Options configure a Core.
type Options struct {
	Ledger   ledger.Ledger
	Registry *Registry
	Logger   zerolog.Logger
	Clock    func() time.Time // default time.Now
}

// Core is the bill-payment service: inquiry, payment, reversal, top-up, debt-list
// import, subscribers and the notice outbox. It keeps no state of its own beyond caches
// that it can rebuild from the ledger's store; every change is one ledger Command.
type Core struct {
	l     ledger.Ledger
	reg   atomic.Pointer[Registry]
	log   zerolog.Logger
	clock func() time.Time
	seed  maphash.Seed

	// Payments on one account are serialized (read → allocate → durable commit) so two
	// never pay the same debt; different accounts run in parallel.
	acctLocks [4096]sync.Mutex
	// acctCache[i] holds recently committed account records of shard i, guarded by
	// acctLocks[i]; entries of an epoch other than acctEpoch are stale (acctcache.go).
	acctCache [4096]map[AccountRef]cachedAccount
	acctEpoch atomic.Uint64
	subLocks  [64]sync.Mutex

	// Imports of a provider exclude payments to it while the file's atomic apply commits.
	provMu    sync.Mutex
	provLocks map[string]*sync.RWMutex

	rcptMu sync.Mutex
	rcpt   map[uint32]uint64 // business date → last receipt sequence used

	obMu sync.Mutex
	ob   map[string]*noticeSeqs // provider → notice sequences used and in flight

	ackMu sync.Mutex

	importChunk int // records per staging command of an import

	prCache sync.Map // provider → *providerRec (read-only once stored)
}

// New builds a Core on an open ledger.
func New(opts Options) (*Core, error) {
	if opts.Ledger == nil || opts.Registry == nil {
		return nil, errors.New("billpay: a ledger and a registry are required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	c := &Core{l: opts.Ledger, log: opts.Logger.With().Str("component", "billpay").Logger(), clock: opts.Clock,
		seed: maphash.MakeSeed(), importChunk: importChunkRecords, provLocks: map[string]*sync.RWMutex{}, rcpt: map[uint32]uint64{}, ob: map[string]*noticeSeqs{}}
	c.reg.Store(opts.Registry)
	return c, nil
}

// Registry returns the registry in force.
func (c *Core) Registry() *Registry { return c.reg.Load() }

// SetRegistry installs a new registry (after the CLI or an operator changed providers).
func (c *Core) SetRegistry(r *Registry) { c.reg.Store(r) }

// Ledger returns the ledger the core posts to.
func (c *Core) Ledger() ledger.Ledger { return c.l }

func (c *Core) provLock(p string) *sync.RWMutex {
	c.provMu.Lock()
	defer c.provMu.Unlock()
	m := c.provLocks[p]
	if m == nil {
		m = &sync.RWMutex{}
		c.provLocks[p] = m
	}
	return m
}

// lockAccounts locks the payment locks of refs (in a fixed order, no deadlock) and the
// import locks of their providers for reading; the returned func unlocks.
func (c *Core) lockAccounts(refs []AccountRef) func() {
	provs := make([]string, 0, len(refs))
	shards := make([]int, 0, len(refs))
	for _, r := range refs {
		shards = append(shards, c.shard(r))
		provs = append(provs, r.Provider)
	}
	slices.Sort(provs)
	provs = slices.Compact(provs)
	slices.Sort(shards)
	shards = slices.Compact(shards)
	pl := make([]*sync.RWMutex, len(provs))
	for i, p := range provs {
		pl[i] = c.provLock(p)
		pl[i].RLock()
	}
	for _, s := range shards {
		c.acctLocks[s].Lock()
	}
	return func() {
		for i := len(shards) - 1; i >= 0; i-- {
			c.acctLocks[shards[i]].Unlock()
		}
		for i := len(pl) - 1; i >= 0; i-- {
			pl[i].RUnlock()
		}
	}
}

func (c *Core) lockSubscriber(code string) func() {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(code)
	m := &c.subLocks[h.Sum64()%uint64(len(c.subLocks))]
	m.Lock()
	return m.Unlock
}

// Target names what a request is about: one account (Provider + Account) or every
// account linked to a registration code (RegCode).
type Target struct {
	Provider, Account string
	RegCode           string
}

func (t Target) String() string {
	if t.RegCode != "" {
		return "regcode " + t.RegCode
	}
	return t.Provider + ":" + t.Account
}

// targetRefs returns the accounts a target names; a registration code is read from the
// last durable state.
func (c *Core) targetRefs(t Target) ([]AccountRef, error) {
	if t.RegCode == "" {
		refs, _, err := c.refsOf(nil, t)
		return refs, err
	}
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	refs, _, err := c.refsOf(view, t)
	return refs, err
}

// targetAccount is one open account of a resolved target.
type targetAccount struct {
	prov *Provider
	ref  AccountRef
	rec  *accountRec
}

// getAccount returns the account's current record (nil when it has none): its highest
// visible version.
func getAccount(r ledger.Reader, pr *providerRec, p, a string) (*accountRec, error) {
	// Fast path: an account listed in the provider's last applied file has the committed
	// version, which no visible version exceeds. A point Get; the scan below walks every
	// overwrite of the key still in the memtable.
	if pr.Committed != 0 {
		v, ok, err := r.Get(accountKey(p, a, pr.Committed))
		if err != nil {
			return nil, err
		}
		if ok {
			rec, err := decodeAccount(v)
			if err != nil {
				return nil, fmt.Errorf("billpay: account %s of %s: %w", a, p, err)
			}
			rec.Gen = pr.Committed
			return rec, nil
		}
	}
	rec, _, err := scanAccount(r, pr, p, a, false)
	return rec, err
}

// scanAccount reads every version of an account's record and returns the current one
// and, when others is set, the keys of every other version (superseded or aborted; an
// import deletes them).
func scanAccount(r ledger.Reader, pr *providerRec, p, a string, others bool) (*accountRec, [][]byte, error) {
	pfx := accountPrefix(p, a)
	var best []byte
	var bestKey []byte
	var bestV uint32
	var rest [][]byte
	err := r.Scan(pfx, prefixEnd(pfx), func(k, v []byte) bool {
		if len(k) != len(pfx)+4 {
			return true
		}
		ver := binary.BigEndian.Uint32(k[len(pfx):])
		if pr.visible(ver) && (best == nil || ver > bestV) {
			if others && bestKey != nil {
				rest = append(rest, bestKey)
			}
			best, bestV = bytes.Clone(v), ver
			if others {
				bestKey = bytes.Clone(k)
			}
			return true
		}
		if others && (ver <= pr.Committed || !pr.visible(ver)) {
			rest = append(rest, bytes.Clone(k))
		}
		return true
	})
	if err != nil || best == nil {
		return nil, rest, err
	}
	rec, err := decodeAccount(best)
	if err != nil {
		return nil, nil, fmt.Errorf("billpay: account %s of %s: %w", a, p, err)
	}
	rec.Gen = bestV
	return rec, rest, nil
}

// providerState returns the provider's import state, cached. Call it only holding the
// provider's import lock for reading: the state changes only inside an import, which
// holds that lock for writing and drops the cache entry before it lets go, so what a
// lock holder caches is current.
func (c *Core) providerState(view ledger.Reader, p string) (*providerRec, error) {
	if v, ok := c.prCache.Load(p); ok {
		return v.(*providerRec), nil
	}
	pr, err := getProviderRec(view, p)
	if err == nil {
		c.prCache.Store(p, pr)
	}
	return pr, err
}

func getProviderRec(r ledger.Reader, p string) (*providerRec, error) {
	v, ok, err := r.Get(providerKey(p))
	if err != nil {
		return nil, err
	}
	if !ok {
		return &providerRec{}, nil
	}
	return decodeProvider(v)
}

// open reports whether the account is open: not closed by its record and listed in the
// provider's last full file (or a delta since).
func (rec *accountRec) open(pr *providerRec) bool {
	return rec != nil && !rec.Closed && rec.Gen >= pr.FullVersion
}

// refsOf returns the accounts a target names, without reading them.
func (c *Core) refsOf(view ledger.Reader, t Target) ([]AccountRef, string, error) {
	reg := c.Registry()
	if t.RegCode == "" {
		if _, ok := reg.Provider(t.Provider); !ok {
			return nil, "", declinef(DeclineUnknownProvider, "provider %q is not registered", t.Provider)
		}
		if t.Account == "" {
			return nil, "", declinef(DeclineUnknownAccount, "no account named")
		}
		return []AccountRef{{t.Provider, t.Account}}, "", nil
	}
	sub, err := readSubscriber(view, t.RegCode)
	if err != nil {
		return nil, "", err
	}
	return sub.Accounts, sub.Name, nil
}

func readSubscriber(view ledger.Reader, code string) (*Subscriber, error) {
	if !ValidRegCode(code) {
		return nil, declinef(DeclineUnknownAccount, "registration code %q is not valid", code)
	}
	v, ok, err := view.Get(subscriberKey(code))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, declinef(DeclineUnknownAccount, "registration code %s is not issued", code)
	}
	return decodeSubscriber(code, v)
}

// resolve reads the open accounts of a target. A one-account target whose account is
// missing or closed is declined 25; a registration code skips its closed accounts.
// locked says the caller holds the accounts' locks (and so its providers' import locks).
func (c *Core) resolve(view ledger.Reader, t Target, refs []AccountRef, locked bool) ([]targetAccount, error) {
	reg := c.Registry()
	prs := map[string]*providerRec{}
	var out []targetAccount
	for _, ref := range refs {
		prov, ok := reg.Provider(ref.Provider)
		if !ok {
			if t.RegCode == "" {
				return nil, declinef(DeclineUnknownProvider, "provider %q is not registered", ref.Provider)
			}
			continue
		}
		pr := prs[ref.Provider]
		if pr == nil {
			var err error
			if locked {
				pr, err = c.providerState(view, ref.Provider)
			} else {
				pr, err = getProviderRec(view, ref.Provider)
			}
			if err != nil {
				return nil, err
			}
			prs[ref.Provider] = pr
		}
		var rec *accountRec
		if locked {
			rec = c.cachedAccount(ref)
		}
		if rec == nil {
			var err error
			if rec, err = getAccount(view, pr, ref.Provider, ref.Account); err != nil {
				return nil, err
			}
		}
		if !rec.open(pr) {
			if t.RegCode == "" {
				return nil, declinef(DeclineUnknownAccount, "account %s of %s is unknown or closed", ref.Account, ref.Provider)
			}
			continue
		}
		out = append(out, targetAccount{prov, ref, rec})
	}
	return out, nil
}

// DebtLine is one open debt (or credit) of an inquiry (tag 20).
type DebtLine struct {
	Provider, Account, Service string
	Period                     int // YYYYMM; 0 = an advance (a credit)
	Amount                     int64
	Meter                      *Meter
}

// Inquiry is the consolidated view of a target.
type Inquiry struct {
	Lines    []DebtLine // §5 allocation order: period, provider, account, service order
	Payer    string     // masked ASCII (tag 21)
	Total    int64      // sum of the lines, credits included
	Currency uint16
	Accounts []AccountRef // the open accounts of the target
}

// Inquire returns what the target owes, as of the last durable state.
func (c *Core) Inquire(ctx context.Context, t Target) (*Inquiry, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	refs, subName, err := c.refsOf(view, t)
	if err != nil {
		return nil, err
	}
	accts, err := c.resolve(view, t, refs, false)
	if err != nil {
		return nil, err
	}
	inq := &Inquiry{}
	name := subName
	for _, a := range accts {
		if name == "" {
			name = a.rec.Name
		}
		if inq.Currency == 0 {
			inq.Currency = a.prov.Currency
		}
		inq.Accounts = append(inq.Accounts, a.ref)
		meters := map[[2]any]*Meter{}
		for _, d := range a.rec.Debts {
			if d.Meter != nil {
				meters[[2]any{d.Service, d.Period}] = d.Meter
			}
		}
		for _, d := range a.rec.dues() {
			if d.Amount == 0 {
				continue
			}
			inq.Lines = append(inq.Lines, DebtLine{a.prov.Code, a.ref.Account, d.Service, d.Period, d.Amount, meters[[2]any{d.Service, d.Period}]})
			inq.Total += d.Amount
		}
	}
	reg := c.Registry()
	sortLines(reg, inq.Lines)
	inq.Payer = MaskName(name)
	if inq.Currency == 0 {
		if t.Provider != "" {
			if p, ok := reg.Provider(t.Provider); ok {
				inq.Currency = p.Currency
			}
		}
	}
	return inq, nil
}

func sortLines(reg *Registry, lines []DebtLine) {
	order := func(l DebtLine) int {
		if p, ok := reg.Provider(l.Provider); ok {
			if _, i, ok := p.Service(l.Service); ok {
				return i
			}
		}
		return 1 << 20
	}
	period := func(p int) int { // advances (credits) after the periods
		if p == 0 {
			return 1 << 30
		}
		return p
	}
	slices.SortStableFunc(lines, func(x, y DebtLine) int {
		return cmp.Or(cmp.Compare(period(x.Period), period(y.Period)), cmp.Compare(x.Provider, y.Provider),
			cmp.Compare(x.Account, y.Account), cmp.Compare(order(x), order(y)), cmp.Compare(x.Service, y.Service))
	})
}

// AccountInfo is an account's record as an operator sees it.
type AccountInfo struct {
	AccountRef
	Open                        bool
	Prepaid                     bool
	Name, Address, Phone, Email string
	CardID                      string
	CardSequence                uint32
	RegistersThrough            uint32
	Codes                       []string // registration codes linking it
}

// Account returns an account's record.
func (c *Core) Account(ctx context.Context, provider, account string) (*AccountInfo, error) {
	view, err := c.l.View()
	if err != nil {
		return nil, err
	}
	defer view.Close()
	if _, ok := c.Registry().Provider(provider); !ok {
		return nil, declinef(DeclineUnknownProvider, "provider %q is not registered", provider)
	}
	pr, err := getProviderRec(view, provider)
	if err != nil {
		return nil, err
	}
	rec, err := getAccount(view, pr, provider, account)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, declinef(DeclineUnknownAccount, "account %s of %s is unknown", account, provider)
	}
	ai := &AccountInfo{AccountRef: AccountRef{provider, account}, Open: rec.open(pr), Prepaid: rec.Prepaid,
		Name: rec.Name, Address: rec.Address, Phone: rec.Phone, Email: rec.Email, CardID: rec.CardID,
		CardSequence: rec.CardSeq, RegistersThrough: rec.RegistersThrough}
	pfx := accountCodePrefix(provider, account)
	err = view.Scan(pfx, prefixEnd(pfx), func(k, _ []byte) bool {
		ai.Codes = append(ai.Codes, string(k[len(pfx):]))
		return true
	})
	return ai, err
}

func fmtDate(d uint32) string {
	return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
}
