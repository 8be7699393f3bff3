package clearing

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

var baku = time.FixedZone("AZT", 4*3600)

type env struct {
	t    testing.TB
	st   *ledger.Store
	core *billpay.Core
	now  atomic.Int64 // billpay's clock, unix ns
	root string
}

func newEnv(t testing.TB, fs vfs.FS, dbDir string) *env {
	t.Helper()
	e := &env{t: t, root: filepath.Join(t.TempDir(), "clearing")}
	st, err := ledger.Open(ledger.Options{Dir: dbDir, FS: fs, InitialDate: 20261101})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.now.Store(time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC).UnixNano())
	e.core, err = billpay.New(billpay.Options{Ledger: st, Registry: billpay.DemoRegistry(),
		Clock: func() time.Time { return time.Unix(0, e.now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) at(s string) {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		e.t.Fatal(err)
	}
	e.now.Store(tm.UnixNano())
}

// debts imports a delta debt list: provider → account → "SERVICE:amount" (period 202610).
func (e *env) debts(provider string, accounts map[string][]string) {
	e.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="%s" file-id="%s-T" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="delta">
`, provider, provider)
	for acct, ds := range accounts {
		fmt.Fprintf(&b, `<account number="%s" name="Test Payer">`, acct)
		for _, d := range ds {
			svc, amt, _ := strings.Cut(d, ":")
			fmt.Fprintf(&b, `<debt service="%s" period="202610" amount="%s"/>`, svc, amt)
		}
		b.WriteString("</account>\n")
	}
	b.WriteString("</debts>\n")
	if _, err := e.core.ImportBytes(context.Background(), []byte(b.String()), nil); err != nil {
		e.t.Fatal(err)
	}
}

type pay struct {
	key, provider, account string
	amount                 int64
	channel                billpay.Channel
	method                 billpay.Method
	acquirer, terminal     string
	rrn                    string
	readings               []billpay.Reading
}

func (e *env) pay(p pay) *billpay.Payment {
	e.t.Helper()
	res, err := e.core.Pay(context.Background(), billpay.PaymentRequest{Key: []byte(p.key),
		Target: billpay.Target{Provider: p.provider, Account: p.account}, Amount: p.amount, Currency: 944,
		Channel: p.channel, Method: p.method, Acquirer: p.acquirer, Terminal: p.terminal, RRN: p.rrn, Readings: p.readings})
	if err != nil {
		e.t.Fatalf("pay %s: %v", p.key, err)
	}
	return res
}

func (e *env) reverse(key, orig string, sameDay bool) {
	e.t.Helper()
	if _, err := e.core.Reverse(context.Background(), billpay.ReverseRequest{Key: []byte(key), OriginalKey: []byte(orig), SameDayOnly: sameDay}); err != nil {
		e.t.Fatalf("reverse %s: %v", key, err)
	}
}

func (e *env) cutover(next ledger.Date) {
	e.t.Helper()
	if err := (GatedLedger{Ledger: e.st, Core: e.core}).Cutover(context.Background(), next); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) run(date ledger.Date, ms MismatchSource) *Result {
	e.t.Helper()
	res, err := Run(context.Background(), Deps{Core: e.core, Mismatches: ms}, Options{Date: date, Dir: e.root, Location: baku})
	if err != nil {
		e.t.Fatalf("clearing %d: %v", date, err)
	}
	return res
}

func readDay(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[en.Name()] = b
	}
	return out
}

// The worked example: two business days of payments and reversals, cleared; the
// registers, positions, payout files and the ledger's balances afterwards.
func TestClearingWorkedExample(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERISIQ", map[string][]string{"1000000001": {"ELEC:34.50", "GARBAGE:2.00"}, "1000000002": {"ELEC:5000.00"}, "1000000003": {"ELEC:5.00"}})
	e.debts("BAKTELECOM", map[string][]string{"2000000001": {"PHONE:1.00"}})
	e.debts("AZERIGAZ", map[string][]string{"3000000001": {"GAS:100.00"}})
	e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:50.00"}})

	// Day 1, 2026-11-01.
	e.at("2026-11-01T10:15:02+04:00")
	e.pay(pay{key: "p1", provider: "AZERISIQ", account: "1000000001", amount: 3650, channel: billpay.ChannelATM, method: billpay.MethodCard,
		acquirer: "MILLIKART", terminal: "ATM01234", rrn: "530512000123", readings: []billpay.Reading{{Service: "ELEC", Meter: "M0099812", Value: "10410"}}})
	e.at("2026-11-01T11:00:00+04:00")
	p2 := e.pay(pay{key: "p2", provider: "AZERISIQ", account: "1000000002", amount: 200000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
	p3 := e.pay(pay{key: "p3", provider: "BAKTELECOM", account: "2000000001", amount: 100, channel: billpay.ChannelKiosk, method: billpay.MethodCash, terminal: "K0001"})
	e.pay(pay{key: "p4", provider: "AZERISIQ", account: "1000000003", amount: 500, channel: billpay.ChannelPOS, method: billpay.MethodCash, acquirer: "AGENT1", terminal: "P0001"})
	e.reverse("r4", "p4", true) // same day: in no register
	e.pay(pay{key: "p5", provider: "AZERIGAZ", account: "3000000001", amount: 1000, channel: billpay.ChannelATM, method: billpay.MethodCard, acquirer: "MILLIKART", terminal: "ATM01234"})
	if p2.Commission != 1000 || p3.Commission != 5 {
		t.Fatalf("commission at max %d (want 1000), at min %d (want 5)", p2.Commission, p3.Commission)
	}

	if _, err := Run(ctx, Deps{Core: e.core}, Options{Date: 20261101, Dir: e.root}); !errors.Is(err, ErrDayOpen) {
		t.Fatalf("clearing an open day: %v", err)
	}
	e.cutover(20261102)
	r1 := e.run(20261101, nil)
	day1 := readDay(t, r1.Dir)

	wantReg := `<?xml version="1.0" encoding="UTF-8"?>
<register xmlns="urn:billpay:register:1" id="REG-AZERISIQ-20261101" provider="AZERISIQ" business-date="2026-11-01" count="2" total="2036.50" commission="10.37" payout="2026.13">
  <payment receipt="R2611010000001" rrn="530512000123" time="2026-11-01T10:15:02+04:00" channel="ATM" acquirer="MILLIKART" terminal="ATM01234" method="CARD" account="1000000001" amount="36.50">
    <line service="ELEC" period="202610" amount="34.50"/>
    <line service="GARBAGE" period="202610" amount="2.00"/>
    <reading service="ELEC" meter="M0099812" value="10410"/>
  </payment>
  <payment receipt="R2611010000002" time="2026-11-01T11:00:00+04:00" channel="WEB" acquirer="KAPITAL" method="CARD" account="1000000002" amount="2000.00">
    <line service="ELEC" period="202610" amount="2000.00"/>
  </payment>
</register>
`
	if got := string(day1["register-AZERISIQ.xml"]); got != wantReg {
		t.Errorf("AZERISIQ register of 2026-11-01:\n%s\nwant\n%s", got, wantReg)
	}
	wantBak := `<register xmlns="urn:billpay:register:1" id="REG-BAKTELECOM-20261101" provider="BAKTELECOM" business-date="2026-11-01" count="1" total="1.00" commission="0.05" payout="0.95">
  <payment receipt="R2611010000003" time="2026-11-01T11:00:00+04:00" channel="KIOSK" terminal="K0001" method="CASH" account="2000000001" amount="1.00">
    <line service="PHONE" period="202610" amount="1.00"/>
  </payment>
</register>
`
	if got := string(day1["register-BAKTELECOM.xml"]); !strings.HasSuffix(got, wantBak) {
		t.Errorf("BAKTELECOM register (commission at its minimum):\n%s", got)
	}
	if got := string(day1["register-AZERSU.xml"]); got != emptyRegister("AZERSU", "2026-11-01") {
		t.Errorf("AZERSU (no entries) register of 2026-11-01:\n%s", got)
	}
	wantPos := `role,party,currency,entries,collected,reversed,commission,position,transfer,register
acquirer,KAPITAL,AZN,1,2000.00,0.00,,2000.00,T,
acquirer,MILLIKART,AZN,2,46.50,0.00,,46.50,T,
cash-drawer,K0001,AZN,1,1.00,0.00,,1.00,T,
provider,AZERIGAZ,AZN,1,10.00,0.00,0.10,-9.90,T,REG-AZERIGAZ-20261101
provider,AZERISIQ,AZN,2,2036.50,0.00,10.37,-2026.13,T,REG-AZERISIQ-20261101
provider,AZERSU,AZN,0,0.00,0.00,0.00,0.00,,REG-AZERSU-20261101
provider,BAKTELECOM,AZN,1,1.00,0.00,0.05,-0.95,T,REG-BAKTELECOM-20261101
commission,hub,AZN,,,,10.52,-10.52,,
total,,AZN,,,,,0.00,,
`
	if got := maskTransfers(string(day1["positions.csv"])); got != wantPos {
		t.Errorf("positions of 2026-11-01:\n%s\nwant\n%s", got, wantPos)
	}
	checkPositionsSumZero(t, r1)
	if r1.Payments != 4 || r1.Reversals != 0 || r1.SameDay != 1 || r1.Posted != 6 || r1.Existing != 0 {
		t.Errorf("result %+v", r1)
	}
	pain := string(day1["payout.xml"])
	for _, want := range []string{"<MsgId>BSW-PAYOUT-20261101</MsgId>", "<CreDtTm>2026-11-02T00:00:00</CreDtTm>", "<NbOfTxs>3</NbOfTxs>",
		"<CtrlSum>2036.98</CtrlSum>", "<EndToEndId>REG-AZERISIQ-20261101</EndToEndId>", `<InstdAmt Ccy="AZN">2026.13</InstdAmt>`,
		"<IBAN>AZ21NABZ00000000137010001944</IBAN>", `<InstdAmt Ccy="AZN">0.95</InstdAmt>`} {
		if !strings.Contains(pain, want) {
			t.Errorf("payout file lacks %s", want)
		}
	}

	// Day 2, 2026-11-02: a late reversal of p1, AZERIGAZ paid and its day-1 payment
	// reversed (a zero payout), AZERSU paid and reversed the same day.
	e.at("2026-11-02T09:00:00+04:00")
	e.pay(pay{key: "p8", provider: "AZERISIQ", account: "1000000002", amount: 10000, channel: billpay.ChannelATM, method: billpay.MethodCard, acquirer: "MILLIKART", terminal: "ATM01234"})
	e.reverse("r1", "p1", false) // a late reversal advice: lands on the new day
	e.pay(pay{key: "p6", provider: "AZERIGAZ", account: "3000000001", amount: 1000, channel: billpay.ChannelATM, method: billpay.MethodCard, acquirer: "MILLIKART", terminal: "ATM01234"})
	e.reverse("r5", "p5", false)
	e.pay(pay{key: "p7", provider: "AZERSU", account: "4000000001", amount: 2000, channel: billpay.ChannelKiosk, method: billpay.MethodCash, terminal: "K0001"})
	e.reverse("r7", "p7", true)
	e.cutover(20261103)
	r2 := e.run(20261102, nil)
	day2 := readDay(t, r2.Dir)
	wantReg2 := `<register xmlns="urn:billpay:register:1" id="REG-AZERISIQ-20261102" provider="AZERISIQ" business-date="2026-11-02" count="2" total="63.50" commission="0.63" payout="62.87">
  <payment receipt="R2611020000001" time="2026-11-02T09:00:00+04:00" channel="ATM" acquirer="MILLIKART" terminal="ATM01234" method="CARD" account="1000000002" amount="100.00">
    <line service="ELEC" period="202610" amount="100.00"/>
  </payment>
  <reversal receipt="R2611010000001" business-date="2026-11-01" account="1000000001" amount="-36.50"/>
</register>
`
	if got := string(day2["register-AZERISIQ.xml"]); !strings.HasSuffix(got, wantReg2) {
		t.Errorf("AZERISIQ register of 2026-11-02:\n%s\nwant\n%s", got, wantReg2)
	}
	if got := string(day2["register-AZERIGAZ.xml"]); !strings.Contains(got, `count="2" total="0.00" commission="0.00" payout="0.00"`) ||
		!strings.Contains(got, `<reversal receipt="R2611010000005" business-date="2026-11-01" account="3000000001" amount="-10.00"/>`) {
		t.Errorf("AZERIGAZ register of 2026-11-02:\n%s", got)
	}
	if got := string(day2["register-AZERSU.xml"]); got != emptyRegister("AZERSU", "2026-11-02") {
		t.Errorf("a payment reversed on its own day reached a register:\n%s", got)
	}
	pain2 := string(day2["payout.xml"])
	if strings.Contains(pain2, "AZERIGAZ") || !strings.Contains(pain2, "<NbOfTxs>1</NbOfTxs>") || !strings.Contains(pain2, `<InstdAmt Ccy="AZN">62.87</InstdAmt>`) {
		t.Errorf("payout of 2026-11-02 (a zero payout must be left out):\n%s", pain2)
	}
	checkPositionsSumZero(t, r2)

	// The files are views of the ledger: once both days are settled, every acquirer,
	// cash drawer and provider account is back to zero, and the settlement account
	// holds the hub's commission.
	for _, a := range []ledger.AccountID{{Kind: ledger.KindAcquirerReceivable, Owner: "MILLIKART"}, {Kind: ledger.KindAcquirerReceivable, Owner: "KAPITAL"},
		{Kind: ledger.KindCashDrawer, Owner: "K0001"}, {Kind: ledger.KindCashDrawer, Owner: "P0001"},
		{Kind: ledger.KindProviderPayable, Owner: "AZERISIQ"}, {Kind: ledger.KindProviderPayable, Owner: "AZERIGAZ"},
		{Kind: ledger.KindProviderPayable, Owner: "AZERSU"}, {Kind: ledger.KindProviderPayable, Owner: "BAKTELECOM"}} {
		if b := e.st.Balance(a, 944); b.Debits != b.Credits {
			t.Errorf("%v: debits %d, credits %d after settlement", a, b.Debits, b.Credits)
		}
	}
	set := e.st.Balance(ledger.AccountID{Kind: ledger.KindSettlement}, 944)
	com := e.st.Balance(ledger.AccountID{Kind: ledger.KindCommissionIncome}, 944)
	if set.Debits-set.Credits != 1115 || com.Credits-com.Debits != 1115 {
		t.Errorf("settlement %+v, commission %+v: want 11.15 each", set, com)
	}

	// A re-run of day 1, after day 2's reversals changed its payments' records, posts
	// nothing and writes the same bytes.
	again := e.run(20261101, nil)
	if again.Posted != 0 || again.Existing != 6 {
		t.Errorf("re-run posted %d, found %d", again.Posted, again.Existing)
	}
	if got := readDay(t, again.Dir); !sameFiles(got, day1) {
		t.Error("a re-run of 2026-11-01 wrote different files")
	}

	days, err := List(e.root)
	if err != nil || len(days) != 2 || days[0].Date != 20261101 || days[1].Date != 20261102 {
		t.Fatalf("List = %+v, %v", days, err)
	}
	if len(days[0].Files) != len(day1)-1 { // every file but the MANIFEST
		t.Errorf("listed files %+v of %d", days[0].Files, len(day1))
	}

	t.Run("registers parse and add up", func(t *testing.T) {
		for _, day := range []map[string][]byte{day1, day2} {
			for name, b := range day {
				if strings.HasPrefix(name, "register-") {
					checkRegister(t, name, b)
				}
			}
		}
	})
	t.Run("payout validates against pain.001.001.03", func(t *testing.T) {
		validatePain(t, filepath.Join(r1.Dir, payoutName))
		validatePain(t, filepath.Join(r2.Dir, payoutName))
	})
}

// emptyRegister is the register of a provider (2 minor digits) without entries on date.
func emptyRegister(provider, date string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<register xmlns="urn:billpay:register:1" id="REG-%s-%s" provider="%s" business-date="%s" count="0" total="0.00" commission="0.00" payout="0.00">
</register>
`, provider, strings.ReplaceAll(date, "-", ""), provider, date)
}

// unindex deletes a reversal's key from billpay's reversal index (billpay/keys.go:
// 0x2A | business date u32 | receipt), leaving the store as one written before the
// index existed.
func (e *env) unindex(date ledger.Date, receipt string) {
	e.t.Helper()
	k := append(binary.BigEndian.AppendUint32([]byte{0x2A}, uint32(date)), receipt...)
	if _, err := e.st.Submit(context.Background(), &ledger.Command{Key: []byte("test/unindex/" + receipt),
		Writes: []ledger.Write{{Key: k, Delete: true}}}); err != nil {
		e.t.Fatal(err)
	}
}

func maskTransfers(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		f := strings.Split(l, ",")
		if len(f) == 10 && f[8] != "" && f[8] != "transfer" {
			f[8] = "T"
		}
		out = append(out, strings.Join(f, ","))
	}
	return strings.Join(out, "\n")
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func checkPositionsSumZero(t *testing.T, r *Result) {
	t.Helper()
	sum := map[uint16]int64{}
	for _, a := range r.Acquirers {
		sum[a.Currency] += a.Owes
	}
	for _, p := range r.Providers {
		sum[p.Currency] -= p.Payout
		if p.Total-p.Commission != p.Payout || p.Paid-p.Reversed != p.Total {
			t.Errorf("provider %+v does not add up", p)
		}
	}
	for _, c := range r.Commission {
		sum[c.Currency] -= c.Minor
	}
	for cur, v := range sum {
		if v != 0 {
			t.Errorf("positions of %d in %d sum to %d", r.Date, cur, v)
		}
	}
}

// checkRegister parses a register and checks count, total, commission and payout.
func checkRegister(t *testing.T, name string, b []byte) {
	t.Helper()
	var reg struct {
		XMLName    xml.Name `xml:"urn:billpay:register:1 register"`
		Count      int      `xml:"count,attr"`
		Total      string   `xml:"total,attr"`
		Commission string   `xml:"commission,attr"`
		Payout     string   `xml:"payout,attr"`
		Payments   []struct {
			Amount string `xml:"amount,attr"`
			Lines  []struct {
				Amount string `xml:"amount,attr"`
			} `xml:"line"`
		} `xml:"payment"`
		Reversals []struct {
			Amount string `xml:"amount,attr"`
		} `xml:"reversal"`
	}
	if err := xml.Unmarshal(b, &reg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	minor := func(s string) int64 {
		var neg bool
		if s, neg = strings.CutPrefix(s, "-"); neg {
			return -minorOf(t, s)
		}
		return minorOf(t, s)
	}
	var total int64
	for _, p := range reg.Payments {
		var lines int64
		for _, l := range p.Lines {
			lines += minor(l.Amount)
		}
		if lines != minor(p.Amount) {
			t.Errorf("%s: payment lines %d, amount %s", name, lines, p.Amount)
		}
		total += minor(p.Amount)
	}
	for _, r := range reg.Reversals {
		if minor(r.Amount) >= 0 {
			t.Errorf("%s: reversal amount %s is not negative", name, r.Amount)
		}
		total += minor(r.Amount)
	}
	if reg.Count != len(reg.Payments)+len(reg.Reversals) || total != minor(reg.Total) ||
		minor(reg.Total)-minor(reg.Commission) != minor(reg.Payout) {
		t.Errorf("%s: count %d total %s commission %s payout %s; entries %d sum %d", name, reg.Count, reg.Total,
			reg.Commission, reg.Payout, len(reg.Payments)+len(reg.Reversals), total)
	}
}

func minorOf(t *testing.T, s string) int64 {
	t.Helper()
	var whole, frac int64
	if _, err := fmt.Sscanf(s, "%d.%02d", &whole, &frac); err != nil || len(s) < 4 || s[len(s)-3] != '.' {
		t.Fatalf("amount %q: not a decimal with 2 digits", s)
	}
	return whole*100 + frac
}

// validatePain validates a payout file against the published schema with xmllint.
func validatePain(t *testing.T, path string) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint is not installed (apt-get install libxml2-utils; .ci/run installs it): schema validation skipped")
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", "testdata/pain.001.001.03.xsd", path).CombinedOutput()
	if err != nil {
		t.Fatalf("%s does not validate: %v\n%s", path, err, out)
	}
}

// The schema check can fail: a payout file without its group header's NbOfTxs is
// refused.
func TestPainValidationCatchesErrors(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint is not installed (apt-get install libxml2-utils): schema validation skipped")
	}
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:50.00"}})
	e.pay(pay{key: "a", provider: "AZERSU", account: "4000000001", amount: 2000, channel: billpay.ChannelWeb, method: billpay.MethodCard, acquirer: "KAPITAL"})
	e.cutover(20261102)
	r := e.run(20261101, nil)
	good, err := os.ReadFile(filepath.Join(r.Dir, payoutName))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(good, []byte("<NbOfTxs>1</NbOfTxs>\n      <CtrlSum>19.80</CtrlSum>\n      <InitgPty>"), []byte("<InitgPty>"), 1)
	if bytes.Equal(bad, good) {
		t.Fatalf("could not break the file:\n%s", good)
	}
	p := filepath.Join(t.TempDir(), "bad.xml")
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", "testdata/pain.001.001.03.xsd", p).CombinedOutput(); err == nil {
		t.Fatalf("a broken payout file validated:\n%s", out)
	}
}

// The testdata copy of the schema is the published one in ../shared, when present.
func TestSchemaCopy(t *testing.T) {
	shared, err := os.ReadFile("../../../shared/schemas/pain.001.001.03.xsd")
	if err != nil {
		t.Skip("../shared/schemas is not beside the repository")
	}
	local, err := os.ReadFile("testdata/pain.001.001.03.xsd")
	if err != nil || !bytes.Equal(local, shared) {
		t.Fatalf("testdata/pain.001.001.03.xsd differs from ../shared/schemas (%v)", err)
	}
}

// No payment straddles a close of day: payments racing the gated cutover are each
// wholly on one day (their receipt's day is their transfer's day), and the clearing of
// the closed day holds exactly the ones of that day.
func TestCutoverNoStraddle(t *testing.T) {
	e := newEnv(t, vfs.NewMem(), "db")
	accts := map[string][]string{}
	for i := range 64 {
		accts[fmt.Sprint(5000000000+i)] = []string{"WATER:100000.00"}
	}
	e.debts("AZERSU", accts)
	const workers, each = 16, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	perDay := map[ledger.Date]int64{}
	start := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				p, err := e.core.Pay(context.Background(), billpay.PaymentRequest{Key: []byte(fmt.Sprintf("k%d-%d", w, i)),
					Target: billpay.Target{Provider: "AZERSU", Account: fmt.Sprint(5000000000 + (w*4+i)%64)}, Amount: 100 + int64(i),
					Currency: 944, Channel: billpay.ChannelWeb, Method: billpay.MethodCard, Acquirer: "KAPITAL"})
				if err != nil {
					t.Error(err)
					return
				}
				if day := p.Receipt[1:7]; day != fmt.Sprintf("%06d", uint32(p.BusinessDate)%1_000_000) {
					t.Errorf("payment %s straddles: transfer on %d", p.Receipt, p.BusinessDate)
				}
				mu.Lock()
				perDay[p.BusinessDate] += p.Amount
				mu.Unlock()
			}
		}()
	}
	close(start)
	time.Sleep(2 * time.Millisecond)
	e.cutover(20261102)
	wg.Wait()
	r := e.run(20261101, nil)
	var paid int64
	for _, a := range r.Acquirers {
		paid += a.PaymentAmount
	}
	if paid != perDay[20261101] {
		t.Fatalf("clearing of day 1 holds %d, payments of day 1 were %d (day 2: %d)", paid, perDay[20261101], perDay[20261102])
	}
}

// Per-bank lists, the reconciliation report with mismatches from the switch, and the
// progress reports.
func TestBankListsAndReconciliation(t *testing.T) {
	e := newEnv(t, vfs.NewMem(), "db")
	e.debts("AZERISIQ", map[string][]string{"1000000001": {"ELEC:100.00"}})
	e.debts("AZERSU", map[string][]string{"4000000001": {"WATER:100.00"}})
	e.at("2026-11-01T08:00:00Z")
	e.pay(pay{key: "a", provider: "AZERSU", account: "4000000001", amount: 1000, channel: billpay.ChannelATM, method: billpay.MethodCard, acquirer: "MILLIKART", terminal: "ATM1", rrn: "1"})
	e.pay(pay{key: "b", provider: "AZERISIQ", account: "1000000001", amount: 2000, channel: billpay.ChannelATM, method: billpay.MethodCard, acquirer: "MILLIKART", terminal: "ATM1", rrn: "2"})
	e.pay(pay{key: "c", provider: "AZERISIQ", account: "1000000001", amount: 300, channel: billpay.ChannelPOS, method: billpay.MethodCash, acquirer: "AGENT,1", terminal: "P1"})
	e.cutover(20261102)
	ms := MismatchFunc(func(_ context.Context, d ledger.Date) ([]Mismatch, error) {
		return []Mismatch{{Link: "pc", Party: "MILLIKART", Date: d, STAN: "000777", DE7: "1101235959",
			Theirs: Figures{Payments: 3, PaymentAmount: 4000}, Ours: Figures{Payments: 2, PaymentAmount: 3000}}}, nil
	})
	var stages []string
	res, err := Run(context.Background(), Deps{Core: e.core, Mismatches: ms}, Options{Date: 20261101, Dir: e.root,
		Progress: func(p Progress) { stages = append(stages, p.Stage) }})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stages, ",") != "read,post,write,done" {
		t.Errorf("progress stages %v", stages)
	}
	files := readDay(t, res.Dir)
	wantMilli := bankHeader +
		"payment,AZERISIQ,AZ21NABZ00000000137010001944,R2611010000002,2026-11-01,2026-11-01T08:00:00+00:00,2,ATM1,ATM,CARD,1000000001,1,20.00,AZN\n" +
		"total,AZERISIQ,AZ21NABZ00000000137010001944,,,,,,,,,1,20.00,AZN\n" +
		"payment,AZERSU,AZ96AIIB38090019441234567890,R2611010000001,2026-11-01,2026-11-01T08:00:00+00:00,1,ATM1,ATM,CARD,4000000001,1,10.00,AZN\n" +
		"total,AZERSU,AZ96AIIB38090019441234567890,,,,,,,,,1,10.00,AZN\n"
	if got := string(files["bank-MILLIKART.csv"]); got != wantMilli {
		t.Errorf("bank list of MILLIKART:\n%s\nwant\n%s", got, wantMilli)
	}
	if _, ok := files["bank-AGENT_2c1.csv"]; !ok {
		t.Errorf("no list for the agent (file names %v)", keys(files))
	}
	wantRecon := reconHeader +
		"host,institution,\"AGENT,1\",2026-11-01,1,300,0,0,300,,,,,,\n" +
		"host,institution,MILLIKART,2026-11-01,2,3000,0,0,3000,,,,,,\n" +
		"host,terminal,ATM1,2026-11-01,2,3000,0,0,3000,,,,,,\n" +
		"host,terminal,P1,2026-11-01,1,300,0,0,300,,,,,,\n" +
		"mismatch,pc,MILLIKART,2026-11-01,3,4000,0,0,4000,000777,1101235959,2,3000,0,0\n"
	if got := string(files[reconName]); got != wantRecon {
		t.Errorf("reconciliation:\n%s\nwant\n%s", got, wantRecon)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		v      int64
		digits int
		want   string
	}{{0, 2, "0.00"}, {5, 2, "0.05"}, {-500, 2, "-5.00"}, {3650, 2, "36.50"}, {1234567, 3, "1234.567"}, {7, 0, "7"}, {-1, 3, "-0.001"}} {
		if got := string(appendAmount(nil, tc.v, tc.digits)); got != tc.want {
			t.Errorf("appendAmount(%d, %d) = %s, want %s", tc.v, tc.digits, got, tc.want)
		}
	}
	for in, want := range map[string]string{`a&b<c>"d"`: "a&amp;b&lt;c&gt;&quot;d&quot;", "Bakı\tx\x01": "Bakı&#9;x?", "\xff": "?"} {
		if got := string(appendXML(nil, in)); got != want {
			t.Errorf("appendXML(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"plain": "plain", "a,b": `"a,b"`, `q"q`: `"q""q"`} {
		if got := string(appendCSV(nil, in)); got != want {
			t.Errorf("appendCSV(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"AZERISIQ": "AZERISIQ", "A/B": "A_2fB", "": "_", "a_b": "a_5fb"} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// Sections spill to disk past the budget and come back whole and in order.
func TestSectionsSpill(t *testing.T) {
	s := newSections(t.TempDir(), 64)
	a, b := s.get(), s.get()
	var wantA, wantB bytes.Buffer
	for i := range 100 {
		line := fmt.Sprintf("line %d\n", i)
		sec, want := a, &wantA
		if i%3 == 0 {
			sec, want = b, &wantB
		}
		want.WriteString(line)
		if err := s.write(sec, []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if a.spill == "" || b.spill == "" {
		t.Fatal("nothing spilled")
	}
	for _, tc := range []struct {
		sec  *section
		want []byte
	}{{a, wantA.Bytes()}, {b, wantB.Bytes()}} {
		var got bytes.Buffer
		if err := tc.sec.copyTo(&got); err != nil || !bytes.Equal(got.Bytes(), tc.want) {
			t.Errorf("section read back %q, %v", got.String(), err)
		}
	}
}
