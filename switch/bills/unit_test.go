package bills

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
)

func enc48(t *testing.T, kv ...any) string {
	t.Helper()
	var d specs.DE48
	for i := 0; i+1 < len(kv); i += 2 {
		d.Entries = append(d.Entries, specs.DE48Entry{Tag: kv[i].(int), Value: kv[i+1].(string)})
	}
	b, err := d.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseBill(t *testing.T) {
	tests := []struct {
		name    string
		kv      []any
		raw     string
		wantErr bool
		check   func(t *testing.T, r billReq)
	}{
		{name: "account, default A", kv: []any{1, "AZERISIQ", 2, "1000000001"}, check: func(t *testing.T, r billReq) {
			if r.Target.Provider != "AZERISIQ" || r.Target.Account != "1000000001" || r.Mode != billpay.ModeAuto {
				t.Fatalf("%+v", r)
			}
		}},
		{name: "regcode", kv: []any{3, "7700000001"}, check: func(t *testing.T, r billReq) {
			if r.Target.RegCode != "7700000001" {
				t.Fatalf("%+v", r)
			}
		}},
		{name: "lines", kv: []any{1, "P", 2, "A", 4, "L", 5, "P:A:ELEC=100;P:A:GAS=5;"}, check: func(t *testing.T, r billReq) {
			if r.Mode != billpay.ModeLines || len(r.Lines) != 2 || r.Lines[1].Service != "GAS" || r.Lines[1].Amount != 5 {
				t.Fatalf("%+v", r)
			}
		}},
		{name: "readings and card", kv: []any{1, "P", 2, "A", 6, "ELEC:M-1=123.4", 7, "GC-00042117:17"}, check: func(t *testing.T, r billReq) {
			if len(r.Readings) != 1 || r.Readings[0].Value != "123.4" || r.CardID != "GC-00042117" || r.CardSeq != 17 || !r.HasCard {
				t.Fatalf("%+v", r)
			}
		}},
		{name: "unknown tags ignored", kv: []any{1, "P", 2, "A", 99, "whatever"}},
		{name: "both forms", kv: []any{1, "P", 2, "A", 3, "7700000001"}, wantErr: true},
		{name: "neither form", kv: []any{4, "A"}, wantErr: true},
		{name: "provider without account", kv: []any{1, "P"}, wantErr: true},
		{name: "regcode not 10 digits", kv: []any{3, "77000"}, wantErr: true},
		{name: "bad allocation mode", kv: []any{1, "P", 2, "A", 4, "X"}, wantErr: true},
		{name: "L without lines", kv: []any{1, "P", 2, "A", 4, "L"}, wantErr: true},
		{name: "line amount not digits", kv: []any{1, "P", 2, "A", 4, "L", 5, "P:A:ELEC=1.00"}, wantErr: true},
		{name: "line without service", kv: []any{1, "P", 2, "A", 4, "L", 5, "P:A=100"}, wantErr: true},
		{name: "account with a colon", kv: []any{1, "P", 2, "A:B"}, wantErr: true},
		{name: "card without sequence", kv: []any{1, "P", 2, "A", 7, "GC-1"}, wantErr: true},
		{name: "unreadable", raw: "01999AZ", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if raw == "" {
				raw = enc48(t, tc.kv...)
			}
			r, err := parseBill(raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestDebtsTagCut(t *testing.T) {
	var lines []billpay.DebtLine
	for i := 0; i < 60; i++ {
		lines = append(lines, billpay.DebtLine{Provider: "AZERISIQ", Account: "1000000001", Service: "ELEC", Period: 202001 + i, Amount: int64(1000 + i)})
	}
	tests := []struct {
		name    string
		n       int
		wantCut bool
	}{{"few fit", 3, false}, {"many are cut", 60, true}, {"none", 0, false}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			room := maxDE48 - entryLen(len("A*** M****"))
			v, cut := debtsTag(lines[:tc.n], room)
			if cut != tc.wantCut {
				t.Fatalf("cut %v, want %v", cut, tc.wantCut)
			}
			if entryLen(len(v)) > room {
				t.Fatalf("tag 20 of %d characters does not fit %d", len(v), room)
			}
			got := strings.Count(v, ";")
			if !cut && got != tc.n {
				t.Fatalf("%d entries, want %d", got, tc.n)
			}
			if cut && (got == 0 || got >= tc.n || !strings.HasPrefix(v, "AZERISIQ:1000000001:ELEC:202001:1000;")) {
				t.Fatalf("cut tag 20 %q: must hold whole entries from the first", v)
			}
		})
	}
}

func TestResolveDate(t *testing.T) {
	tests := []struct {
		in    string
		today ledger.Date
		want  ledger.Date
		ok    bool
	}{
		{"1121", 20261121, 20261121, true},
		{"1120", 20261121, 20261120, true},
		{"1231", 20270102, 20261231, true},
		{"1122", 20261121, 20251122, true}, // a future MMDD is last year's
		{"0229", 20280301, 20280229, true},
		{"1301", 20261121, 0, false},
		{"0230", 20261121, 0, false},
		{"11", 20261121, 0, false},
		{"11a1", 20261121, 0, false},
	}
	for _, tc := range tests {
		got, ok := resolveDate(tc.in, tc.today)
		if ok != tc.ok || got != tc.want {
			t.Errorf("resolveDate(%q, %d) = %d, %v; want %d, %v", tc.in, tc.today, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLuhn(t *testing.T) {
	for pan, want := range map[string]bool{
		"4169730000000018": false, "4111111111111111": true, "5200000000000007": true,
		"411111111111111": false, "41111111111x1111": false, "": false,
	} {
		if got := luhn(pan); got != want {
			t.Errorf("luhn(%s) = %v, want %v", pan, got, want)
		}
	}
}

func TestDeclineCodes(t *testing.T) {
	for d, want := range map[billpay.Decline]string{
		billpay.DeclineUnknownProvider: "92", billpay.DeclineUnknownAccount: "25", billpay.DeclineInvalidAmount: "13",
		billpay.DeclineNotAllowed: "12", billpay.DeclineAlreadyReversed: "05", billpay.DeclineDayClosed: "12",
		billpay.DeclineConflict: "94", billpay.DeclineBadRequest: "30",
	} {
		got, ok := declineCode(&billpay.DeclineError{Code: d})
		if !ok || got != want {
			t.Errorf("%v → %s, want %s", d, got, want)
		}
	}
	if _, ok := declineCode(errors.New("io")); ok {
		t.Error("a plain error mapped to a decline")
	}
}

// fakeLedger records cutovers; only BusinessDate and Cutover are used by Cutover.
type fakeLedger struct {
	ledger.Ledger
	mu   sync.Mutex
	date ledger.Date
	cuts []ledger.Date
}

func (f *fakeLedger) BusinessDate() ledger.Date {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.date
}

func (f *fakeLedger) Cutover(_ context.Context, next ledger.Date) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.date = next
	f.cuts = append(f.cuts, next)
	return nil
}

type recAnnouncer struct {
	mu    sync.Mutex
	dates []ledger.Date
	err   error
}

func (a *recAnnouncer) Announce(_ context.Context, d ledger.Date) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dates = append(a.dates, d)
	return a.err
}

func TestCutoverSchedule(t *testing.T) {
	baku, err := time.LoadLocation("Asia/Baku")
	if err != nil {
		t.Skip("no tz data:", err)
	}
	tests := []struct {
		at       string
		now      time.Time
		wantNext time.Time
		wantDate ledger.Date // the date the next scheduled cutover opens
	}{
		{"00:00", time.Date(2026, 11, 21, 15, 0, 0, 0, baku), time.Date(2026, 11, 22, 0, 0, 0, 0, baku), 20261122},
		{"23:00", time.Date(2026, 11, 21, 15, 0, 0, 0, baku), time.Date(2026, 11, 21, 23, 0, 0, 0, baku), 20261122},
		{"23:00", time.Date(2026, 11, 21, 23, 0, 0, 0, baku), time.Date(2026, 11, 22, 23, 0, 0, 0, baku), 20261123},
		// 20:30 UTC is 00:30 in Baku (UTC+4): the next midnight is the next local day.
		{"00:00", time.Date(2026, 11, 21, 20, 30, 0, 0, time.UTC), time.Date(2026, 11, 23, 0, 0, 0, 0, baku), 20261123},
	}
	for _, tc := range tests {
		c, err := NewCutover(CutoverConfig{Ledger: &fakeLedger{}, At: tc.at})
		if err != nil {
			t.Fatal(err)
		}
		n := c.next(tc.now)
		if !n.Equal(tc.wantNext) {
			t.Errorf("at %s, now %v: next %v, want %v", tc.at, tc.now, n, tc.wantNext)
		}
		if d := c.scheduledDate(n); d != tc.wantDate {
			t.Errorf("at %s: cutover at %v opens %d, want %d", tc.at, n, d, tc.wantDate)
		}
	}
	if _, err := NewCutover(CutoverConfig{Ledger: &fakeLedger{}, At: "25:00"}); err == nil {
		t.Error("25:00 accepted")
	}
}

func TestCutoverNowAndCatchUp(t *testing.T) {
	l := &fakeLedger{date: 20261231}
	a := &recAnnouncer{}
	b := &recAnnouncer{err: errors.New("no link")}
	c, err := NewCutover(CutoverConfig{Ledger: l, Announcers: []Announcer{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := c.Now(context.Background())
	if next != 20270101 || l.BusinessDate() != 20270101 {
		t.Fatalf("cutover on command: %d, ledger %d", next, l.BusinessDate())
	}
	if err == nil {
		t.Fatal("a failed announcement was not reported")
	}
	if len(a.dates) != 1 || a.dates[0] != 20270101 || len(b.dates) != 1 {
		t.Fatalf("announced %v / %v", a.dates, b.dates)
	}
	if err := c.To(context.Background(), 20261231); err == nil {
		t.Fatal("a cutover backwards was accepted")
	}

	// Run catches up at start when the host was down at cutover time, then waits.
	baku, _ := time.LoadLocation("Asia/Baku")
	l2 := &fakeLedger{date: 20261119}
	c2, err := NewCutover(CutoverConfig{Ledger: l2, Location: baku, Now: func() time.Time { return time.Date(2026, 11, 21, 10, 0, 0, 0, baku) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = c2.Run(ctx)
	if l2.BusinessDate() != 20261121 || len(l2.cuts) != 1 {
		t.Fatalf("catch-up: date %d, cuts %v", l2.BusinessDate(), l2.cuts)
	}
}

func TestAllocTagCut(t *testing.T) {
	as := []billpay.Allocation{
		{Provider: "AZERISIQ", Account: "1000000001", Service: "ELEC", Period: 202609, Amount: 123},
		{Provider: "AZERISIQ", Account: "1000000001", Service: "GARBAGE", Period: 202609, Amount: 45},
		{Provider: "AZERISIQ", Account: "1000000001", Service: "METER", Period: 0, Amount: 6},
	}
	e1 := "AZERISIQ:1000000001:ELEC:202609=123;"
	e2 := "AZERISIQ:1000000001:GARBAGE:202609=45;"
	e3 := "AZERISIQ:1000000001:METER:000000=6;"
	for _, tc := range []struct {
		room int
		want string
	}{
		{maxDE48, e1 + e2 + e3},
		{entryLen(len(e1 + e2 + e3)), e1 + e2 + e3},
		{entryLen(len(e1+e2+e3)) - 1, e1 + e2},
		{entryLen(len(e1)), e1},
		{entryLen(len(e1)) - 1, ""},
	} {
		if got := allocTag(as, tc.room); got != tc.want {
			t.Errorf("room %d: %q, want %q", tc.room, got, tc.want)
		}
	}
}

func TestMMDD(t *testing.T) {
	for _, tc := range []struct {
		d    ledger.Date
		want string
	}{{20261121, "1121"}, {20260101, "0101"}, {20260930, "0930"}, {20261231, "1231"}} {
		if got := mmdd(tc.d); got != tc.want {
			t.Errorf("mmdd(%d) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
