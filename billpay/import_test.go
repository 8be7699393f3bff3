package billpay

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
)

func debtsFile(fileID, created, through, mode string, accounts ...string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="%s" created="%s" registers-through="%s" mode="%s">
%s
</debts>
`, fileID, created, through, mode, strings.Join(accounts, "\n"))
}

func acct(number string, debts ...string) string {
	return fmt.Sprintf(`  <account number="%s" name="Test Person">%s</account>`, number, strings.Join(debts, ""))
}

func debt(service string, period int, amount string) string {
	return fmt.Sprintf(`<debt service="%s" period="%d" amount="%s"/>`, service, period, amount)
}

func wantRefusal(t *testing.T, err error, want Refusal) *ImportError {
	t.Helper()
	var ie *ImportError
	if !errors.As(err, &ie) || ie.Reason != want {
		t.Fatalf("got %v, want refusal %s", err, want)
	}
	return ie
}

// A file with a bad record anywhere changes nothing, and the report names every bad
// record by line.
func TestImportAtomic(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	before := l.Snapshot()
	good := acct("1000000001", debt("ELEC", 202611, "1.00"))
	tests := []struct {
		name  string
		file  string
		lines []int
	}{
		{"bad amount last", debtsFile("F-1", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", good, acct("5", debt("ELEC", 202611, "1.001"))), []int{4}},
		{"unknown service first", debtsFile("F-2", "2026-11-02T02:00:00+04:00", "2026-11-01", "delta", acct("5", debt("GAS", 202611, "1.00")), good), []int{3}},
		{"several bad records", debtsFile("F-3", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", good,
			acct("6", debt("ELEC", 202613, "1.00")), good, acct("", debt("ELEC", 202611, "1.00"))), []int{4, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ImportBytes(ctx, []byte(tc.file), nil)
			ie := wantRefusal(t, err, RefusedBadRecords)
			var lines []int
			for _, re := range ie.Report.Errors {
				if len(lines) == 0 || lines[len(lines)-1] != re.Line {
					lines = append(lines, re.Line)
				}
			}
			if fmt.Sprint(lines) != fmt.Sprint(tc.lines) {
				t.Fatalf("bad lines %v, want %v (%v)", lines, tc.lines, ie)
			}
			if !maps.Equal(before, l.Snapshot()) {
				t.Fatal("a refused file changed the store")
			}
		})
	}
	_, err := c.ImportBytes(ctx, []byte("<debts"), nil)
	wantRefusal(t, err, RefusedBadFile)
	_, err = c.ImportBytes(ctx, []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><debts/>`), nil)
	wantRefusal(t, err, RefusedBadFile)
	if !maps.Equal(before, l.Snapshot()) {
		t.Fatal("a refused file changed the store")
	}
}

func TestImportDuplicateStaleUnknown(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	_, err := c.ImportBytes(ctx, DemoFixture(), nil)
	wantRefusal(t, err, RefusedDuplicate)
	f2 := debtsFile("F-2", "2026-11-02T02:00:00+04:00", "2026-11-01", "delta", acct("1000000001", debt("ELEC", 202611, "5.00")))
	if _, err := c.ImportBytes(ctx, []byte(f2), nil); err != nil {
		t.Fatal(err)
	}
	before := l.Snapshot()
	stale := debtsFile("F-0", "2026-11-01T01:00:00+04:00", "2026-11-01", "delta", acct("1000000001"))
	_, err = c.ImportBytes(ctx, []byte(stale), nil)
	wantRefusal(t, err, RefusedStale)
	_, err = c.ImportBytes(ctx, []byte(strings.Replace(f2, "AZERISIQ", "NOBODY", 1)), nil)
	wantRefusal(t, err, RefusedUnknownProvider)
	_, err = c.ImportBytes(ctx, []byte(f2), nil)
	wantRefusal(t, err, RefusedDuplicate)
	if !maps.Equal(before, l.Snapshot()) {
		t.Fatal("a refused file changed the store")
	}
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 500 {
		t.Fatalf("delta not applied: due %d", d)
	}
	// The delta left the other accounts as they were.
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000101"}); d != 3950 {
		t.Fatalf("delta touched another account: due %d", d)
	}
}

func TestImportFullClosesUnlisted(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	full := debtsFile("F-FULL", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", acct("1000000101", debt("ELEC", 202611, "3.00")))
	res, err := c.ImportBytes(ctx, []byte(full), nil)
	if err != nil || res.Accounts != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000001"})
	wantDecline(t, err, DeclineUnknownAccount)
	// The registration code now reaches only the listed account.
	inq, err := c.Inquire(ctx, Target{RegCode: code})
	if err != nil || inq.Total != 300 || len(inq.Accounts) != 1 {
		t.Fatalf("%+v %v", inq, err)
	}
	// A later delta reopens an account it lists.
	delta := debtsFile("F-D", "2026-11-03T02:00:00+04:00", "2026-11-02", "delta", acct("1000000001", debt("ELEC", 202611, "7.00")))
	if _, err := c.ImportBytes(ctx, []byte(delta), nil); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 700 {
		t.Fatalf("due %d", d)
	}
}

// Netting: due = the file's amount − the payments accepted on business days after its
// registers-through date.
func TestImportNetting(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000101"}
	// Day 2026-11-01: pay 10.00 (ELEC 202608) — the provider's next file, registers
	// through 2026-10-31, does not count it yet.
	if _, err := c.Pay(ctx, cashPay("n1", target, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := l.Cutover(ctx, 20261102); err != nil {
		t.Fatal(err)
	}
	// Day 2026-11-02: pay 2.50 (ELEC 202609 in part).
	if _, err := c.Pay(ctx, cashPay("n2", target, 250)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, through string
		debts         []string
		want          int64
	}{
		// The file still shows both debts: both payments are after its registers-through.
		{"file through 10-31", "2026-10-31", []string{debt("ELEC", 202608, "10.00"), debt("ELEC", 202609, "12.50")}, 2250 - 1000 - 250},
		// The file counts the payment of 11-01: only the one of 11-02 is netted.
		{"file through 11-01", "2026-11-01", []string{debt("ELEC", 202609, "12.50")}, 1250 - 250},
		// The file counts both.
		{"file through 11-02", "2026-11-02", []string{debt("ELEC", 202609, "10.00")}, 1000},
	}
	for i, s := range steps {
		f := debtsFile(fmt.Sprintf("N-%d", i), fmt.Sprintf("2026-11-03T0%d:00:00+04:00", i+1), s.through, "delta", acct("1000000101", s.debts...))
		if _, err := c.ImportBytes(ctx, []byte(f), nil); err != nil {
			t.Fatal(err)
		}
		if d := due(t, c, target); d != s.want {
			t.Fatalf("%s: due %d, want %d", s.name, d, s.want)
		}
	}
}

func TestImportSignature(t *testing.T) {
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	reg := DemoRegistry()
	p, _ := reg.Provider("AZERISIQ")
	signed := *p
	signed.PublicKey = pub
	reg, err := reg.With(signed)
	if err != nil {
		t.Fatal(err)
	}
	c, l := newTestCore(t, reg)
	file := DemoFixture()
	sig := []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, file)))
	before := l.Snapshot()
	_, err = c.ImportBytes(ctx, file, nil)
	wantRefusal(t, err, RefusedSignature)
	bad := []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, append(file, ' '))))
	_, err = c.ImportBytes(ctx, file, bad)
	wantRefusal(t, err, RefusedSignature)
	if !maps.Equal(before, l.Snapshot()) {
		t.Fatal("a refused file changed the store")
	}
	if _, err := c.ImportBytes(ctx, file, sig); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 418518 {
		t.Fatalf("due %d", d)
	}
}

// FuzzImport: any bytes either apply whole (every account readable afterwards) or
// change nothing; never a panic.
func FuzzImport(f *testing.F) {
	f.Add(DemoFixture())
	f.Add([]byte(debtsFile("F-1", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", acct("1", debt("ELEC", 202611, "1.00")), acct("2", debt("ELEC", 202611, "x")))))
	f.Add([]byte(debtsFile("F-2", "2026-11-02T02:00:00+04:00", "2026-11-01", "delta", acct("1000000001", debt("GARBAGE", 202611, "-1.00")))))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		c, l, _ := seeded(t)
		before := l.Snapshot()
		res, err := c.ImportBytes(ctx, data, nil)
		after := l.Snapshot()
		if err != nil {
			if !maps.Equal(before, after) {
				t.Fatalf("refused (%v) but the store changed", err)
			}
			return
		}
		// Applied: the file-id is recorded and every account of the file is stored.
		if _, ok := after[string(fileKey(res.Header.Provider, res.Header.FileID))]; !ok {
			t.Fatal("applied without recording the file-id")
		}
		n := 0
		for k := range after {
			if _, was := before[k]; !was && k[0] == prefixAccount {
				n++
			}
		}
		if n > res.Accounts {
			t.Fatalf("%d new accounts from a file of %d", n, res.Accounts)
		}
	})
}

// An import that stops after staging some chunks (here: the file changes between the
// passes) leaves nothing visible; the next import applies normally and the abandoned
// records never show.
func TestImportAbandonedStaging(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	c.importChunk = 2 // several staging commands per file
	var accts []string
	for i := range 9 {
		accts = append(accts, acct(fmt.Sprint(4000+i), debt("ELEC", 202611, "1.00")))
	}
	accts = append(accts, acct("1000000101", debt("ELEC", 202611, "99.00")))
	first := debtsFile("S-1", "2026-11-02T02:00:00+04:00", "2026-11-01", "full", accts...)
	second := strings.Replace(first, `amount="99.00"`, `amount="98.00"`, 1)
	opens := 0
	_, err := c.Import(ctx, ImportRequest{Open: func() (io.ReadCloser, error) {
		opens++
		if opens >= 3 { // header, pass 1 see the first content; pass 2 another
			return io.NopCloser(strings.NewReader(second)), nil
		}
		return io.NopCloser(strings.NewReader(first)), nil
	}})
	wantRefusal(t, err, RefusedChanged)
	// Nothing of it is visible: the old state stands (the full file would have closed 1000000001).
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000001"}); d != 418518 {
		t.Fatalf("due %d", d)
	}
	_, err = c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "4000"})
	wantDecline(t, err, DeclineUnknownAccount)
	if d := due(t, c, Target{RegCode: code}); d != 5500 {
		t.Fatalf("regcode due %d", d)
	}
	// The same file-id applies afterwards (it was never recorded), then a delta; the
	// abandoned version stays invisible.
	if _, err := c.ImportBytes(ctx, []byte(second), nil); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "1000000101"}); d != 9800 {
		t.Fatalf("due %d", d)
	}
	_, err = c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "1000000001"})
	wantDecline(t, err, DeclineUnknownAccount) // closed by the full file
	if d := due(t, c, Target{Provider: "AZERISIQ", Account: "4008"}); d != 100 {
		t.Fatalf("due %d", d)
	}
}

// A payment racing a cutover is netted on the business date the ledger commits it on,
// not the date read before: a file registering through the earlier date still nets it.
func TestNettingDateFromCommit(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	target := Target{Provider: "AZERISIQ", Account: "1000000101"}
	var once bool
	l.BeforeSubmit = func() {
		if !once {
			once = true
			if err := l.Cutover(ctx, 20261102); err != nil {
				t.Error(err)
			}
		}
	}
	p, err := c.Pay(ctx, cashPay("race", target, 1000))
	l.BeforeSubmit = nil
	if err != nil || p.BusinessDate != 20261102 {
		t.Fatalf("%+v %v", p, err)
	}
	f := debtsFile("R-1", "2026-11-02T03:00:00+04:00", "2026-11-01", "delta", acct("1000000101", debt("ELEC", 202608, "10.00")))
	if _, err := c.ImportBytes(ctx, []byte(f), nil); err != nil {
		t.Fatal(err)
	}
	if d := due(t, c, target); d != 0 {
		t.Fatalf("due %d: the payment of 2026-11-02 was not netted", d)
	}
}
