package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// env is a core on the real ledger (Pebble in memory), seeded with the demo data, and
// the adapter served over real TCP on 127.0.0.1.
type env struct {
	t       testing.TB
	core    *billpay.Core
	store   *ledger.Store
	srv     *Server
	disp    *Dispatcher
	ts      *httptest.Server
	regcode string
	auth    *fakeAuth
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

type envOpts struct {
	tls       bool
	mod       func(*Config)
	reg       *billpay.Registry
	dir       string // real directory (durable); "" = in memory
	dispatch  bool
	noCleanup bool
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	opts := ledger.Options{Dir: "db", FS: vfs.NewMem(), InitialDate: 20261101}
	if o.dir != "" {
		opts = ledger.Options{Dir: o.dir, InitialDate: 20261101}
	}
	st, err := ledger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := o.reg
	if reg == nil {
		reg = billpay.DemoRegistry()
	}
	core, err := billpay.New(billpay.Options{Ledger: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	code, err := billpay.SeedDemo(ctx, core)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DemoConfig(reg)
	if o.mod != nil {
		o.mod(&cfg)
	}
	fa := &fakeAuth{}
	srv, disp, err := New(cfg, Deps{Core: core, Authorizer: fa, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, core: core, store: st, srv: srv, disp: disp, regcode: code, auth: fa, done: make(chan struct{})}
	if o.tls {
		e.ts = httptest.NewTLSServer(srv)
	} else {
		e.ts = httptest.NewServer(srv)
	}
	dctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	if o.dispatch {
		go func() { defer close(e.done); _ = disp.Run(dctx) }()
	} else {
		close(e.done)
	}
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	e.once.Do(func() {
		e.cancel()
		<-e.done
		e.ts.Close()
		_ = e.store.Close()
	})
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
}

func (r resp) problem(t testing.TB) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d: content type %q, body %s", r.status, ct, r.body)
	}
	var p Problem
	r.json(t, &p)
	if p.Status != r.status || p.Code == "" || p.Type == "" || p.Title == "" {
		t.Fatalf("incomplete problem %+v (status %d)", p, r.status)
	}
	return p
}

// req sends a request; headers are "Name: value" strings; body: string, []byte or a
// value to marshal.
func (e *env) req(method, path, key string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	r, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b}
}

func wantStatus(t testing.TB, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

func wantProblem(t testing.TB, r resp, status int, code string) Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (%s): %s", r.status, status, code, r.body)
	}
	p := r.problem(t)
	if p.Code != code {
		t.Fatalf("code %q, want %q: %s", p.Code, code, r.body)
	}
	return p
}

// fakeAuth is a processing centre: approves unless the PAN starts with 4000 0000
// (declined 51); PAN 5555… makes it fail (no answer); block waits for the context.
type fakeAuth struct {
	calls     atomic.Int64
	reversed  atomic.Int64
	completed atomic.Int64
	mu        sync.Mutex
	block     bool
	during    func() // runs inside Authorize (a race with the payment)
}

func (f *fakeAuth) Authorize(ctx context.Context, a CardAuth) (CardResult, error) {
	f.calls.Add(1)
	f.mu.Lock()
	block, during := f.block, f.during
	f.mu.Unlock()
	if during != nil {
		during()
	}
	if block {
		<-ctx.Done()
		return CardResult{}, ctx.Err()
	}
	switch {
	case strings.HasPrefix(a.PAN, "40000000"):
		return CardResult{ResponseCode: "51"}, nil
	case strings.HasPrefix(a.PAN, "5555"):
		return CardResult{}, errors.New("no answer")
	}
	n := f.calls.Load()
	return CardResult{Approved: true, ResponseCode: "00", AuthID: "A12345", Acquirer: "MILLIKART",
		RRN: "5305" + strings.Repeat("0", 7) + string(rune('0'+n%10)), STAN: "000001"}, nil
}

func (f *fakeAuth) CompleteAuthorization(context.Context, CardAuth, CardResult) error {
	f.completed.Add(1)
	return nil
}

func (f *fakeAuth) ReverseAuthorization(context.Context, CardAuth, CardResult) error {
	f.reversed.Add(1)
	return nil
}

func payBody(provider, account, amount, method string) map[string]any {
	return map[string]any{"target": map[string]any{"provider": provider, "account": account}, "amount": amount, "method": method}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
