package debtfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var azn = Options{MinorDigits: 2, Service: func(c string) bool {
	return c == "ELEC" || c == "GARBAGE" || c == "METER"
}}

// head is a valid root start tag on lines 1–2; a body starts on line 3.
const head = `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="F-1" created="2026-11-01T02:00:00+04:00" registers-through="2026-10-31" mode="delta">
`

func doc(body string) string { return head + body + "</debts>\n" }

// readAll runs a full Next pass and returns the cloned accounts.
func readAll(t testing.TB, src io.Reader, o Options) ([]*Account, *Reader, error) {
	t.Helper()
	r, err := NewReader(src, o)
	if err != nil {
		return nil, nil, err
	}
	var out []*Account
	for {
		a, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, a.Clone())
	}
}

func TestFixture(t *testing.T) {
	f, err := os.Open("testdata/fixture-AZERISIQ.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	accts, r, err := readAll(t, f, azn)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Valid() {
		t.Fatalf("fixture not valid: %+v", r.Report())
	}
	h := r.Header()
	if h.Provider != "AZERISIQ" || h.FileID != "AZERISIQ-20261101-CONFORM" || h.Mode != ModeDelta ||
		!h.Created.Equal(time.Date(2026, 10, 31, 22, 0, 0, 0, time.UTC)) ||
		!h.RegistersThrough.Equal(time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)) || h.Line != 8 {
		t.Errorf("header %+v", h)
	}
	// The README's fixture table.
	type want struct {
		number, name string
		closed       bool
		card         *Card
		debts        string
		total        int64
	}
	wants := []want{
		{"1000000001", "Əliyev Əli Vəli oğlu", false, nil, "ELEC:202609:185044 GARBAGE:202609:6000 ELEC:202610:221474 GARBAGE:202610:6000", 418518},
		{"1000000002", "", true, nil, "", 0},
		{"1000000003", "Hüseynov Çingiz Tofiq oğlu", false, &Card{ID: "GC-00042117", Sequence: 17}, "", 0},
		{"1000000101", "Məmmədova Şəhla Rəşid qızı", false, nil, "ELEC:202608:1000 ELEC:202609:1250 GARBAGE:202609:200 ELEC:202610:1500", 3950},
		{"1000000102", "Məmmədova Şəhla Rəşid qızı", false, nil, "ELEC:202609:730 ELEC:202610:820", 1550},
	}
	if len(accts) != len(wants) {
		t.Fatalf("%d accounts, want %d", len(accts), len(wants))
	}
	for i, w := range wants {
		a := accts[i]
		var ds []string
		var total int64
		for _, d := range a.Debts {
			ds = append(ds, fmt.Sprintf("%s:%d:%d", d.Service, d.Period, d.Amount))
			total += d.Amount
		}
		if a.Number != w.number || a.Name != w.name || a.Closed != w.closed || strings.Join(ds, " ") != w.debts ||
			total != w.total || !reflect.DeepEqual(a.Card, w.card) || a.Prepaid != (w.card != nil) {
			t.Errorf("account %d: %+v debts %v total %d, want %+v", i, a, ds, total, w)
		}
	}
	a := accts[0]
	if a.Line != 10 || a.Debts[0].Line != 12 || a.Debts[3].Line != 19 || a.Phone != "+994501234567" || a.Email != "ali@example.az" ||
		a.Address != "Bakı, Nizami küç. 10, m. 5" {
		t.Errorf("account 1: %+v", a)
	}
	m := a.Debts[2].Meter
	if m == nil || *m != (Meter{ID: "M0099812", Previous: "32263", Current: "58629", Unit: "kWh", Tariff: "0.084"}) || a.Debts[1].Meter != nil {
		t.Errorf("meter %+v", m)
	}
	if rep := r.Report(); rep.Accounts != 5 || rep.Debts != 10 {
		t.Errorf("report %+v", rep)
	}
}

func TestGoodFile(t *testing.T) {
	b, err := os.ReadFile("testdata/good.xml")
	if err != nil {
		t.Fatal(err)
	}
	accts, r, err := readAll(t, bytes.NewReader(b), azn)
	if err != nil || !r.Valid() {
		t.Fatalf("err %v, report %+v", err, r.Report())
	}
	want := []*Account{
		{Line: 8, Number: "A-1/2.3", Name: "Şükürov & oğulları əə", Address: "Bakı,  Nizami küç. 10", Phone: "+994 (50) 123-45-67", Email: "info@example.az",
			Debts: []Debt{
				{Line: 11, Service: "ELEC", Period: 202610, Amount: 3450, Meter: &Meter{ID: "M1", Previous: "10234.5", Current: "10410", Unit: "kWh", Tariff: "0.084"}},
				{Line: 14, Service: "GARBAGE", Period: 202610, Amount: -200},
				{Line: 15, Service: "ELEC", Period: 202609, Amount: 7},
			}},
		{Line: 17, Number: "B2", Closed: true, Debts: []Debt{}},
		{Line: 18, Number: "C3", Name: `Əli "Vəli"`, Prepaid: true, Card: &Card{ID: "GC-1", Sequence: 4294967295}, Debts: []Debt{}},
		{Line: 21, Number: "D4", Debts: []Debt{}},
	}
	if len(accts) != len(want) {
		t.Fatalf("%d accounts", len(accts))
	}
	for i := range want {
		if !reflect.DeepEqual(accts[i], want[i]) {
			t.Errorf("account %d:\n got %+v\nwant %+v", i, accts[i], want[i])
		}
	}
	h := r.Header()
	if h.Mode != ModeFull || h.Line != 4 || h.FileID != "AZERISIQ-20261102-01" {
		t.Errorf("header %+v", h)
	}
}

type wantErr struct {
	line    int
	account string
	field   string
	msg     string // substring
}

func TestRecordErrors(t *testing.T) {
	cases := []struct {
		name string
		body string // starts on line 3
		want []wantErr
	}{
		{"no number", `<account name="x"/>` + "\n", []wantErr{{3, "", "number", "without a number"}}},
		{"bad number charset", `<account number="12:3"/>` + "\n", []wantErr{{3, "", "number", "only letters"}}},
		{"number too long", `<account number="` + strings.Repeat("1", 33) + `"/>` + "\n", []wantErr{{3, "", "number", "longer than 32"}}},
		{"duplicate number", "<account number=\"7\"/>\n\n<account number=\"7\"/>\n", []wantErr{{5, "7", "number", "duplicate account number (first at line 3)"}}},
		{"unknown service", "<account number=\"1\">\n<debt service=\"GAS\" period=\"202610\" amount=\"1.00\"/>\n</account>\n",
			[]wantErr{{4, "1", "service", "debt GAS/202610: service \"GAS\": not registered for provider AZERISIQ"}}},
		{"service charset", "<account number=\"1\">\n<debt service=\"EL:EC\" period=\"202610\" amount=\"1.00\"/>\n</account>\n",
			[]wantErr{{4, "1", "service", "only letters"}}},
		{"period month 13", "<account number=\"1000000001\">\n\n\n\n\n\n\n\n\n<debt service=\"ELEC\" period=\"202613\" amount=\"1.00\"/>\n</account>\n",
			[]wantErr{{12, "1000000001", "period", "debt ELEC/202613: period month 13"}}},
		{"period year", "<account number=\"1\"><debt service=\"ELEC\" period=\"190012\" amount=\"1.00\"/></account>\n", []wantErr{{3, "1", "period", "year 1900"}}},
		{"period format", "<account number=\"1\"><debt service=\"ELEC\" period=\"2026-10\" amount=\"1.00\"/></account>\n", []wantErr{{3, "1", "period", "not YYYYMM"}}},
		{"amount 3 decimals", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1.005\"/></account>\n", []wantErr{{3, "1", "amount", "more than 2 decimals"}}},
		{"amount comma", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1,00\"/></account>\n", []wantErr{{3, "1", "amount", "not a decimal"}}},
		{"amount exponent", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1e3\"/></account>\n", []wantErr{{3, "1", "amount", "not a decimal"}}},
		{"amount huge", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"99999999999999999999999.00\"/></account>\n", []wantErr{{3, "1", "amount", "too large"}}},
		{"amount missing", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\"/></account>\n", []wantErr{{3, "1", "amount", "no amount"}}},
		{"service missing", "<account number=\"1\"><debt period=\"202610\" amount=\"1\"/></account>\n", []wantErr{{3, "1", "service", "no service"}}},
		{"period missing", "<account number=\"1\"><debt service=\"ELEC\" amount=\"1\"/></account>\n", []wantErr{{3, "1", "period", "no period"}}},
		{"repeated service period", "<account number=\"1\">\n<debt service=\"ELEC\" period=\"202610\" amount=\"1\"/>\n<debt service=\"ELEC\" period=\"202610\" amount=\"2\"/>\n</account>\n",
			[]wantErr{{5, "1", "debt", "repeated"}}},
		{"closed with debts", "<account number=\"1\" status=\"closed\">\n<debt service=\"ELEC\" period=\"202610\" amount=\"1\"/>\n</account>\n",
			[]wantErr{{3, "1", "debt", "closed account with 1 debts"}}},
		{"bad status", "<account number=\"1\" status=\"gone\"/>\n", []wantErr{{3, "1", "status", "want open or closed"}}},
		{"bad prepaid", "<account number=\"1\" prepaid=\"yes\"/>\n", []wantErr{{3, "1", "prepaid", "want true or false"}}},
		{"card not prepaid", "<account number=\"1\">\n<card id=\"C\" sequence=\"1\"/>\n</account>\n", []wantErr{{4, "1", "card", "not prepaid"}}},
		{"two cards", "<account number=\"1\" prepaid=\"true\">\n<card id=\"C\" sequence=\"1\"/>\n<card id=\"D\" sequence=\"1\"/>\n</account>\n", []wantErr{{5, "1", "card", "more than one card"}}},
		{"card sequence", "<account number=\"1\" prepaid=\"true\"><card id=\"C\" sequence=\"4294967296\"/></account>\n", []wantErr{{3, "1", "sequence", "too large"}}},
		{"card no id", "<account number=\"1\" prepaid=\"true\"><card sequence=\"1\"/></account>\n", []wantErr{{3, "1", "id", "card without an id"}}},
		{"unknown attribute", "<account number=\"1\" balance=\"5\"/>\n", []wantErr{{3, "1", "balance", "unknown attribute balance on <account>"}}},
		{"unknown element in account", "<account number=\"1\">\n<note><b>x</b></note>\n</account>\n", []wantErr{{4, "1", "note", "unknown element <note> in <account>"}}},
		{"debt at top level", "<debt service=\"ELEC\" period=\"202610\" amount=\"1\"/>\n", []wantErr{{3, "", "debt", "unknown element <debt> in <debts>"}}},
		{"prefixed element", "<x:account xmlns:x=\"urn:other\" number=\"1\"/>\n", []wantErr{{3, "", "x:account", "unknown element"}}},
		{"foreign default namespace", "<account xmlns=\"urn:other\" number=\"1\"/>\n", []wantErr{{3, "1", "xmlns", "namespace"}}},
		{"text in account", "<account number=\"1\">\n  owes 5 AZN\n</account>\n", []wantErr{{4, "1", "", "text content"}}},
		{"meter without id", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1\">\n<meter current=\"5\"/></debt></account>\n",
			[]wantErr{{4, "1", "id", "meter without an id"}}},
		{"meter reading", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1\">\n<meter id=\"M\" current=\"-5\"/></debt></account>\n",
			[]wantErr{{4, "1", "current", "not a non-negative decimal"}}},
		{"two meters", "<account number=\"1\"><debt service=\"ELEC\" period=\"202610\" amount=\"1\">\n<meter id=\"M\"/>\n<meter id=\"N\"/></debt></account>\n",
			[]wantErr{{5, "1", "meter", "more than one meter"}}},
		{"name control char", "<account number=\"1\" name=\"a&#9;b&#1;\"/>\n", nil}, // &#1; is not an XML char: FileError, tested below
		{"name control via ref", "<account number=\"1\" name=\"a&#10;b\"/>\n", []wantErr{{3, "1", "name", "control character"}}},
		{"phone", "<account number=\"1\" phone=\"call me\"/>\n", []wantErr{{3, "1", "phone", "only digits"}}},
		{"email", "<account number=\"1\" email=\"no-at-sign\"/>\n", []wantErr{{3, "1", "email", "not an e-mail"}}},
		{"several in one debt", "<account number=\"1\"><debt service=\"GAS\" period=\"202600\" amount=\"x\"/></account>\n",
			[]wantErr{{3, "1", "service", "not registered"}, {3, "1", "period", "month 0"}, {3, "1", "amount", "not a decimal"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want == nil {
				_, _, err := Validate(strings.NewReader(doc(c.body)), azn)
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("want a FileError, got %v", err)
				}
				return
			}
			_, rep, err := Validate(strings.NewReader(doc(c.body)), azn)
			if err != nil {
				t.Fatal(err)
			}
			checkErrs(t, rep.Errors, c.want)
			// The Next pass finds the same, and reads the same bytes one at a time alike.
			_, r, err := readAll(t, iotest.OneByteReader(strings.NewReader(doc(c.body))), azn)
			if err != nil {
				t.Fatal(err)
			}
			if r.Valid() || !reflect.DeepEqual(r.Report(), rep) {
				t.Errorf("Next pass report %+v, Validate %+v", r.Report(), rep)
			}
		})
	}
}

func checkErrs(t *testing.T, got []RecordError, want []wantErr) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("errors %v, want %v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Account != w.account || g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("error %d: %+v (%q), want %+v", i, g, g.Error(), w)
		}
	}
}

func TestRecordErrorText(t *testing.T) {
	body := "<account number=\"1000000001\">\n\n\n\n\n\n\n\n\n<debt service=\"ELEC\" period=\"202613\" amount=\"1.00\"/>\n</account>\n"
	_, rep, _ := Validate(strings.NewReader(doc(body)), azn)
	if len(rep.Errors) != 1 || rep.Errors[0].Error() != "line 12: account 1000000001: debt ELEC/202613: period month 13" {
		t.Errorf("%v", rep.Errors)
	}
}

func TestEveryBadRecordAndCap(t *testing.T) {
	var b strings.Builder
	for i := range 10 {
		// Account i (line 3+2i) is good, its debt (line 4+2i) is bad when i is odd.
		amount := "1.00"
		if i%2 == 1 {
			amount = "1.001"
		}
		fmt.Fprintf(&b, "<account number=\"%d\">\n<debt service=\"ELEC\" period=\"202610\" amount=\"%s\"/></account>\n", i, amount)
	}
	_, rep, err := Validate(strings.NewReader(doc(b.String())), azn)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) != 5 || rep.More != 0 || rep.Accounts != 10 || rep.Debts != 10 {
		t.Fatalf("%+v", rep)
	}
	for k, e := range rep.Errors {
		i := 2*k + 1
		if e.Line != 4+2*i || e.Account != fmt.Sprint(i) || e.Field != "amount" {
			t.Errorf("error %d: %+v", k, e)
		}
	}
	o := azn
	o.MaxErrors = 2
	_, rep, _ = Validate(strings.NewReader(doc(b.String())), o)
	if len(rep.Errors) != 2 || rep.More != 3 || rep.OK() {
		t.Errorf("capped: %+v", rep)
	}
}

func TestHeader(t *testing.T) {
	good := map[string]string{
		"xmlns": Namespace, "provider": "AZERISIQ", "file-id": "F-1", "created": "2026-11-01T02:00:00+04:00",
		"registers-through": "2026-10-31", "mode": "full",
	}
	mk := func(change map[string]string) string {
		var b strings.Builder
		b.WriteString("<?xml version=\"1.0\"?>\n<debts")
		for _, k := range []string{"xmlns", "provider", "file-id", "created", "registers-through", "mode", "extra"} {
			v, ok := good[k]
			if c, has := change[k]; has {
				v, ok = c, c != "-"
			}
			if ok {
				fmt.Fprintf(&b, "\n %s=%q", k, v)
			}
		}
		b.WriteString(">\n</debts>\n")
		return b.String()
	}
	if h, rep, err := Validate(strings.NewReader(mk(nil)), azn); err != nil || !rep.OK() || h.Mode != ModeFull || h.Line != 2 {
		t.Fatalf("good header: %+v %+v %v", h, rep, err)
	}
	if _, _, err := Validate(strings.NewReader(mk(map[string]string{"created": "2026-11-01T00:30:00Z", "registers-through": "2026-11-01"})), azn); err != nil {
		t.Errorf("Z offset, same day: %v", err)
	}
	bad := []struct {
		change map[string]string
		msg    string
	}{
		{map[string]string{"xmlns": "-"}, "namespace"},
		{map[string]string{"xmlns": "urn:billpay:debts:2"}, "namespace"},
		{map[string]string{"provider": "-"}, "without provider"},
		{map[string]string{"provider": "AZERI:SIQ"}, "provider"},
		{map[string]string{"provider": strings.Repeat("P", 17)}, "longer than 16"},
		{map[string]string{"file-id": "-"}, "without file-id"},
		{map[string]string{"file-id": "a b"}, "file-id"},
		{map[string]string{"created": "2026-11-01T02:00:00"}, "RFC 3339"},
		{map[string]string{"created": "01.11.2026"}, "RFC 3339"},
		{map[string]string{"registers-through": "2026-10-32"}, "registers-through"},
		{map[string]string{"registers-through": "2026-11-02"}, "after the day"},
		{map[string]string{"mode": "partial"}, "mode"},
		{map[string]string{"mode": "-"}, "without mode"},
		{map[string]string{"extra": "1"}, "unknown attribute extra"},
	}
	for _, c := range bad {
		_, _, err := Validate(strings.NewReader(mk(c.change)), azn)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Line != 2 || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%v: %v, want line 2 %q", c.change, err, c.msg)
		}
	}
	if _, err := NewReader(strings.NewReader(mk(nil)), Options{MinorDigits: 7}); err == nil {
		t.Error("MinorDigits 7 accepted")
	}
}

func TestFileErrors(t *testing.T) {
	cases := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"empty", "", 1, "no root"},
		{"not xml", "hello", 1, "text before the root"},
		{"other root", "<?xml version=\"1.0\"?>\n<register xmlns=\"urn:billpay:register:1\"/>", 2, "root element <register>"},
		{"doctype", "<?xml version=\"1.0\"?>\n<!DOCTYPE debts [<!ENTITY x \"y\">]>\n<debts/>", 2, "DOCTYPE"},
		{"billion laughs", "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n" + doc(`<account number="1" name="&lol2;"/>`), 2, "DOCTYPE"},
		{"xxe", "<?xml version=\"1.0\"?>\n<!DOCTYPE debts [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n" + doc(`<account number="1" name="&xxe;"/>`), 2, "DOCTYPE"},
		{"undeclared entity", doc("<account number=\"1\"\n name=\"&xxe;\"/>\n"), 4, "unknown entity &xxe;"},
		{"bare ampersand", doc("<account number=\"1\" name=\"A & B\"/>\n"), 3, "malformed reference"},
		{"cdata", doc("<account number=\"1\"><![CDATA[x]]></account>\n"), 3, "CDATA"},
		{"bad char ref", doc("<account number=\"1\" name=\"&#1;\"/>\n"), 3, "not an XML character"},
		{"bad utf8", doc("<account number=\"1\" name=\"\xff\xfe\"/>\n"), 3, "invalid UTF-8"},
		{"bad utf8 in comment", doc("<!-- \xc3 -->\n"), 3, "invalid UTF-8"},
		{"utf16 bom", "\xff\xfe<\x00", 1, "not UTF-8"},
		{"encoding latin1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<debts/>", 1, "encoding"},
		{"late xml decl", "\n<?xml version=\"1.0\"?>\n<debts/>", 2, "XML declaration"},
		{"mismatched", doc("<account number=\"1\">\n</debt>\n"), 4, "does not match <account> of line 3"},
		{"unclosed root", head + "<account number=\"1\"/>\n", 4, "<debts> of line 2 not closed"},
		{"unclosed tag", head + "<account number=\"1\"", 3, "unexpected end of file"},
		{"unquoted attr", doc("<account number=1/>\n"), 3, "quoted value"},
		{"duplicate attr", doc("<account number=\"1\" number=\"2\"/>\n"), 3, "duplicate attribute"},
		{"lt in attr", doc("<account number=\"1\" name=\"a<b\"/>\n"), 3, "'<'"},
		{"no space between attrs", doc("<account number=\"1\"name=\"x\"/>\n"), 3, "whitespace expected"},
		{"second root", doc("") + "<debts/>\n", 4, "after </debts>"},
		{"text after root", doc("") + "x\n", 4, "text after </debts>"},
		{"double dash comment", doc("<!-- a -- b -->\n"), 3, "'--'"},
		{"too deep", doc(strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40)), 3, "nested deeper"},
		{"huge tag", doc("<account number=\"1\" name=\"" + strings.Repeat("x", MaxTokenBytes) + "\"/>\n"), 3, "longer than"},
		{"U+FFFF", doc("<account number=\"1\" name=\"ab\uffff\"/>\n"), 3, "not allowed in XML"},
		{"U+FFFE by reference", doc("<account number=\"1\" name=\"&#xFFFE;\"/>\n"), 3, "not an XML character"},
		{"control char", doc("<account number=\"1\" name=\"\x01\"/>\n"), 3, "control character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, slow := range []bool{false, true} {
				var src io.Reader = strings.NewReader(c.in)
				if slow {
					src = iotest.OneByteReader(src)
				}
				_, _, err := Validate(src, azn)
				var fe *FileError
				if !errors.As(err, &fe) || fe.Line != c.line || !strings.Contains(fe.Msg, c.msg) {
					t.Fatalf("slow=%v: %v, want line %d %q", slow, err, c.line, c.msg)
				}
				// Next stops with the same error and keeps returning it.
				_, r, err2 := readAll(t, strings.NewReader(c.in), azn)
				if err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("Next: %v, Validate: %v", err2, err)
				}
				if r != nil {
					if _, again := r.Next(); again == nil || again.Error() != err.Error() || r.Valid() {
						t.Errorf("after the error: %v", again)
					}
				}
			}
		})
	}
}

func TestCRLFAndLines(t *testing.T) {
	in := strings.ReplaceAll(doc("<account number=\"1\">\n\n<debt service=\"ELEC\"\n period=\"202610\" amount=\"1.001\"/>\n</account>\n"), "\n", "\r\n")
	_, rep, err := Validate(strings.NewReader(in), azn)
	if err != nil {
		t.Fatal(err)
	}
	checkErrs(t, rep.Errors, []wantErr{{5, "1", "amount", "more than 2 decimals"}})
}

// Characters from U+F000 up that are XML characters pass (the fast path
// looks closer at their 0xEF lead byte).
func TestHighBMP(t *testing.T) {
	accts, r, err := readAll(t, strings.NewReader(doc("<account number=\"1\" name=\"\uf123 \ufffd ə\"/>")), azn)
	if err != nil || !r.Valid() || len(accts) != 1 || accts[0].Name != "\uf123 \ufffd ə" {
		t.Fatalf("%v %+v %v", err, r.Report(), accts)
	}
}

func TestBOM(t *testing.T) {
	if _, rep, err := Validate(strings.NewReader("\xef\xbb\xbf"+doc("<account number=\"1\"/>")), azn); err != nil || rep.Accounts != 1 {
		t.Errorf("BOM: %v %+v", err, rep)
	}
}

func TestProgressAndReuse(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "<account number=\"%d\" name=\"Ad %d\"><debt service=\"ELEC\" period=\"202610\" amount=\"%d.00\"/></account>\n", i, i, i)
	}
	in := doc(b.String())
	var last int64
	calls := 0
	o := azn
	o.Progress = func(n int64) { last, calls = n, calls+1 }
	r, err := NewReader(strings.NewReader(in), o)
	if err != nil {
		t.Fatal(err)
	}
	var first *Account
	var firstCopy *Account
	n := 0
	for {
		a, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first, firstCopy = a, a.Clone()
		}
		if a.Number != fmt.Sprint(n) || a.Name != fmt.Sprint("Ad ", n) || a.Debts[0].Amount != int64(n)*100 {
			t.Fatalf("account %d: %+v", n, a)
		}
		n++
	}
	if n != 3000 || !r.Valid() || last != int64(len(in)) || calls == 0 {
		t.Errorf("n %d valid %v progress %d/%d calls %d", n, r.Valid(), last, len(in), calls)
	}
	if firstCopy.Number != "0" || firstCopy.Debts[0].Amount != 0 || first.Debts[0].Amount == 0 {
		t.Errorf("clone %+v, reused %+v", firstCopy, first)
	}
}

func TestParseAmount(t *testing.T) {
	cases := []struct {
		in    string
		minor int
		want  int64
		bad   bool
	}{
		{"34.50", 2, 3450, false}, {"34.5", 2, 3450, false}, {"34", 2, 3400, false}, {"-2.00", 2, -200, false},
		{"-0.00", 2, 0, false}, {"0.01", 2, 1, false}, {"007.10", 2, 710, false}, {"5", 0, 5, false},
		{"99999999999.99", 2, 9999999999999, false}, {"100000000000.00", 2, 0, true},
		{"1.5", 0, 0, true}, {"1.234", 3, 1234, false}, {"", 2, 0, true}, {"-", 2, 0, true}, {".5", 2, 0, true},
		{"5.", 2, 0, true}, {"+5", 2, 0, true}, {"1e2", 2, 0, true}, {" 1", 2, 0, true}, {"1.2.3", 2, 0, true},
		{"--1", 2, 0, true}, {"9223372036854775807", 0, 0, true}, {"0.000001", 6, 1, false},
	}
	for _, c := range cases {
		v, msg := parseAmount([]byte(c.in), c.minor)
		if (msg != "") != c.bad || v != c.want {
			t.Errorf("%q/%d: %d %q", c.in, c.minor, v, msg)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]int{"202610": 202610, "200001": 200001, "209912": 209912, "202600": 0, "202613": 0,
		"199912": 0, "210001": 0, "20261": 0, "2026100": 0, "2026a1": 0} {
		v, msg := parsePeriod([]byte(in))
		if v != want || (msg == "") != (want != 0) {
			t.Errorf("%q: %d %q", in, v, msg)
		}
	}
}

func TestNumberSet(t *testing.T) {
	s := newNumberSet()
	for i := range 100000 {
		if _, dup, _ := s.add([]byte(fmt.Sprint(i)), i+1); dup {
			t.Fatalf("%d reported as a duplicate", i)
		}
	}
	for _, i := range []int{0, 99999, 4242} {
		first, dup, _ := s.add([]byte(fmt.Sprint(i)), 1)
		if !dup || first != i+1 {
			t.Errorf("%d: dup %v first %d", i, dup, first)
		}
	}
	if _, dup, _ := s.add([]byte("100000"), 1); dup {
		t.Error("new number reported as a duplicate")
	}
}

func TestServiceRegistry(t *testing.T) {
	body := ""
	for i := range 5 {
		body += fmt.Sprintf("<account number=\"%d\"><debt service=\"ELEC\" period=\"202610\" amount=\"1\"/><debt service=\"X-1\" period=\"202610\" amount=\"1\"/></account>\n", i)
	}
	calls := map[string]int{}
	o := Options{MinorDigits: 2, Service: func(c string) bool { calls[c]++; return c == "ELEC" }}
	_, rep, err := Validate(strings.NewReader(doc(body)), o)
	if err != nil || len(rep.Errors) != 5 || calls["ELEC"] != 1 || calls["X-1"] != 1 {
		t.Errorf("%v %+v calls %v", err, rep, calls)
	}
	// Without a registry any code of valid syntax passes.
	if _, rep, err := Validate(strings.NewReader(doc(body)), Options{MinorDigits: 2}); err != nil || !rep.OK() {
		t.Errorf("nil Service: %v %+v", err, rep)
	}
}
