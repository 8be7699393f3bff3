package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
)

// Server is the HTTP adapter: an http.Handler over the bill-payment core.
type Server struct {
	cfg   Config
	core  *billpay.Core
	auth  CardAuthorizer
	log   zerolog.Logger
	clock func() time.Time
	mux   *http.ServeMux

	clients   map[[32]byte]*Client
	operators map[[32]byte]*Operator
	provKeys  map[[32]byte]string // key hash → provider code
	access    map[string]*ProviderAccess

	httpClient *http.Client

	keyMu    sync.Mutex
	keyLocks map[string]*keyLock // one idempotency key's card or upsert flow at a time
	disp     *Dispatcher
}

var errDeadline = context.DeadlineExceeded

// New builds the adapter and its notice dispatcher. Serve the handler on an
// http.Server with timeouts (docs/decisions-http.md) and run the dispatcher
// (Dispatcher.Run) until shutdown.
func New(cfg Config, d Deps) (*Server, *Dispatcher, error) {
	if d.Core == nil {
		return nil, nil, errors.New("httpapi: Deps.Core is required")
	}
	if err := cfg.defaults(); err != nil {
		return nil, nil, err
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	s := &Server{cfg: cfg, core: d.Core, auth: d.Authorizer, log: d.Logger.With().Str("component", "httpapi").Logger(), clock: d.Clock, httpClient: d.HTTPClient,
		keyLocks: map[string]*keyLock{}, clients: map[[32]byte]*Client{}, operators: map[[32]byte]*Operator{}, provKeys: map[[32]byte]string{}, access: map[string]*ProviderAccess{}}
	for i := range s.cfg.Clients {
		s.clients[sha256.Sum256([]byte(s.cfg.Clients[i].Key))] = &s.cfg.Clients[i]
	}
	for i := range s.cfg.Operators {
		s.operators[sha256.Sum256([]byte(s.cfg.Operators[i].Key))] = &s.cfg.Operators[i]
	}
	for i := range s.cfg.Providers {
		p := &s.cfg.Providers[i]
		s.access[p.Code] = p
		if p.Key != "" {
			s.provKeys[sha256.Sum256([]byte(p.Key))] = p.Code
		}
	}
	s.disp = newDispatcher(s)
	s.routes()
	return s, s.disp, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	s.mux.ServeHTTP(w, r.WithContext(ctx))
}

// handlerFunc is a handler that returns an error to be written as a problem.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(name string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock()
		err := h(w, r)
		if err == nil {
			return
		}
		if r.Context().Err() != nil && !errors.Is(err, errDeadline) && errors.Is(err, context.Canceled) {
			err = errDeadline
		}
		p, known := toProblem(err)
		ev := s.log.Info()
		if !known {
			ev = s.log.Error().Err(err)
		}
		ev.Str("route", name).Int("status", p.Status).Str("code", p.Code).Dur("took", s.clock().Sub(start)).Msg("request refused")
		writeProblem(w, r, p)
	})
}

func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m
	handle := func(pattern string, h handlerFunc) { m.Handle(pattern, s.wrap(pattern, h)) }
	// Documents.
	m.HandleFunc("GET /openapi.yaml", serveOpenAPI)
	m.HandleFunc("GET /v1/openapi.yaml", serveOpenAPI)
	// Channel API.
	handle("GET /v1/providers", s.channel(s.listProviders))
	handle("GET /v1/providers/{provider}", s.channel(s.getProvider))
	handle("GET /v1/inquiry", s.channel(s.inquiry))
	handle("POST /v1/payments", s.channel(s.pay))
	handle("GET /v1/payments/{receipt}", s.channel(s.paymentStatus))
	handle("POST /v1/payments/{receipt}/reversal", s.operator(s.reverse))
	handle("GET /v1/payments/{receipt}/receipt.html", s.channel(s.receiptHTML))
	handle("GET /v1/payments/{receipt}/receipt.pdf", s.channel(s.receiptPDF))
	handle("GET /v1/receipts/{receipt}/verify", s.verifyReceipt)
	handle("POST /v1/topups", s.channel(s.topUp))
	handle("POST /v1/subscribers", s.channel(s.register))
	handle("GET /v1/subscribers/{code}", s.channel(s.subscriber))
	handle("GET /v1/subscribers/{code}/payments", s.channel(s.history))
	handle("PUT /v1/subscribers/{code}/accounts/{provider}/{account}", s.channel(s.link))
	handle("DELETE /v1/subscribers/{code}/accounts/{provider}/{account}", s.channel(s.unlink))
	// Provider web service.
	handle("PUT /v1/providers/{provider}/accounts/{account}", s.upsertOne)
	handle("POST /v1/providers/{provider}/accounts", s.upsertMany)
	handle("GET /v1/providers/{provider}/accounts/{account}", s.providerAccount)
	handle("GET /v1/providers/{provider}/imports/{id}", s.importStatus)
	handle("GET /v1/providers/{provider}/notices", s.notices)
	handle("POST /v1/providers/{provider}/notices/ack", s.ackNotices)
	handle("/", s.notFound)
}

// notFound answers a path no route has (404), or a method the path does not take (405
// with Allow), as problems.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := s.mux.Handler(r2); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return perr(http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	}
	return perr(http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
}

// Routes lists the API's routes (method and pattern), for the OpenAPI check.
func Routes() []string {
	return []string{
		"GET /v1/providers", "GET /v1/providers/{provider}", "GET /v1/inquiry", "POST /v1/payments",
		"GET /v1/payments/{receipt}", "POST /v1/payments/{receipt}/reversal", "GET /v1/payments/{receipt}/receipt.html",
		"GET /v1/payments/{receipt}/receipt.pdf", "GET /v1/receipts/{receipt}/verify", "POST /v1/topups",
		"POST /v1/subscribers", "GET /v1/subscribers/{code}", "GET /v1/subscribers/{code}/payments",
		"PUT /v1/subscribers/{code}/accounts/{provider}/{account}", "DELETE /v1/subscribers/{code}/accounts/{provider}/{account}",
		"PUT /v1/providers/{provider}/accounts/{account}", "POST /v1/providers/{provider}/accounts",
		"GET /v1/providers/{provider}/accounts/{account}", "GET /v1/providers/{provider}/imports/{id}",
		"GET /v1/providers/{provider}/notices", "POST /v1/providers/{provider}/notices/ack",
	}
}

type ctxKey int

const clientKey ctxKey = 1

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(h, "Bearer "); ok && k != "" {
		return strings.TrimSpace(k), true
	}
	return "", false
}

func unauthorized(w http.ResponseWriter, detail string) error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="billswitch"`)
	return perr(http.StatusUnauthorized, CodeUnauthorized, detail)
}

// channel admits a channel client's API key.
func (s *Server) channel(h func(w http.ResponseWriter, r *http.Request, c *Client) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		k, ok := bearer(r)
		if !ok {
			return unauthorized(w, "a channel API key is required (Authorization: Bearer <key>)")
		}
		c, ok := s.clients[sha256.Sum256([]byte(k))]
		if !ok || subtle.ConstantTimeCompare([]byte(c.Key), []byte(k)) != 1 {
			if _, isOp := s.operators[sha256.Sum256([]byte(k))]; !isOp {
				if _, isProv := s.provKeys[sha256.Sum256([]byte(k))]; !isProv {
					return unauthorized(w, "unknown API key")
				}
			}
			return perr(http.StatusForbidden, CodeForbidden, "this key may not use the channel API")
		}
		return h(w, r, c)
	}
}

// operator admits an operator's key.
func (s *Server) operator(h func(w http.ResponseWriter, r *http.Request, op *Operator) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		k, ok := bearer(r)
		if !ok {
			return unauthorized(w, "an operator key is required (Authorization: Bearer <key>)")
		}
		op, ok := s.operators[sha256.Sum256([]byte(k))]
		if !ok || subtle.ConstantTimeCompare([]byte(op.Key), []byte(k)) != 1 {
			if _, isClient := s.clients[sha256.Sum256([]byte(k))]; isClient {
				return perr(http.StatusForbidden, CodeForbidden, "only an operator may reverse a payment")
			}
			return unauthorized(w, "unknown operator key")
		}
		return h(w, r, op)
	}
}

// readBody reads the whole body under limit, requiring JSON (or one of also).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, also ...string) ([]byte, string, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	ok := mt == "application/json"
	for _, a := range also {
		ok = ok || mt == a
	}
	if !ok {
		return nil, "", perr(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	if r.ContentLength > limit {
		return nil, "", perr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is over %d bytes", limit))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, "", perr(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is over %d bytes", limit))
		}
		return nil, "", perr(http.StatusBadRequest, CodeBadRequest, "reading the body: "+err.Error())
	}
	return b, mt, nil
}

// decodeJSON decodes exactly one JSON object into v, refusing unknown fields.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "(body)"
			}
			return fieldErr(field, fmt.Sprintf("must be %s, not %s", jsonKind(te.Type.Kind().String()), te.Value))
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fieldErr(strings.Trim(f, `"`), "unknown field")
		}
		return perr(http.StatusBadRequest, CodeMalformedJSON, "the body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return perr(http.StatusBadRequest, CodeMalformedJSON, "the body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return perr(http.StatusBadRequest, CodeMalformedJSON, "trailing data after the JSON object")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	default:
		return "a number"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// idemKey returns the request's Idempotency-Key header (required).
func idemKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", perr(http.StatusBadRequest, CodeIdempotencyRequired, "this request needs an Idempotency-Key header")
	}
	if len(k) > 128 {
		return "", fieldErr("Idempotency-Key", "at most 128 characters")
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f {
			return "", fieldErr("Idempotency-Key", "printable ASCII without spaces only")
		}
	}
	return k, nil
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lockKey serializes the flows of one idempotency key in this process (other keys never
// wait: a card authorization may take seconds).
func (s *Server) lockKey(k string) func() {
	s.keyMu.Lock()
	l := s.keyLocks[k]
	if l == nil {
		l = &keyLock{}
		s.keyLocks[k] = l
	}
	l.refs++
	s.keyMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.keyMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.keyLocks, k)
		}
		s.keyMu.Unlock()
	}
}
