package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/billswitch/billswitch/ledger"
)

func TestProvidersAndInquiry(t *testing.T) {
	e := newEnv(t, envOpts{})
	var list struct{ Providers []providerJSON }
	r := e.req("GET", "/v1/providers", DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &list)
	if len(list.Providers) < 4 || list.Providers[0].Code == "" {
		t.Fatalf("providers %+v", list)
	}
	var p providerJSON
	r = e.req("GET", "/v1/providers/AZERISIQ", DemoKioskKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &p)
	if p.Currency != "944" || p.MinorDigits != 2 || len(p.Services) != 3 || p.Services[0].Code != "ELEC" || p.Services[0].Rule != "ANY" {
		t.Fatalf("provider %+v", p)
	}
	wantProblem(t, e.req("GET", "/v1/providers/NOPE", DemoWebKey, nil), 404, CodeUnknownProvider)

	var inq inquiryJSON
	r = e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000001", DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &inq)
	// 1850.44 + 60.00 + 2214.74 + 60.00
	if inq.Total != "4185.18" || len(inq.Lines) != 4 || inq.Lines[0].Period != "202609" || inq.Currency != "944" || inq.Lines[0].Meter == nil {
		t.Fatalf("inquiry %+v", inq)
	}
	r = e.req("GET", "/v1/inquiry?regcode="+e.regcode, DemoWebKey, nil)
	wantStatus(t, r, 200)
	inq = inquiryJSON{}
	r.json(t, &inq)
	if inq.Total != "55.00" || len(inq.Accounts) != 2 || !strings.Contains(inq.Payer, "*") {
		t.Fatalf("regcode inquiry %+v", inq)
	}
	for _, c := range []struct {
		q      string
		status int
		code   string
	}{
		{"provider=NOPE&account=1", 404, CodeUnknownProvider},
		{"provider=AZERISIQ&account=999", 404, CodeUnknownAccount},
		{"provider=AZERISIQ", 400, CodeInvalidField},
		{"regcode=1234567890", 400, CodeInvalidField},
		{"regcode=" + e.regcode + "&provider=AZERISIQ", 400, CodeInvalidField},
	} {
		wantProblem(t, e.req("GET", "/v1/inquiry?"+c.q, DemoWebKey, nil), c.status, c.code)
	}
}

func TestAuthAndConventions(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) { c.MaxBodyBytes = 4096 }})
	body := payBody("AZERISIQ", "1000000001", "1.00", "cash")
	huge := `{"target":{"provider":"AZERISIQ","account":"1000000001"},"amount":"1.00","method":"cash","terminal":"` + strings.Repeat("x", 10000) + `"}`
	for _, c := range []struct {
		name, method, path, key string
		body                    any
		headers                 []string
		status                  int
		code                    string
	}{
		{"no key", "GET", "/v1/providers", "", nil, nil, 401, CodeUnauthorized},
		{"unknown key", "GET", "/v1/providers", "not-a-key-at-all", nil, nil, 401, CodeUnauthorized},
		{"provider key on channel API", "GET", "/v1/providers", DemoProviderKey("AZERISIQ"), nil, nil, 403, CodeForbidden},
		{"operator key on channel API", "GET", "/v1/providers", DemoOperatorKey, nil, nil, 403, CodeForbidden},
		{"no idempotency key", "POST", "/v1/payments", DemoKioskKey, body, nil, 400, CodeIdempotencyRequired},
		{"malformed JSON", "POST", "/v1/payments", DemoKioskKey, `{"target":`, []string{"Idempotency-Key: m1"}, 400, CodeMalformedJSON},
		{"two JSON values", "POST", "/v1/payments", DemoKioskKey, `{} {}`, []string{"Idempotency-Key: m2"}, 400, CodeMalformedJSON},
		{"amount as number", "POST", "/v1/payments", DemoKioskKey, `{"target":{"provider":"AZERISIQ","account":"1000000001"},"amount":1.5,"method":"cash"}`, []string{"Idempotency-Key: m3"}, 400, CodeInvalidField},
		{"target as string", "POST", "/v1/payments", DemoKioskKey, `{"target":"x","amount":"1.00","method":"cash"}`, []string{"Idempotency-Key: m4"}, 400, CodeInvalidField},
		{"unknown field", "POST", "/v1/payments", DemoKioskKey, `{"target":{"provider":"AZERISIQ","account":"1000000001"},"amount":"1.00","method":"cash","tip":"1"}`, []string{"Idempotency-Key: m5"}, 400, CodeInvalidField},
		{"huge body", "POST", "/v1/payments", DemoKioskKey, huge, []string{"Idempotency-Key: m6"}, 413, CodeBodyTooLarge},
		{"wrong content type", "POST", "/v1/payments", DemoKioskKey, body, []string{"Idempotency-Key: m7", "Content-Type: text/plain"}, 415, CodeUnsupportedMedia},
		{"too many fraction digits", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "1.001", "cash"), []string{"Idempotency-Key: m8"}, 422, CodeInvalidAmount},
		{"negative amount", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "-1.00", "cash"), []string{"Idempotency-Key: m9"}, 422, CodeInvalidAmount},
		{"zero amount", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "0.00", "cash"), []string{"Idempotency-Key: m10"}, 422, CodeInvalidAmount},
		{"exponent amount", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "1e3", "cash"), []string{"Idempotency-Key: m11"}, 422, CodeInvalidAmount},
		{"unknown provider", "POST", "/v1/payments", DemoKioskKey, payBody("NOPE", "1", "1.00", "cash"), []string{"Idempotency-Key: m12"}, 404, CodeUnknownProvider},
		{"unknown account", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "42", "1.00", "cash"), []string{"Idempotency-Key: m13"}, 404, CodeUnknownAccount},
		{"cash on the web", "POST", "/v1/payments", DemoWebKey, body, []string{"Idempotency-Key: m14"}, 422, CodeNotAllowed},
		{"unknown method", "POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "1.00", "cheque"), []string{"Idempotency-Key: m15"}, 400, CodeInvalidField},
		{"wrong currency", "POST", "/v1/payments", DemoKioskKey, map[string]any{"target": map[string]any{"provider": "AZERISIQ", "account": "1000000001"}, "amount": "1.00", "method": "cash", "currency": "840"}, []string{"Idempotency-Key: m16"}, 422, CodeInvalidAmount},
		{"card without card", "POST", "/v1/payments", DemoWebKey, payBody("AZERISIQ", "1000000001", "1.00", "card"), []string{"Idempotency-Key: m17"}, 400, CodeInvalidField},
		{"bad idempotency key", "POST", "/v1/payments", DemoKioskKey, body, []string{"Idempotency-Key: " + strings.Repeat("k", 200)}, 400, CodeInvalidField},
		{"no such endpoint", "GET", "/v1/nothing", DemoWebKey, nil, nil, 404, CodeNotFound},
		{"wrong method", "DELETE", "/v1/payments", DemoWebKey, nil, nil, 405, CodeMethodNotAllowed},
		{"bad receipt", "GET", "/v1/payments/XYZ", DemoWebKey, nil, nil, 404, CodeUnknownReceipt},
		{"unknown receipt", "GET", "/v1/payments/R2611019999999", DemoWebKey, nil, nil, 404, CodeUnknownReceipt},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantProblem(t, e.req(c.method, c.path, c.key, c.body, c.headers...), c.status, c.code)
		})
	}
	// Nothing of the refused requests was posted.
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000001", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "4185.18" {
		t.Fatalf("a refused request was posted: total %s", inq.Total)
	}
	// Document served.
	r := e.req("GET", "/openapi.yaml", "", nil)
	wantStatus(t, r, 200)
	if !strings.HasPrefix(string(r.body), "openapi: 3") {
		t.Fatalf("openapi %q", r.body[:min(40, len(r.body))])
	}
}

func TestCashPaymentIdempotency(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := payBody("AZERISIQ", "1000000001", "100.00", "cash")
	r := e.req("POST", "/v1/payments", DemoKioskKey, body, "Idempotency-Key: k1")
	wantStatus(t, r, 201)
	var p paymentJSON
	r.json(t, &p)
	if p.Receipt == "" || p.Amount != "100.00" || len(p.Allocations) != 1 || p.Allocations[0].Service != "ELEC" || p.Allocations[0].Period != "202609" ||
		p.VerificationCode == "" || r.header.Get("Location") != "/v1/payments/"+p.Receipt || p.Duplicate {
		t.Fatalf("payment %+v", p)
	}
	// Repeat: the same payment, 200.
	r = e.req("POST", "/v1/payments", DemoKioskKey, body, "Idempotency-Key: k1")
	wantStatus(t, r, 200)
	var p2 paymentJSON
	r.json(t, &p2)
	if p2.Receipt != p.Receipt || !p2.Duplicate {
		t.Fatalf("repeat %+v", p2)
	}
	// Same key, other body: 409.
	wantProblem(t, e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "100.01", "cash"), "Idempotency-Key: k1"), 409, CodeIdempotencyConflict)
	// The same key of another client is another payment.
	r = e.req("POST", "/v1/payments", DemoCashierKey, body, "Idempotency-Key: k1")
	wantStatus(t, r, 201)
	// Status.
	var st paymentJSON
	r = e.req("GET", "/v1/payments/"+p.Receipt, DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &st)
	if st.Status != "posted" || st.Channel != "KIOSK" || st.Method != "CASH" || st.Terminal != "KIOSK001" || st.Amount != "100.00" ||
		st.VerificationCode != p.VerificationCode || st.AuthCode != p.AuthCode {
		t.Fatalf("status %+v", st)
	}
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000001", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "3985.18" {
		t.Fatalf("after two payments of 100.00 the total is %s", inq.Total)
	}
}

func TestPaymentLinesAndRegcode(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.req("POST", "/v1/payments", DemoCashierKey, map[string]any{"target": map[string]any{"regcode": e.regcode}, "amount": "28.15", "method": "cash"}, "Idempotency-Key: as01")
	wantStatus(t, r, 201)
	var p paymentJSON
	r.json(t, &p)
	var got []string
	for _, a := range p.Allocations {
		got = append(got, fmt.Sprintf("%s:%s:%s=%s", a.Account, a.Service, a.Period, a.Amount))
	}
	want := "1000000101:ELEC:202608=10.00 1000000101:ELEC:202609=12.50 1000000101:GARBAGE:202609=2.00 1000000102:ELEC:202609=3.65"
	if strings.Join(got, " ") != want {
		t.Fatalf("allocations %v", got)
	}
	lines := map[string]any{"target": map[string]any{"provider": "AZERISIQ", "account": "1000000001"}, "amount": "130.00", "method": "cash",
		"allocation": "lines", "lines": []map[string]any{{"provider": "AZERISIQ", "account": "1000000001", "service": "GARBAGE", "amount": "130.00"}},
		"readings": []map[string]any{{"service": "ELEC", "meter": "M0099812", "value": "60000"}}}
	r = e.req("POST", "/v1/payments", DemoCashierKey, lines, "Idempotency-Key: l1")
	wantStatus(t, r, 201)
	p = paymentJSON{}
	r.json(t, &p)
	if len(p.Allocations) != 3 || p.Allocations[2].Period != "000000" || p.Allocations[2].Amount != "10.00" {
		t.Fatalf("lines allocations %+v", p.Allocations)
	}
	var st paymentJSON
	e.req("GET", "/v1/payments/"+p.Receipt, DemoWebKey, nil).json(t, &st)
	if len(st.Readings) != 1 || st.Readings[0].Value != "60000" {
		t.Fatalf("readings %+v", st.Readings)
	}
	// Lines not adding up to the amount: declined by the core, 422.
	lines["amount"] = "131.00"
	wantProblem(t, e.req("POST", "/v1/payments", DemoCashierKey, lines, "Idempotency-Key: l2"), 422, CodeInvalidAmount)
	lines["allocation"] = "spread"
	wantProblem(t, e.req("POST", "/v1/payments", DemoCashierKey, lines, "Idempotency-Key: l3"), 400, CodeInvalidField)
}

func TestCardPayments(t *testing.T) {
	card := func(pan string) map[string]any {
		b := payBody("AZERISIQ", "1000000001", "25.00", "card")
		b["card"] = map[string]any{"pan": pan, "expiry": "2812"}
		return b
	}
	t.Run("TLS required", func(t *testing.T) {
		e := newEnv(t, envOpts{mod: func(c *Config) { c.RequireTLSForCards = true }})
		wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567890"), "Idempotency-Key: c1"), 403, CodeTLSRequired)
		if e.auth.calls.Load() != 0 {
			t.Fatal("authorized card data that came without TLS")
		}
		// Behind a TLS proxy that is trusted: accepted.
		e.srv.cfg.TrustForwardedProto = true
		wantStatus(t, e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567890"), "Idempotency-Key: c1", "X-Forwarded-Proto: https"), 201)
	})
	e := newEnv(t, envOpts{tls: true, mod: func(c *Config) { c.RequireTLSForCards = true }})
	r := e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567890"), "Idempotency-Key: c1")
	wantStatus(t, r, 201)
	var p paymentJSON
	r.json(t, &p)
	var st paymentJSON
	e.req("GET", "/v1/payments/"+p.Receipt, DemoWebKey, nil).json(t, &st)
	if st.Method != "CARD" || st.Channel != "WEB" || st.Acquirer != "MILLIKART" || st.RRN == "" {
		t.Fatalf("card payment %+v", st)
	}
	// A repeat is answered from the store: no second authorization.
	wantStatus(t, e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567890"), "Idempotency-Key: c1"), 200)
	if n := e.auth.calls.Load(); n != 1 || e.auth.completed.Load() != 1 {
		t.Fatalf("%d authorizations for one payment, %d completions", n, e.auth.completed.Load())
	}
	// An operator cannot reverse a card payment over HTTP: the card would stay charged at
	// its processing centre. Nothing changes.
	wantProblem(t, e.req("POST", "/v1/payments/"+p.Receipt+"/reversal", DemoOperatorKey, nil, "Idempotency-Key: crv"), 409, CodeCardReversal)
	e.req("GET", "/v1/payments/"+p.Receipt, DemoWebKey, nil).json(t, &st)
	if st.Status != "posted" {
		t.Fatalf("card payment after a refused reversal: %+v", st)
	}
	// Another card under the same key: conflict, no authorization.
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567891"), "Idempotency-Key: c1"), 409, CodeIdempotencyConflict)
	if n := e.auth.calls.Load(); n != 1 {
		t.Fatalf("%d authorizations", n)
	}
	pr := wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("4000000000000002"), "Idempotency-Key: c2"), 402, CodeCardDeclined)
	if pr.ResponseCode != "51" {
		t.Fatalf("declined problem %+v", pr)
	}
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("5555000000000004"), "Idempotency-Key: c3"), 503, CodeCardUnavailable)
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("41697412"), "Idempotency-Key: c4"), 400, CodeInvalidField)
	// What the core would refuse is refused before the card is charged.
	calls := e.auth.calls.Load()
	b := card("4169741234567890")
	b["target"] = map[string]any{"provider": "AZERISIQ", "account": "1000000002"}
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, b, "Idempotency-Key: c5"), 404, CodeUnknownAccount)
	b = card("4169741234567890")
	b["allocation"] = "lines"
	b["lines"] = []map[string]any{{"provider": "AZERISIQ", "account": "1000000001", "service": "ELEC", "amount": "24.00"}}
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, b, "Idempotency-Key: c6"), 422, CodeInvalidAmount)
	if e.auth.calls.Load() != calls {
		t.Fatal("a payment the core refuses was sent for authorization")
	}
	// Approved by the PC, then declined by the core (the provider closed the account
	// meanwhile): the authorization is reversed.
	e.auth.mu.Lock()
	e.auth.during = func() {
		doc := `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="close-1" created="2026-11-20T02:00:00Z" registers-through="2026-11-19" mode="delta">
<account number="1000000001" status="closed"/>
</debts>
`
		if _, err := e.core.ImportBytes(context.Background(), []byte(doc), nil); err != nil {
			t.Error(err)
		}
	}
	e.auth.mu.Unlock()
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, card("4169741234567890"), "Idempotency-Key: c7"), 404, CodeUnknownAccount)
	if e.auth.reversed.Load() != 1 {
		t.Fatalf("%d reversals of an approved authorization the core declined", e.auth.reversed.Load())
	}
}

func TestRequestTimeout(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) { c.RequestTimeout = 100 * 1e6 }})
	e.auth.block = true
	b := payBody("AZERISIQ", "1000000001", "25.00", "card")
	b["card"] = map[string]any{"pan": "4169741234567890"}
	wantProblem(t, e.req("POST", "/v1/payments", DemoWebKey, b, "Idempotency-Key: slow"), 503, CodeCardUnavailable)
}

func TestReversal(t *testing.T) {
	e := newEnv(t, envOpts{})
	var p paymentJSON
	e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "100.00", "cash"), "Idempotency-Key: r1").json(t, &p)
	path := "/v1/payments/" + p.Receipt + "/reversal"
	wantProblem(t, e.req("POST", path, DemoKioskKey, nil, "Idempotency-Key: rv1"), 403, CodeForbidden)
	wantProblem(t, e.req("POST", path, "", nil, "Idempotency-Key: rv1"), 401, CodeUnauthorized)
	wantProblem(t, e.req("POST", path, DemoOperatorKey, nil), 400, CodeIdempotencyRequired)
	r := e.req("POST", path, DemoOperatorKey, `{"reason":"wrong account"}`, "Idempotency-Key: rv1")
	wantStatus(t, r, 201)
	var rv reversalJSON
	r.json(t, &rv)
	if rv.Amount != "100.00" || rv.Status != "reversed" {
		t.Fatalf("reversal %+v", rv)
	}
	wantStatus(t, e.req("POST", path, DemoOperatorKey, nil, "Idempotency-Key: rv1"), 200)
	wantProblem(t, e.req("POST", path, DemoOperatorKey, nil, "Idempotency-Key: rv2"), 409, CodeAlreadyReversed)
	wantProblem(t, e.req("POST", "/v1/payments/R2611019999999/reversal", DemoOperatorKey, nil, "Idempotency-Key: rv3"), 404, CodeUnknownReceipt)
	var st paymentJSON
	e.req("GET", "/v1/payments/"+p.Receipt, DemoWebKey, nil).json(t, &st)
	if st.Status != "reversed" || st.ReversalDate == "" {
		t.Fatalf("status after reversal %+v", st)
	}
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000001", DemoWebKey, nil).json(t, &inq)
	if inq.Total != "4185.18" {
		t.Fatalf("total after reversal %s", inq.Total)
	}
}

func TestTopUp(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := map[string]any{"provider": "AZERISIQ", "account": "1000000003", "amount": "20.00", "method": "cash", "card_id": "GC-00042117", "card_sequence": 17}
	r := e.req("POST", "/v1/topups", DemoKioskKey, body, "Idempotency-Key: t1")
	wantStatus(t, r, 201)
	var p paymentJSON
	r.json(t, &p)
	if p.Kind != "topup" || !strings.HasPrefix(p.Credential, "W1:GC-00042117:18:2000:") {
		t.Fatalf("top-up %+v", p)
	}
	r = e.req("POST", "/v1/topups", DemoKioskKey, body, "Idempotency-Key: t1")
	wantStatus(t, r, 200)
	var p2 paymentJSON
	r.json(t, &p2)
	if p2.Credential != p.Credential || p2.Receipt != p.Receipt {
		t.Fatalf("reissue %+v", p2)
	}
	delete(body, "card_sequence")
	wantProblem(t, e.req("POST", "/v1/topups", DemoKioskKey, body, "Idempotency-Key: t2"), 400, CodeInvalidField)
	body["card_sequence"] = 17
	body["account"] = "1000000001"
	wantProblem(t, e.req("POST", "/v1/topups", DemoKioskKey, body, "Idempotency-Key: t3"), 422, CodeNotAllowed)
	wantProblem(t, e.req("POST", "/v1/topups", DemoKioskKey, body), 400, CodeIdempotencyRequired)
}

func TestSubscribersAndHistory(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.req("POST", "/v1/subscribers", DemoWebKey, map[string]any{"name": "Əliyev Əli", "phone": "+994501234567",
		"accounts": []map[string]any{{"provider": "AZERISIQ", "account": "1000000001"}}})
	wantStatus(t, r, 201)
	var sub subscriberJSON
	r.json(t, &sub)
	if len(sub.Code) != 10 || len(sub.Accounts) != 1 {
		t.Fatalf("subscriber %+v", sub)
	}
	wantProblem(t, e.req("POST", "/v1/subscribers", DemoWebKey, map[string]any{"phone": "1"}), 400, CodeInvalidField)
	wantProblem(t, e.req("POST", "/v1/subscribers", DemoWebKey, map[string]any{"name": "x", "accounts": []map[string]any{{"provider": "NOPE", "account": "1"}}}), 404, CodeUnknownProvider)
	r = e.req("PUT", "/v1/subscribers/"+sub.Code+"/accounts/AZERISIQ/1000000003", DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &sub)
	if len(sub.Accounts) != 2 {
		t.Fatalf("after link %+v", sub)
	}
	r = e.req("DELETE", "/v1/subscribers/"+sub.Code+"/accounts/AZERISIQ/1000000003", DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &sub)
	if len(sub.Accounts) != 1 {
		t.Fatalf("after unlink %+v", sub)
	}
	wantStatus(t, e.req("GET", "/v1/subscribers/"+sub.Code, DemoWebKey, nil), 200)
	wantProblem(t, e.req("GET", "/v1/subscribers/12345", DemoWebKey, nil), 404, CodeUnknownAccount)

	// History: a payment to the account linked to the new code, one to the demo code,
	// one to another account.
	var p1, p2 paymentJSON
	e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "5.00", "cash"), "Idempotency-Key: h1").json(t, &p1)
	e.req("POST", "/v1/payments", DemoKioskKey, map[string]any{"target": map[string]any{"regcode": e.regcode}, "amount": "5.00", "method": "cash"}, "Idempotency-Key: h2").json(t, &p2)
	var h struct {
		Payments []paymentJSON `json:"payments"`
	}
	r = e.req("GET", "/v1/subscribers/"+sub.Code+"/payments", DemoWebKey, nil)
	wantStatus(t, r, 200)
	r.json(t, &h)
	if len(h.Payments) != 1 || h.Payments[0].Receipt != p1.Receipt {
		t.Fatalf("history of %s: %+v", sub.Code, h.Payments)
	}
	e.req("GET", "/v1/subscribers/"+e.regcode+"/payments?from=2026-01-01&to=2026-12-31", DemoWebKey, nil).json(t, &h)
	if len(h.Payments) != 1 || h.Payments[0].Receipt != p2.Receipt {
		t.Fatalf("history of the demo code: %+v", h.Payments)
	}
	e.req("GET", "/v1/subscribers/"+e.regcode+"/payments?from=2026-11-02&to=2026-12-31", DemoWebKey, nil).json(t, &h)
	if len(h.Payments) != 0 {
		t.Fatalf("history after the payment's day: %+v", h.Payments)
	}
	wantProblem(t, e.req("GET", "/v1/subscribers/"+e.regcode+"/payments?from=2020-01-01&to=2026-12-31", DemoWebKey, nil), 400, CodeInvalidField)
	wantProblem(t, e.req("GET", "/v1/subscribers/"+e.regcode+"/payments?from=yesterday", DemoWebKey, nil), 400, CodeInvalidField)
}

func TestConcurrentPayments(t *testing.T) {
	e := newEnv(t, envOpts{})
	const n = 64
	var wg sync.WaitGroup
	receipts := make([]string, n)
	errs := make(chan string, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acct := []string{"1000000001", "1000000101", "1000000102"}[i%3]
			// Every payment sent twice at once under the same key.
			key := fmt.Sprintf("Idempotency-Key: cc%d", i)
			var inner sync.WaitGroup
			got := make([]paymentJSON, 2)
			for j := range 2 {
				inner.Add(1)
				go func() {
					defer inner.Done()
					r := e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", acct, "0.10", "cash"), key)
					if r.status != 201 && r.status != 200 {
						errs <- fmt.Sprintf("status %d %s", r.status, r.body)
						return
					}
					r.json(t, &got[j])
				}()
			}
			inner.Wait()
			if got[0].Receipt != got[1].Receipt {
				errs <- fmt.Sprintf("one key, two receipts %s %s", got[0].Receipt, got[1].Receipt)
			}
			receipts[i] = got[0].Receipt
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	seen := map[string]bool{}
	for _, r := range receipts {
		if r == "" || seen[r] {
			t.Fatalf("receipt %q missing or repeated", r)
		}
		seen[r] = true
	}
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000001", DemoWebKey, nil).json(t, &inq)
	// 22 payments of 0.10 on 1000000001 (i%3 == 0 for i < 64).
	if inq.Total != "4182.98" {
		t.Fatalf("total %s", inq.Total)
	}
	_ = http.StatusOK
}

// TestRegisterIdempotent: with an Idempotency-Key, a repeated registration (the same
// body, even at the same time) returns the code issued first; another body under the
// key is refused; the key is the client's own; without a key every POST issues a code.
func TestRegisterIdempotent(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := map[string]any{"name": "Məmmədova Aynur", "accounts": []map[string]any{{"provider": "AZERISIQ", "account": "1000000001"}}}
	const n = 8
	codes := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.req("POST", "/v1/subscribers", DemoWebKey, body, "Idempotency-Key: reg-1")
			var sub subscriberJSON
			r.json(t, &sub)
			codes[i], statuses[i] = sub.Code, r.status
		}()
	}
	wg.Wait()
	created := 0
	for i := range n {
		if codes[i] != codes[0] || len(codes[i]) != 10 {
			t.Fatalf("repeats got codes %v", codes)
		}
		switch statuses[i] {
		case 201:
			created++
		case 200:
		default:
			t.Fatalf("status %d", statuses[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d repeats created a subscriber (statuses %v)", created, n, statuses)
	}
	other := map[string]any{"name": "Someone Else"}
	wantProblem(t, e.req("POST", "/v1/subscribers", DemoWebKey, other, "Idempotency-Key: reg-1"), 409, CodeIdempotencyConflict)
	// Another client's key space: the same key is a new registration there.
	var sub subscriberJSON
	r := e.req("POST", "/v1/subscribers", DemoKioskKey, body, "Idempotency-Key: reg-1")
	wantStatus(t, r, 201)
	r.json(t, &sub)
	if sub.Code == codes[0] {
		t.Fatalf("another client's key returned %s", sub.Code)
	}
	// No key: a new code each time.
	var a, b subscriberJSON
	e.req("POST", "/v1/subscribers", DemoWebKey, body).json(t, &a)
	e.req("POST", "/v1/subscribers", DemoWebKey, body).json(t, &b)
	if a.Code == b.Code || a.Code == codes[0] {
		t.Fatalf("keyless registrations %s %s (keyed %s)", a.Code, b.Code, codes[0])
	}
	wantProblem(t, e.req("POST", "/v1/subscribers", DemoWebKey, body, "Idempotency-Key: has space"), 400, CodeInvalidField)
}

// Readings that spell out what lines would hash to are another body: the request hash
// counts every list, so the same key with it is 409, not a replay.
func TestPaymentHashCountsLists(t *testing.T) {
	e := newEnv(t, envOpts{})
	var inq inquiryJSON
	e.req("GET", "/v1/inquiry?provider=AZERISIQ&account=1000000101", DemoWebKey, nil).json(t, &inq)
	if len(inq.Lines) == 0 {
		t.Skip("no dues")
	}
	l := inq.Lines[0]
	first := map[string]any{"target": map[string]any{"provider": "AZERISIQ", "account": "1000000101"}, "amount": "0.02", "method": "cash",
		"allocation": "lines", "lines": []any{
			map[string]any{"provider": l.Provider, "account": l.Account, "service": l.Service, "amount": "0.01"},
			map[string]any{"provider": l.Provider, "account": l.Account, "service": l.Service, "amount": "0.01"}}}
	r := e.req("POST", "/v1/payments", DemoKioskKey, first, "Idempotency-Key: amb1")
	t.Logf("first: %d %s", r.status, r.body)
	wantStatus(t, r, 201)
	second := map[string]any{"target": map[string]any{"provider": "AZERISIQ", "account": "1000000101"}, "amount": "0.02", "method": "cash",
		"readings": []any{
			map[string]any{"service": "lines", "meter": l.Provider, "value": l.Account},
			map[string]any{"service": l.Service, "meter": "1", "value": l.Provider},
			map[string]any{"service": l.Account, "meter": l.Service, "value": "1"}}}
	r = e.req("POST", "/v1/payments", DemoKioskKey, second, "Idempotency-Key: amb1")
	t.Logf("second (other body, same key): %d %s", r.status, r.body)
	if r.status != 409 {
		t.Fatalf("a different body under the same key got %d, want 409", r.status)
	}
}

// Cash is booked to the drawer of the payment point a request names, so a client may
// name only its own: its default terminal or one its configuration lists (the demo
// kiosk fleet is KIOSK*).
func TestClientTerminals(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i, tc := range []struct {
		name, key, terminal string
		status              int
	}{
		{"kiosk, its default", DemoKioskKey, "", 201},
		{"kiosk, one of its fleet", DemoKioskKey, "KIOSK042", 201},
		{"kiosk, the cashier desk's drawer", DemoKioskKey, "CASH0001", 403},
		{"kiosk, an ISO terminal", DemoKioskKey, "T0000001", 403},
		{"cashier, its own", DemoCashierKey, "CASH0001", 201},
		{"cashier, a kiosk", DemoCashierKey, "KIOSK001", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"target": map[string]any{"provider": "AZERISIQ", "account": "1000000001"}, "amount": "1.00", "method": "cash"}
			if tc.terminal != "" {
				body["terminal"] = tc.terminal
			}
			r := e.req("POST", "/v1/payments", tc.key, body, fmt.Sprintf("Idempotency-Key: term-%d", i))
			wantStatus(t, r, tc.status)
		})
	}
	if b := e.store.Balance(ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: "T0000001"}, 944); b.Debits != 0 {
		t.Fatalf("an ISO terminal's drawer took HTTP cash: %+v", b)
	}
}
