package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookServer is a provider's webhook: failing answers 503 while set; after the
// failing phase, the first delivery is taken and its connection dropped without an
// answer (the provider got it, the host never saw the 2xx).
type hookServer struct {
	mu       sync.Mutex
	got      []noticeJSON // every notice received, repeats included, in arrival order
	failing  atomic.Bool
	dropOnce atomic.Bool
	badSig   atomic.Int64
	secret   string
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(h.secret))
	m.Write(b)
	if r.Header.Get("X-Billswitch-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
		h.badSig.Add(1)
	}
	if h.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var body webhookBody
	if err := json.Unmarshal(b, &body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, body.Notices...)
	h.mu.Unlock()
	if h.dropOnce.CompareAndSwap(true, false) {
		if hj, ok := w.(http.Hijacker); ok {
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookServer) received() []noticeJSON {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]noticeJSON(nil), h.got...)
}

// The provider's webhook is down (connection refused), then answers 503, then drops a
// delivery it took, then comes up: every notice arrives, in order per account, none is
// lost, and nothing stays pending.
func TestWebhookDownThenUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: nothing listens
	e := newEnv(t, envOpts{dispatch: true, mod: func(c *Config) {
		for i := range c.Providers {
			if c.Providers[i].Code == "AZERISIQ" {
				c.Providers[i].WebhookURL = "http://" + addr + "/hook"
				c.Providers[i].WebhookSecret = "hook-secret"
			}
		}
		c.Webhook = WebhookConfig{PollInterval: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Batch: 7}
	}})
	accounts := []string{"1000000001", "1000000101", "1000000102"}
	pay := func(i int) string {
		var p paymentJSON
		r := e.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", accounts[i%3], "0.50", "cash"), fmt.Sprintf("Idempotency-Key: w%d", i))
		wantStatus(t, r, 201)
		r.json(t, &p)
		return p.Receipt
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 40; i += 4 {
				pay(i)
			}
		}()
	}
	wg.Wait()
	r0 := pay(40)
	wantStatus(t, e.req("POST", "/v1/payments/"+r0+"/reversal", DemoOperatorKey, nil, "Idempotency-Key: wr"), 201)
	want, err := e.core.PendingNotices(context.Background(), "AZERISIQ", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 42 {
		t.Fatalf("%d notices pending, want 42", len(want))
	}
	waitFor(t, 10*time.Second, func() bool { return e.disp.Status()[0].Failures >= 3 })

	hook := &hookServer{secret: "hook-secret"}
	hook.failing.Store(true)
	hook.dropOnce.Store(true)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", addr, err)
	}
	hs := &http.Server{Handler: hook}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	failsBefore := e.disp.Status()[0].Failures
	waitFor(t, 10*time.Second, func() bool { return e.disp.Status()[0].Failures >= failsBefore+3 })
	hook.failing.Store(false)
	// Up: more payments while it delivers.
	for i := 41; i < 50; i++ {
		pay(i)
	}
	waitFor(t, 20*time.Second, func() bool {
		ns, err := e.core.PendingNotices(context.Background(), "AZERISIQ", 0, 10)
		return err == nil && len(ns) == 0
	})
	got := hook.received()
	seen := map[uint64]noticeJSON{}
	lastSeq := map[string]uint64{}
	for _, n := range got {
		if prev, dup := seen[n.Seq]; dup {
			if prev.Receipt != n.Receipt || prev.Amount != n.Amount {
				t.Fatalf("seq %d delivered with two contents", n.Seq)
			}
			continue
		}
		seen[n.Seq] = n
		if n.Seq < lastSeq[n.Account] {
			t.Fatalf("account %s: seq %d after %d", n.Account, n.Seq, lastSeq[n.Account])
		}
		lastSeq[n.Account] = n.Seq
	}
	if len(seen) != 51 {
		t.Fatalf("%d distinct notices arrived, want 51 (50 payments, 1 reversal)", len(seen))
	}
	for _, w := range want {
		n, ok := seen[w.Seq]
		if !ok || n.Receipt != w.Receipt || n.Account != w.Account {
			t.Fatalf("notice %d (%s) lost or changed: %+v", w.Seq, w.Receipt, n)
		}
	}
	if len(got) == len(seen) {
		t.Fatal("the dropped delivery was not repeated (at least once)")
	}
	if hook.badSig.Load() != 0 {
		t.Fatalf("%d deliveries with a bad signature", hook.badSig.Load())
	}
	if st := e.disp.Status()[0]; st.Delivered < 51 || st.ConsecFailure != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n        int
		min, max time.Duration
	}{
		{1, 75 * time.Millisecond, 125 * time.Millisecond},
		{2, 150 * time.Millisecond, 250 * time.Millisecond},
		{4, 600 * time.Millisecond, time.Second},
		{30, 750 * time.Millisecond, 1250 * time.Millisecond},
	} {
		for range 50 {
			if b := backoff(100*time.Millisecond, time.Second, c.n); b < c.min || b > c.max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", c.n, b, c.min, c.max)
			}
		}
	}
}

// Notices wait in the durable outbox while the provider is down, across a restart of
// the host: the next process delivers every one.
func TestWebhookAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	hookCfg := func(url string) func(*Config) {
		return func(c *Config) {
			for i := range c.Providers {
				if c.Providers[i].Code == "AZERISIQ" {
					c.Providers[i].WebhookURL = url
				}
			}
			c.Webhook = WebhookConfig{PollInterval: 20 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
		}
	}
	e1 := newEnv(t, envOpts{dir: dir, dispatch: true, mod: hookCfg(down)})
	var receipts []string
	for i := range 10 {
		var p paymentJSON
		e1.req("POST", "/v1/payments", DemoKioskKey, payBody("AZERISIQ", "1000000101", "0.25", "cash"), fmt.Sprintf("Idempotency-Key: rs%d", i)).json(t, &p)
		receipts = append(receipts, p.Receipt)
	}
	waitFor(t, 10*time.Second, func() bool { return e1.disp.Status()[0].Failures >= 2 })
	e1.close()

	hook := &hookServer{}
	hs := httptestServer(t, hook)
	e2 := newEnv(t, envOpts{dir: dir, dispatch: true, mod: hookCfg(hs + "/hook")})
	waitFor(t, 10*time.Second, func() bool {
		ns, err := e2.core.PendingNotices(context.Background(), "AZERISIQ", 0, 10)
		return err == nil && len(ns) == 0
	})
	got := hook.received()
	if len(got) != 10 {
		t.Fatalf("%d notices delivered after the restart, want 10", len(got))
	}
	for i, n := range got {
		if n.Receipt != receipts[i] {
			t.Fatalf("notice %d is %s, want %s (in order)", i, n.Receipt, receipts[i])
		}
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
