package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestSubmitRejectsMalformed(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	good := payment(1000, 50, "p")
	tests := []struct {
		name string
		cmd  *Command
		is   error
	}{
		{"nil", nil, ErrInvalid},
		{"no key", &Command{Transfer: good}, ErrInvalid},
		{"both transfer and reverse", &Command{Key: []byte("k"), Transfer: good, Reverse: 1}, ErrInvalid},
		{"unbalanced", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: 10, Currency: azn},
			{Account: provider, Side: Credit, Amount: 9, Currency: azn}}}), ErrUnbalanced},
		{"balanced across currencies only", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: 10, Currency: azn},
			{Account: provider, Side: Credit, Amount: 10, Currency: 840}}}), ErrUnbalanced},
		{"zero amount", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: 0, Currency: azn},
			{Account: provider, Side: Credit, Amount: 0, Currency: azn}}}), ErrInvalid},
		{"negative amount", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: -5, Currency: azn},
			{Account: provider, Side: Credit, Amount: -5, Currency: azn}}}), ErrInvalid},
		{"one posting", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: 5, Currency: azn}}}), ErrInvalid},
		{"bad kind", cmdOf("k", move(AccountID{Kind: 99}, provider, 5)), ErrInvalid},
		{"bad side", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: 7, Amount: 5, Currency: azn},
			{Account: provider, Side: Credit, Amount: 5, Currency: azn}}}), ErrInvalid},
		{"no currency", cmdOf("k", &Transfer{Code: CodePayment, Postings: []Posting{
			{Account: drawer, Side: Debit, Amount: 5},
			{Account: provider, Side: Credit, Amount: 5}}}), ErrInvalid},
		{"code reversal", cmdOf("k", &Transfer{Code: CodeReversal, Postings: good.Postings}), ErrInvalid},
		{"no code", cmdOf("k", &Transfer{Postings: good.Postings}), ErrInvalid},
		{"write in ledger range", &Command{Key: []byte("k"), Writes: []Write{{Key: []byte{prefixBalance, 1}, Value: []byte("x")}}}, ErrInvalid},
		{"write above switch range", &Command{Key: []byte("k"), Writes: []Write{{Key: []byte{0x50}, Value: []byte("x")}}}, ErrInvalid},
		{"empty write key", &Command{Key: []byte("k"), Writes: []Write{{Value: []byte("x")}}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Submit(context.Background(), tc.cmd)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if _, ok, err := s.Lookup(context.Background(), []byte("k")); ok || err != nil {
				t.Fatalf("a refused command was recorded (ok=%v err=%v)", ok, err)
			}
		})
	}
	if got := s.Balance(drawer, azn); got != (Balance{}) {
		t.Fatalf("drawer moved: %+v", got)
	}
}

func TestIdempotency(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	ctx := context.Background()

	first := submit(t, s, &Command{Key: []byte("pay-1"), RequestHash: hashOf("a"), Transfer: payment(1000, 50, "1"), Result: []byte("receipt-1")})
	if first.Status != Committed || first.Duplicate || first.TransferID == 0 {
		t.Fatalf("first = %+v", first)
	}
	again := submit(t, s, &Command{Key: []byte("pay-1"), RequestHash: hashOf("a"), Transfer: payment(1000, 50, "1"), Result: []byte("other")})
	if !again.Duplicate || again.TransferID != first.TransferID || string(again.Result) != "receipt-1" || again.Status != Committed {
		t.Fatalf("duplicate = %+v, want the original outcome", again)
	}
	if _, err := s.Submit(ctx, &Command{Key: []byte("pay-1"), RequestHash: hashOf("b"), Transfer: payment(1000, 50, "1")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("different request under the same key: err = %v, want ErrConflict", err)
	}
	if b := s.Balance(provider, azn); b.Credits != 1000 || b.Debits != 0 {
		t.Fatalf("provider = %+v, want one payment", b)
	}

	// A decline is remembered: the same key stays declined after the rule would pass.
	pay := &Command{Key: []byte("payout-1"), RequestHash: hashOf("payout"), Transfer: move(provider, settle, 5000)}
	d := submit(t, s, pay)
	if d.Status != Declined || !errors.Is(d.Reason, ErrInsufficientFunds) {
		t.Fatalf("payout = %+v, want declined", d)
	}
	submit(t, s, cmdOf("pay-2", payment(9000, 0, "2")))
	d2 := submit(t, s, pay)
	if d2.Status != Declined || !d2.Duplicate || !errors.Is(d2.Reason, ErrInsufficientFunds) {
		t.Fatalf("payout retried = %+v, want the remembered decline", d2)
	}
	if _, err := s.Submit(ctx, &Command{Key: []byte("payout-1"), RequestHash: hashOf("x"), Transfer: move(provider, settle, 1)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	out, ok, err := s.Lookup(ctx, []byte("pay-1"))
	if err != nil || !ok || out.TransferID != first.TransferID || string(out.Result) != "receipt-1" {
		t.Fatalf("Lookup = %+v %v %v", out, ok, err)
	}
	if _, ok, _ := s.Lookup(ctx, []byte("never")); ok {
		t.Fatal("Lookup found an unknown key")
	}
	mustVerify(t, s)
}

// Many submitters race with one key: exactly one posts, the rest see its outcome,
// and those with another request hash get ErrConflict.
func TestIdempotencyUnderConcurrency(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	const n = 64
	var wg sync.WaitGroup
	outs := make([]Outcome, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := hashOf("same")
			if i%4 == 3 {
				h = hashOf("other")
			}
			outs[i], errs[i] = s.Submit(context.Background(), &Command{Key: []byte("k"), RequestHash: h, Transfer: payment(100, 1, "x")})
		}(i)
	}
	wg.Wait()
	originals, dups, conflicts := 0, 0, 0
	var id TransferID
	for i := range outs {
		switch {
		case errors.Is(errs[i], ErrConflict):
			conflicts++
		case errs[i] != nil:
			t.Fatalf("submit %d: %v", i, errs[i])
		case outs[i].Duplicate:
			dups++
		default:
			originals++
			id = outs[i].TransferID
		}
	}
	// The first to reach the sequencer wins; if it had the "other" hash, the rest conflict.
	if originals != 1 || dups+conflicts != n-1 {
		t.Fatalf("originals %d dups %d conflicts %d", originals, dups, conflicts)
	}
	for i := range outs {
		if errs[i] == nil && outs[i].TransferID != id {
			t.Fatalf("outcome %d has transfer %d, want %d", i, outs[i].TransferID, id)
		}
	}
	if b := s.Balance(provider, azn); b.Credits != 100 {
		t.Fatalf("provider = %+v, want one posting", b)
	}
	mustVerify(t, s)
}

func TestReversal(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	p := submit(t, s, cmdOf("pay", payment(1000, 50, "P1")))
	r := submit(t, s, &Command{Key: []byte("rev"), RequestHash: hashOf("rev"), Reverse: p.TransferID})
	if r.Status != Committed || r.TransferID <= p.TransferID {
		t.Fatalf("reversal = %+v", r)
	}
	for _, a := range []AccountID{drawer, provider, income} {
		b := s.Balance(a, azn)
		if b.Debits != b.Credits {
			t.Fatalf("%v not back to zero net: %+v", a, b)
		}
	}
	tr, ok, err := s.Transfer(r.TransferID)
	if err != nil || !ok || tr.Code != CodeReversal || tr.Reverses != p.TransferID || tr.Refs.PaymentID != "P1" {
		t.Fatalf("reversal transfer = %+v %v %v", tr, ok, err)
	}
	tests := []struct {
		name   string
		target TransferID
		reason error
	}{
		{"second reversal", p.TransferID, ErrAlreadyReversed},
		{"unknown transfer", 12345, ErrNotFound},
		{"reversal of a reversal", r.TransferID, ErrNotReversible},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := submit(t, s, &Command{Key: []byte("rev-" + tc.name), Reverse: tc.target})
			if out.Status != Declined || !errors.Is(out.Reason, tc.reason) {
				t.Fatalf("out = %+v, want declined %v", out, tc.reason)
			}
		})
	}

	// A reversal is not held to the balance rules: the provider was paid out meanwhile,
	// the reversal still posts and the provider now owes the hub (payable below zero),
	// while a forward movement that would do the same is refused.
	p2 := submit(t, s, cmdOf("pay2", payment(700, 0, "P2")))
	if o := submit(t, s, cmdOf("payout", move(provider, settle, 700))); o.Status != Committed {
		t.Fatalf("payout = %+v", o)
	}
	before := s.Balance(provider, 944)
	if o := submit(t, s, &Command{Key: []byte("rev2"), Reverse: p2.TransferID}); o.Status != Committed {
		t.Fatalf("reversal after payout = %+v, want committed", o)
	}
	after := s.Balance(provider, 944)
	if after.Credits-after.Debits >= 0 || (before.Credits-before.Debits)-(after.Credits-after.Debits) <= 0 {
		t.Fatalf("provider payable %+v → %+v, want it taken below zero", before, after)
	}
	if o := submit(t, s, cmdOf("payout2", move(provider, settle, 1))); o.Status != Declined || !errors.Is(o.Reason, ErrInsufficientFunds) {
		t.Fatalf("payout from a negative payable = %+v, want ErrInsufficientFunds", o)
	}
	// A payment smaller than the debt still posts: it credits the payable (towards
	// zero); only net debits are held to the rule.
	if o := submit(t, s, cmdOf("pay3", payment(after.Debits-after.Credits-1, 0, "P3"))); o.Status != Committed {
		t.Fatalf("payment to a provider that owes the hub = %+v, want committed", o)
	}
	if b := s.Balance(provider, 944); b.Credits-b.Debits != -1 {
		t.Fatalf("provider payable %+v, want -1", b)
	}
	if o := submit(t, s, cmdOf("payout3", move(provider, settle, 1))); o.Status != Declined {
		t.Fatalf("payout from a negative payable = %+v, want declined", o)
	}
	mustVerify(t, s)
}

// Two reversals of one transfer inside one group: only the first posts.
func TestReversalOnceWithinAGroup(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	p := submit(t, s, cmdOf("pay", payment(1000, 50, "P1")))
	var wg sync.WaitGroup
	outs := make([]Outcome, 16)
	for i := range outs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			outs[i] = submit(t, s, &Command{Key: []byte(fmt.Sprint("rev", i)), Reverse: p.TransferID})
		}(i)
	}
	wg.Wait()
	committed := 0
	for _, o := range outs {
		if o.Status == Committed {
			committed++
		} else if !errors.Is(o.Reason, ErrAlreadyReversed) {
			t.Fatalf("decline reason %v", o.Reason)
		}
	}
	if committed != 1 {
		t.Fatalf("%d reversals committed, want 1", committed)
	}
	mustVerify(t, s)
}

func TestBalanceRules(t *testing.T) {
	tests := []struct {
		name     string
		debit    AccountID // debited first, from an empty balance
		mayGoNeg bool
	}{
		{"provider payable", provider, false},
		{"commission income", income, false},
		{"subscriber advances", advances, false},
		{"acquirer receivable", acquirer, true},
		{"settlement", settle, true},
		{"suspense", suspense, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, vfs.NewMem())
			defer s.Close()
			// Debiting a credit-normal account from zero takes it negative.
			out := submit(t, s, cmdOf("d", move(tc.debit, suspense, 10)))
			if tc.debit == suspense {
				out = submit(t, s, cmdOf("d2", move(tc.debit, drawer, 10)))
			}
			if tc.mayGoNeg != (out.Status == Committed) {
				t.Fatalf("out = %+v, may go negative: %v", out, tc.mayGoNeg)
			}
			if !tc.mayGoNeg {
				// Credit it, then debiting up to the credit is fine and one more is not.
				submit(t, s, cmdOf("c", move(drawer, tc.debit, 10)))
				if o := submit(t, s, cmdOf("d-ok", move(tc.debit, settle, 10))); o.Status != Committed {
					t.Fatalf("debit to zero: %+v", o)
				}
				if o := submit(t, s, cmdOf("d-1", move(tc.debit, settle, 1))); o.Status != Declined {
					t.Fatalf("debit below zero: %+v", o)
				}
			}
			mustVerify(t, s)
		})
	}
}

// A multi-leg transfer is judged on the account's net: a debit and a larger credit to
// the same provider in one transfer is allowed from zero.
func TestBalanceRuleNetsLegs(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	out := submit(t, s, cmdOf("net", &Transfer{Code: CodeAdjustment, Postings: []Posting{
		{Account: provider, Side: Debit, Amount: 5, Currency: azn},
		{Account: provider, Side: Credit, Amount: 8, Currency: azn},
		{Account: drawer, Side: Debit, Amount: 3, Currency: azn},
	}}))
	if out.Status != Committed {
		t.Fatalf("out = %+v", out)
	}
}

func TestWritesAreAtomicWithTheOutcome(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	ok := submit(t, s, &Command{Key: []byte("a"), Transfer: payment(10, 0, "a"),
		Writes: []Write{{Key: []byte{0x20, 'a'}, Value: []byte("paid")}, {Key: []byte{0x40, 'a'}, Value: []byte("sw")}}})
	no := submit(t, s, &Command{Key: []byte("b"), Transfer: move(provider, settle, 1000),
		Writes: []Write{{Key: []byte{0x20, 'b'}, Value: []byte("paid")}}})
	only := submit(t, s, &Command{Key: []byte("c"), Result: []byte("declined-by-billpay"),
		Writes: []Write{{Key: []byte{0x21, 'c'}, Value: []byte("note")}, {Key: []byte{0x20, 'a'}, Delete: true}}})
	if ok.Status != Committed || no.Status != Declined || only.Status != Committed || only.TransferID != 0 {
		t.Fatalf("outcomes %+v %+v %+v", ok, no, only)
	}
	v, err := s.View()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tc := range []struct {
		key  []byte
		want string
	}{{[]byte{0x20, 'a'}, ""}, {[]byte{0x40, 'a'}, "sw"}, {[]byte{0x20, 'b'}, ""}, {[]byte{0x21, 'c'}, "note"}} {
		got, found, err := v.Get(tc.key)
		if err != nil || string(got) != tc.want || found != (tc.want != "") {
			t.Fatalf("Get(%x) = %q %v %v, want %q", tc.key, got, found, err, tc.want)
		}
	}
	var keys []string
	if err := v.Scan([]byte{0x20}, []byte{0x50}, func(k, _ []byte) bool { keys = append(keys, string(k)); return true }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != fmt.Sprint([]string{"\x21c", "\x40a"}) {
		t.Fatalf("scan = %q", keys)
	}
	mustVerify(t, s)
}

func TestWriteFunc(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	ctx := context.Background()
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(Writer) error
		err  error
	}{
		{"fails midway", func(w Writer) error { _ = w.Set([]byte{0x20, 1}, []byte("x")); return boom }, boom},
		{"writes a ledger key", func(w Writer) error { return w.Set([]byte{prefixTransfer, 1}, []byte("x")) }, ErrInvalid},
		{"deletes a ledger key", func(w Writer) error { return w.Delete(metaDateKey) }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Submit(ctx, &Command{Key: []byte(tc.name), Transfer: payment(5, 0, "x"), WriteFunc: tc.fn})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if _, ok, _ := s.Lookup(ctx, []byte(tc.name)); ok {
				t.Fatal("failed command was recorded")
			}
		})
	}
	if b := s.Balance(provider, azn); b != (Balance{}) {
		t.Fatalf("provider moved: %+v", b)
	}
	v, _ := s.View()
	if _, found, _ := v.Get([]byte{0x20, 1}); found {
		t.Fatal("write of a failed WriteFunc is visible")
	}
	v.Close()
	mustVerify(t, s)
}

// A streamed import larger than half a memtable goes to Pebble as one flushable batch
// and stays atomic with its outcome, while other commands flow around it.
func TestLargeWriteFunc(t *testing.T) {
	opts := testOptions(vfs.NewMem())
	opts.MemTableSize = 4 << 20
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 60_000 // ~9 MB: more than half the memtable
	val := make([]byte, 140)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			submit(t, s, cmdOf(fmt.Sprint("pay", i), payment(10, 1, "x")))
		}(i)
	}
	out := submit(t, s, &Command{Key: []byte("import"), WriteFunc: func(w Writer) error {
		k := []byte{0x22, 0, 0, 0, 0}
		for i := 0; i < n; i++ {
			k[1], k[2], k[3], k[4] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
			if err := w.Set(k, val); err != nil {
				return err
			}
		}
		return nil
	}})
	wg.Wait()
	if out.Status != Committed {
		t.Fatalf("import = %+v", out)
	}
	v, _ := s.View()
	count := 0
	if err := v.Scan([]byte{0x22}, []byte{0x23}, func(_, _ []byte) bool { count++; return true }); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if count != n {
		t.Fatalf("import wrote %d records, want %d", count, n)
	}
	mustVerify(t, s)
}

func TestCutover(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs)
	ctx := context.Background()
	a := submit(t, s, cmdOf("a", payment(10, 0, "a")))
	if a.BusinessDate != 20261121 || s.BusinessDate() != 20261121 {
		t.Fatalf("date %d / %d", a.BusinessDate, s.BusinessDate())
	}
	if err := s.Cutover(ctx, 20261122); err != nil {
		t.Fatal(err)
	}
	if err := s.Cutover(ctx, 20261122); err != nil {
		t.Fatalf("repeated cutover: %v", err)
	}
	for _, bad := range []Date{20261120, 20261399, 0} {
		if err := s.Cutover(ctx, bad); !errors.Is(err, ErrBadDate) {
			t.Fatalf("Cutover(%d) = %v, want ErrBadDate", bad, err)
		}
	}
	var seen Date
	b := submit(t, s, &Command{Key: []byte("b"), Transfer: payment(10, 0, "b"), WriteFunc: func(w Writer) error {
		seen = w.(DatedWriter).BusinessDate()
		return nil
	}})
	if seen != 20261122 {
		t.Fatalf("WriteFunc saw date %d", seen)
	}
	tr, _, _ := s.Transfer(b.TransferID)
	if b.BusinessDate != 20261122 || tr.BusinessDate != 20261122 || s.BusinessDate() != 20261122 {
		t.Fatalf("after cutover: outcome %d transfer %d store %d", b.BusinessDate, tr.BusinessDate, s.BusinessDate())
	}
	mustVerify(t, s)
	s.Close()
	s = openTest(t, fs)
	defer s.Close()
	if s.BusinessDate() != 20261122 {
		t.Fatalf("date after reopen %d", s.BusinessDate())
	}
}

func TestRecovery(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs)
	ctx := context.Background()
	var last TransferID
	for i := 0; i < 50; i++ {
		out := submit(t, s, cmdOf(fmt.Sprint("p", i), payment(int64(100+i), 3, fmt.Sprint(i))))
		last = out.TransferID
	}
	submit(t, s, &Command{Key: []byte("r"), Reverse: last})
	want := map[AccountID]Balance{}
	for _, a := range []AccountID{drawer, provider, income} {
		want[a] = s.Balance(a, azn)
	}
	before := mustVerify(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, fs)
	for a, b := range want {
		if got := s.Balance(a, azn); got != b {
			t.Fatalf("%v after reopen %+v, want %+v", a, got, b)
		}
	}
	after := mustVerify(t, s)
	if after.Head != before.Head || after.Transfers != 51 {
		t.Fatalf("report changed across reopen:\n%s\n%s", before, after)
	}
	// Ids stay time-ordered across restarts, even with a clock that went back.
	s.Close()
	opts := testOptions(fs)
	opts.Clock = func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if out := submit(t, s, cmdOf("late", payment(1, 0, "late"))); out.TransferID <= last {
		t.Fatalf("id %d not after %d", out.TransferID, last)
	}
	if _, ok, _ := s.Lookup(ctx, []byte("p7")); !ok {
		t.Fatal("p7 lost")
	}
	s.Close()
}

// Tampering is found: a balance edited behind the ledger stops Open; an edited
// transfer breaks the journal chain at its group.
func TestRecoveryRefusesInconsistentStore(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB, s *Store)
		open   bool // Open still succeeds
	}{
		{"balance edited", func(t *testing.T, db *pebble.DB, _ *Store) {
			_ = db.Set(balanceKey(nil, provider, azn), appendBalance(nil, Balance{Credits: 1}), pebble.Sync)
		}, false},
		{"transfer deleted", func(t *testing.T, db *pebble.DB, _ *Store) {
			lo, hi := prefixBounds(prefixTransfer)
			it, _ := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			it.First()
			k := append([]byte(nil), it.Key()...)
			it.Close()
			_ = db.Delete(k, pebble.Sync)
		}, false},
		{"transfer refs edited", func(t *testing.T, db *pebble.DB, _ *Store) {
			lo, hi := prefixBounds(prefixTransfer)
			it, _ := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			it.Last()
			k := append([]byte(nil), it.Key()...)
			v := append([]byte(nil), it.Value()...)
			it.Close()
			v[len(v)-1] ^= 1 // last byte of the terminal id
			_ = db.Set(k, v, pebble.Sync)
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			s := openTest(t, fs)
			for i := 0; i < 5; i++ {
				submit(t, s, cmdOf(fmt.Sprint("p", i), payment(100, 1, "x")))
			}
			rep := mustVerify(t, s)
			s.Close()
			db, err := pebble.Open("db", &pebble.Options{FS: fs, FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}})
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, db, s)
			db.Close()
			s2, err := Open(testOptions(fs))
			if tc.open != (err == nil) {
				t.Fatalf("Open err = %v, want success %v", err, tc.open)
			}
			if err != nil {
				if !errors.Is(err, ErrCorruptStore) {
					t.Fatalf("err = %v, want ErrCorruptStore", err)
				}
				return
			}
			s2.Close()
			got, err := VerifyFS(fs, "db")
			if !errors.Is(err, ErrVerify) || got.FirstBroken != rep.Groups {
				t.Fatalf("Verify err = %v, first broken %d, want group %d\n%s", err, got.FirstBroken, rep.Groups, got)
			}
		})
	}
}

// Nothing is visible before its group is synced: while the WAL sync is held, the
// command is applied in Pebble but Lookup, View, Balance and Submit do not show it.
func TestNothingVisibleBeforeSync(t *testing.T) {
	gate := newGateFS(vfs.NewMem())
	s := openTest(t, gate)
	defer s.Close()
	ctx := context.Background()
	gate.close()
	done := make(chan Outcome)
	go func() {
		done <- submit(t, s, &Command{Key: []byte("k"), Transfer: payment(100, 0, "x"),
			Writes: []Write{{Key: []byte{0x20, 'k'}, Value: []byte("v")}}})
	}()
	<-gate.waiting
	// The batch gets applied (Pebble itself shows it) but not synced. The WAL sync can
	// start before the memtable apply finishes, so wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, closer, err := s.db.Get(idemKey(nil, []byte("k")))
		if err == nil {
			closer.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch not applied while sync held: %v", err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if _, ok, _ := s.Lookup(ctx, []byte("k")); ok {
		t.Fatal("Lookup shows an unsynced outcome")
	}
	v, _ := s.View()
	if _, found, _ := v.Get([]byte{0x20, 'k'}); found {
		t.Fatal("View shows an unsynced write")
	}
	v.Close()
	if b := s.Balance(provider, azn); b != (Balance{}) {
		t.Fatalf("Balance shows unsynced state %+v", b)
	}
	select {
	case out := <-done:
		t.Fatalf("acknowledged before sync: %+v", out)
	case <-time.After(20 * time.Millisecond):
	}
	gate.open()
	out := <-done
	if out.Status != Committed {
		t.Fatalf("out = %+v", out)
	}
	if _, ok, _ := s.Lookup(ctx, []byte("k")); !ok {
		t.Fatal("Lookup misses a synced outcome")
	}
	if b := s.Balance(provider, azn); b.Credits != 100 {
		t.Fatalf("balance %+v", b)
	}
}

func TestClose(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	submit(t, s, cmdOf("a", payment(1, 0, "a")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(context.Background(), cmdOf("b", payment(1, 0, "b"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close = %v", err)
	}
	if _, err := s.View(); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Close = %v", err)
	}
}

// Commands with one key inside one group: the first decides, a second with the same
// request gets its outcome, one with another request gets ErrConflict. The WAL sync is
// held so that the sequencer backs up and takes all three in one group.
func TestSameKeyWithinOneGroup(t *testing.T) {
	gate := newGateFS(vfs.NewMem())
	s := openTest(t, gate)
	defer s.Close()
	gate.close()
	var wg sync.WaitGroup
	go1 := func(cmd *Command, out *Outcome, err *error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			*out, *err = s.Submit(context.Background(), cmd)
		}()
	}
	applied := func(key string) bool {
		_, closer, err := s.db.Get(idemKey(nil, []byte(key)))
		if err == nil {
			closer.Close()
		}
		return err == nil
	}
	// Four groups: one in the acker (its sync held), two queued for it, one the
	// sequencer is trying to hand over.
	var fill [4]Outcome
	var fillErr [4]error
	for i := range fill {
		key := fmt.Sprint("fill", i)
		go1(cmdOf(key, payment(10, 0, key)), &fill[i], &fillErr[i])
		for !applied(key) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	var outs [3]Outcome
	var errs [3]error
	go1(&Command{Key: []byte("k"), RequestHash: hashOf("a"), Transfer: payment(100, 0, "k")}, &outs[0], &errs[0])
	for len(s.queue) < 1 {
		time.Sleep(100 * time.Microsecond)
	}
	go1(&Command{Key: []byte("k"), RequestHash: hashOf("a"), Transfer: payment(100, 0, "k")}, &outs[1], &errs[1])
	for len(s.queue) < 2 {
		time.Sleep(100 * time.Microsecond)
	}
	go1(&Command{Key: []byte("k"), RequestHash: hashOf("b"), Transfer: payment(100, 0, "k")}, &outs[2], &errs[2])
	for len(s.queue) < 3 {
		time.Sleep(100 * time.Microsecond)
	}
	gate.open()
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || outs[0].Status != Committed || outs[0].Duplicate {
		t.Fatalf("first %+v %v, second err %v", outs[0], errs[0], errs[1])
	}
	if !outs[1].Duplicate || outs[1].TransferID != outs[0].TransferID {
		t.Fatalf("same request in the group = %+v, want the first's outcome", outs[1])
	}
	if !errors.Is(errs[2], ErrConflict) {
		t.Fatalf("other request in the group: err %v", errs[2])
	}
	if st := s.Stats(); st.MaxGroup < 3 {
		t.Fatalf("the three were not in one group: %+v", st)
	}
	if b := s.Balance(provider, azn); b.Credits != 4*10+100 {
		t.Fatalf("provider %+v", b)
	}
	mustVerify(t, s)
}

// TestOutcomeCarriesRequestHash: every outcome — fresh, declined, a repeat in the same
// group or a later one, and Lookup after a reopen — carries the hash of the request it
// was decided for, so callers need not store a copy in Result.
func TestOutcomeCarriesRequestHash(t *testing.T) {
	fs := vfs.NewMem()
	s := openTest(t, fs)
	ctx := context.Background()
	h1, h2 := hashOf("pay-1"), hashOf("rev-twice")
	first := submit(t, s, &Command{Key: []byte("k1"), RequestHash: h1, Transfer: payment(1000, 10, "p1"), Result: []byte("r")})
	rev := submit(t, s, &Command{Key: []byte("r1"), RequestHash: hashOf("rev"), Reverse: first.TransferID})
	again := submit(t, s, &Command{Key: []byte("r2"), RequestHash: h2, Reverse: first.TransferID})
	if rev.Status != Committed || again.Status != Declined {
		t.Fatalf("reversals: %+v, %+v", rev, again)
	}
	repeat := submit(t, s, &Command{Key: []byte("k1"), RequestHash: h1, Transfer: payment(1000, 10, "p1"), Result: []byte("r")})
	check := func(name string, o Outcome, want [32]byte) {
		t.Helper()
		if o.RequestHash != want {
			t.Errorf("%s: request hash %x, want %x", name, o.RequestHash[:4], want[:4])
		}
	}
	check("fresh", first, h1)
	check("declined", again, h2)
	check("repeat", repeat, h1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, fs)
	defer s.Close()
	for key, want := range map[string][32]byte{"k1": h1, "r2": h2} {
		o, ok, err := s.Lookup(ctx, []byte(key))
		if err != nil || !ok {
			t.Fatalf("lookup %s: %v %v", key, ok, err)
		}
		check("lookup "+key, o, want)
	}
}

// TestBlockCacheHoldsBlocks: Pebble charges its memtables to the block cache; the store
// sizes the cache beyond them, so that blocks read by lookups stay cached. (With the
// cache created at CacheSize alone, three memtables took all of it: every lookup read
// its index and filter blocks from the files again.)
func TestBlockCacheHoldsBlocks(t *testing.T) {
	opts := testOptions(vfs.NewMem())
	opts.MemTableSize = 1 << 20
	opts.CacheSize = 2 << 20 // less than the memtables Pebble may charge to it
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 6000 // several memtables' worth: the outcomes end up in sstables
	for i := range n {
		key := fmt.Sprintf("cache-%05d", i)
		submit(t, s, &Command{Key: []byte(key), RequestHash: hashOf(key), Transfer: payment(100, 1, key),
			Result: make([]byte, 200)})
	}
	if st := s.Storage(); st.Flushes == 0 {
		t.Fatalf("no flush after %d commands: %+v", n, st)
	}
	lookups := func() {
		for i := 0; i < n; i += 7 {
			if _, ok, err := s.Lookup(ctx, []byte(fmt.Sprintf("cache-%05d", i))); !ok || err != nil {
				t.Fatalf("lookup %d: %v %v", i, ok, err)
			}
		}
	}
	lookups()
	before := s.Storage()
	lookups()
	after := s.Storage()
	hits, misses := after.CacheHits-before.CacheHits, after.CacheMisses-before.CacheMisses
	if after.CacheBytes == 0 || misses > hits/10 {
		t.Fatalf("second pass of lookups: %d hits, %d misses, %d bytes cached", hits, misses, after.CacheBytes)
	}
}

// TestSortedBatch: a group's batch is applied in key order; writes of one key keep their
// order (a later set or delete of a key still wins), and the database ends the same as
// with the batch as written.
func TestSortedBatch(t *testing.T) {
	s := openTest(t, vfs.NewMem())
	defer s.Close()
	q := &sequencer{s: s}
	type w struct {
		del      bool
		key, val string
	}
	tests := []struct {
		name string
		in   []w
		want []w
	}{
		{"runs by prefix", []w{{false, "\x21b", "1"}, {false, "\x04z", "2"}, {false, "\x03\x01", "3"}, {false, "\x21a", "4"}, {false, "\x04a", "5"}, {false, "\x03\x02", "6"}},
			[]w{{false, "\x03\x01", "3"}, {false, "\x03\x02", "6"}, {false, "\x04a", "5"}, {false, "\x04z", "2"}, {false, "\x21a", "4"}, {false, "\x21b", "1"}}},
		{"one key twice keeps its order", []w{{false, "\x26k", "old"}, {false, "\x05j", "x"}, {false, "\x26k", "new"}},
			[]w{{false, "\x05j", "x"}, {false, "\x26k", "old"}, {false, "\x26k", "new"}}},
		{"set then delete", []w{{false, "\x26k", "v"}, {false, "\x02b", "b"}, {true, "\x26k", ""}},
			[]w{{false, "\x02b", "b"}, {false, "\x26k", "v"}, {true, "\x26k", ""}}},
		{"delete then set", []w{{true, "\x26k", ""}, {false, "\x26a", "a"}, {false, "\x26k", "v"}},
			[]w{{false, "\x26a", "a"}, {true, "\x26k", ""}, {false, "\x26k", "v"}}},
		{"empty key first", []w{{false, "\x01", "a"}, {false, "", "e"}, {false, "\x00", "z"}},
			[]w{{false, "", "e"}, {false, "\x00", "z"}, {false, "\x01", "a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := s.db.NewBatch()
			for _, x := range tc.in {
				if x.del {
					_ = b.Delete([]byte(x.key), nil)
				} else {
					_ = b.Set([]byte(x.key), []byte(x.val), nil)
				}
			}
			sb := q.sortedBatch(b)
			if sb == nil {
				t.Fatal("not sorted")
			}
			var got []w
			r := sb.Reader()
			for {
				kind, k, v, ok, err := r.Next()
				if !ok {
					if err != nil {
						t.Fatal(err)
					}
					break
				}
				got = append(got, w{kind == pebble.InternalKeyKindDelete, string(k), string(v)})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			_ = b.Close()
			_ = sb.Close()
		})
	}
	// Anything but sets and deletes: left as written.
	b := s.db.NewBatch()
	_ = b.Set([]byte("\x26b"), nil, nil)
	_ = b.DeleteRange([]byte("\x26a"), []byte("\x26c"), nil)
	if q.sortedBatch(b) != nil {
		t.Fatal("a range delete was sorted")
	}
	_ = b.Close()
}

// TestWritesDigestUnchanged: the digest of a command's writes, hashed from one gathered
// buffer, is the one the journal has always recorded (write by write, the canonical
// stream of docs/storage.md spelled out here).
func TestWritesDigestUnchanged(t *testing.T) {
	writes := []Write{{Key: []byte("\x21a"), Value: []byte("value")}, {Key: []byte("\x26b"), Delete: true}, {Key: []byte("\x25c")}}
	h1 := sha256.New()
	for _, w := range writes {
		op := byte(1)
		if w.Delete {
			op = 2
		}
		h1.Write([]byte{op})
		h1.Write(binary.BigEndian.AppendUint32(nil, uint32(len(w.Key))))
		h1.Write(w.Key)
		h1.Write(binary.BigEndian.AppendUint32(nil, uint32(len(w.Value))))
		h1.Write(w.Value)
	}
	var buf []byte
	for _, w := range writes {
		buf = appendHashedWrite(buf, w.Key, w.Value, w.Delete)
	}
	if want, got := h1.Sum(nil), sha256.Sum256(buf); string(want) != string(got[:]) {
		t.Fatalf("digest %x, want %x", got, want)
	}
}
