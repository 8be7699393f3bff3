package httpapi

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/billpay/debtfile"
)

// Provider authentication headers of Ed25519-signed requests.
const (
	HeaderProvider  = "X-Billswitch-Provider"
	HeaderTimestamp = "X-Billswitch-Timestamp" // unix seconds
	HeaderSignature = "X-Billswitch-Signature" // base64 Ed25519 over SignedMessage
	// HeaderFileSignature carries the detached signature (base64) of a debt-list XML
	// document posted as is (provider-exchange.md §1).
	HeaderFileSignature = "X-Debt-List-Signature"
	maxClockSkew        = 5 * time.Minute
)

// SignedMessage is what a provider signs with its Ed25519 key: the method, the request
// URI (path and query), the timestamp header and the hex SHA-256 of the body, each on
// its own line.
func SignedMessage(method, requestURI, timestamp string, body []byte) []byte {
	h := sha256.Sum256(body)
	return []byte(method + "\n" + requestURI + "\n" + timestamp + "\n" + hex.EncodeToString(h[:]))
}

// provider authenticates the caller as the provider of the path: by its API key, or by
// an Ed25519 signature under the registry's key. Another provider's key gets 403.
func (s *Server) provider(w http.ResponseWriter, r *http.Request, body []byte) (*billpay.Provider, error) {
	code := r.PathValue("provider")
	if k, ok := bearer(r); ok {
		who, known := s.provKeys[sha256.Sum256([]byte(k))]
		if !known {
			return nil, unauthorized(w, "unknown provider key")
		}
		if subtle.ConstantTimeCompare([]byte(who), []byte(code)) != 1 {
			return nil, perr(http.StatusForbidden, CodeForbidden, "this key belongs to another provider")
		}
		p, ok := s.core.Registry().Provider(code)
		if !ok {
			return nil, perr(http.StatusNotFound, CodeUnknownProvider, fmt.Sprintf("provider %q is not registered", code))
		}
		return p, nil
	}
	if sig := r.Header.Get(HeaderSignature); sig != "" {
		who := r.Header.Get(HeaderProvider)
		p, ok := s.core.Registry().Provider(who)
		if !ok || p.PublicKey == nil {
			return nil, unauthorized(w, "no signing key is registered for "+strconv.Quote(who))
		}
		ts := r.Header.Get(HeaderTimestamp)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, unauthorized(w, HeaderTimestamp+" must be unix seconds")
		}
		if d := s.clock().Sub(time.Unix(sec, 0)); d > maxClockSkew || d < -maxClockSkew {
			return nil, unauthorized(w, "the request's timestamp is more than 5 minutes off")
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || !ed25519.Verify(p.PublicKey, SignedMessage(r.Method, r.URL.RequestURI(), ts, body), raw) {
			return nil, unauthorized(w, "bad signature")
		}
		if who != code {
			return nil, perr(http.StatusForbidden, CodeForbidden, "the signer is another provider")
		}
		return p, nil
	}
	return nil, unauthorized(w, "a provider key (Authorization: Bearer) or an Ed25519 signature is required")
}

// accountUpsert is one account of an online update (the <account> record of
// provider-exchange.md §1 as JSON).
type accountUpsert struct {
	Number  string       `json:"number"`
	Name    string       `json:"name,omitempty"`
	Address string       `json:"address,omitempty"`
	Phone   string       `json:"phone,omitempty"`
	Email   string       `json:"email,omitempty"`
	Status  string       `json:"status,omitempty"` // open (default) | closed
	Prepaid bool         `json:"prepaid,omitempty"`
	Card    *cardRecord  `json:"card,omitempty"`
	Debts   []debtRecord `json:"debts,omitempty"`
}

type cardRecord struct {
	ID       string `json:"id"`
	Sequence uint32 `json:"sequence"`
}

type debtRecord struct {
	Service string     `json:"service"`
	Period  string     `json:"period"`
	Amount  string     `json:"amount"`
	Meter   *meterJSON `json:"meter,omitempty"`
}

type upsertRequest struct {
	// RegistersThrough: the provider's amounts count the payments of the host's
	// registers through this date (default: the day before the update).
	RegistersThrough string          `json:"registers_through,omitempty"`
	Accounts         []accountUpsert `json:"accounts"`
}

type oneUpsert struct {
	RegistersThrough string `json:"registers_through,omitempty"`
	accountUpsert
}

type importJSON struct {
	Provider         string `json:"provider"`
	ImportID         string `json:"import_id"`
	Status           string `json:"status"` // applied
	Mode             string `json:"mode"`
	Created          string `json:"created"`
	Accounts         int    `json:"accounts"`
	Debts            int    `json:"debts"`
	SHA256           string `json:"sha256"`
	Duplicate        bool   `json:"duplicate,omitempty"`
	RegistersThrough string `json:"registers_through,omitempty"`
}

func (s *Server) upsertOne(w http.ResponseWriter, r *http.Request) error {
	body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	p, err := s.provider(w, r, body)
	if err != nil {
		return err
	}
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	var one oneUpsert
	if err := decodeJSON(body, &one); err != nil {
		return err
	}
	if one.Number == "" {
		one.Number = r.PathValue("account")
	} else if one.Number != r.PathValue("account") {
		return fieldErr("number", "differs from the account of the path")
	}
	return s.upsert(w, r, p, key, upsertRequest{RegistersThrough: one.RegistersThrough, Accounts: []accountUpsert{one.accountUpsert}}, true)
}

func (s *Server) upsertMany(w http.ResponseWriter, r *http.Request) error {
	body, mt, err := readBody(w, r, s.cfg.MaxUpsertBytes, "application/xml", "text/xml")
	if err != nil {
		return err
	}
	p, err := s.provider(w, r, body)
	if err != nil {
		return err
	}
	if mt != "application/json" {
		return s.importXML(w, r, p, body)
	}
	key, err := idemKey(r)
	if err != nil {
		return err
	}
	var req upsertRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if len(req.Accounts) == 0 {
		return fieldErr("accounts", "at least one account")
	}
	return s.upsert(w, r, p, key, req, false)
}

// upsert applies an online update as a delta debt list built from the JSON records:
// the core validates it exactly as a file and applies it whole or not at all. The
// list's file-id is derived from the Idempotency-Key; a repeat finds it applied and,
// when its content is the same, answers the first outcome.
func (s *Server) upsert(w http.ResponseWriter, r *http.Request, p *billpay.Provider, key string, req upsertRequest, one bool) error {
	if p.PublicKey != nil {
		return perr(http.StatusUnprocessableEntity, CodeSignatureRequired,
			p.Code+" has a signing key: send the debt list as XML with its detached signature ("+HeaderFileSignature+")")
	}
	kh := sha256.Sum256([]byte(key))
	fileID := "WS-" + hex.EncodeToString(kh[:16])
	unlock := s.lockKey(p.Code + "/" + fileID)
	defer unlock()
	ctx := r.Context()
	prev, found, err := s.core.ImportedFile(ctx, p.Code, fileID)
	if err != nil {
		return err
	}
	created := s.clock().UTC().Truncate(time.Second)
	if found {
		created = prev.Created
	}
	doc, paths, through, err := buildDeltaList(p, fileID, created, req, one)
	if err != nil {
		return err
	}
	if found {
		if sha256.Sum256(doc) != prev.SHA256 {
			return perr(http.StatusConflict, CodeIdempotencyConflict, "this Idempotency-Key was used for another update")
		}
		return writeJSON(w, http.StatusOK, importOut(prev, true, through))
	}
	res, err := s.core.ImportBytesAs(ctx, p.Code, doc, nil)
	if err != nil {
		var ie *billpay.ImportError
		if errors.As(err, &ie) {
			if ie.Reason == billpay.RefusedDuplicate {
				// Lost a race with the same key in another process: compare as a repeat.
				if prev, found, err2 := s.core.ImportedFile(ctx, p.Code, fileID); err2 == nil && found {
					if d2, _, _, err3 := buildDeltaList(p, fileID, prev.Created, req, one); err3 == nil && sha256.Sum256(d2) == prev.SHA256 {
						return writeJSON(w, http.StatusOK, importOut(prev, true, through))
					}
				}
				return perr(http.StatusConflict, CodeIdempotencyConflict, "this Idempotency-Key was used for another update")
			}
			return importProblem(ie, paths)
		}
		return err
	}
	s.log.Info().Str("provider", p.Code).Str("import_id", fileID).Int("accounts", res.Accounts).Msg("online update applied")
	f, found, err := s.core.ImportedFile(ctx, p.Code, fileID)
	if err != nil || !found {
		return writeJSON(w, http.StatusCreated, importJSON{Provider: p.Code, ImportID: fileID, Status: "applied", Mode: "delta",
			Created: created.Format(time.RFC3339), Accounts: res.Accounts, Debts: res.Debts, RegistersThrough: through})
	}
	w.Header().Set("Location", "/v1/providers/"+p.Code+"/imports/"+fileID)
	return writeJSON(w, http.StatusCreated, importOut(f, false, through))
}

// importXML applies a debt-list document posted as is, with its signature header when
// the provider has a key. Its file-id is its idempotency key (provider-exchange.md §1).
func (s *Server) importXML(w http.ResponseWriter, r *http.Request, p *billpay.Provider, body []byte) error {
	if prov, _ := xmlRoot(body); prov != p.Code {
		return perr(http.StatusForbidden, CodeForbidden, fmt.Sprintf("the document names provider %q, not %s", prov, p.Code))
	}
	var sig []byte
	if v := r.Header.Get(HeaderFileSignature); v != "" {
		sig = []byte(v)
	}
	res, err := s.core.ImportBytesAs(r.Context(), p.Code, body, sig)
	if err != nil {
		var ie *billpay.ImportError
		if errors.As(err, &ie) {
			if ie.Reason == billpay.RefusedDuplicate {
				// A repeat of an applied file with the same bytes is answered as applied.
				if _, id := xmlRoot(body); id != "" {
					if f, found, _ := s.core.ImportedFile(r.Context(), p.Code, id); found && f.SHA256 == sha256.Sum256(body) {
						return writeJSON(w, http.StatusOK, importOut(f, true, ""))
					}
				}
			}
			return importProblem(ie, nil)
		}
		return err
	}
	f, found, err := s.core.ImportedFile(r.Context(), p.Code, res.Header.FileID)
	if err != nil || !found {
		return writeJSON(w, http.StatusCreated, importJSON{Provider: p.Code, ImportID: res.Header.FileID, Status: "applied",
			Mode: res.Header.Mode.String(), Accounts: res.Accounts, Debts: res.Debts})
	}
	return writeJSON(w, http.StatusCreated, importOut(f, false, ""))
}

// xmlRoot reads the provider and file-id attributes of the root element (the core
// reads the document strictly afterwards; this only routes it).
func xmlRoot(b []byte) (provider, fileID string) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		t, err := d.Token()
		if err != nil {
			return "", ""
		}
		if se, ok := t.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space != "" {
					// Only unprefixed attributes are the document's (the core's reader
					// ignores prefixed ones): x:provider="…" must not route it.
					continue
				}
				switch a.Name.Local {
				case "provider":
					provider = a.Value
				case "file-id":
					fileID = a.Value
				}
			}
			return provider, fileID
		}
	}
}

func importOut(f *billpay.ImportedFile, dup bool, through string) importJSON {
	return importJSON{Provider: f.Provider, ImportID: f.FileID, Status: "applied", Mode: f.Mode.String(), Created: f.Created.Format(time.RFC3339),
		Accounts: f.Accounts, Debts: f.Debts, SHA256: hex.EncodeToString(f.SHA256[:]), Duplicate: dup, RegistersThrough: through}
}

func importProblem(ie *billpay.ImportError, paths map[int]string) error {
	status := http.StatusUnprocessableEntity
	switch ie.Reason {
	case billpay.RefusedDuplicate, billpay.RefusedStale:
		status = http.StatusConflict
	case billpay.RefusedSignature:
		status = http.StatusUnauthorized
	}
	p := newProblem(status, CodeImportRefused, ie.Reason.String()+": "+ie.Msg)
	for _, re := range ie.Report.Errors {
		field := ""
		if paths != nil {
			field = paths[re.Line]
			if re.Field != "" && field != "" {
				field += "." + re.Field
			}
		} else {
			field = "line " + strconv.Itoa(re.Line)
		}
		p.Errors = append(p.Errors, FieldError{Field: field, Detail: re.Msg})
	}
	return &apiError{p}
}

// buildDeltaList writes the update as a delta debt list, one element per line, and
// returns the JSON path of each line (to name bad records by field).
func buildDeltaList(p *billpay.Provider, fileID string, created time.Time, req upsertRequest, one bool) ([]byte, map[int]string, string, error) {
	through := req.RegistersThrough
	if through == "" {
		through = created.AddDate(0, 0, -1).Format(time.DateOnly)
	} else if _, err := time.Parse(time.DateOnly, through); err != nil {
		return nil, nil, "", fieldErr("registers_through", "a date YYYY-MM-DD")
	}
	var b bytes.Buffer
	paths := map[int]string{}
	line := 1
	nl := func(path string) {
		b.WriteByte('\n')
		line++
		if path != "" {
			paths[line] = path
		}
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	nl("")
	fmt.Fprintf(&b, `<debts xmlns="%s" provider="%s" file-id="%s" created="%s" registers-through="%s" mode="delta">`,
		debtfile.Namespace, esc(p.Code), esc(fileID), created.Format(time.RFC3339), esc(through))
	for i, a := range req.Accounts {
		ap := fmt.Sprintf("accounts[%d]", i)
		if one {
			ap = "(body)"
		}
		nl(ap)
		b.WriteString(`<account number="` + esc(a.Number) + `"`)
		attr := func(name, v string) {
			if v != "" {
				b.WriteString(" " + name + `="` + esc(v) + `"`)
			}
		}
		attr("name", a.Name)
		attr("address", a.Address)
		attr("phone", a.Phone)
		attr("email", a.Email)
		switch a.Status {
		case "", "open":
		case "closed":
			attr("status", "closed")
		default:
			return nil, nil, "", fieldErr(ap+".status", "open or closed")
		}
		if a.Prepaid {
			attr("prepaid", "true")
		}
		b.WriteString(">")
		if a.Card != nil {
			nl(ap + ".card")
			fmt.Fprintf(&b, `<card id="%s" sequence="%d"/>`, esc(a.Card.ID), a.Card.Sequence)
		}
		for j, d := range a.Debts {
			nl(fmt.Sprintf("%s.debts[%d]", ap, j))
			fmt.Fprintf(&b, `<debt service="%s" period="%s" amount="%s"`, esc(d.Service), esc(d.Period), esc(d.Amount))
			if d.Meter == nil {
				b.WriteString("/>")
				continue
			}
			b.WriteString("><meter")
			m := d.Meter
			for _, kv := range [][2]string{{"id", m.ID}, {"previous", m.Previous}, {"current", m.Current}, {"unit", m.Unit}, {"tariff", m.Tariff}} {
				if kv[1] != "" {
					b.WriteString(" " + kv[0] + `="` + esc(kv[1]) + `"`)
				}
			}
			b.WriteString("/></debt>")
		}
		nl(ap)
		b.WriteString("</account>")
	}
	nl("")
	b.WriteString("</debts>\n")
	return b.Bytes(), paths, through, nil
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *Server) importStatus(w http.ResponseWriter, r *http.Request) error {
	p, err := s.provider(w, r, nil)
	if err != nil {
		return err
	}
	f, found, err := s.core.ImportedFile(r.Context(), p.Code, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !found {
		return perr(http.StatusNotFound, CodeNotFound, "no applied update or debt list with this id (a refused one is never recorded)")
	}
	return writeJSON(w, http.StatusOK, importOut(f, false, ""))
}

type accountJSON struct {
	Provider         string      `json:"provider"`
	Number           string      `json:"number"`
	Open             bool        `json:"open"`
	Prepaid          bool        `json:"prepaid,omitempty"`
	Name             string      `json:"name,omitempty"`
	Address          string      `json:"address,omitempty"`
	Phone            string      `json:"phone,omitempty"`
	Email            string      `json:"email,omitempty"`
	Card             *cardRecord `json:"card,omitempty"`
	RegistersThrough string      `json:"registers_through,omitempty"`
	Due              []debtJSON  `json:"due"`
	Total            string      `json:"total"`
}

// providerAccount shows a provider one of its accounts and what the host shows due.
func (s *Server) providerAccount(w http.ResponseWriter, r *http.Request) error {
	p, err := s.provider(w, r, nil)
	if err != nil {
		return err
	}
	a, err := s.core.Account(r.Context(), p.Code, r.PathValue("account"))
	if err != nil {
		return err
	}
	if a == nil {
		return perr(http.StatusNotFound, CodeUnknownAccount, "no such account")
	}
	out := accountJSON{Provider: p.Code, Number: a.Account, Open: a.Open, Prepaid: a.Prepaid, Name: a.Name, Address: a.Address,
		Phone: a.Phone, Email: a.Email, Due: []debtJSON{}, Total: formatAmount(0, p.MinorDigits)}
	if a.CardID != "" {
		out.Card = &cardRecord{ID: a.CardID, Sequence: a.CardSequence}
	}
	if a.RegistersThrough != 0 {
		out.RegistersThrough = fmt.Sprintf("%04d-%02d-%02d", a.RegistersThrough/10000, a.RegistersThrough/100%100, a.RegistersThrough%100)
	}
	if a.Open {
		inq, err := s.core.Inquire(r.Context(), billpay.Target{Provider: p.Code, Account: a.Account})
		if err == nil {
			for _, l := range inq.Lines {
				out.Due = append(out.Due, debtJSON{Provider: l.Provider, Account: l.Account, Service: l.Service, Period: periodString(l.Period), Amount: formatAmount(l.Amount, p.MinorDigits)})
			}
			out.Total = formatAmount(inq.Total, p.MinorDigits)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// noticeJSON is a payment notice (provider-exchange.md §3) as the provider receives it.
type noticeJSON struct {
	Seq          uint64        `json:"seq"`
	Kind         string        `json:"kind"` // payment | reversal
	Provider     string        `json:"provider"`
	Account      string        `json:"account"`
	Receipt      string        `json:"receipt"`
	Amount       string        `json:"amount"` // negative for a reversal
	Currency     string        `json:"currency"`
	Lines        []allocJSON   `json:"lines"`
	Readings     []readingJSON `json:"readings,omitempty"`
	Channel      string        `json:"channel"`
	Method       string        `json:"method"`
	Acquirer     string        `json:"acquirer,omitempty"`
	Terminal     string        `json:"terminal,omitempty"`
	RRN          string        `json:"rrn,omitempty"`
	BusinessDate string        `json:"business_date"`
	Time         string        `json:"time"`
}

func noticeOut(n *billpay.Notice, digits int) noticeJSON {
	out := noticeJSON{Seq: n.Seq, Kind: strings.ToLower(n.Kind.String()), Provider: n.Provider, Account: n.Account, Receipt: n.Receipt,
		Amount: formatAmount(n.Amount, digits), Currency: currencyString(n.Currency), Lines: []allocJSON{}, Channel: n.Channel.String(),
		Method: n.Method.String(), Acquirer: n.Acquirer, Terminal: n.Terminal, RRN: n.RRN,
		BusinessDate: fmt.Sprintf("%04d-%02d-%02d", n.BusinessDate/10000, n.BusinessDate/100%100, n.BusinessDate%100), Time: n.Time.UTC().Format(time.RFC3339Nano)}
	for _, a := range n.Allocations {
		out.Lines = append(out.Lines, allocJSON{Provider: a.Provider, Account: a.Account, Service: a.Service, Period: periodString(a.Period), Amount: formatAmount(a.Amount, digits)})
	}
	for _, r := range n.Readings {
		out.Readings = append(out.Readings, readingJSON{r.Service, r.Meter, r.Value})
	}
	return out
}

func (s *Server) notices(w http.ResponseWriter, r *http.Request) error {
	p, err := s.provider(w, r, nil)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fieldErr("after", "a notice sequence number")
		}
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return fieldErr("limit", "1 to 1000")
		}
	}
	ns, err := s.core.PendingNotices(r.Context(), p.Code, after, limit)
	if err != nil {
		return err
	}
	out := make([]noticeJSON, 0, len(ns))
	for _, n := range ns {
		out = append(out, noticeOut(n, p.MinorDigits))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"provider": p.Code, "notices": out})
}

type ackRequest struct {
	Seqs    []uint64 `json:"seqs,omitempty"`
	Through *uint64  `json:"through,omitempty"` // every pending notice up to and including
}

func (s *Server) ackNotices(w http.ResponseWriter, r *http.Request) error {
	body, _, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	p, err := s.provider(w, r, body)
	if err != nil {
		return err
	}
	var req ackRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if len(req.Seqs) == 0 && req.Through == nil {
		return fieldErr("seqs", "name the notices (seqs) or a sequence to acknowledge through")
	}
	seqs := append([]uint64(nil), req.Seqs...)
	if req.Through != nil {
		var after uint64
		for {
			ns, err := s.core.PendingNotices(r.Context(), p.Code, after, 1000)
			if err != nil {
				return err
			}
			for _, n := range ns {
				if n.Seq <= *req.Through {
					seqs = append(seqs, n.Seq)
				}
			}
			if len(ns) < 1000 || ns[len(ns)-1].Seq >= *req.Through {
				break
			}
			after = ns[len(ns)-1].Seq
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	if len(seqs) > 0 {
		if err := s.core.AckNotices(r.Context(), p.Code, seqs...); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"provider": p.Code, "acknowledged": len(seqs)})
}
