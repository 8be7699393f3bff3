package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/billpay"
)

func upsertBody(number string, debts ...string) map[string]any {
	var ds []map[string]any
	for _, d := range debts {
		f := strings.Split(d, ":") // service:period:amount
		ds = append(ds, map[string]any{"service": f[0], "period": f[1], "amount": f[2]})
	}
	return map[string]any{"number": number, "name": "Test Payer", "debts": ds}
}

func TestProviderUpsert(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := DemoProviderKey("AZERISIQ")
	one := upsertBody("2000000001", "ELEC:202610:12.34", "GARBAGE:202610:2.00")
	r := e.req("PUT", "/v1/providers/AZERISIQ/accounts/2000000001", key, one, "Idempotency-Key: u1")
	wantStatus(t, r, 201)
	var imp importJSON
	r.json(t, &imp)
	if imp.Status != "applied" || imp.Accounts != 1 || imp.Debts != 2 || imp.Mode != "delta" || !strings.HasPrefix(imp.ImportID, "WS-") {
		t.Fatalf("import %+v", imp)
	}
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=2000000001", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "14.34" || len(inq.Lines) != 2 {
		t.Fatalf("inquiry after upsert %+v", inq)
	}
	// Repeat: 200, the same import; other body under the key: 409.
	r = e.req("PUT", "/v1/providers/AZERISIQ/accounts/2000000001", key, one, "Idempotency-Key: u1")
	wantStatus(t, r, 200)
	var imp2 importJSON
	r.json(t, &imp2)
	if !imp2.Duplicate || imp2.ImportID != imp.ImportID {
		t.Fatalf("repeat %+v", imp2)
	}
	wantProblem(t, e.req("PUT", "/v1/providers/AZERISIQ/accounts/2000000001", key, upsertBody("2000000001", "ELEC:202610:12.35"), "Idempotency-Key: u1"), 409, CodeIdempotencyConflict)
	// Import status.
	r = e.req("GET", "/v1/providers/AZERISIQ/imports/"+imp.ImportID, key, nil)
	wantStatus(t, r, 200)
	wantProblem(t, e.req("GET", "/v1/providers/AZERISIQ/imports/WS-nothing", key, nil), 404, CodeNotFound)
	wantProblem(t, e.req("GET", "/v1/providers/AZERISIQ/imports/"+imp.ImportID, DemoProviderKey("AZERIGAZ"), nil), 403, CodeForbidden)
	// The provider's view of the account.
	var acct accountJSON
	r = e.req("GET", "/v1/providers/AZERISIQ/accounts/2000000001", key, nil)
	wantStatus(t, r, 200)
	r.json(t, &acct)
	if !acct.Open || acct.Total != "14.34" || acct.Name != "Test Payer" {
		t.Fatalf("account %+v", acct)
	}

	// A batch, all or nothing: one bad record refuses it and names the field.
	bad := map[string]any{"accounts": []any{
		upsertBody("2000000002", "ELEC:202610:1.00"),
		upsertBody("2000000003", "ELEC:202610:1.001"),
		upsertBody("2000000004", "WATER:202610:1.00"),
	}}
	p := wantProblem(t, e.req("POST", "/v1/providers/AZERISIQ/accounts", key, bad, "Idempotency-Key: b1"), 422, CodeImportRefused)
	if len(p.Errors) != 2 || !strings.HasPrefix(p.Errors[0].Field, "accounts[1].debts[0]") || !strings.HasPrefix(p.Errors[1].Field, "accounts[2].debts[0]") {
		t.Fatalf("bad records %+v", p.Errors)
	}
	wantProblem(t, e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=2000000002", DemoWebKey, nil), 404, CodeUnknownAccount)
	good := map[string]any{"accounts": []any{upsertBody("2000000002", "ELEC:202610:1.00"), upsertBody("2000000003", "ELEC:202610:3.00"),
		map[string]any{"number": "2000000001", "status": "closed"}}}
	r = e.req("POST", "/v1/providers/AZERISIQ/accounts", key, good, "Idempotency-Key: b1")
	wantStatus(t, r, 201)
	wantProblem(t, e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=2000000001", DemoWebKey, nil), 404, CodeUnknownAccount)
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=2000000003", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "3.00" {
		t.Fatalf("batch not applied: %+v", inq)
	}

	for _, c := range []struct {
		name, method, path, key string
		body                    any
		headers                 []string
		status                  int
		code                    string
	}{
		{"no auth", "PUT", "/v1/providers/AZERISIQ/accounts/1", "", one, []string{"Idempotency-Key: x1"}, 401, CodeUnauthorized},
		{"wrong key", "PUT", "/v1/providers/AZERISIQ/accounts/1", "demo-nobody-key-x", one, []string{"Idempotency-Key: x1"}, 401, CodeUnauthorized},
		{"another provider's key", "PUT", "/v1/providers/AZERISIQ/accounts/2000000001", DemoProviderKey("AZERIGAZ"), one, []string{"Idempotency-Key: x1"}, 403, CodeForbidden},
		{"channel key", "PUT", "/v1/providers/AZERISIQ/accounts/2000000001", DemoWebKey, one, []string{"Idempotency-Key: x1"}, 401, CodeUnauthorized},
		{"unknown provider", "POST", "/v1/providers/NOPE/accounts", key, good, []string{"Idempotency-Key: x1"}, 403, CodeForbidden},
		{"no idempotency key", "PUT", "/v1/providers/AZERISIQ/accounts/2000000001", key, one, nil, 400, CodeIdempotencyRequired},
		{"number differs", "PUT", "/v1/providers/AZERISIQ/accounts/2000000009", key, one, []string{"Idempotency-Key: x2"}, 400, CodeInvalidField},
		{"empty batch", "POST", "/v1/providers/AZERISIQ/accounts", key, map[string]any{"accounts": []any{}}, []string{"Idempotency-Key: x3"}, 400, CodeInvalidField},
		{"amount as number", "POST", "/v1/providers/AZERISIQ/accounts", key, `{"accounts":[{"number":"1","debts":[{"service":"ELEC","period":"202610","amount":1.5}]}]}`, []string{"Idempotency-Key: x4"}, 400, CodeInvalidField},
		{"malformed", "POST", "/v1/providers/AZERISIQ/accounts", key, `{"accounts":[`, []string{"Idempotency-Key: x5"}, 400, CodeMalformedJSON},
		{"bad status", "POST", "/v1/providers/AZERISIQ/accounts", key, map[string]any{"accounts": []any{map[string]any{"number": "1", "status": "gone"}}}, []string{"Idempotency-Key: x6"}, 400, CodeInvalidField},
		{"bad registers_through", "POST", "/v1/providers/AZERISIQ/accounts", key, map[string]any{"registers_through": "yesterday", "accounts": []any{upsertBody("1")}}, []string{"Idempotency-Key: x7"}, 400, CodeInvalidField},
		{"future registers_through", "POST", "/v1/providers/AZERISIQ/accounts", key, map[string]any{"registers_through": "2999-01-01", "accounts": []any{upsertBody("1")}}, []string{"Idempotency-Key: x8"}, 422, CodeImportRefused},
		{"notices of another provider", "GET", "/v1/providers/AZERIGAZ/notices", key, nil, nil, 403, CodeForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, e.req(c.method, c.path, c.key, c.body, c.headers...), c.status, c.code)
		})
	}
	// A huge update.
	var big bytes.Buffer
	big.WriteString(`{"accounts":[`)
	for i := 0; big.Len() < 9<<20; i++ {
		fmt.Fprintf(&big, `{"number":"%d","debts":[{"service":"ELEC","period":"202610","amount":"1.00"}]},`, 3000000000+i)
	}
	big.WriteString(`{"number":"1"}]}`)
	wantProblem(t, e.req("POST", "/v1/providers/AZERISIQ/accounts", key, big.Bytes(), "Idempotency-Key: huge"), 413, CodeBodyTooLarge)
}

func TestProviderXMLAndSignatures(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg := billpay.DemoRegistry()
	gaz, _ := reg.Provider("AZERIGAZ")
	signed := *gaz
	signed.PublicKey = pub
	if reg, err = reg.With(signed); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOpts{reg: reg, mod: func(c *Config) {
		for i := range c.Providers {
			if c.Providers[i].Code == "AZERIGAZ" {
				c.Providers[i].Key = "" // signed requests only
			}
		}
	}})
	svc := gaz.Services[0].Code
	doc := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERIGAZ" file-id="GAZ-1" created="2026-11-02T02:00:00+04:00" registers-through="2026-11-01" mode="delta">
  <account number="500001" name="Gas Payer"><debt service="` + svc + `" period="202610" amount="7.77"/></account>
</debts>
`)
	fileSig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, doc))
	sign := func(method, uri string, body []byte, ts time.Time) []string {
		tss := strconv.FormatInt(ts.Unix(), 10)
		sig := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, SignedMessage(method, uri, tss, body)))
		return []string{HeaderProvider + ": AZERIGAZ", HeaderTimestamp + ": " + tss, HeaderSignature + ": " + sig}
	}
	xmlReq := func(headers []string, body []byte) resp {
		t.Helper()
		r, _ := http.NewRequest("POST", e.ts.URL+"/v1/providers/AZERIGAZ/accounts", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/xml")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			r.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return resp{res.StatusCode, res.Header, b}
	}
	now := time.Now()
	// Signed request without the file's signature: refused by the core.
	wantProblem(t, xmlReq(sign("POST", "/v1/providers/AZERIGAZ/accounts", doc, now), doc), 401, CodeImportRefused)
	// Bad request signature, stale timestamp, a signer of another path.
	h := sign("POST", "/v1/providers/AZERIGAZ/accounts", doc, now)
	h[2] = HeaderSignature + ": " + base64.StdEncoding.EncodeToString(make([]byte, 64))
	wantProblem(t, xmlReq(h, doc), 401, CodeUnauthorized)
	wantProblem(t, xmlReq(sign("POST", "/v1/providers/AZERIGAZ/accounts", doc, now.Add(-time.Hour)), doc), 401, CodeUnauthorized)
	wantProblem(t, xmlReq(sign("POST", "/v1/providers/AZERIGAZ/accounts?x=1", doc, now), doc), 401, CodeUnauthorized)
	// Signed request and signed file: applied; again: 200 duplicate.
	r := xmlReq(append(sign("POST", "/v1/providers/AZERIGAZ/accounts", doc, now), HeaderFileSignature+": "+fileSig), doc)
	wantStatus(t, r, 201)
	r = xmlReq(append(sign("POST", "/v1/providers/AZERIGAZ/accounts", doc, now), HeaderFileSignature+": "+fileSig), doc)
	wantStatus(t, r, 200)
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERIGAZ&account=500001", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "7.77" {
		t.Fatalf("signed XML not applied: %+v", inq)
	}
	// JSON from a provider with a signing key: it must send the signed XML form.
	body := []byte(`{"accounts":[{"number":"500002"}]}`)
	hh := append(sign("POST", "/v1/providers/AZERIGAZ/accounts", body, now), "Idempotency-Key: j1")
	wantProblem(t, e.req("POST", "/v1/providers/AZERIGAZ/accounts", "", body, hh...), 422, CodeSignatureRequired)
	// Signed GET of its notices works; of another provider's: 403.
	wantStatus(t, e.req("GET", "/v1/providers/AZERIGAZ/notices", "", nil, sign("GET", "/v1/providers/AZERIGAZ/notices", nil, now)...), 200)
	wantProblem(t, e.req("GET", "/v1/providers/AZERISIQ/notices", "", nil, sign("GET", "/v1/providers/AZERISIQ/notices", nil, now)...), 403, CodeForbidden)
	// An XML document naming another provider.
	other := bytes.Replace(doc, []byte(`provider="AZERIGAZ"`), []byte(`provider="AZERISIQ"`), 1)
	wantProblem(t, xmlReq(sign("POST", "/v1/providers/AZERIGAZ/accounts", other, now), other), 403, CodeForbidden)
}

func TestNoticesPolling(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := DemoProviderKey("AZERISIQ")
	var receipts []string
	for i := range 3 {
		var p paymentJSON
		e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "1.00", "cash"), fmt.Sprintf("Idempotency-Key: n%d", i)).json(t, &p)
		receipts = append(receipts, p.Receipt)
	}
	var rv paymentJSON
	wantStatus(t, e.req("POST", "/v1/payments/"+receipts[1]+"/reversal", DemoOperatorKey, nil, "Idempotency-Key: nr"), 201)
	_ = rv
	var page struct {
		Notices []noticeJSON `json:"notices"`
	}
	r := e.req("GET", "/v1/providers/AZERISIQ/notices?limit=1000", key, nil)
	wantStatus(t, r, 200)
	r.json(t, &page)
	// Demo seeding pays nothing, so: 3 payments and 1 reversal.
	if len(page.Notices) != 4 {
		t.Fatalf("%d notices: %+v", len(page.Notices), page.Notices)
	}
	for i, n := range page.Notices[:3] {
		if n.Kind != "payment" || n.Receipt != receipts[i] || n.Amount != "1.00" || n.Channel != "KIOSK" || n.Method != "CASH" || len(n.Lines) != 1 {
			t.Fatalf("notice %d %+v", i, n)
		}
	}
	if n := page.Notices[3]; n.Kind != "reversal" || n.Amount != "-1.00" || n.Receipt != receipts[1] {
		t.Fatalf("reversal notice %+v", n)
	}
	after := page.Notices[1].Seq
	e.req("GET", fmt.Sprintf("/v1/providers/AZERISIQ/notices?after=%d", after), key, nil).json(t, &page)
	if len(page.Notices) != 2 {
		t.Fatalf("after %d: %d notices", after, len(page.Notices))
	}
	wantStatus(t, e.req("POST", "/v1/providers/AZERISIQ/notices/ack", key, map[string]any{"through": after}), 200)
	page.Notices = nil
	e.req("GET", "/v1/providers/AZERISIQ/notices", key, nil).json(t, &page)
	if len(page.Notices) != 2 || page.Notices[0].Seq <= after {
		t.Fatalf("after ack through %d: %+v", after, page.Notices)
	}
	wantStatus(t, e.req("POST", "/v1/providers/AZERISIQ/notices/ack", key, map[string]any{"seqs": []uint64{page.Notices[0].Seq, page.Notices[1].Seq}}), 200)
	page.Notices = nil
	e.req("GET", "/v1/providers/AZERISIQ/notices", key, nil).json(t, &page)
	if len(page.Notices) != 0 {
		t.Fatalf("left after ack: %+v", page.Notices)
	}
	wantProblem(t, e.req("POST", "/v1/providers/AZERISIQ/notices/ack", key, map[string]any{}), 400, CodeInvalidField)
	wantProblem(t, e.req("GET", "/v1/providers/AZERISIQ/notices?after=x", key, nil), 400, CodeInvalidField)
	wantProblem(t, e.req("GET", "/v1/providers/AZERISIQ/notices?limit=0", key, nil), 400, CodeInvalidField)
}

// Concurrent updates under one key: with the same body one applies (201) and the others
// repeat it (200); with different bodies one applies and the others conflict (409).
func TestProviderUpsertConcurrentKey(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := DemoProviderKey("AZERISIQ")
	const n = 8
	for _, same := range []bool{true, false} {
		statuses := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				amount := "5.00"
				if !same {
					amount = fmt.Sprintf("5.%02d", i)
				}
				r := e.req("PUT", "/v1/providers/AZERISIQ/accounts/2100000001", key, upsertBody("2100000001", "ELEC:202610:"+amount),
					fmt.Sprintf("Idempotency-Key: same-%v", same))
				statuses <- r.status
			}()
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		other := 200
		if !same {
			other = 409
		}
		if count[201] != 1 || count[other] != n-1 {
			t.Fatalf("same body %v: statuses %v", same, count)
		}
	}
}

// A provider posts only its own debt lists: the routing check reads the document's
// unprefixed provider attribute, as the core's reader does, and the core refuses a
// document naming another provider than the one authenticated.
func TestXMLUpdateOfAnotherProvider(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	const body = ` file-id="%s" created="2026-12-01T02:00:00+04:00" registers-through="2026-11-30" mode="delta">
  <account number="1000000101" name="Victim"><debt service="ELEC" period="202611" amount="999.99"/></account>
</debts>
`
	for _, tc := range []struct {
		name, root string
	}{
		{"another provider", `<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ"`},
		{"a prefixed provider attribute naming the poster", `<debts xmlns="urn:billpay:debts:1" xmlns:x="urn:x" provider="AZERISIQ" x:provider="AZERSU"`},
		{"the poster first, then a prefixed one", `<debts xmlns="urn:billpay:debts:1" xmlns:x="urn:x" x:provider="AZERSU" provider="AZERISIQ"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			doc := head + tc.root + fmt.Sprintf(body, "EVIL-"+strconv.Itoa(len(tc.name)))
			r, _ := http.NewRequest("POST", e.ts.URL+"/v1/providers/AZERSU/accounts", strings.NewReader(doc))
			r.Header.Set("Content-Type", "application/xml")
			r.Header.Set("Authorization", "Bearer "+DemoProviderKey("AZERSU"))
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("AZERSU posting AZERISIQ's list: %d %s", res.StatusCode, b)
			}
			if _, found, _ := e.core.ImportedFile(t.Context(), "AZERISIQ", "EVIL-"+strconv.Itoa(len(tc.name))); found {
				t.Fatal("the list was applied")
			}
		})
	}
	// The core alone (a caller that skipped the routing check) refuses it too.
	e := newEnv(t, envOpts{})
	doc := head + `<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ"` + fmt.Sprintf(body, "EVIL-CORE")
	_, err := e.core.ImportBytesAs(t.Context(), "AZERSU", []byte(doc), nil)
	var ie *billpay.ImportError
	if !errors.As(err, &ie) || !strings.Contains(ie.Msg, `names provider "AZERISIQ", not AZERSU`) {
		t.Fatalf("core: %v", err)
	}
}
