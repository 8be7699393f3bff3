package clearing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// A payment by registration code that pays two providers: each gets its part in its
// register with its own commission, also after the commission agreements changed
// (the split then comes from the payment's ledger transfer).
func TestMultiProviderPayment(t *testing.T) {
	for _, changed := range []bool{false, true} {
		name := "same agreements"
		if changed {
			name = "agreements changed before clearing"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, vfs.NewMem(), "db")
			e.debts("AZERISIQ", map[string][]string{"1000000001": {"ELEC:30.00"}})
			e.debts("BAKTELECOM", map[string][]string{"2000000001": {"PHONE:11.00"}})
			sub, err := e.core.Register(ctx, billpay.SubscriberRequest{Name: "Two Providers",
				Accounts: []billpay.AccountRef{{Provider: "AZERISIQ", Account: "1000000001"}, {Provider: "BAKTELECOM", Account: "2000000001"}}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.core.Pay(ctx, billpay.PaymentRequest{Key: []byte("both"), Target: billpay.Target{RegCode: sub.Code}, Amount: 4100,
				Currency: 944, Channel: billpay.ChannelWeb, Method: billpay.MethodCard, Acquirer: "KAPITAL"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Commission != 30+6 { // 1 % of 30.00; 0.5 % of 11.00 = 0.055 → 0.06
				t.Fatalf("commission %d", p.Commission)
			}
			if changed {
				reg := e.core.Registry()
				az, _ := reg.Provider("AZERISIQ")
				cp := *az
				cp.Commission = billpay.Commission{PercentE4: 20000}
				nr, err := reg.With(cp)
				if err != nil {
					t.Fatal(err)
				}
				e.core.SetRegistry(nr)
			}
			e.cutover(20261102)
			r := e.run(20261101, nil)
			got := map[string]ProviderPosition{}
			for _, pp := range r.Providers {
				got[pp.Provider] = pp
			}
			if az := got["AZERISIQ"]; az.Total != 3000 || az.Commission != 30 || az.Payout != 2970 {
				t.Errorf("AZERISIQ %+v", az)
			}
			if bt := got["BAKTELECOM"]; bt.Total != 1100 || bt.Commission != 6 || bt.Payout != 1094 {
				t.Errorf("BAKTELECOM %+v", bt)
			}
			for _, pr := range []string{"AZERISIQ", "BAKTELECOM"} {
				if b := e.st.Balance(ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: pr}, 944); b.Debits != b.Credits {
					t.Errorf("%s payable after settlement %+v", pr, b)
				}
			}
			checkPositionsSumZero(t, r)
		})
	}
}

// A re-run that finds other figures than the settlement already posted refuses
// (ErrChanged) and leaves the day's files as they were; in a store written before the
// reversal index, the reversal window bounds how far back a late reversal is looked
// for.
func TestRerunWithOtherFiguresRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:50.00"}, "4000000002": {"WATER:50.00"}})
	old := e.pay(pay{key: "old", provider: "AZERSU", account: "4000000001", amount: 1000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
	e.cutover(20261102)
	e.cutover(20261103)
	e.pay(pay{key: "new", provider: "AZERSU", account: "4000000002", amount: 3000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
	e.reverse("rv", "old", false) // reverses a payment of 2026-11-01 on 2026-11-03
	e.unindex(20261103, old.Receipt)
	e.cutover(20261104)

	narrow, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261103, Dir: e.root, ReversalWindow: 1})
	if err != nil {
		t.Fatal(err)
	}
	if narrow.Reversals != 0 {
		t.Fatalf("a one-day window found %d reversals of a payment two days old", narrow.Reversals)
	}
	before := readDay(t, narrow.Dir)
	_, err = Run(ctx, Deps{Core: e.core}, Options{Date: 20261103, Dir: e.root})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("re-run with other figures: %v", err)
	}
	if after := readDay(t, narrow.Dir); !sameFiles(before, after) {
		t.Error("a refused re-run changed the day's files")
	}
}

// List shows finished days only, oldest first; a day whose MANIFEST was never written
// (a crashed run) is not listed; Run refuses an open or invalid date.
func TestListAndRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	if days, err := List(e.root); err != nil || len(days) != 0 {
		t.Fatalf("List of a missing dir: %v %v", days, err)
	}
	e.cutover(20261102)
	e.cutover(20261103)
	for _, d := range []ledger.Date{20261102, 20261101} {
		if _, err := Run(ctx, Deps{Core: e.core}, Options{Date: d, Dir: e.root}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(e.root, "2026-10-31"), 0o755); err != nil {
		t.Fatal(err)
	}
	days, err := List(e.root)
	if err != nil || len(days) != 2 || days[0].Date != 20261101 || days[1].Date != 20261102 {
		t.Fatalf("List = %+v, %v", days, err)
	}
	// An empty day: positions, reconciliation and an empty register per provider; no
	// payout file.
	var names []string
	for _, f := range days[0].Files {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "positions.csv,reconciliation.csv,register-AZERIGAZ.xml,register-AZERISIQ.xml,register-AZERSU.xml,register-BAKTELECOM.xml" {
		t.Errorf("files of an empty day: %v", names)
	}
	for _, tc := range []struct {
		date ledger.Date
		want error
	}{{20261103, ErrDayOpen}, {20261104, ErrDayOpen}} {
		if _, err := Run(ctx, Deps{Core: e.core}, Options{Date: tc.date, Dir: e.root}); !errors.Is(err, tc.want) {
			t.Errorf("Run(%d) = %v, want %v", tc.date, err, tc.want)
		}
	}
	if _, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261399, Dir: e.root}); err == nil {
		t.Error("an invalid date was cleared")
	}
}

// Two runs of one day never overlap: the second is refused while the first holds the
// day's lock.
func TestDayLock(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDay(dir, 20261101)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDay(dir, 20261101); !errors.Is(err, ErrRunning) {
		t.Fatalf("second lock: %v", err)
	}
	if u2, err := lockDay(dir, 20261102); err != nil {
		t.Fatalf("another day: %v", err)
	} else {
		u2()
	}
	unlock()
	if u3, err := lockDay(dir, 20261101); err != nil {
		t.Fatalf("after unlock: %v", err)
	} else {
		u3()
	}
}

func TestCloseDay(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	if err := CloseDay(ctx, e.core, 20261102); err == nil {
		t.Fatal("closed a day that is not open yet")
	}
	for range 2 { // the second is a no-op
		if err := CloseDay(ctx, e.core, 20261101); err != nil {
			t.Fatal(err)
		}
		if d := e.st.BusinessDate(); d != 20261102 {
			t.Fatalf("business date %d", d)
		}
	}
	e.cutover(20261130)
	if err := CloseDay(ctx, e.core, 20261130); err != nil || e.st.BusinessDate() != 20261201 {
		t.Fatalf("month end: %v, %d", err, e.st.BusinessDate())
	}
}

// A run that posted its settlement but could not write its files (a crash between the
// two) is finished by the next run: it posts nothing more and writes the files.
func TestRunAfterFailedWrite(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:50.00"}})
	e.pay(pay{key: "a", provider: "AZERSU", account: "4000000001", amount: 2000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
	e.cutover(20261102)
	if err := os.MkdirAll(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(e.root, "2026-11-01")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261101, Dir: e.root}); err == nil {
		t.Fatal("wrote into a file")
	}
	if days, _ := List(e.root); len(days) != 0 {
		t.Fatalf("an unfinished day is listed: %+v", days)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	r, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261101, Dir: e.root})
	if err != nil {
		t.Fatal(err)
	}
	if r.Posted != 0 || r.Existing != 2 || len(r.Files) != 8 { // 4 registers, a bank list, payout, positions, reconciliation
		t.Fatalf("second run: posted %d, existing %d, files %+v", r.Posted, r.Existing, r.Files)
	}
}

// A reversal after its provider was paid out (the day cleared, no new money since)
// still posts: the provider payable goes below zero, the next day's register carries
// the negative entry, and that day's payout leaves the provider out.
func TestLateReversalAfterPayout(t *testing.T) {
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERSU", map[string][]string{"7000000001": {"WATER:40.00"}})
	e.at("2026-11-01T08:00:00Z")
	e.pay(pay{key: "p1", provider: "AZERSU", account: "7000000001", amount: 1500,
		channel: billpay.ChannelKiosk, method: billpay.MethodCash, acquirer: "AGENT1", terminal: "T0000001"})
	e.cutover(20261102)
	if res := e.run(20261101, nil); res.Posted == 0 {
		t.Fatalf("day 1 settled nothing: %+v", res)
	}
	payable := ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: "AZERSU"}
	if b := e.st.Balance(payable, 944); b.Credits != b.Debits {
		t.Fatalf("AZERSU payable after the payout %+v, want 0", b)
	}
	e.at("2026-11-02T08:00:00Z")
	e.reverse("r1", "p1", false) // an advice: reverses whatever day it is
	if b := e.st.Balance(payable, 944); b.Credits-b.Debits >= 0 {
		t.Fatalf("AZERSU payable after the late reversal %+v, want below zero (the provider owes it back)", b)
	}
	e.cutover(20261103)
	res := e.run(20261102, nil)
	if res.Reversals != 1 {
		t.Fatalf("day 2: %d late reversals in the registers, want 1", res.Reversals)
	}
	files := readDay(t, res.Dir)
	if pain, ok := files["payout.xml"]; ok && strings.Contains(string(pain), "AZERSU") {
		t.Fatalf("day 2's payout pays AZERSU, whose day is negative:\n%s", pain)
	}
	if rep, err := e.st.Verify(); err != nil {
		t.Fatalf("ledger verify: %v\n%s", err, rep.String())
	}
}

// A late reversal is in the register, the positions and the settlement of the day it
// was posted on, whatever the age of its payment (provider-exchange.md §4): billpay's
// reversal index holds it under that day. In a store written before the index existed
// the window scan still finds a reversal within ReversalWindow days (and only those);
// a reversal that both find is counted once, and a re-run writes the same files.
func TestLateReversalAnyAge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reversed ledger.Date // the day the advice (0420) reverses the payment of 2026-11-01
		unindex  bool        // the store was written before the reversal index
		want     int         // late reversals in that day's registers
	}{
		{"within the window", 20261120, false, 1},
		{"older than the window", 20261215, false, 1},
		{"within the window, no index", 20261120, true, 1},
		{"older than the window, no index", 20261215, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, vfs.NewMem(), "db")
			e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:50.00"}})
			p := e.pay(pay{key: "old", provider: "AZERSU", account: "4000000001", amount: 1000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
			e.cutover(20261102)
			e.run(20261101, nil)
			e.cutover(tc.reversed)
			e.reverse("rv", "old", false) // an advice reverses a payment of any age
			if tc.unindex {
				e.unindex(tc.reversed, p.Receipt)
			}
			e.cutover(addDays(tc.reversed, 1))
			res := e.run(tc.reversed, nil)
			if res.Reversals != tc.want {
				t.Fatalf("reversal on %d of a payment of 2026-11-01: %d late reversals in the registers, want %d", tc.reversed, res.Reversals, tc.want)
			}
			files := readDay(t, res.Dir)
			reg := string(files["register-AZERSU.xml"])
			checkRegister(t, "register-AZERSU.xml", []byte(reg))
			entry := `<reversal receipt="` + p.Receipt + `" business-date="2026-11-01" account="4000000001" amount="-10.00"/>`
			if n := strings.Count(reg, entry); n != tc.want {
				t.Errorf("register holds the reversal %d times, want %d:\n%s", n, tc.want, reg)
			}
			checkPositionsSumZero(t, res)
			if tc.want == 1 {
				if az := res.Providers[slices.IndexFunc(res.Providers, func(pp ProviderPosition) bool { return pp.Provider == "AZERSU" })]; az.Reversed != 1000 || az.Payout != -990 {
					t.Errorf("AZERSU position %+v, want reversed 10.00, payout -9.90", az)
				}
				// Both days settled: the acquirer and the provider are back where they were.
				for _, a := range []ledger.AccountID{{Kind: ledger.KindAcquirerReceivable, Owner: "KAPITAL"}, {Kind: ledger.KindProviderPayable, Owner: "AZERSU"}} {
					if b := e.st.Balance(a, 944); b.Debits != b.Credits {
						t.Errorf("%v after both days settled: debits %d, credits %d", a, b.Debits, b.Credits)
					}
				}
			}
			again := e.run(tc.reversed, nil)
			if again.Posted != 0 || !sameFiles(readDay(t, again.Dir), files) {
				t.Errorf("re-run posted %d and wrote other files", again.Posted)
			}
		})
	}
}

// Every registered provider gets a register for every cleared day (provider-exchange.md
// §4; providers take registers-through from them): an empty one, count 0 and zero
// totals, on a day without entries for it, and a zero line in the positions.
func TestEmptyRegisters(t *testing.T) {
	for _, tc := range []struct {
		name string
		paid string // the provider paid that day ("" = no payments)
	}{
		{"a day without payments", ""},
		{"a day with payments to one provider", "AZERSU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, vfs.NewMem(), "db")
			if tc.paid != "" {
				e.debts(tc.paid, map[string][]string{"4000000001": {"WATER:50.00"}})
				e.pay(pay{key: "p", provider: tc.paid, account: "4000000001", amount: 1000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
			}
			e.cutover(20261102)
			res := e.run(20261101, nil)
			files := readDay(t, res.Dir)
			pos := string(files["positions.csv"])
			for _, p := range e.core.Registry().Providers() {
				name := registerName(p.Code)
				reg, ok := files[name]
				if !ok {
					t.Errorf("no %s", name)
					continue
				}
				checkRegister(t, name, reg)
				if p.Code == tc.paid {
					continue
				}
				if got := string(reg); got != emptyRegister(p.Code, "2026-11-01") {
					t.Errorf("%s:\n%s", name, got)
				}
				if row := "provider," + p.Code + ",AZN,0,0.00,0.00,0.00,0.00,,REG-" + p.Code + "-20261101\n"; !strings.Contains(pos, row) {
					t.Errorf("positions.csv lacks %q:\n%s", row, pos)
				}
			}
			if tc.paid == "" {
				if !strings.HasSuffix(pos, "commission,hub,AZN,,,,0.00,0.00,,\ntotal,,AZN,,,,,0.00,,\n") {
					t.Errorf("positions.csv of a day without payments:\n%s", pos)
				}
				if _, ok := files[payoutName]; ok {
					t.Error("a payout file on a day without payments")
				}
			}
		})
	}
}
