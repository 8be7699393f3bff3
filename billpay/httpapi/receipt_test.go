package httpapi

import (
	"bytes"
	"encoding/base64"
	"fmt"
	stdhtml "html"
	"image/png"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestReceipts(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) { c.PublicBaseURL = "https://pay.example.az/" }})
	var p, q paymentJSON
	e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "12.34", "cash"), "Idempotency-Key: rc1").json(t, &p)
	e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000101", "1.00", "cash"), "Idempotency-Key: rc2").json(t, &q)
	if p.VerificationCode == q.VerificationCode || len(p.VerificationCode) != 16 {
		t.Fatalf("codes %q %q", p.VerificationCode, q.VerificationCode)
	}
	r := e.req("GET", p.Links.ReceiptHTML, DemoWebKey, nil)
	wantStatus(t, r, 200)
	html := stdhtml.UnescapeString(string(r.body))
	for _, s := range []string{p.Receipt, p.VerificationCode, "12.34", "KIOSK001", "https://pay.example.az/v1/receipts/" + p.Receipt + "/verify?code=" + p.VerificationCode} {
		if !strings.Contains(html, s) {
			t.Fatalf("HTML receipt lacks %q", s)
		}
	}
	m := regexp.MustCompile(`data:image/png;base64,([A-Za-z0-9+/=]+)`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no QR image")
	}
	raw, _ := base64.StdEncoding.DecodeString(m[1])
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() < 21 {
		t.Fatalf("QR png: %v", err)
	}

	r = e.req("GET", p.Links.ReceiptPDF, DemoWebKey, nil)
	wantStatus(t, r, 200)
	checkPDF(t, r.body)
	for _, s := range []string{p.Receipt, p.VerificationCode, "12.34"} {
		if !bytes.Contains(r.body, []byte(s)) {
			t.Fatalf("PDF lacks %q", s)
		}
	}
	if !bytes.Contains(r.body, []byte(" re\n")) {
		t.Fatal("PDF has no QR modules")
	}

	verify := func(receipt, code string) resp {
		return e.req("GET", "/v1/receipts/"+receipt+"/verify?code="+code, "", nil)
	}
	r = verify(p.Receipt, p.VerificationCode)
	wantStatus(t, r, 200)
	var v struct {
		Valid  bool
		Amount string
		Status string
	}
	r.json(t, &v)
	if !v.Valid || v.Amount != "12.34" || v.Status != "posted" {
		t.Fatalf("verify %+v", v)
	}
	wantStatus(t, verify(p.Receipt, strings.ToLower(p.VerificationCode)), 200)
	wantProblem(t, verify(p.Receipt, q.VerificationCode), 422, CodeInvalidCode)
	wantProblem(t, verify(p.Receipt, "AAAAAAAAAAAAAAAA"), 422, CodeInvalidCode)
	wantProblem(t, verify(p.Receipt, ""), 400, CodeInvalidField)
	wantProblem(t, verify("R2611019999999", p.VerificationCode), 404, CodeUnknownReceipt)
	wantProblem(t, e.req("GET", "/v1/payments/R2611019999999/receipt.pdf", DemoWebKey, nil), 404, CodeUnknownReceipt)
	wantProblem(t, e.req("GET", p.Links.ReceiptHTML, "", nil), 401, CodeUnauthorized)

	// A host with another receipt key does not accept the code.
	e2 := newEnv(t, envOpts{mod: func(c *Config) { c.ReceiptKey = []byte("another-receipt-key-0123") }})
	var p2 paymentJSON
	e2.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000001", "12.34", "cash"), "Idempotency-Key: rc1").json(t, &p2)
	if p2.Receipt == p.Receipt && p2.VerificationCode == p.VerificationCode {
		t.Fatal("the code does not depend on the host key")
	}
}

// checkPDF checks the file's structure: header, every xref offset at its object,
// startxref at the xref table, %%EOF.
func checkPDF(t *testing.T, b []byte) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(b, []byte("%%EOF\n")) {
		t.Fatal("not a PDF 1.4 file")
	}
	i := bytes.LastIndex(b, []byte("startxref\n"))
	rest := strings.SplitN(string(b[i+len("startxref\n"):]), "\n", 2)
	xref, err := strconv.Atoi(rest[0])
	if err != nil || !bytes.HasPrefix(b[xref:], []byte("xref\n")) {
		t.Fatalf("startxref %q does not point at the xref table", rest[0])
	}
	lines := strings.Split(string(b[xref:]), "\n")
	var n int
	fmt.Sscanf(lines[1], "0 %d", &n)
	if n != 6 {
		t.Fatalf("xref has %d entries", n)
	}
	for obj := 1; obj < n; obj++ {
		off, _ := strconv.Atoi(lines[2+obj][:10])
		if !bytes.HasPrefix(b[off:], []byte(fmt.Sprintf("%d 0 obj\n", obj))) {
			t.Fatalf("xref offset of object %d is wrong", obj)
		}
	}
	// The content stream's /Length is its byte count.
	m := regexp.MustCompile(`/Length (\d+) >>\nstream\n`).FindSubmatchIndex(b)
	length, _ := strconv.Atoi(string(b[m[2]:m[3]]))
	if !bytes.HasPrefix(b[m[1]+length:], []byte("endstream")) {
		t.Fatal("stream length is wrong")
	}
}

func TestPDFEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a(b)c\\":   `a\(b\)c\\`,
		"Bakı":      "Baki",
		"tab\there": "tab here",
	} {
		if got := pdfEscape(in); got != want {
			t.Errorf("pdfEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
