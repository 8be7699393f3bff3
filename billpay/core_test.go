package billpay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/billswitch/billswitch/billpay/internal/memledger"
	"github.com/billswitch/billswitch/ledger"
)

func newTestCore(t testing.TB, reg *Registry) (*Core, *memledger.Ledger) {
	t.Helper()
	l := memledger.New(20261101)
	if reg == nil {
		reg = DemoRegistry()
	}
	c, err := New(Options{Ledger: l, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

func seeded(t testing.TB) (*Core, *memledger.Ledger, string) {
	t.Helper()
	c, l := newTestCore(t, nil)
	code, err := SeedDemo(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c, l, code
}

func wantDecline(t *testing.T, err error, want Decline) {
	t.Helper()
	if d, ok := DeclineOf(err); !ok || d != want {
		t.Fatalf("got %v, want decline %s", err, want)
	}
}

func cashPay(key string, target Target, amount int64) PaymentRequest {
	return PaymentRequest{Key: []byte(key), Target: target, Amount: amount, Currency: 944,
		Channel: ChannelKiosk, Method: MethodCash, Terminal: "T0000001"}
}

func due(t *testing.T, c *Core, target Target) int64 {
	t.Helper()
	inq, err := c.Inquire(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	return inq.Total
}

func TestDemoSeedAndInquiry(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	if !ValidRegCode(code) {
		t.Fatalf("demo code %q invalid", code)
	}
	again, err := SeedDemo(ctx, c)
	if err != nil || again != code {
		t.Fatalf("second seed: %q, %v; want %q", again, err, code)
	}
	inq, err := c.Inquire(ctx, Target{RegCode: code})
	if err != nil {
		t.Fatal(err)
	}
	if inq.Total != 5500 || len(inq.Lines) != 6 || inq.Currency != 944 {
		t.Fatalf("regcode inquiry: %+v", inq)
	}
	if inq.Lines[0].Period != 202608 || inq.Lines[1].Account != "1000000101" || inq.Lines[1].Service != "ELEC" || inq.Lines[2].Service != "GARBAGE" {
		t.Fatalf("lines not in allocation order: %+v", inq.Lines)
	}
	if inq.Payer != "M******** S****" {
		t.Fatalf("payer %q", inq.Payer)
	}
	one, err := c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if one.Total != 418518 || one.Payer != "A***** A**" || one.Lines[0].Meter == nil || one.Lines[0].Meter.ID != "M0099812" {
		t.Fatalf("account inquiry: %+v", one)
	}
	_, err = c.Inquire(ctx, Target{Provider: "ZZNOPROVIDER", Account: "1"})
	wantDecline(t, err, DeclineUnknownProvider)
	_, err = c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "9999999999"})
	wantDecline(t, err, DeclineUnknownAccount)
	_, err = c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000002"}) // closed
	wantDecline(t, err, DeclineUnknownAccount)
	_, err = c.Inquire(ctx, Target{RegCode: "1234567890"})
	wantDecline(t, err, DeclineUnknownAccount)
	ai, err := c.Account(ctx, "AZERISIQ", "1000000102")
	if err != nil || len(ai.Codes) != 1 || ai.Codes[0] != code {
		t.Fatalf("account info %+v, %v", ai, err)
	}
}

func TestPayAS01AndReverse(t *testing.T) {
	ctx := context.Background()
	c, l, code := seeded(t)
	req := cashPay("as01", Target{RegCode: code}, 2815)
	p, err := c.Pay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := "AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200;AZERISIQ:1000000102:ELEC:202609=365"
	if got := fmtAllocs(p.Allocations); got != want {
		t.Fatalf("allocations %s", got)
	}
	if len(p.Receipt) != 14 || !strings.HasPrefix(p.Receipt, "R261101") || len(p.AuthCode) != 6 {
		t.Fatalf("receipt %q auth %q", p.Receipt, p.AuthCode)
	}
	if d := due(t, c, Target{RegCode: code}); d != 5500-2815 {
		t.Fatalf("due after %d", d)
	}
	drawer := ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: "T0000001"}
	payable := ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: "AZERISIQ"}
	fee := ledger.AccountID{Kind: ledger.KindCommissionIncome}
	if b := l.Balance(drawer, 944); b.Debits != 2815 {
		t.Fatalf("drawer %+v", b)
	}
	if p.Commission != 28 || l.Balance(payable, 944).Credits != 2815-28 || l.Balance(fee, 944).Credits != 28 {
		t.Fatalf("commission %d, payable %+v", p.Commission, l.Balance(payable, 944))
	}
	rev, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv1"), OriginalKey: []byte("as01"), SameDayOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rev.Receipt != p.Receipt || rev.Amount != 2815 {
		t.Fatalf("reversal %+v", rev)
	}
	if d := due(t, c, Target{RegCode: code}); d != 5500 {
		t.Fatalf("due after reversal %d", d)
	}
	if b := l.Balance(drawer, 944); b.Debits != 2815 || b.Credits != 2815 {
		t.Fatalf("drawer after reversal %+v", b)
	}
	// The same reversal again: the same outcome, no second effect.
	rev2, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv1"), OriginalKey: []byte("as01"), SameDayOnly: true})
	if err != nil || !rev2.Duplicate {
		t.Fatalf("repeat reversal %+v, %v", rev2, err)
	}
	// Another reversal of the same payment: already reversed.
	_, err = c.Reverse(ctx, ReverseRequest{Key: []byte("rv2"), Receipt: p.Receipt})
	wantDecline(t, err, DeclineAlreadyReversed)
	if d := due(t, c, Target{RegCode: code}); d != 5500 {
		t.Fatalf("due after second reversal %d", d)
	}
	if b := l.Balance(drawer, 944); b.Credits != 2815 {
		t.Fatalf("money restored twice: %+v", b)
	}
	// The notices: payment then reversal for each of the two accounts, in order.
	ns, err := c.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range ns {
		kinds = append(kinds, fmt.Sprintf("%s/%s/%d", n.Kind, n.Account, n.Amount))
	}
	if got := strings.Join(kinds, " "); got != "payment/1000000101/2450 payment/1000000102/365 reversal/1000000101/-2450 reversal/1000000102/-365" {
		t.Fatalf("notices %s", got)
	}
}

func TestPayIdempotent(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	p1, err := c.Pay(ctx, cashPay("k1", target, 150))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c.Pay(ctx, cashPay("k1", target, 150))
	if err != nil {
		t.Fatal(err)
	}
	if !p2.Duplicate || p2.Receipt != p1.Receipt || p2.AuthCode != p1.AuthCode || fmtAllocs(p2.Allocations) != fmtAllocs(p1.Allocations) {
		t.Fatalf("repeat: %+v vs %+v", p2, p1)
	}
	_, err = c.Pay(ctx, cashPay("k1", target, 151))
	wantDecline(t, err, DeclineConflict)
	if d := due(t, c, target); d != 418518-150 {
		t.Fatalf("due %d", d)
	}
	if b := l.Balance(ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: "T0000001"}, 944); b.Debits != 150 {
		t.Fatalf("posted twice: %+v", b)
	}
	p3, err := c.Pay(ctx, cashPay("k2", target, 150))
	if err != nil || p3.Receipt <= p1.Receipt {
		t.Fatalf("second payment %+v %v", p3, err)
	}
}

func TestPayDeclines(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	acct := Target{Provider: "AZERISIQ", Account: "1000000001"}
	tests := []struct {
		name string
		req  PaymentRequest
		want Decline
	}{
		{"unknown provider", cashPay("d1", Target{Provider: "ZZNOPROVIDER", Account: "1"}, 100), DeclineUnknownProvider},
		{"unknown account", cashPay("d2", Target{Provider: "AZERISIQ", Account: "99"}, 100), DeclineUnknownAccount},
		{"closed account", cashPay("d3", Target{Provider: "AZERISIQ", Account: "1000000002"}, 100), DeclineUnknownAccount},
		{"unknown regcode", cashPay("d4", Target{RegCode: "1111111111"}, 100), DeclineUnknownAccount},
		{"zero", cashPay("d5", acct, 0), DeclineInvalidAmount},
		{"wrong currency", func() PaymentRequest { r := cashPay("d6", acct, 100); r.Currency = 840; return r }(), DeclineInvalidAmount},
		{"regcode overpayment", cashPay("d7", Target{RegCode: code}, 5501), DeclineInvalidAmount},
		{"lines not adding up", func() PaymentRequest {
			r := cashPay("d8", acct, 100)
			r.Mode, r.Lines = ModeLines, []Line{{"AZERISIQ", "1000000001", "ELEC", 99}}
			return r
		}(), DeclineInvalidAmount},
		{"no key", cashPay("", acct, 100), DeclineBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Pay(ctx, tc.req)
			wantDecline(t, err, tc.want)
		})
	}
	if d := due(t, c, Target{RegCode: code}); d != 5500 {
		t.Fatalf("a decline moved the due: %d", d)
	}
	// An advance on one account shows as a credit line with period 0.
	p, err := c.Pay(ctx, cashPay("adv", Target{Provider: "AZERISIQ", Account: "1000000102"}, 1600))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmtAllocs(p.Allocations); got != "AZERISIQ:1000000102:ELEC:202609=730;AZERISIQ:1000000102:ELEC:202610=820;AZERISIQ:1000000102:ELEC:000000=50" {
		t.Fatalf("advance allocation %s", got)
	}
	inq, err := c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000102"})
	if err != nil || inq.Total != -50 || len(inq.Lines) != 1 || inq.Lines[0].Period != 0 {
		t.Fatalf("advance inquiry %+v %v", inq, err)
	}
}

func TestAdviceBeforeOriginal(t *testing.T) {
	ctx := context.Background()
	c, _, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	_, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r0"), OriginalKey: []byte("never")})
	wantDecline(t, err, DeclineUnknownAccount) // a 0400: not found
	rev, err := c.Reverse(ctx, ReverseRequest{Key: []byte("r1"), OriginalKey: []byte("late"), VoidUnknown: true})
	if err != nil || !rev.Voided {
		t.Fatalf("void %+v %v", rev, err)
	}
	_, err = c.Pay(ctx, cashPay("late", target, 100))
	wantDecline(t, err, DeclineAlreadyReversed)
	if d := due(t, c, target); d != 418518 {
		t.Fatalf("due %d", d)
	}
	// A reversal of a payment of a closed day is refused when same-day only.
	p, err := c.Pay(ctx, cashPay("old", target, 100))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ledger().Cutover(ctx, 20261102); err != nil {
		t.Fatal(err)
	}
	_, err = c.Reverse(ctx, ReverseRequest{Key: []byte("r2"), Receipt: p.Receipt, SameDayOnly: true})
	wantDecline(t, err, DeclineDayClosed)
	if _, err = c.Reverse(ctx, ReverseRequest{Key: []byte("r3"), OriginalKey: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c, target); d != 418518 {
		t.Fatalf("due after late reversal %d", d)
	}
}

// Concurrent payments on one account never pay a debt twice: with AT_MOST services
// (no advance), 40 payments of 100 on a due of 1000 give exactly 10 approvals.
func TestConcurrentPaymentsNeverOverpay(t *testing.T) {
	ctx := context.Background()
	reg, err := DemoRegistry().With(Provider{Code: "TESTP", Currency: 944, MinorDigits: 2,
		Services: []Service{{Code: "A", Order: 1, Rule: RuleAtMost}, {Code: "B", Order: 2, Rule: RuleAtMost}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newTestCore(t, reg)
	file := `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="TESTP" file-id="T-1" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="full">
  <account number="1" name="Test"><debt service="A" period="202610" amount="6.00"/><debt service="B" period="202610" amount="4.00"/></account>
  <account number="2" name="Other"><debt service="A" period="202610" amount="6.00"/></account>
</debts>`
	if _, err := c.ImportBytes(ctx, []byte(file), nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, declined := 0, 0
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acct := "1"
			if i%4 == 3 {
				acct = "2"
			}
			_, err := c.Pay(ctx, cashPay(fmt.Sprintf("c%d", i), Target{Provider: "TESTP", Account: acct}, 100))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if d, _ := DeclineOf(err); d == DeclineInvalidAmount {
				declined++
			} else {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 16 || declined != 24 {
		t.Fatalf("approved %d, declined %d; want 16 (10 + 6), 24", ok, declined)
	}
	if d := due(t, c, Target{Provider: "TESTP", Account: "1"}); d != 0 {
		t.Fatalf("due %d", d)
	}
}

func TestReceiptsUniqueAcrossRestart(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	p1, err := c.Pay(ctx, cashPay("a", target, 10))
	if err != nil {
		t.Fatal(err)
	}
	// A new Core on the same store (a restart) continues the day's sequence.
	c2, err := New(Options{Ledger: l, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c2.Pay(ctx, cashPay("b", target, 10))
	if err != nil {
		t.Fatal(err)
	}
	if p2.Receipt <= p1.Receipt {
		t.Fatalf("receipt %s after %s", p2.Receipt, p1.Receipt)
	}
	if err := l.Cutover(ctx, 20261102); err != nil {
		t.Fatal(err)
	}
	p3, err := c2.Pay(ctx, cashPay("c", target, 10))
	if err != nil || p3.Receipt != "R2611020000001" {
		t.Fatalf("next day receipt %+v %v", p3, err)
	}
	ns, _ := c2.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if len(ns) != 3 || ns[0].Seq >= ns[1].Seq || ns[1].Seq >= ns[2].Seq {
		t.Fatalf("notices %d", len(ns))
	}
	if err := c2.AckNotices(ctx, "AZERISIQ", ns[0].Seq, ns[1].Seq); err != nil {
		t.Fatal(err)
	}
	rest, _ := c2.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if len(rest) != 1 || rest[0].Receipt != p3.Receipt {
		t.Fatalf("after ack %+v", rest)
	}
	if err := c2.AckNotices(ctx, "AZERISIQ", rest[0].Seq); err != nil {
		t.Fatal(err)
	}
	// After every notice is acknowledged, a restarted core never reuses a sequence.
	c3, _ := New(Options{Ledger: l, Registry: DemoRegistry()})
	if _, err := c3.Pay(ctx, cashPay("d", target, 10)); err != nil {
		t.Fatal(err)
	}
	last, _ := c3.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if len(last) != 1 || last[0].Seq <= rest[0].Seq {
		t.Fatalf("sequence reused: %+v after %d", last, rest[0].Seq)
	}
}

func TestSubscribers(t *testing.T) {
	ctx := context.Background()
	c, _, _ := seeded(t)
	s, err := c.Register(ctx, SubscriberRequest{Name: "Əliyev Əli", Accounts: []AccountRef{{"AZERISIQ", "1000000001"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Link(ctx, s.Code, AccountRef{"AZERISIQ", "1000000003"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Link(ctx, s.Code, AccountRef{"AZERISIQ", "404"})
	wantDecline(t, err, DeclineUnknownAccount)
	_, err = c.Link(ctx, s.Code, AccountRef{"NOPE", "1"})
	wantDecline(t, err, DeclineUnknownProvider)
	got, err := c.Subscriber(ctx, s.Code)
	if err != nil || len(got.Accounts) != 2 || got.Name != "Əliyev Əli" {
		t.Fatalf("subscriber %+v %v", got, err)
	}
	if _, err := c.Unlink(ctx, s.Code, AccountRef{"AZERISIQ", "1000000001"}); err != nil {
		t.Fatal(err)
	}
	codes, _ := c.CodesOf(ctx, AccountRef{"AZERISIQ", "1000000001"})
	if len(codes) != 0 {
		t.Fatalf("codes after unlink %v", codes)
	}
	if _, err := c.UpdateContact(ctx, s.Code, "Ali", "+994", "a@b.az"); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Subscriber(ctx, s.Code)
	if got.Email != "a@b.az" || len(got.Accounts) != 1 {
		t.Fatalf("after update %+v", got)
	}
	if _, err := c.Register(ctx, SubscriberRequest{Accounts: []AccountRef{{"AZERISIQ", "nope"}}}); err == nil {
		t.Fatal("registered an unknown account")
	}
	var de *DeclineError
	if !errors.As(err, &de) && err != nil {
		t.Fatal(err)
	}
}

// Payments by registration code and by single account on overlapping accounts run
// concurrently without deadlock, and the dues end exactly where the approvals say.
func TestConcurrentRegcodeAndAccount(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var paid int64
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := Target{RegCode: code}
			switch i % 3 {
			case 1:
				target = Target{Provider: "AZERISIQ", Account: "1000000101"}
			case 2:
				target = Target{Provider: "AZERISIQ", Account: "1000000102"}
			}
			p, err := c.Pay(ctx, cashPay(fmt.Sprintf("m%d", i), target, 150))
			if err != nil {
				if d, _ := DeclineOf(err); d != DeclineInvalidAmount {
					t.Error(err)
				}
				return
			}
			mu.Lock()
			for _, a := range p.Allocations {
				if a.Period != 0 {
					paid += a.Amount
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	inq, err := c.Inquire(ctx, Target{RegCode: code})
	if err != nil {
		t.Fatal(err)
	}
	var positive int64
	for _, l := range inq.Lines {
		if l.Amount > 0 {
			positive += l.Amount
		}
	}
	if positive != 5500-paid {
		t.Fatalf("positive due %d, want %d (paid %d)", positive, 5500-paid, paid)
	}
}

// A commit that fails leaves nothing behind and the next payment still gets a receipt.
func TestPaySubmitFailure(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	before := l.Snapshot()
	l.FailNext = errors.New("disk on fire")
	if _, err := c.Pay(ctx, cashPay("f1", target, 100)); err == nil {
		t.Fatal("payment acknowledged without a commit")
	}
	after := l.Snapshot()
	if len(before) != len(after) {
		t.Fatal("a failed commit left records")
	}
	p, err := c.Pay(ctx, cashPay("f1", target, 100))
	if err != nil || p.Duplicate {
		t.Fatalf("retry %+v %v", p, err)
	}
	if d := due(t, c, target); d != 418518-100 {
		t.Fatalf("due %d", d)
	}
}

// gatedLedger holds the Submit of the command keyed hold until release is closed.
type gatedLedger struct {
	*memledger.Ledger
	hold    []byte
	reached chan struct{}
	release chan struct{}
}

func (g *gatedLedger) Submit(ctx context.Context, cmd *ledger.Command) (ledger.Outcome, error) {
	if string(cmd.Key) == string(g.hold) {
		close(g.reached)
		<-g.release
	}
	return g.Ledger.Submit(ctx, cmd)
}

// A payment that took a notice sequence but commits after a later one must not be
// skipped by a provider paging with after= or acknowledging through the later one:
// PendingNotices shows nothing at or above a sequence still in flight.
func TestNoticesVisibleInSequenceOrder(t *testing.T) {
	ctx := context.Background()
	mem := memledger.New(20261101)
	g := &gatedLedger{Ledger: mem, hold: append([]byte(cmdPay), "slow"...), reached: make(chan struct{}), release: make(chan struct{})}
	c, err := New(Options{Ledger: g, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SeedDemo(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := SeedDemoLoad(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	seqs := func(after uint64) string {
		t.Helper()
		ns, err := c.PendingNotices(ctx, "AZERISIQ", after, 0)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, n := range ns {
			s = append(s, fmt.Sprintf("%d:%s", n.Seq, n.Account))
		}
		return strings.Join(s, " ")
	}
	if _, err := c.Pay(ctx, cashPay("first", Target{Provider: "AZERISIQ", Account: "9000000001"}, 100)); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := c.Pay(ctx, cashPay("slow", Target{Provider: "AZERISIQ", Account: "9000000002"}, 100))
		slow <- err
	}()
	select { // "slow" holds sequence 2, not committed
	case <-g.reached:
	case err := <-slow:
		t.Fatalf("slow payment ended before its submit: %v", err)
	}
	if _, err := c.Pay(ctx, cashPay("fast", Target{Provider: "AZERISIQ", Account: "9000000003"}, 100)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after uint64
		want  string
	}{
		{0, "1:9000000001"}, // 3 is committed, but 2 may still come
		{1, ""},
	} {
		if got := seqs(tc.after); got != tc.want {
			t.Fatalf("while 2 is in flight, after %d: %q, want %q", tc.after, got, tc.want)
		}
	}
	close(g.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after uint64
		want  string
	}{
		{0, "1:9000000001 2:9000000002 3:9000000003"},
		{1, "2:9000000002 3:9000000003"},
		{2, "3:9000000003"},
	} {
		if got := seqs(tc.after); got != tc.want {
			t.Fatalf("after %d: %q, want %q", tc.after, got, tc.want)
		}
	}
}

// Acknowledging sequences that were never assigned changes nothing: not the pending
// notices, and not the sequences a restarted core goes on with.
func TestAckUnknownSequences(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000001"}
	for _, k := range []string{"a", "b"} {
		if _, err := c.Pay(ctx, cashPay(k, target, 10)); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := c.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if err != nil || len(ns) != 2 {
		t.Fatalf("pending %d, %v", len(ns), err)
	}
	first, second := ns[0].Seq, ns[1].Seq
	for _, tc := range []struct {
		name    string
		seqs    []uint64
		pending int
	}{
		{"beyond every sequence", []uint64{math.MaxUint64, second + 1000}, 2},
		{"below, never assigned", []uint64{first - 1}, 2},
		{"one real among unknown", []uint64{math.MaxUint64, first}, 1},
		{"the same again", []uint64{first}, 1},
	} {
		if err := c.AckNotices(ctx, "AZERISIQ", tc.seqs...); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ns, _ := c.PendingNotices(ctx, "AZERISIQ", 0, 0); len(ns) != tc.pending {
			t.Fatalf("%s: %d pending, want %d", tc.name, len(ns), tc.pending)
		}
	}
	// A restart goes on right after the highest sequence used.
	c2, err := New(Options{Ledger: l, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Pay(ctx, cashPay("c", target, 10)); err != nil {
		t.Fatal(err)
	}
	ns, _ = c2.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if len(ns) != 2 || ns[0].Seq != second || ns[1].Seq != second+1 {
		t.Fatalf("after restart: %+v, want %d then %d", ns, second, second+1)
	}
}

// A payment and a reversal racing a cutover are posted (ledger, register, netting) on the
// next business date; their notices should say so.
func TestNoticeDateAcrossCutover(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000101"}
	cut := func(to uint32) func() {
		var once bool
		return func() {
			if !once {
				once = true
				if err := l.Cutover(ctx, ledger.Date(20261100+to)); err != nil {
					t.Error(err)
				}
			}
		}
	}
	l.BeforeSubmit = cut(2)
	p, err := c.Pay(ctx, cashPay("race", target, 1000))
	l.BeforeSubmit = nil
	if err != nil || p.BusinessDate != 20261102 {
		t.Fatalf("%+v %v", p, err)
	}
	l.BeforeSubmit = cut(3)
	rev, err := c.Reverse(ctx, ReverseRequest{Key: []byte("rv"), OriginalKey: []byte("race")})
	l.BeforeSubmit = nil
	if err != nil || rev.BusinessDate != 20261103 {
		t.Fatalf("%+v %v", rev, err)
	}
	ns, err := c.PendingNotices(ctx, "AZERISIQ", 0, 0)
	if err != nil || len(ns) != 2 {
		t.Fatalf("%d %v", len(ns), err)
	}
	if ns[0].BusinessDate != uint32(p.BusinessDate) || ns[1].BusinessDate != uint32(rev.BusinessDate) {
		t.Fatalf("payment posted %d, notice says %d; reversal posted %d, notice says %d",
			p.BusinessDate, ns[0].BusinessDate, rev.BusinessDate, ns[1].BusinessDate)
	}
}

// Nothing lies above the highest sequence: after=2^64-1 must return nothing.
func TestNoticesAfterLastSequence(t *testing.T) {
	ctx := context.Background()
	c, _, _ := seeded(t)
	if _, err := c.Pay(ctx, cashPay("a", Target{Provider: "AZERISIQ", Account: "1000000001"}, 10)); err != nil {
		t.Fatal(err)
	}
	ns, err := c.PendingNotices(ctx, "AZERISIQ", math.MaxUint64, 0)
	if err != nil || len(ns) != 0 {
		t.Fatalf("after=2^64-1: %d notices (first seq %d), %v", len(ns), ns[0].Seq, err)
	}
}
