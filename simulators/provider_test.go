package simulators

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWriteDebtFile(t *testing.T) {
	created := time.Date(2026, 11, 21, 2, 0, 0, 0, time.FixedZone("AZT", 4*3600))
	f := DebtFile{Provider: "AZERISIQ", Created: created, Accounts: 3, Periods: 2, Seed: 7, Amount: 100000}
	var a, b bytes.Buffer
	if err := WriteDebtFile(&a, f); err != nil {
		t.Fatal(err)
	}
	if err := WriteDebtFile(&b, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different bytes")
	}
	var doc struct {
		XMLName  xml.Name `xml:"urn:billpay:debts:1 debts"`
		Provider string   `xml:"provider,attr"`
		FileID   string   `xml:"file-id,attr"`
		Mode     string   `xml:"mode,attr"`
		Through  string   `xml:"registers-through,attr"`
		Accounts []struct {
			Number string `xml:"number,attr"`
			Name   string `xml:"name,attr"`
			Debts  []struct {
				Service string `xml:"service,attr"`
				Period  string `xml:"period,attr"`
				Amount  string `xml:"amount,attr"`
			} `xml:"debt"`
		} `xml:"account"`
	}
	if err := xml.Unmarshal(a.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, a.String())
	}
	if doc.Provider != "AZERISIQ" || doc.Mode != "delta" || doc.Through != "2026-11-20" || !strings.HasPrefix(doc.FileID, "AZERISIQ-20261121-") || len(doc.Accounts) != 3 {
		t.Fatalf("%+v", doc)
	}
	acct := doc.Accounts[2]
	if acct.Number != "9000000003" || acct.Name == "" || len(acct.Debts) != 4 {
		t.Fatalf("%+v", acct)
	}
	if d := acct.Debts[0]; d.Service != "ELEC" || d.Period != "202609" || d.Amount != "1000.00" || acct.Debts[1].Period != "202610" {
		t.Fatalf("debts %+v", acct.Debts)
	}
	// Account i does not depend on the number of accounts.
	var c bytes.Buffer
	f.Accounts = 1
	_ = WriteDebtFile(&c, f)
	first := a.String()[strings.Index(a.String(), "<account"):strings.Index(a.String(), "</account>")]
	if !strings.Contains(c.String(), first) {
		t.Fatal("account 1 differs with another account count")
	}
	if err := WriteDebtFile(io.Discard, DebtFile{Provider: "X", Mode: "partial"}); err == nil {
		t.Fatal("bad mode accepted")
	}
}

func TestNoticeReceiver(t *testing.T) {
	n := &NoticeReceiver{}
	post := func(body string) int {
		rec := httptest.NewRecorder()
		n.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notices", strings.NewReader(body)))
		return rec.Code
	}
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"id":"N1","receipt":"R1","amount":"1.00"}`, 200},
		{`[{"seq":2},{"seq":3},{"id":"N1"}]`, 200},
		{`{"amount":"2.00"}`, 200},
		{`not json`, 400},
	} {
		if got := post(tc.body); got != tc.code {
			t.Fatalf("%s → %d, want %d", tc.body, got, tc.code)
		}
	}
	st := n.Stats()
	if st.Posts != 3 || st.Notices != 5 || st.Unique != 3 || st.Duplicates != 1 || st.Unnamed != 1 {
		t.Fatalf("%+v", st)
	}
	if names := n.Names(); strings.Join(names, ",") != "N1,2,3" {
		t.Fatalf("names %v", names)
	}
	// Refusing every post takes nothing.
	busy := &NoticeReceiver{FailRate: 1}
	srv := httptest.NewServer(busy)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/notices", "application/json", strings.NewReader(`{"id":"X"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || busy.Stats().Notices != 0 || busy.Stats().Refused != 1 {
		t.Fatalf("status %d stats %+v", resp.StatusCode, busy.Stats())
	}
	resp, err = http.Get(srv.URL + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got NoticeStats
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got.Posts != 1 {
		t.Fatalf("%+v %v", got, err)
	}
}
