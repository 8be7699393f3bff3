package clearing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// A payment by registration code that pays two providers: each gets its part in its
// register with the commission billpay posted for that part, whatever happened to the
// agreements since (the split comes from the payment's ledger transfer). Swapped
// agreements keep the recomputed total and used to swap the split: a payout was
// declined and the half-settled day could not be cleared again (ErrChanged).
func TestMultiProviderPayment(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bak       int64                                              // BAKTELECOM's part; AZERISIQ's is 30.00
		change    func(*billpay.Registry) (*billpay.Registry, error) // before clearing; nil: none
		azFee     int64                                              // 1 % of 30.00
		bakFee    int64                                              // 0.5 %
		azPayout  int64
		bakPayout int64
	}{
		{"same agreements", 1100, nil, 30, 6, 2970, 1094}, // 0.055 → 0.06
		{"AZERISIQ's agreement raised", 1100, func(reg *billpay.Registry) (*billpay.Registry, error) {
			az, _ := reg.Provider("AZERISIQ")
			cp := *az
			cp.Commission = billpay.Commission{PercentE4: 20000}
			return reg.With(cp)
		}, 30, 6, 2970, 1094},
		{"agreements swapped, same total", 3000, swapAgreements, 30, 15, 2970, 2985},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, vfs.NewMem(), "db")
			e.debts("AZERISIQ", map[string][]string{"1000000001": {"ELEC:30.00"}})
			e.debts("BAKTELECOM", map[string][]string{"2000000001": {"PHONE:30.00"}})
			sub, err := e.core.Register(ctx, billpay.SubscriberRequest{Name: "Two Providers",
				Accounts: []billpay.AccountRef{{Provider: "AZERISIQ", Account: "1000000001"}, {Provider: "BAKTELECOM", Account: "2000000001"}}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.core.Pay(ctx, billpay.PaymentRequest{Key: []byte("both"), Target: billpay.Target{RegCode: sub.Code}, Amount: 3000 + tc.bak,
				Currency: 944, Channel: billpay.ChannelWeb, Method: billpay.MethodCard, Acquirer: "KAPITAL"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Commission != tc.azFee+tc.bakFee {
				t.Fatalf("commission %d, want %d", p.Commission, tc.azFee+tc.bakFee)
			}
			orig := e.core.Registry()
			if tc.change != nil {
				nr, err := tc.change(orig)
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
			if az := got["AZERISIQ"]; az.Total != 3000 || az.Commission != tc.azFee || az.Payout != tc.azPayout {
				t.Errorf("AZERISIQ %+v", az)
			}
			if bt := got["BAKTELECOM"]; bt.Total != tc.bak || bt.Commission != tc.bakFee || bt.Payout != tc.bakPayout {
				t.Errorf("BAKTELECOM %+v", bt)
			}
			for _, pr := range []string{"AZERISIQ", "BAKTELECOM"} {
				if b := e.st.Balance(ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: pr}, 944); b.Debits != b.Credits {
					t.Errorf("%s payable after settlement %+v", pr, b)
				}
			}
			checkPositionsSumZero(t, r)
			// The agreements back as they were: a re-run finds the same figures.
			first := readDay(t, r.Dir)
			e.core.SetRegistry(orig)
			again, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261101, Dir: e.root, Location: baku})
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			if again.Posted != 0 || !sameFiles(readDay(t, again.Dir), first) {
				t.Errorf("re-run posted %d (want 0) or wrote other files", again.Posted)
			}
		})
	}
}

// swapAgreements swaps the commission agreements of AZERISIQ (1 %) and BAKTELECOM (0.5 %).
func swapAgreements(reg *billpay.Registry) (*billpay.Registry, error) {
	az, _ := reg.Provider("AZERISIQ")
	bt, _ := reg.Provider("BAKTELECOM")
	a2, b2 := *az, *bt
	a2.Commission, b2.Commission = bt.Commission, az.Commission
	nr, err := reg.With(a2)
	if err != nil {
		return nil, err
	}
	return nr.With(b2)
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
				// Both days settled: the acquirer is back where it was; the provider, paid
				// out 9.90 on the first day, owes it back: its payable carries −9.90 into
				// its next payouts (TestNegativePayoutCarried).
				if b := e.st.Balance(ledger.AccountID{Kind: ledger.KindAcquirerReceivable, Owner: "KAPITAL"}, 944); b.Debits != b.Credits {
					t.Errorf("KAPITAL after both days settled: debits %d, credits %d", b.Debits, b.Credits)
				}
				if b := e.st.Balance(ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: "AZERSU"}, 944); b.Credits-b.Debits != -990 {
					t.Errorf("AZERSU payable after both days settled: debits %d, credits %d, want −9.90 carried", b.Debits, b.Credits)
				}
			}
			again := e.run(tc.reversed, nil)
			if again.Posted != 0 || !sameFiles(readDay(t, again.Dir), files) {
				t.Errorf("re-run posted %d and wrote other files", again.Posted)
			}
		})
	}
}

// A late reversal of a payment already paid out makes the provider's day negative.
// That is not collected from the provider (nor posted as if it had been): it stays on
// its payable and is netted into its next payouts, paid = max(0, the day's payout + the
// carried balance). The payout file pays only what is left (the remittance text names
// the balance netted), positions.csv shows the carried balances in memo rows after the
// total, and every day re-runs to the same files.
func TestNegativePayoutCarried(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERSU", map[string][]string{"7000000001": {"WATER:100.00"}})
	card := func(key string, amount int64) func() {
		return func() {
			e.pay(pay{key: key, provider: "AZERSU", account: "7000000001", amount: amount, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
		}
	}
	days := []struct {
		date    ledger.Date
		do      func()
		paid    string   // AZERSU's credit transfer in payout.xml; "" none
		memo    []string // positions.csv's memo rows
		payable int64    // AZERSU's payable after the day's settlement (credits − debits)
	}{
		{20261101, card("p1", 1500), "14.85", nil, 0},
		{20261102, func() { e.reverse("r1", "p1", false) }, "", []string{"carried-out,AZERSU,AZN,,,,,14.85,,REG-AZERSU-20261102"}, -1485},
		{20261103, card("p2", 1000), "", []string{"carried-in,AZERSU,AZN,,,,,14.85,,REG-AZERSU-20261103",
			"carried-out,AZERSU,AZN,,,,,4.95,,REG-AZERSU-20261103"}, -495},
		{20261104, card("p3", 1500), "9.90", []string{"carried-in,AZERSU,AZN,,,,,4.95,,REG-AZERSU-20261104"}, 0},
		{20261105, card("p4", 500), "4.95", nil, 0},
	}
	files := map[ledger.Date]map[string][]byte{}
	for _, d := range days {
		d.do()
		e.cutover(addDays(d.date, 1))
		r := e.run(d.date, nil)
		checkPositionsSumZero(t, r)
		f := readDay(t, r.Dir)
		files[d.date] = f
		pain := string(f[payoutName])
		if d.paid == "" && strings.Contains(pain, "AZERSU") {
			t.Errorf("%d: AZERSU paid out:\n%s", d.date, pain)
		}
		if d.paid != "" && !strings.Contains(pain, `<InstdAmt Ccy="AZN">`+d.paid+`</InstdAmt>`) {
			t.Errorf("%d: AZERSU not paid %s:\n%s", d.date, d.paid, pain)
		}
		var memo []string
		for _, l := range strings.Split(string(f["positions.csv"]), "\n") {
			if strings.HasPrefix(l, "carried-") {
				memo = append(memo, l)
			}
		}
		if strings.Join(memo, "\n") != strings.Join(d.memo, "\n") {
			t.Errorf("%d: memo rows\n%s\nwant\n%s\n%s", d.date, strings.Join(memo, "\n"), strings.Join(d.memo, "\n"), f["positions.csv"])
		}
		b := e.st.Balance(ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: "AZERSU"}, 944)
		set := e.st.Balance(ledger.AccountID{Kind: ledger.KindSettlement}, 944)
		com := e.st.Balance(ledger.AccountID{Kind: ledger.KindCommissionIncome}, 944)
		if b.Credits-b.Debits != d.payable {
			t.Errorf("%d: AZERSU payable %d, want %d", d.date, b.Credits-b.Debits, d.payable)
		}
		// What the hub holds is its commission less what the provider still owes it.
		if set.Debits-set.Credits != com.Credits-com.Debits+d.payable {
			t.Errorf("%d: settlement %d, commission %d, payable %d", d.date, set.Debits-set.Credits, com.Credits-com.Debits, d.payable)
		}
	}
	if pain := string(files[20261104][payoutName]); !strings.Contains(pain, "commission 0.15, carried -4.95</Ustrd>") {
		t.Errorf("the remittance text does not name the balance netted:\n%s", pain)
	}
	for _, d := range days {
		r, err := Run(ctx, Deps{Core: e.core}, Options{Date: d.date, Dir: e.root, Location: baku})
		if err != nil {
			t.Fatalf("re-run of %d: %v", d.date, err)
		}
		if r.Posted != 0 || !sameFiles(readDay(t, r.Dir), files[d.date]) {
			t.Errorf("re-run of %d posted %d (want 0) or wrote other files", d.date, r.Posted)
		}
	}
	if rep, err := e.st.Verify(); err != nil {
		t.Fatalf("ledger verify: %v\n%s", err, rep.String())
	}
}

// A settlement cannot be left half-posted in a way that blocks the day. A payout its
// payable cannot cover (a late reversal posted before the day was cleared) refuses the
// run before anything is posted; and a payout declined all the same (here: a decline
// already stored under its key, as a reversal racing the check would leave) is retried
// under a successor key.
func TestSettlementNotBlockedByDecline(t *testing.T) {
	payable := ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: "AZERSU"}
	for _, tc := range []struct {
		name  string
		setup func(e *env) // on 2026-11-02, before 2026-11-01 is cleared
		short bool         // the first run is refused with ErrPayableShort
	}{
		{"payable short", func(e *env) { e.reverse("r1", "p1", false) }, true},
		{"payout declined earlier", func(e *env) {
			out, err := e.st.Submit(context.Background(), &ledger.Command{Key: []byte("clr/pay/20261101/944/AZERSU"),
				Transfer: &ledger.Transfer{Code: ledger.CodePayout, Postings: []ledger.Posting{
					{Account: payable, Side: ledger.Debit, Amount: 100000, Currency: 944},
					{Account: ledger.AccountID{Kind: ledger.KindSettlement}, Side: ledger.Credit, Amount: 100000, Currency: 944}}}})
			if err != nil || out.Status != ledger.Declined {
				t.Fatalf("setting up a declined payout: %+v, %v", out, err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, vfs.NewMem(), "db")
			e.debts("AZERSU", map[string][]string{"7000000001": {"WATER:100.00"}})
			e.pay(pay{key: "p1", provider: "AZERSU", account: "7000000001", amount: 1500, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
			e.cutover(20261102)
			tc.setup(e)
			if tc.short {
				_, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261101, Dir: e.root})
				if !errors.Is(err, ErrPayableShort) {
					t.Fatalf("payout over the payable: %v, want ErrPayableShort", err)
				}
				if s := e.st.Balance(ledger.AccountID{Kind: ledger.KindSettlement}, 944); s.Debits != 0 || s.Credits != 0 {
					t.Fatalf("a refused run posted: settlement %+v", s)
				}
				// New money on the payable: the day clears.
				e.pay(pay{key: "p2", provider: "AZERSU", account: "7000000001", amount: 2000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
			}
			r := e.run(20261101, nil)
			if providerOf(r, "AZERSU").Transfer == 0 || r.Posted != 2 {
				t.Fatalf("2026-11-01: %+v", r)
			}
			if again := e.run(20261101, nil); again.Posted != 0 || again.Existing != 2 || providerOf(again, "AZERSU").Transfer != providerOf(r, "AZERSU").Transfer {
				t.Errorf("re-run: %+v", again)
			}
			e.cutover(20261103)
			e.run(20261102, nil)
			if b := e.st.Balance(payable, 944); b.Debits != b.Credits {
				t.Errorf("AZERSU payable after both days %+v, want 0", b)
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

// providerOf returns provider code's position in r (zero when it has none).
func providerOf(r *Result, code string) ProviderPosition {
	for _, p := range r.Providers {
		if p.Provider == code {
			return p
		}
	}
	return ProviderPosition{}
}

// noTransfers is a ledger that cannot read transfers (no Transfer method).
type noTransfers struct{ ledger.Ledger }

// Where the split of a payment of several providers is read from: the store's transfer,
// also when Deps.Ledger is a wrapper without Transfer (the core's store is used); a
// ledger that cannot read transfers at all refuses the day before posting anything
// rather than guess the split from today's agreements (swapped here before clearing).
func TestMultiProviderSplitSource(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wrapped bool // the core itself runs on a ledger without Transfer
		ok      bool
	}{
		{"gated ledger in Deps", false, true},
		{"no transfer reader", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, vfs.NewMem(), "db")
			if tc.wrapped {
				core, err := billpay.New(billpay.Options{Ledger: noTransfers{e.st}, Registry: billpay.DemoRegistry(),
					Clock: func() time.Time { return time.Unix(0, e.now.Load()) }})
				if err != nil {
					t.Fatal(err)
				}
				e.core = core
			}
			e.debts("AZERISIQ", map[string][]string{"1000000001": {"ELEC:30.00"}})
			e.debts("BAKTELECOM", map[string][]string{"2000000001": {"PHONE:30.00"}})
			sub, err := e.core.Register(ctx, billpay.SubscriberRequest{Name: "Two Providers",
				Accounts: []billpay.AccountRef{{Provider: "AZERISIQ", Account: "1000000001"}, {Provider: "BAKTELECOM", Account: "2000000001"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.core.Pay(ctx, billpay.PaymentRequest{Key: []byte("both"), Target: billpay.Target{RegCode: sub.Code}, Amount: 6000,
				Currency: 944, Channel: billpay.ChannelWeb, Method: billpay.MethodCard, Acquirer: "KAPITAL"}); err != nil {
				t.Fatal(err)
			}
			nr, err := swapAgreements(e.core.Registry())
			if err != nil {
				t.Fatal(err)
			}
			e.core.SetRegistry(nr)
			e.cutover(20261102)
			r, err := Run(ctx, Deps{Core: e.core, Ledger: GatedLedger{Ledger: e.core.Ledger(), Core: e.core}}, Options{Date: 20261101, Dir: e.root})
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "cannot split") {
					t.Fatalf("run without a transfer reader: %v", err)
				}
				if s := e.st.Balance(ledger.AccountID{Kind: ledger.KindSettlement}, 944); s.Debits != 0 || s.Credits != 0 {
					t.Fatalf("a refused run posted: settlement %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if providerOf(r, "AZERISIQ").Commission != 30 || providerOf(r, "BAKTELECOM").Commission != 15 {
				t.Errorf("split %+v", r.Providers)
			}
		})
	}
}
