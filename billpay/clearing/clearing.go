package clearing

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// Deps are what a clearing run reads from and posts to.
type Deps struct {
	Core *billpay.Core
	// Ledger receives the settlement transfers; nil = Core.Ledger().
	Ledger ledger.Ledger
	// Mismatches, when set, supplies the 0500 reconciliation mismatches of the day
	// (the switch records them; cmd adapts them). Nil: the report lists the host's
	// figures only.
	Mismatches MismatchSource
	Logger     zerolog.Logger
}

// Options of one clearing run.
type Options struct {
	// Date is the business date to clear; it must be closed (before the ledger's
	// business date).
	Date ledger.Date
	// Dir is the clearing root (DATA/clearing); the day's files go to Dir/YYYY-MM-DD/.
	Dir string
	// Progress, when set, is called as the run advances (every 65 536 payments read,
	// and at each stage).
	Progress func(Progress)
	// Hub is the debtor of the payout file: the hub's settlement account. Zero value:
	// DemoHub().
	Hub Party
	// Location is the time zone of payment times in the registers (nil = UTC).
	Location *time.Location
	// ReversalWindow is how many days before Date are scanned for payments reversed on
	// Date (default 31), besides billpay's reversal index, which holds every reversal
	// of Date whatever the age of its payment. The scan is for stores written before
	// the index existed (their reversals are in no index); a reversal both find is
	// counted once.
	ReversalWindow int
	// MemoryBudget bounds the bytes of file sections held in memory before they are
	// spilled to disk (default 64 MiB).
	MemoryBudget int
}

// Party is an account holder in the payout file.
type Party struct {
	Name string
	IBAN string
	BIC  string // optional; "NOTPROVIDED" is sent when empty
}

// DemoHub is the demo hub's settlement account (not a real account).
func DemoHub() Party {
	return Party{Name: "billswitch settlement", IBAN: "AZ12BSWH00000000000000009440", BIC: "BSWHAZ22"}
}

// Progress is one report of a run's advance.
type Progress struct {
	Date     ledger.Date
	Stage    string // "read", "post", "write", "done"
	Payments int64  // payments and reversals read so far
}

// Result is a finished clearing run.
type Result struct {
	Date       ledger.Date
	Dir        string
	Files      []File // as listed in the day's MANIFEST
	Payments   int    // payments and top-ups of the day in the registers (same-day reversed ones excluded)
	Reversals  int    // late reversals in the registers
	SameDay    int    // payments reversed on their own day (in no register)
	Providers  []ProviderPosition
	Acquirers  []AcquirerPosition
	Commission []Amount // the hub's commission per currency
	Posted     int      // settlement transfers posted by this run
	Existing   int      // settlement transfers that an earlier run had posted
}

// File is one file of a cleared day.
type File struct {
	Name   string
	Size   int64
	SHA256 string
}

// Amount is a sum in one currency.
type Amount struct {
	Currency uint16
	Minor    int64
}

// ProviderPosition is what the hub owes one provider for the day (its register).
type ProviderPosition struct {
	Provider                  string
	Currency                  uint16
	Digits                    int
	RegisterID                string
	Count                     int   // register entries
	Paid, Reversed            int64 // payments, and late reversals (positive); Total = Paid − Reversed
	Total, Commission, Payout int64 // the register's figures: Payout = Total − Commission (may be < 0)
	// CarriedIn is the provider's balance carried from earlier days (≤ 0: what it owes
	// the hub after a negative payout); PaidOut = max(0, Payout + CarriedIn) is what the
	// payout transfer moves; CarriedOut = min(0, Payout + CarriedIn) stays on the
	// provider payable for its next payout.
	CarriedIn, PaidOut, CarriedOut int64
	Transfer                       ledger.TransferID // the payout transfer (0 when PaidOut is 0)
}

// AcquirerPosition is what one acquirer (or, for cash without an institution, one
// payment point) owes the hub for the day: the money it collected less reversals.
type AcquirerPosition struct {
	Kind                    ledger.AccountKind // KindAcquirerReceivable or KindCashDrawer
	Owner                   string
	Currency                uint16
	Payments, Reversals     int
	PaymentAmount, Reversed int64 // Reversed is positive
	Owes                    int64 // PaymentAmount − Reversed
	Transfer                ledger.TransferID
}

// Errors of Run.
var (
	ErrDayOpen = errors.New("clearing: the business day is not closed")
	// ErrChanged: the day's figures differ from the settlement an earlier run posted.
	ErrChanged = errors.New("clearing: the day's figures changed since it was settled")
	// ErrUnbalanced: the positions do not sum to zero (a corrupt store).
	ErrUnbalanced = errors.New("clearing: positions do not sum to zero")
)

const (
	defaultWindow = 31
	defaultBudget = 64 << 20
	progressEvery = 1 << 16
)

// Run clears one closed business day: it reads the day's payments and late reversals
// from billpay, builds each provider's register (provider-exchange.md §4), the
// positions, the payout file, the per-bank lists and the reconciliation report, posts
// the settlement transfers through the ledger (once: each under an idempotency key of
// the date and the party), and writes the files to Dir/YYYY-MM-DD/ (each atomically;
// the MANIFEST last). Running it again on the same store posts nothing and writes
// byte-identical files.
func Run(ctx context.Context, deps Deps, opts Options) (*Result, error) {
	if deps.Core == nil {
		return nil, errors.New("clearing: a billpay core is required")
	}
	if deps.Ledger == nil {
		deps.Ledger = deps.Core.Ledger()
	}
	if !opts.Date.Valid() {
		return nil, fmt.Errorf("clearing: bad date %d", opts.Date)
	}
	if cur := deps.Ledger.BusinessDate(); opts.Date >= cur {
		return nil, fmt.Errorf("%w: %s is open (business date %s); close it first", ErrDayOpen, isoDate(opts.Date), isoDate(cur))
	}
	if opts.Dir == "" {
		return nil, errors.New("clearing: no directory")
	}
	if opts.Hub == (Party{}) {
		opts.Hub = DemoHub()
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.ReversalWindow <= 0 {
		opts.ReversalWindow = defaultWindow
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = defaultBudget
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	dayDir := filepath.Join(opts.Dir, isoDate(opts.Date))
	workDir := filepath.Join(opts.Dir, ".work-"+isoDate(opts.Date))
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockDay(opts.Dir, opts.Date)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := os.RemoveAll(workDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)

	d := newDay(deps, &opts, workDir)
	progress(Progress{Date: opts.Date, Stage: "read"})
	var n int64
	from := addDays(opts.Date, -opts.ReversalWindow)
	err = deps.Core.ClearingDay(ctx, opts.Date, from, func(p *billpay.ClearingPayment, reversal bool) error {
		if n++; n%progressEvery == 0 {
			progress(Progress{Date: opts.Date, Stage: "read", Payments: n})
		}
		return d.add(ctx, p, reversal)
	})
	if err != nil {
		return nil, fmt.Errorf("clearing %s: %w", isoDate(opts.Date), err)
	}
	// Every registered provider gets a register for every day, an empty one (count 0)
	// on a day without entries for it: providers take registers-through from them.
	for _, p := range d.reg.Providers() {
		if _, err := d.provider(p.Code); err != nil {
			return nil, err
		}
	}
	res, err := d.positions()
	if err != nil {
		return nil, err
	}
	progress(Progress{Date: opts.Date, Stage: "post", Payments: n})
	if err := d.post(ctx, res); err != nil {
		return nil, err
	}
	progress(Progress{Date: opts.Date, Stage: "write", Payments: n})
	if err := d.writeFiles(ctx, dayDir, res); err != nil {
		return nil, err
	}
	progress(Progress{Date: opts.Date, Stage: "done", Payments: n})
	deps.Logger.Info().Str("business_date", isoDate(opts.Date)).Int("payments", res.Payments).Int("reversals", res.Reversals).
		Int("providers", len(res.Providers)).Int("acquirers", len(res.Acquirers)).Int("posted", res.Posted).
		Int("existing", res.Existing).Msg("clearing done")
	return res, nil
}

// provAgg is one provider's register in the making.
type provAgg struct {
	prov                *billpay.Provider
	count               int
	total, commission   int64
	paid, reversed      int64 // total = paid − reversed
	payments, reversals *section
}

type partyKey struct {
	kind     ledger.AccountKind
	owner    string
	currency uint16
}

type partyAgg struct {
	payments, reversals int
	paid, reversed      int64
}

// bankAgg is one provider's part of one bank's list.
type bankAgg struct {
	rows   *section
	count  int
	total  int64
	digits int
}

// tally is the host's reconciliation figures of one institution or terminal.
type tally struct {
	payments, reversals int64
	paid, reversed      int64
}

type day struct {
	deps      Deps
	opts      *Options
	reg       *billpay.Registry
	secs      *sections
	provs     map[string]*provAgg
	parties   map[partyKey]*partyAgg
	banks     map[string]map[string]*bankAgg // bank → provider → rows
	inst      map[string]*tally              // acquirer → figures
	terms     map[string]*tally              // terminal → figures
	payments  int
	reversals int
	sameDay   int
	buf       []byte
	tf        timeFmt
	transfers transferReader // nil: the ledger cannot read transfers
	lookup    ledger.Ledger  // the ledger transfers belongs to (outcomes are looked up there)
}

type transferReader interface {
	Transfer(ledger.TransferID) (ledger.Transfer, bool, error)
}

func newDay(deps Deps, opts *Options, workDir string) *day {
	d := &day{deps: deps, opts: opts, reg: deps.Core.Registry(), secs: newSections(workDir, opts.MemoryBudget),
		provs: map[string]*provAgg{}, parties: map[partyKey]*partyAgg{}, banks: map[string]map[string]*bankAgg{},
		inst: map[string]*tally{}, terms: map[string]*tally{}, tf: timeFmt{loc: opts.Location}}
	// The transfer reader: the ledger's own, or, when Deps.Ledger is a wrapper without
	// it (GatedLedger), the core's store; outcomes are looked up in the same store.
	for _, l := range []ledger.Ledger{deps.Ledger, deps.Core.Ledger()} {
		if t, ok := l.(transferReader); ok {
			d.transfers, d.lookup = t, l
			break
		}
	}
	return d
}

func (d *day) provider(code string) (*provAgg, error) {
	if a := d.provs[code]; a != nil {
		return a, nil
	}
	p, ok := d.reg.Provider(code)
	if !ok {
		return nil, fmt.Errorf("clearing %s: provider %q has payments but is not registered", isoDate(d.opts.Date), code)
	}
	a := &provAgg{prov: p, payments: d.secs.get(), reversals: d.secs.get()}
	d.provs[code] = a
	return a, nil
}

// cashList names the per-bank list of cash taken without a named institution (the
// hub's own payment points).
const cashList = "CASH"

// bankKey names the per-bank list a payment belongs to: its acquirer, or cashList.
func bankKey(p *billpay.ClearingPayment) string {
	if p.Acquirer != "" {
		return p.Acquirer
	}
	return cashList
}

// part is one provider's share of a payment.
type part struct {
	provider string
	amount   int64
	fee      int64
}

// add takes one payment (or, reversal = true, one late reversal) of the day.
func (d *day) add(ctx context.Context, p *billpay.ClearingPayment, reversal bool) error {
	date := d.opts.Date
	// The host's reconciliation figures count what was posted on the day.
	if !reversal {
		tallyOf(d.inst, p.Acquirer, p.Acquirer != "").addPayment(p.Amount)
		tallyOf(d.terms, p.Terminal, p.Terminal != "").addPayment(p.Amount)
	}
	if p.Reversed && p.ReversalDate == date {
		tallyOf(d.inst, p.Acquirer, p.Acquirer != "").addReversal(p.Amount)
		tallyOf(d.terms, p.Terminal, p.Terminal != "").addReversal(p.Amount)
	}
	if !reversal && p.Reversed && p.ReversalDate == date {
		d.sameDay++ // reversed on its own day: in no register, no position
		return nil
	}
	parts, err := d.split(ctx, p)
	if err != nil {
		return err
	}
	sign := int64(1)
	if reversal {
		sign = -1
		d.reversals++
	} else {
		d.payments++
	}
	// The acquirer's (or cash drawer's) position.
	pk := partyKey{ledger.KindAcquirerReceivable, p.Acquirer, p.Currency}
	if p.Method == billpay.MethodCash {
		pk = partyKey{ledger.KindCashDrawer, p.Terminal, p.Currency}
	}
	pa := d.parties[pk]
	if pa == nil {
		pa = &partyAgg{}
		d.parties[pk] = pa
	}
	if reversal {
		pa.reversals++
		pa.reversed += p.Amount
	} else {
		pa.payments++
		pa.paid += p.Amount
	}
	bank := bankKey(p)
	for _, pt := range parts {
		a, err := d.provider(pt.provider)
		if err != nil {
			return err
		}
		if a.prov.Currency != p.Currency {
			return fmt.Errorf("clearing: payment %s in currency %d to %s, which takes %d", p.Receipt, p.Currency, pt.provider, a.prov.Currency)
		}
		a.commission += sign * pt.fee
		ba := d.bank(bank, a)
		// One register entry per account of this provider the payment paid.
		for _, acct := range accountsOf(p.Allocations, pt.provider) {
			var amt int64
			for _, al := range p.Allocations {
				if al.Provider == pt.provider && al.Account == acct {
					amt += al.Amount
				}
			}
			a.count++
			a.total += sign * amt
			if reversal {
				a.reversed += amt
			} else {
				a.paid += amt
			}
			ba.count++
			ba.total += sign * amt
			if reversal {
				d.buf = appendReversal(d.buf[:0], p, acct, -amt, a.prov.MinorDigits)
				if err := d.secs.write(a.reversals, d.buf); err != nil {
					return err
				}
			} else {
				d.buf = appendPayment(d.buf[:0], p, pt.provider, acct, amt, a.prov, &d.tf)
				if err := d.secs.write(a.payments, d.buf); err != nil {
					return err
				}
			}
			d.buf = appendBankRow(d.buf[:0], p, reversal, acct, sign*amt, a.prov, &d.tf)
			if err := d.secs.write(ba.rows, d.buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *day) bank(bank string, a *provAgg) *bankAgg {
	m := d.banks[bank]
	if m == nil {
		m = map[string]*bankAgg{}
		d.banks[bank] = m
	}
	ba := m[a.prov.Code]
	if ba == nil {
		ba = &bankAgg{rows: d.secs.get(), digits: a.prov.MinorDigits}
		m[a.prov.Code] = ba
	}
	return ba
}

func tallyOf(m map[string]*tally, k string, ok bool) *tally {
	if !ok {
		return &tally{} // counted nowhere
	}
	t := m[k]
	if t == nil {
		t = &tally{}
		m[k] = t
	}
	return t
}

func (t *tally) addPayment(a int64)  { t.payments++; t.paid += a }
func (t *tally) addReversal(a int64) { t.reversals++; t.reversed += a }

// accountsOf returns the accounts of provider p in the allocations, in first-seen order.
func accountsOf(as []billpay.Allocation, p string) []string {
	var out []string
	for _, a := range as {
		if a.Provider == p && !slices.Contains(out, a.Account) {
			out = append(out, a.Account)
		}
	}
	return out
}

// split returns each provider's part of a payment and the hub's commission on it, as
// billpay posted them: one commission per provider part (billpay commitPayment). For
// one provider it is the record's commission; for several it is read from the
// payment's ledger transfer (each provider payable's credit is its part less its
// commission), never recomputed from the agreements, which may have changed since.
func (d *day) split(ctx context.Context, p *billpay.ClearingPayment) ([]part, error) {
	var parts []part
	var sum int64
	for _, a := range p.Allocations {
		sum += a.Amount
		i := slices.IndexFunc(parts, func(x part) bool { return x.provider == a.Provider })
		if i < 0 {
			parts = append(parts, part{provider: a.Provider})
			i = len(parts) - 1
		}
		parts[i].amount += a.Amount
	}
	if sum != p.Amount || len(parts) == 0 {
		return nil, fmt.Errorf("clearing: payment %s: allocations sum to %d, amount %d", p.Receipt, sum, p.Amount)
	}
	if len(parts) == 1 {
		parts[0].fee = p.Commission
		return parts, nil
	}
	return d.splitFromLedger(ctx, p, parts)
}

// splitFromLedger reads each provider's commission on a payment of several providers
// from the payment's ledger transfer. Without a transfer reader the split is refused
// (a guess from today's agreements could pay a provider another's commission).
func (d *day) splitFromLedger(ctx context.Context, p *billpay.ClearingPayment, parts []part) ([]part, error) {
	if d.transfers == nil {
		return nil, fmt.Errorf("clearing: payment %s pays %d providers and the ledger cannot read its transfer (no Transfer method): cannot split its commission %d", p.Receipt, len(parts), p.Commission)
	}
	out, ok, err := d.lookup.Lookup(ctx, p.Key)
	if err != nil || !ok {
		return nil, fmt.Errorf("clearing: payment %s: its ledger outcome: %v (found %v)", p.Receipt, err, ok)
	}
	t, ok, err := d.transfers.Transfer(out.TransferID)
	if err != nil || !ok {
		return nil, fmt.Errorf("clearing: payment %s: its transfer %d: %v (found %v)", p.Receipt, out.TransferID, err, ok)
	}
	var fees int64
	for i := range parts {
		var net int64
		for _, ps := range t.Postings {
			if ps.Account.Kind == ledger.KindProviderPayable && ps.Account.Owner == parts[i].provider && ps.Side == ledger.Credit {
				net += ps.Amount
			}
		}
		// No credit: the commission took the whole part (billpay posts none when net ≤ 0).
		parts[i].fee = parts[i].amount - net
		fees += parts[i].fee
	}
	if fees != p.Commission {
		return nil, fmt.Errorf("clearing: payment %s: its transfer holds commission %d, its record %d", p.Receipt, fees, p.Commission)
	}
	return parts, nil
}

// positions sums the day: providers and acquirers in a fixed order, and checks that
// what acquirers owe equals what providers are owed plus the commission, per currency.
func (d *day) positions() (*Result, error) {
	res := &Result{Date: d.opts.Date, Payments: d.payments, Reversals: d.reversals, SameDay: d.sameDay}
	net := map[uint16]int64{}
	com := map[uint16]int64{}
	for _, code := range sortedKeys(d.provs) {
		a := d.provs[code]
		pp := ProviderPosition{Provider: code, Currency: a.prov.Currency, Digits: a.prov.MinorDigits,
			RegisterID: registerID(code, d.opts.Date), Count: a.count, Paid: a.paid, Reversed: a.reversed, Total: a.total, Commission: a.commission,
			Payout: a.total - a.commission}
		// A negative payout is not collected from the provider: it stays on its payable
		// and is netted into its next payouts (recorded by post, read here).
		carry, err := d.deps.Core.ClearingCarry(code, pp.Currency, d.opts.Date)
		if err != nil {
			return nil, fmt.Errorf("clearing %s: provider %s: its carried balance: %w", isoDate(d.opts.Date), code, err)
		}
		pp.CarriedIn = carry
		pp.PaidOut, pp.CarriedOut = max(0, pp.Payout+carry), min(0, pp.Payout+carry)
		res.Providers = append(res.Providers, pp)
		net[pp.Currency] -= pp.Payout
		com[pp.Currency] += pp.Commission
	}
	keys := make([]partyKey, 0, len(d.parties))
	for k := range d.parties {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y partyKey) int {
		return cmp.Or(cmp.Compare(x.currency, y.currency), cmp.Compare(x.kind, y.kind), cmp.Compare(x.owner, y.owner))
	})
	for _, k := range keys {
		pa := d.parties[k]
		ap := AcquirerPosition{Kind: k.kind, Owner: k.owner, Currency: k.currency, Payments: pa.payments,
			Reversals: pa.reversals, PaymentAmount: pa.paid, Reversed: pa.reversed, Owes: pa.paid - pa.reversed}
		res.Acquirers = append(res.Acquirers, ap)
		net[k.currency] += ap.Owes
	}
	for _, cur := range sortedKeys(com) {
		res.Commission = append(res.Commission, Amount{cur, com[cur]})
		net[cur] -= com[cur]
	}
	for cur, v := range net {
		if v != 0 {
			return nil, fmt.Errorf("%w: %s, currency %d: %d", ErrUnbalanced, isoDate(d.opts.Date), cur, v)
		}
	}
	return res, nil
}

// ErrPayableShort: a provider's payable holds less than its payout (a reversal posted
// after the day took it); nothing was posted, and the run can be repeated once the
// payable covers the payout.
var ErrPayableShort = errors.New("clearing: a provider payable holds less than its payout")

// post posts the day's settlement through the ledger: per acquirer, the money it owes
// moves from its receivable (or the cash drawer) to the hub's settlement account
// (CodeSettlement); per provider, its payout net of its carried balance (PaidOut) moves
// from its payable to the settlement account (CodePayout), in one command with the
// record of the balance it carries on (when that changed). A negative payout posts
// nothing: it stays on the payable. Each is one command under the key
// clr/<kind>/<date>/...; a re-run meets the stored outcomes and posts nothing.
//
// Only a payout can be declined (a provider payable may not go negative), and a
// decline is remembered under its key. So every payout not yet posted is first checked
// against its payable's balance, and nothing at all is posted when one falls short;
// and a payout declined all the same (a reversal racing the check) is retried by the
// next run under a successor key (key#2, …), so the day is never blocked by it.
func (d *day) post(ctx context.Context, res *Result) error {
	settlement := ledger.AccountID{Kind: ledger.KindSettlement}
	date := strconv.FormatUint(uint64(d.opts.Date), 10)
	command := func(key string, code ledger.Code, party ledger.AccountID, cur uint16, amount int64, partyPays bool, writes []ledger.Write) *ledger.Command {
		h := sha256.New()
		h.Write([]byte(key))
		cmd := &ledger.Command{Writes: writes}
		if amount != 0 {
			dr, cr := settlement, party
			if !partyPays {
				dr, cr = party, settlement
			}
			if amount < 0 {
				dr, cr, amount = cr, dr, -amount
			}
			c := ledger.Currency(cur)
			cmd.Transfer = &ledger.Transfer{Code: code, Refs: ledger.Refs{PaymentID: "CLR-" + date}, Postings: []ledger.Posting{
				{Account: dr, Side: ledger.Debit, Amount: amount, Currency: c},
				{Account: cr, Side: ledger.Credit, Amount: amount, Currency: c}}}
			for _, p := range cmd.Transfer.Postings {
				h.Write([]byte{byte(p.Account.Kind), byte(p.Side)})
				h.Write([]byte(p.Account.Owner))
				h.Write(binary.BigEndian.AppendUint64([]byte{0}, uint64(p.Amount)))
			}
		}
		// Writes are hashed only when present: a command without them hashes as before.
		for _, w := range writes {
			h.Write([]byte("\x00write"))
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(w.Key))))
			h.Write(w.Key)
			h.Write(w.Value)
		}
		h.Sum(cmd.RequestHash[:0])
		return cmd
	}
	// Submitted side by side: the sequencer commits them in a few groups.
	type job struct {
		key     string
		cmd     *ledger.Command
		id      *ledger.TransferID
		payable ledger.AccountID // payouts: the payable the ledger holds to its balance
		cur     uint16
		amount  int64 // payouts: PaidOut
	}
	var jobs []job
	for i := range res.Acquirers {
		a := &res.Acquirers[i]
		if a.Owes != 0 {
			party := ledger.AccountID{Kind: a.Kind, Owner: a.Owner}
			key := fmt.Sprintf("clr/set/%s/%d/%d/%s", date, a.Currency, a.Kind, a.Owner)
			jobs = append(jobs, job{key: key, cmd: command(key, ledger.CodeSettlement, party, a.Currency, a.Owes, true, nil), id: &a.Transfer})
		}
	}
	for i := range res.Providers {
		p := &res.Providers[i]
		var writes []ledger.Write
		if p.CarriedOut != p.CarriedIn {
			writes = []ledger.Write{billpay.ClearingCarryWrite(p.Provider, p.Currency, d.opts.Date, p.CarriedOut)}
		}
		if p.PaidOut == 0 && writes == nil {
			continue
		}
		payable := ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: p.Provider}
		key := fmt.Sprintf("clr/pay/%s/%d/%s", date, p.Currency, p.Provider)
		jobs = append(jobs, job{key: key, cmd: command(key, ledger.CodePayout, payable, p.Currency, p.PaidOut, false, writes),
			id: &p.Transfer, payable: payable, cur: p.Currency, amount: p.PaidOut})
	}
	// Each command's key (a successor when an earlier run's command was declined), and
	// the payouts not yet posted checked against their payables, before posting any.
	var short []error
	for i := range jobs {
		j := &jobs[i]
		key, found, err := d.settlementKey(ctx, j.key)
		if err != nil {
			return err
		}
		j.cmd.Key = []byte(key)
		if !found && j.amount > 0 {
			if b := d.deps.Ledger.Balance(j.payable, ledger.Currency(j.cur)); b.Credits-b.Debits < j.amount {
				short = append(short, fmt.Errorf("%w: %s: %s holds %s of its payout %s (nothing posted; clear the day again once its payable covers it)",
					ErrPayableShort, isoDate(d.opts.Date), j.payable.Owner,
					appendAmount(nil, b.Credits-b.Debits, d.currencyDigits(j.cur)), appendAmount(nil, j.amount, d.currencyDigits(j.cur))))
			}
		}
	}
	if len(short) > 0 {
		return errors.Join(short...)
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, postParallel)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := d.deps.Ledger.Submit(ctx, j.cmd)
			switch {
			case errors.Is(err, ledger.ErrConflict):
				err = fmt.Errorf("%w: %s (settlement %s)", ErrChanged, isoDate(d.opts.Date), j.cmd.Key)
			case err != nil:
				err = fmt.Errorf("clearing: settlement %s: %w", j.cmd.Key, err)
			case out.Status != ledger.Committed:
				err = fmt.Errorf("clearing: settlement %s declined (nothing posted; a re-run retries it): %v", j.cmd.Key, out.Reason)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			*j.id = out.TransferID
			switch {
			case j.cmd.Transfer == nil: // a carried balance recorded, no transfer
			case out.Duplicate:
				res.Existing++
			default:
				res.Posted++
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// settlementKey returns the key a settlement command is submitted under: key, or,
// when an earlier run's command under it was declined (nothing posted; the decline is
// remembered under the key), the first of key#2, key#3, … that holds no decline.
// found: a command was already decided under the key returned.
func (d *day) settlementKey(ctx context.Context, key string) (string, bool, error) {
	k := key
	for n := 2; ; n++ {
		out, ok, err := d.deps.Ledger.Lookup(ctx, []byte(k))
		if err != nil {
			return "", false, fmt.Errorf("clearing: settlement %s: %w", k, err)
		}
		if !ok || out.Status != ledger.Declined {
			return k, ok, nil
		}
		k = key + "#" + strconv.Itoa(n)
	}
}

// postParallel bounds the settlement commands in flight at once.
const postParallel = 64

func registerID(provider string, d ledger.Date) string {
	return fmt.Sprintf("REG-%s-%08d", provider, uint32(d))
}

func isoDate(d ledger.Date) string {
	return fmt.Sprintf("%04d-%02d-%02d", uint32(d)/10000, uint32(d)/100%100, uint32(d)%100)
}

func dateTime(d ledger.Date) time.Time {
	return time.Date(int(d/10000), time.Month(d/100%100), int(d%100), 0, 0, 0, 0, time.UTC)
}

func addDays(d ledger.Date, n int) ledger.Date {
	return ledger.DateOf(dateTime(d).AddDate(0, 0, n))
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
