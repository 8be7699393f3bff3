package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"rsc.io/qr"

	"github.com/billswitch/billswitch/billpay"
)

// verificationCode is the receipt's check code: HMAC-SHA256 under the host's receipt
// key of the receipt number, amount and currency, first 80 bits in base32 (16
// characters).
func (s *Server) verificationCode(receipt string, amount int64, currency uint16) string {
	m := hmac.New(sha256.New, s.cfg.ReceiptKey)
	fmt.Fprintf(m, "billswitch-receipt/1|%s|%d|%d", receipt, amount, currency)
	return base32.StdEncoding.EncodeToString(m.Sum(nil)[:10])
}

func (s *Server) verifyURL(receipt, code string) string {
	return strings.TrimRight(s.cfg.PublicBaseURL, "/") + "/v1/receipts/" + receipt + "/verify?code=" + code
}

// verifyReceipt checks a receipt's verification code (public: whoever holds a receipt
// may check it).
func (s *Server) verifyReceipt(w http.ResponseWriter, r *http.Request) error {
	code := strings.ToUpper(r.URL.Query().Get("code"))
	if code == "" {
		return fieldErr("code", "required")
	}
	rec, err := s.paymentByReceipt(r)
	if err != nil {
		return err
	}
	want := s.verificationCode(rec.Receipt, rec.Amount, rec.Currency)
	if !hmac.Equal([]byte(code), []byte(want)) {
		return perr(http.StatusUnprocessableEntity, CodeInvalidCode, "the code does not match this receipt")
	}
	d := s.digits(rec.Currency)
	status := "posted"
	if rec.Reversed {
		status = "reversed"
	}
	return writeJSON(w, http.StatusOK, map[string]any{"valid": true, "receipt": rec.Receipt, "status": status,
		"amount": formatAmount(rec.Amount, d), "currency": currencyString(rec.Currency), "business_date": dateString(rec.BusinessDate)})
}

// receiptView is what a printed receipt shows.
type receiptView struct {
	Receipt, AuthCode, Status, Kind string
	Time, BusinessDate              string
	Channel, Method, Terminal, RRN  string
	Target                          string
	Amount, Commission, Currency    string
	Lines                           []receiptLine
	Credential                      string
	Code, VerifyURL                 string
	QRDataURI                       template.URL
}

type receiptLine struct{ Provider, Account, Service, Period, Amount string }

func (s *Server) receiptView(rec *billpay.PaymentRecord) *receiptView {
	d := s.digits(rec.Currency)
	v := &receiptView{Receipt: rec.Receipt, AuthCode: rec.AuthCode, Status: "POSTED", Kind: "Payment",
		Time: rec.PostedAt.In(s.cfg.Location).Format("2006-01-02 15:04:05 MST"), BusinessDate: dateString(rec.BusinessDate),
		Channel: rec.Channel.String(), Method: rec.Method.String(), Terminal: rec.Terminal, RRN: rec.RRN,
		Amount: formatAmount(rec.Amount, d), Commission: formatAmount(rec.Commission, d), Currency: currencyString(rec.Currency),
		Credential: rec.Credential}
	if rec.TopUp {
		v.Kind = "Prepaid top-up"
	}
	if rec.Reversed {
		v.Status = "REVERSED " + dateString(rec.ReversalDate)
	}
	if rec.Target.RegCode != "" {
		v.Target = "registration code " + rec.Target.RegCode
	} else {
		v.Target = rec.Target.Provider + " " + rec.Target.Account
	}
	for _, a := range rec.Allocations {
		p := periodString(a.Period)
		if a.Period == 0 {
			p = "advance"
		}
		v.Lines = append(v.Lines, receiptLine{a.Provider, a.Account, a.Service, p, formatAmount(a.Amount, s.digitsOfProvider(a.Provider))})
	}
	v.Code = s.verificationCode(rec.Receipt, rec.Amount, rec.Currency)
	v.VerifyURL = s.verifyURL(rec.Receipt, v.Code)
	return v
}

func (s *Server) digitsOfProvider(code string) int {
	if p, ok := s.core.Registry().Provider(code); ok {
		return p.MinorDigits
	}
	return 2
}

var receiptTmpl = template.Must(template.New("receipt").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Receipt {{.Receipt}}</title>
<style>body{font-family:monospace;max-width:40em;margin:1em auto}table{border-collapse:collapse;width:100%}td,th{padding:2px 6px;text-align:left}td.n{text-align:right}</style>
</head><body>
<h1>{{.Kind}} receipt</h1>
<table>
<tr><th>Receipt</th><td>{{.Receipt}}</td></tr>
<tr><th>Status</th><td>{{.Status}}</td></tr>
<tr><th>Authorization</th><td>{{.AuthCode}}</td></tr>
<tr><th>Time</th><td>{{.Time}}</td></tr>
<tr><th>Business date</th><td>{{.BusinessDate}}</td></tr>
<tr><th>Paid for</th><td>{{.Target}}</td></tr>
<tr><th>Channel</th><td>{{.Channel}} {{.Method}}{{if .Terminal}} at {{.Terminal}}{{end}}</td></tr>
{{if .RRN}}<tr><th>RRN</th><td>{{.RRN}}</td></tr>{{end}}
<tr><th>Amount</th><td>{{.Amount}} ({{.Currency}})</td></tr>
<tr><th>Commission included</th><td>{{.Commission}}</td></tr>
{{if .Credential}}<tr><th>Credential</th><td>{{.Credential}}</td></tr>{{end}}
</table>
<h2>Allocation</h2>
<table><tr><th>Provider</th><th>Account</th><th>Service</th><th>Period</th><th>Amount</th></tr>
{{range .Lines}}<tr><td>{{.Provider}}</td><td>{{.Account}}</td><td>{{.Service}}</td><td>{{.Period}}</td><td class="n">{{.Amount}}</td></tr>
{{end}}</table>
<p>Verification code: <b>{{.Code}}</b><br>Check at {{.VerifyURL}}</p>
<img alt="QR code of the verification URL" src="{{.QRDataURI}}" width="180" height="180">
</body></html>
`))

func (s *Server) receiptHTML(w http.ResponseWriter, r *http.Request, _ *Client) error {
	rec, err := s.paymentByReceipt(r)
	if err != nil {
		return err
	}
	v := s.receiptView(rec)
	code, err := qr.Encode(v.VerifyURL, qr.M)
	if err != nil {
		return err
	}
	var img bytes.Buffer
	if err := png.Encode(&img, qrImage(code, 4)); err != nil {
		return err
	}
	v.QRDataURI = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(img.Bytes()))
	var out bytes.Buffer
	if err := receiptTmpl.Execute(&out, v); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out.Bytes())
	return nil
}

func (s *Server) receiptPDF(w http.ResponseWriter, r *http.Request, _ *Client) error {
	rec, err := s.paymentByReceipt(r)
	if err != nil {
		return err
	}
	v := s.receiptView(rec)
	code, err := qr.Encode(v.VerifyURL, qr.M)
	if err != nil {
		return err
	}
	lines := []string{
		v.Kind + " receipt",
		"",
		"Receipt:        " + v.Receipt,
		"Status:         " + v.Status,
		"Authorization:  " + v.AuthCode,
		"Time:           " + v.Time,
		"Business date:  " + v.BusinessDate,
		"Paid for:       " + v.Target,
		"Channel:        " + v.Channel + " " + v.Method + " " + v.Terminal,
		"Amount:         " + v.Amount + " (" + v.Currency + ")",
		"Commission:     " + v.Commission,
	}
	if v.RRN != "" {
		lines = append(lines, "RRN:            "+v.RRN)
	}
	if v.Credential != "" {
		lines = append(lines, "Credential:     "+v.Credential)
	}
	lines = append(lines, "", "Allocation:")
	for _, l := range v.Lines {
		lines = append(lines, fmt.Sprintf("  %-12s %-14s %-8s %-8s %12s", l.Provider, l.Account, l.Service, l.Period, l.Amount))
	}
	lines = append(lines, "", "Verification code: "+v.Code, v.VerifyURL)
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+v.Receipt+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(writePDF(lines, code))
	return nil
}

// qrImage draws the code with a 4-module quiet zone, scale pixels per module.
func qrImage(c *qr.Code, scale int) image.Image {
	side := (c.Size + 8) * scale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if !c.Black(x, y) {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				row := (4+y)*scale + dy
				for dx := 0; dx < scale; dx++ {
					img.Pix[row*img.Stride+(4+x)*scale+dx] = 0
				}
			}
		}
	}
	return img
}

// writePDF renders lines of ASCII text (Courier 10) and a QR code on one A4 page as a
// minimal PDF 1.4 file (catalog, pages, page, font, content stream, xref, trailer).
func writePDF(lines []string, code *qr.Code) []byte {
	var content bytes.Buffer
	content.WriteString("BT /F1 10 Tf 12 TL 50 790 Td\n")
	for _, l := range lines {
		content.WriteString("(" + pdfEscape(l) + ") Tj T*\n")
	}
	content.WriteString("ET\n")
	if code != nil {
		// Modules of 3 points, lower-left at (50, 90), with the quiet zone left white.
		const mod = 3.0
		x0, y0 := 50.0, 90.0
		content.WriteString("0 g\n")
		for y := 0; y < code.Size; y++ {
			for x := 0; x < code.Size; x++ {
				if code.Black(x, y) {
					fmt.Fprintf(&content, "%.1f %.1f %.1f %.1f re\n", x0+float64(x)*mod, y0+float64(code.Size-1-y)*mod, mod, mod)
				}
			}
		}
		content.WriteString("f\n")
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
		"<< /Length " + strconv.Itoa(content.Len()) + " >>\nstream\n" + content.String() + "endstream",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info << /Producer (billswitch) >> >>\nstartxref\n%d\n%%%%EOF\n",
		len(objs)+1, xref)
	return b.Bytes()
}

// pdfEscape keeps printable ASCII (transliterating the rest) and escapes \ ( ).
func pdfEscape(s string) string {
	s = billpay.Transliterate(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '(' || c == ')':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
