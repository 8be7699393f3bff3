package hostswitch

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

func TestConnectionLimit(t *testing.T) {
	th := startHost(t, Config{MaxConns: 2}, nil)
	a, b := th.dial(t, specs.LinkPC), th.dial(t, specs.LinkTerminal)
	wantResp(t, a.roundTrip(a.netMgmt("301")), "0810", "00")
	wantResp(t, b.roundTrip(b.netMgmt("301")), "0810", "00")
	c := th.dial(t, specs.LinkTerminal)
	c.expectClosed(5 * time.Second)
	th.waitLog(t, `"reason":"connection limit"`)
	// The others still serve, and a place freed is a place taken.
	wantResp(t, a.roundTrip(a.netMgmt("301")), "0810", "00")
	_ = b.nc.Close()
	waitFor(t, 5*time.Second, "the closed connection to leave the registry", func() bool { return th.ConnCount() == 1 })
	d := th.dial(t, specs.LinkTerminal)
	wantResp(t, d.roundTrip(d.netMgmt("301")), "0810", "00")
}

// flakyListener fails its first Accepts, as a listener out of file descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

func TestAcceptLoopSurvivesErrors(t *testing.T) {
	th := startHost(t, Config{}, nil)
	// Swap in a listener whose next 4 Accepts fail, then restart the loop on it: the
	// original loop is left blocked in Accept on the same socket.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.failures.Store(4)
	l := &listener{link: specs.LinkTerminal, name: "terminal", dialect: th.term, addr: ln.Addr().String(), ln: fl}
	th.listeners = append(th.listeners, l)
	th.wg.Add(1)
	go th.acceptLoop(l)
	th.termAddr = ln.Addr().String()

	// Peers that connect and leave at once do not upset it either.
	for range 5 {
		nc, err := net.Dial("tcp", th.termAddr)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.Close()
	}
	p := th.dial(t, specs.LinkTerminal)
	wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
	if fl.failures.Load() >= 0 {
		t.Fatal("the failing Accepts were not exercised")
	}
	if n := strings.Count(th.logs.String(), `"event":"accept_error"`); n != 4 {
		t.Fatalf("%d accept errors logged, want 4", n)
	}
}

// TestGracefulShutdown: requests already read are answered before the host closes;
// nothing new is accepted.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	th := startHost(t, Config{}, func(r *Router) {
		must(t, r.Handle("0100", "", HandlerFunc(func(ctx context.Context, _ Session, _ *specs.Message) (*specs.Message, error) {
			started <- struct{}{}
			<-release
			return &specs.Message{ResponseCode: "00"}, nil
		})))
	})
	p := th.dial(t, specs.LinkTerminal)
	r1, r2 := p.request("0100"), p.request("0100")
	p.send(r1)
	p.send(r2)
	<-started
	<-started
	done := make(chan error, 1)
	go func() { done <- th.Shutdown(context.Background()) }()
	waitFor(t, 5*time.Second, "listeners to close", func() bool {
		nc, err := net.DialTimeout("tcp", th.pcAddr, time.Second)
		if err != nil {
			return true
		}
		_ = nc.Close()
		return false
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with handlers in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	got := map[string]string{}
	for range 2 {
		m, err := p.recv(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got[m.STAN] = m.ResponseCode
	}
	if got[r1.STAN] != "00" || got[r2.STAN] != "00" {
		t.Fatalf("responses %v", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.expectClosed(5 * time.Second)
	if th.ConnCount() != 0 {
		t.Fatal("connections left")
	}
}

// TestShutdownForced: a handler that outlives the grace gets a cancelled context and
// Shutdown reports the deadline.
func TestShutdownForced(t *testing.T) {
	th := startHost(t, Config{ShutdownGrace: 200 * time.Millisecond}, func(r *Router) {
		must(t, r.Handle("0100", "", HandlerFunc(func(ctx context.Context, _ Session, _ *specs.Message) (*specs.Message, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})))
	})
	p := th.dial(t, specs.LinkTerminal)
	p.send(p.request("0100"))
	waitFor(t, 5*time.Second, "the request to be read", func() bool {
		c := th.connOf(p)
		return c != nil && c.framesIn.Load() == 1
	})
	if err := th.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	p.expectClosed(5 * time.Second)
}

func TestIdleTimeout(t *testing.T) {
	th := startHost(t, Config{ReadIdleTimeout: 150 * time.Millisecond}, nil)
	p := th.dial(t, specs.LinkPC)
	wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")
	p.expectClosed(5 * time.Second)
	th.waitLog(t, `"reason":"idle"`)
}

// TestLogsAndMetrics: one line per message with the masked PAN, never track 2, the PIN
// block or the raw frame; metrics on the host's own registry.
func TestLogsAndMetrics(t *testing.T) {
	th := startHost(t, Config{}, nil)
	p := th.dial(t, specs.LinkPC)
	p.signOn()
	r := p.request("0200")
	r.PAN, r.Track2, r.PINBlock = "4169738800000001", "4169738800000001=28121010000000000", []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
	wantResp(t, p.roundTrip(r), "0210", "12")
	r = p.request("0200")
	r.PAN, r.TransmissionDateTime = "4169738800000002", ""
	wantResp(t, p.roundTrip(r), "0210", "30")
	p.write(p.frame(garbage(64)))
	wantResp(t, p.roundTrip(p.netMgmt("301")), "0810", "00")

	logs := th.logs.String()
	for _, bad := range []string{"4169738800000001", "4169738800000002", "=2812", "DEADBEEF", "deadbeef", "3q2+7w"} {
		if strings.Contains(logs, bad) {
			t.Errorf("logs contain %q", bad)
		}
	}
	for _, want := range []string{`"pan":"416973******0001"`, `"pan":"416973******0002"`, `"note":"DE 7 missing"`,
		`"event":"accepted"`, `"reason":"unreadable"`, `"rc":"12"`, `"latency_us":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}

	srv := httptest.NewServer(th.MetricsHandler())
	defer srv.Close()
	body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`billswitch_connections{link="pc"} 1`,
		`billswitch_messages_total{link="pc",mti="0200",rc="12"} 1`,
		`billswitch_messages_total{link="pc",mti="0200",rc="30"} 1`,
		`billswitch_messages_total{link="pc",mti="0800",rc="00"} 2`,
		`billswitch_frames_dropped_total{link="pc",reason="unreadable"} 1`,
		`billswitch_message_latency_seconds_count{link="pc",mti="0200"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if got := get(t, srv.URL+"/readyz"); got != "ready\n" {
		t.Errorf("readyz %q", got)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewValidates(t *testing.T) {
	pc, term := dialects(t)
	dir := terminals.Demo()
	for name, tc := range map[string]struct {
		cfg  Config
		deps Deps
	}{
		"no links":           {Config{}, Deps{PC: pc, Terminal: term, Directory: dir}},
		"no PC dialect":      {Config{PCAddr: ":0"}, Deps{Terminal: term, Directory: dir}},
		"swapped dialects":   {Config{PCAddr: ":0"}, Deps{PC: term, Directory: dir}},
		"no directory":       {Config{PCAddr: ":0"}, Deps{PC: pc}},
		"no term dialect":    {Config{TerminalAddr: ":0"}, Deps{PC: pc, Directory: dir}},
		"term as pc dialect": {Config{TerminalAddr: ":0"}, Deps{Terminal: pc, Directory: dir}},
	} {
		if _, err := New(tc.cfg, tc.deps); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	h, err := New(Config{PCAddr: "127.0.0.1:0"}, Deps{PC: pc, Directory: dir, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.Addr(specs.LinkTerminal) != "" || h.Addr(specs.LinkPC) == "" {
		t.Fatalf("addrs %v", h.Addrs())
	}
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("started twice")
	}
	_ = h.Shutdown(context.Background())
}

func TestRouter(t *testing.T) {
	r := NewRouter()
	mk := func(tag string) Handler {
		return HandlerFunc(func(context.Context, Session, *specs.Message) (*specs.Message, error) {
			return &specs.Message{AuthID: tag}, nil
		})
	}
	must(t, r.Handle("0200", "", mk("any")))
	must(t, r.Handle("0200", "50", mk("pay")))
	must(t, r.Handle("0200", "5020", mk("pay-current")))
	must(t, r.Handle("0420", "", mk("advice")))
	for _, bad := range [][2]string{{"0201", ""}, {"0800", ""}, {"02", ""}, {"0200", "50"}, {"0200", "5x"}, {"0200", "1234567"}} {
		if r.Handle(bad[0], bad[1], mk("x")) == nil {
			t.Errorf("Handle(%q, %q) accepted", bad[0], bad[1])
		}
	}
	for _, tc := range []struct{ mti, pc, want string }{
		{"0200", "500000", "pay"}, {"0201", "502000", "pay-current"}, {"0200", "510000", "any"},
		{"0421", "500000", "advice"}, {"0420", "", "advice"}, {"0400", "500000", ""}, {"0100", "310000", ""},
	} {
		h, ok := r.Lookup(tc.mti, tc.pc)
		got := ""
		if ok {
			m, _ := h.ServeISO(context.Background(), Session{}, nil)
			got = m.AuthID
		}
		if got != tc.want {
			t.Errorf("Lookup(%s, %s) = %q, want %q", tc.mti, tc.pc, got, tc.want)
		}
	}
	for req, resp := range map[string]string{"0100": "0110", "0201": "0210", "0401": "0410", "0421": "0430",
		"0500": "0510", "0800": "0810", "0300": "0310", "0110": "", "0430": "", "0204": "", "01x0": "", "010": ""} {
		if got := ResponseMTI(req); got != resp {
			t.Errorf("ResponseMTI(%q) = %q, want %q", req, got, resp)
		}
	}
}
