package pcclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
)

const testHostID = "999001"

func testDialect(t testing.TB) *specs.Dialect {
	t.Helper()
	d, err := specs.NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// openStore opens the real ledger in dir ("" = in memory).
func openStore(t testing.TB, dir string) *ledger.Store {
	t.Helper()
	opts := ledger.Options{Dir: dir}
	if dir == "" {
		opts.Dir = "mem"
		opts.FS = vfs.NewMem()
	}
	s, err := ledger.Open(opts)
	if err != nil {
		t.Fatalf("ledger.Open: %v", err)
	}
	return s
}

// registry builds a registry with PC 200002 dialling addrs (BINs 5xxxxx) and PC 300003
// that is not dialled (BINs 6xxxxx).
func registry(t testing.TB, timeout, echo time.Duration, addrs ...string) *terminals.Registry {
	t.Helper()
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = fmt.Sprintf("%q", a)
	}
	y := fmt.Sprintf(`institutions:
  - id: "200002"
    dial: [%s]
    bins:
      - prefix: "5"
    timeout: %s
    echo_interval: %s
  - id: "300003"
    bins:
      - prefix: "6"
`, strings.Join(q, ", "), timeout, echo)
	reg, err := terminals.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	return reg
}

type testEnv struct {
	t     *testing.T
	pc    *fakePC
	store *ledger.Store
	cl    *Client
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t testing.TB, log *syncBuffer) Config {
	return Config{
		HostID:         testHostID,
		Dialect:        testDialect(t),
		Logger:         zerolog.New(log),
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		AdviceRetryMin: 30 * time.Millisecond,
		AdviceRetryMax: 120 * time.Millisecond,
		WriteTimeout:   time.Second,
		DialTimeout:    time.Second,
		STANBlock:      10,
	}
}

// startClient starts a client of PC 200002 at pc's address with the real ledger in dir.
func startClient(t *testing.T, pc *fakePC, store *ledger.Store, timeout, echo time.Duration, mod func(*Config)) (*Client, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	cfg := testConfig(t, log)
	if mod != nil {
		mod(&cfg)
	}
	reg := registry(t, timeout, echo, pc.addr)
	in, _ := reg.Institution("200002")
	cl, err := NewClient(cfg, in, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, log
}

func newEnv(t *testing.T, timeout, echo time.Duration) *testEnv {
	t.Helper()
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	t.Cleanup(func() { store.Close() })
	cl, log := startClient(t, pc, store, timeout, echo, nil)
	return &testEnv{t: t, pc: pc, store: store, cl: cl, log: log}
}

func (e *testEnv) waitSignedOn() {
	e.t.Helper()
	eventually(e.t, 5*time.Second, "client signed on", func() bool { return e.cl.Status().SignedOn })
}

func authReq(pan string) AuthRequest {
	return AuthRequest{
		PAN:          pan,
		Track2:       pan + "=29122011234567890",
		Expiry:       "2912",
		PINBlock:     []byte{0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0},
		Amount:       12345,
		Currency:     "944",
		Terminal:     "T0000001",
		CardAcceptor: "DEMOKIOSK000001",
	}
}

// pendingInStore counts the advice records of PC 200002 in the store's durable state.
func pendingInStore(t *testing.T, s Store) int {
	t.Helper()
	r, err := s.View()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lower := append([]byte{PrefixAdvice}, specs.ZeroFill("200002", 11)...)
	upper := append([]byte(nil), lower...)
	upper[len(upper)-1]++
	n := 0
	if err := r.Scan(lower, upper, func(k, v []byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignOnOnConnect(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	got := e.pc.received()
	if len(got) == 0 {
		t.Fatal("PC received nothing")
	}
	m := got[0].msg
	if m.MTI != "0800" || m.NetworkCode != "001" {
		t.Fatalf("first message %s/%s, want 0800/001", m.MTI, m.NetworkCode)
	}
	if m.AcquirerID != testHostID || len(m.STAN) != 6 || len(m.TransmissionDateTime) != 10 {
		t.Errorf("sign-on DE 32/11/7 = %q/%q/%q", m.AcquirerID, m.STAN, m.TransmissionDateTime)
	}
	st := e.cl.Status()
	if len(st.Links) != 1 || !st.Links[0].SignedOn || !st.Connected {
		t.Errorf("status %+v", st)
	}
}

func TestSignOnRefusedNotUsable(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0800" {
			return reply{resp: defaultAnswer(req, "91")}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	store := openStore(t, "")
	defer store.Close()
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, nil)
	// Two refused sign-ons: the client redials (with backoff) and never uses the link.
	pc.waitFor(2, 5*time.Second, "0800/001", isNet("001"))
	if cl.Status().SignedOn {
		t.Fatal("link usable after a sign-on answered 91")
	}
	res, err := cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil || res.ResponseCode != "91" || res.Sent || res.Advice {
		t.Fatalf("Authorize without a signed-on link = %+v, %v; want 91, nothing sent", res, err)
	}
	if n := len(pc.matching(isMTI("0200"))); n != 0 {
		t.Fatalf("PC got %d 0200 on a link that is not signed on", n)
	}
}

func TestEchoWhenIdle(t *testing.T) {
	e := newEnv(t, time.Second, 60*time.Millisecond)
	e.waitSignedOn()
	echoes := e.pc.waitFor(2, 5*time.Second, "0800/301", isNet("301"))
	for _, g := range echoes {
		if g.msg.AcquirerID != testHostID || len(g.msg.STAN) != 6 {
			t.Errorf("echo DE 32/11 = %q/%q", g.msg.AcquirerID, g.msg.STAN)
		}
	}
	if first := e.pc.received()[0].msg; first.NetworkCode != "001" {
		t.Errorf("first message is %s/%s, want the sign-on", first.MTI, first.NetworkCode)
	}
}

func TestEchoUnansweredDropsLink(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond, 50*time.Millisecond)
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.NetworkCode == "301" {
			return reply{} // silent
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	// The unanswered echo drops the connection and the client dials and signs on again.
	e.pc.waitFor(2, 5*time.Second, "second sign-on", isNet("001"))
	g := e.pc.matching(isNet("001"))
	if g[0].conn == g[1].conn {
		t.Fatal("second sign-on on the same connection")
	}
}

func TestAuthorizeResponseCodes(t *testing.T) {
	e := newEnv(t, 2*time.Second, time.Hour)
	codes := map[string]string{ // PAN → the PC's DE 39
		"5100000000000008": "00",
		"5200000000000007": "51",
		"5300000000000006": "55",
		"5400000000000005": "05",
	}
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{resp: defaultAnswer(req, codes[req.PAN])}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	tests := []struct {
		pan, want string
	}{
		{"5100000000000008", "00"},
		{"5200000000000007", "51"},
		{"5300000000000006", "55"},
		{"5400000000000005", "05"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			req := authReq(tc.pan)
			res, err := e.cl.Authorize(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.ResponseCode != tc.want || res.Approved != (tc.want == "00") || !res.Sent || res.Advice {
				t.Fatalf("result %+v, want %s", res, tc.want)
			}
			if tc.want == "00" && res.AuthID == "" {
				t.Error("approval without DE 38")
			}
			sent := e.pc.matching(func(m *specs.Message) bool { return m.MTI == "0200" && m.STAN == res.STAN })
			if len(sent) != 1 {
				t.Fatalf("PC got %d 0200 with STAN %s", len(sent), res.STAN)
			}
			m := sent[0].msg
			checks := []struct{ name, got, want string }{
				{"DE 2", m.PAN, req.PAN},
				{"DE 3", m.ProcessingCode, "500000"},
				{"DE 4", m.Amount, "000000012345"},
				{"DE 7", m.TransmissionDateTime, res.TransmissionDateTime},
				{"DE 14", m.Expiry, "2912"},
				{"DE 32", m.AcquirerID, testHostID},
				{"DE 35", m.Track2, req.Track2},
				{"DE 37", m.RRN, res.RRN},
				{"DE 41", m.TerminalID, "T0000001"},
				{"DE 42", m.CardAcceptorID, "DEMOKIOSK000001"},
				{"DE 49", m.Currency, "944"},
				{"DE 52", fmt.Sprintf("%X", m.PINBlock), "123456789ABCDEF0"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if len(res.RRN) != 12 || !strings.HasSuffix(res.RRN, res.STAN) {
				t.Errorf("RRN %q does not end in STAN %q", res.RRN, res.STAN)
			}
		})
	}
	if n := e.cl.Status().PendingAdvices; n != 0 {
		t.Errorf("%d advices queued for answered authorizations", n)
	}
	if strings.Contains(e.log.String(), "5100000000000008") || strings.Contains(e.log.String(), "=2912") {
		t.Error("log holds an unmasked PAN or track 2")
	}
}

func TestAuthorizeInvalid(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	bad := []func(*AuthRequest){
		func(r *AuthRequest) { r.PAN = "51000000000x0008" },
		func(r *AuthRequest) { r.PAN = "51" },
		func(r *AuthRequest) { r.Amount = 0 },
		func(r *AuthRequest) { r.Amount = -5 },
		func(r *AuthRequest) { r.Currency = "AZN" },
		func(r *AuthRequest) { r.ProcessingCode = "50" },
		func(r *AuthRequest) { r.PINBlock = []byte{1} },
		func(r *AuthRequest) { r.Terminal = "" },
		func(r *AuthRequest) { r.Track2 = strings.Repeat("1", 40) }, // over z..37
	}
	for i, f := range bad {
		r := authReq("5100000000000008")
		f(&r)
		res, err := e.cl.Authorize(context.Background(), r)
		if !errors.Is(err, ErrInvalidRequest) || res.Sent {
			t.Errorf("case %d: %+v, %v; want ErrInvalidRequest, nothing sent", i, res, err)
		}
	}
	if n := len(e.pc.matching(isMTI("0200"))); n != 0 {
		t.Errorf("PC got %d 0200 for invalid requests", n)
	}
}

// checkAdvice checks an advice against the 0200 it reverses.
func checkAdvice(t *testing.T, adv, orig *specs.Message) {
	t.Helper()
	want, _ := specs.FormatDE90(specs.OriginalData{MTI: "0200", STAN: orig.STAN,
		TransmissionDateTime: orig.TransmissionDateTime, AcquirerID: testHostID})
	if adv.OriginalData != want {
		t.Errorf("DE 90 = %q, want %q", adv.OriginalData, want)
	}
	if !strings.HasSuffix(adv.OriginalData, strings.Repeat("0", 11)) || !strings.Contains(adv.OriginalData, specs.ZeroFill(testHostID, 11)) {
		t.Errorf("DE 90 %q: want DE 32 %s and DE 33 zeros", adv.OriginalData, testHostID)
	}
	if adv.RRN != orig.RRN || adv.Amount != orig.Amount || adv.ProcessingCode != orig.ProcessingCode ||
		adv.TerminalID != orig.TerminalID || adv.Currency != orig.Currency || adv.AcquirerID != testHostID {
		t.Errorf("advice DE 37/4/3/41/49/32 = %q/%q/%q/%q/%q/%q", adv.RRN, adv.Amount, adv.ProcessingCode,
			adv.TerminalID, adv.Currency, adv.AcquirerID)
	}
	if adv.STAN == orig.STAN || len(adv.STAN) != 6 || len(adv.TransmissionDateTime) != 10 {
		t.Errorf("advice DE 11 %q (original %q), DE 7 %q: want its own", adv.STAN, orig.STAN, adv.TransmissionDateTime)
	}
	if adv.PAN != "" || adv.Track2 != "" || adv.PINBlock != nil {
		t.Error("advice carries card data")
	}
}

func TestTimeoutQueuesAdviceRepeatedUntil0430(t *testing.T) {
	e := newEnv(t, 150*time.Millisecond, time.Hour)
	var mu sync.Mutex
	advices := 0
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		switch req.MTI {
		case "0200":
			return reply{} // the PC never answers the authorization
		case "0420", "0421":
			mu.Lock()
			defer mu.Unlock()
			advices++
			if advices < 3 {
				return reply{} // nor the first two advices
			}
			return reply{resp: defaultAnswer(req, "00")}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	res, err := e.cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseCode != "91" || res.Approved || !res.Sent || !res.Advice {
		t.Fatalf("result %+v, want 91 with an advice", res)
	}
	// Durable before Authorize returned.
	if n := pendingInStore(t, e.store); n != 1 {
		t.Fatalf("%d advice records in the store when Authorize returned", n)
	}
	adv := e.pc.waitFor(3, 5*time.Second, "advices", func(m *specs.Message) bool { return m.MTI == "0420" || m.MTI == "0421" })
	if adv[0].msg.MTI != "0420" || adv[1].msg.MTI != "0421" || adv[2].msg.MTI != "0421" {
		t.Errorf("advice MTIs %s %s %s, want 0420 0421 0421", adv[0].msg.MTI, adv[1].msg.MTI, adv[2].msg.MTI)
	}
	orig := e.pc.matching(isMTI("0200"))[0].msg
	for _, a := range adv {
		checkAdvice(t, &a.msg, &orig)
		if a.msg.STAN != adv[0].msg.STAN || a.msg.TransmissionDateTime != adv[0].msg.TransmissionDateTime {
			t.Error("a repeat differs from its 0420 in DE 11 or DE 7")
		}
	}
	eventually(t, 5*time.Second, "advice removed after its 0430", func() bool {
		return e.cl.Status().PendingAdvices == 0 && pendingInStore(t, e.store) == 0
	})
	time.Sleep(300 * time.Millisecond) // well over the retry backoff
	if n := len(e.pc.matching(func(m *specs.Message) bool { return m.MTI == "0420" || m.MTI == "0421" })); n != 3 {
		t.Errorf("PC got %d advices, want 3 (none after the 0430)", n)
	}
}

func TestAdvice0430With91IsRepeated(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond, time.Hour)
	var mu sync.Mutex
	n := 0
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		switch req.MTI {
		case "0200":
			return reply{}
		case "0420", "0421":
			mu.Lock()
			defer mu.Unlock()
			n++
			switch n {
			case 1:
				return reply{resp: defaultAnswer(req, "91")}
			case 2:
				return reply{resp: defaultAnswer(req, "96")}
			default:
				return reply{resp: defaultAnswer(req, "25")} // original not found: done
			}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	if res, _ := e.cl.Authorize(context.Background(), authReq("5100000000000008")); res.ResponseCode != "91" {
		t.Fatalf("got %s, want 91", res.ResponseCode)
	}
	eventually(t, 5*time.Second, "advice done", func() bool { return e.cl.Status().PendingAdvices == 0 })
	time.Sleep(200 * time.Millisecond)
	if got := len(e.pc.matching(func(m *specs.Message) bool { return m.MTI == "0420" || m.MTI == "0421" })); got != 3 {
		t.Errorf("PC got %d advices, want 3 (91 and 96 repeated, 25 ends it)", got)
	}
}

func TestPCDownAtAuthorization(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc.stop() // nothing listens on the address
	store := openStore(t, "")
	defer store.Close()
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, nil)
	time.Sleep(50 * time.Millisecond)
	res, err := cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseCode != "91" || res.Sent || res.Advice {
		t.Fatalf("result %+v, want 91 and nothing sent", res)
	}
	if n := cl.Status().PendingAdvices + pendingInStore(t, store); n != 0 {
		t.Fatalf("%d advices for an authorization that was never sent", n)
	}
	// The PC comes back: the client dials (backoff) and signs on.
	pc.restart()
	eventually(t, 5*time.Second, "signed on after the PC came back", func() bool { return cl.Status().SignedOn })
	res, err = cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil || res.ResponseCode != "00" {
		t.Fatalf("after reconnect: %+v, %v", res, err)
	}
}

func TestAdviceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	pc := newFakePC(t, testDialect(t))
	silent := func(_ int, req *specs.Message) reply {
		if req.MTI == "0800" {
			return reply{resp: defaultAnswer(req, "00")}
		}
		return reply{} // no 0210, no 0430
	}
	pc.setBehave(silent)

	store := openStore(t, dir)
	cl, _ := startClient(t, pc, store, 100*time.Millisecond, time.Hour, nil)
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	res, err := cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil || res.ResponseCode != "91" || !res.Advice {
		t.Fatalf("%+v, %v; want 91 with an advice", res, err)
	}
	pc.waitFor(1, 5*time.Second, "0420", isMTI("0420"))
	stansBefore := map[string]bool{}
	for _, g := range pc.received() {
		stansBefore[g.msg.STAN] = true
	}
	cl.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	pc.dropConns()
	nBefore := len(pc.received())

	// The PC now answers everything; the host restarts on the same directory.
	pc.setBehave(nil)
	store = openStore(t, dir)
	defer store.Close()
	if n := pendingInStore(t, store); n != 1 {
		t.Fatalf("%d advice records after restart, want 1", n)
	}
	cl2, _ := startClient(t, pc, store, 100*time.Millisecond, time.Hour, nil)
	if n := cl2.Status().PendingAdvices; n != 1 {
		t.Fatalf("restarted client has %d pending advices, want 1", n)
	}
	after := pc.waitFor(1, 5*time.Second, "advice after restart", func(m *specs.Message) bool { return m.MTI == "0421" })
	first := pc.matching(isMTI("0420"))[0].msg
	if a := after[0].msg; a.STAN != first.STAN || a.OriginalData != first.OriginalData || a.RRN != first.RRN {
		t.Errorf("advice after restart (STAN %s, DE 90 %s) is not the stored one (%s, %s)", a.STAN, a.OriginalData, first.STAN, first.OriginalData)
	}
	eventually(t, 5*time.Second, "advice delivered after restart", func() bool {
		return cl2.Status().PendingAdvices == 0 && pendingInStore(t, store) == 0
	})
	// No STAN of the first run is reused by the second.
	for _, g := range pc.received()[nBefore:] {
		if g.msg.MTI != "0421" && stansBefore[g.msg.STAN] {
			t.Errorf("STAN %s reused after restart (%s)", g.msg.STAN, g.msg.MTI)
		}
	}
}

func TestLateResponseDoesNotApprove(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond, time.Hour)
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{resp: defaultAnswer(req, "00"), delay: 300 * time.Millisecond}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	res, err := e.cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseCode != "91" || res.Approved {
		t.Fatalf("result %+v, want 91", res)
	}
	eventually(t, 5*time.Second, "late 0210 seen and dropped", func() bool { return e.cl.Status().LateResponses == 1 })
	if res.Approved || res.ResponseCode != "91" {
		t.Fatal("the late response changed the result")
	}
	adv := e.pc.waitFor(1, 5*time.Second, "0420", isMTI("0420"))
	orig := e.pc.matching(isMTI("0200"))[0].msg
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return e.cl.Status().PendingAdvices == 0 })
}

func TestReconnectAfterPCDrops(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	first := e.cl.Status().Links[0].Conn
	e.pc.dropConns()
	eventually(t, 5*time.Second, "signed on again on a new connection", func() bool {
		st := e.cl.Status()
		return st.SignedOn && st.Links[0].Conn != first
	})
	if n := len(e.pc.matching(isNet("001"))); n != 2 {
		t.Errorf("%d sign-ons, want 2", n)
	}
	res, err := e.cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil || res.ResponseCode != "00" {
		t.Fatalf("after reconnect: %+v, %v", res, err)
	}
}

func TestFrameErrorClosesAndRedials(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	e.pc.sendRaw(0, []byte("12X4garbage"))
	e.pc.waitFor(2, 5*time.Second, "second sign-on", isNet("001"))
	eventually(t, 5*time.Second, "signed on", func() bool { return e.cl.Status().SignedOn })
}

func TestResponsesMatchedOnSTANAndRRN(t *testing.T) {
	e := newEnv(t, 3*time.Second, time.Hour)
	var mu sync.Mutex
	var held []*specs.Message
	e.pc.setBehave(func(idx int, req *specs.Message) reply {
		if req.MTI != "0200" {
			return reply{resp: defaultAnswer(req, "00")}
		}
		mu.Lock()
		held = append(held, req)
		if len(held) < 2 {
			mu.Unlock()
			return reply{}
		}
		a, b := held[0], held[1]
		mu.Unlock()
		// A response with a's STAN but a foreign RRN must match nothing; then b's answer
		// before a's; each by its PAN's code.
		code := func(m *specs.Message) string {
			if m.PAN == "5200000000000007" {
				return "51"
			}
			return "00"
		}
		bogus := defaultAnswer(a, "00")
		bogus.RRN = "000000000000"
		e.pc.sendOn(idx, bogus)
		e.pc.sendOn(idx, defaultAnswer(b, code(b)))
		e.pc.sendOn(idx, defaultAnswer(a, code(a)))
		return reply{}
	})
	e.waitSignedOn()
	var wg sync.WaitGroup
	results := map[string]AuthResult{}
	var rmu sync.Mutex
	for _, pan := range []string{"5100000000000008", "5200000000000007"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.cl.Authorize(context.Background(), authReq(pan))
			if err != nil {
				t.Error(err)
			}
			rmu.Lock()
			results[pan] = res
			rmu.Unlock()
		}()
	}
	wg.Wait()
	if r := results["5100000000000008"]; r.ResponseCode != "00" {
		t.Errorf("5100… got %s, want 00", r.ResponseCode)
	}
	if r := results["5200000000000007"]; r.ResponseCode != "51" {
		t.Errorf("5200… got %s, want 51", r.ResponseCode)
	}
	eventually(t, 2*time.Second, "bogus response dropped", func() bool { return e.cl.Status().LateResponses == 1 })
}

func TestAnnounceCutover(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc2 := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	defer store.Close()
	log := &syncBuffer{}
	reg := registry(t, time.Second, time.Hour, pc.addr, pc2.addr)
	in, _ := reg.Institution("200002")
	cl, err := NewClient(testConfig(t, log), in, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Announce(context.Background(), 20261122); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Announce before Start: %v", err)
	}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(t, 5*time.Second, "both links signed on", func() bool {
		n := 0
		for _, l := range cl.Status().Links {
			if l.SignedOn {
				n++
			}
		}
		return n == 2
	})
	if err := cl.Announce(context.Background(), 20261122); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*fakePC{pc, pc2} {
		g := p.waitFor(1, time.Second, "0800/201", isNet("201"))
		if g[0].msg.SettlementDate != "1122" || g[0].msg.AcquirerID != testHostID {
			t.Errorf("cutover DE 15/32 = %q/%q", g[0].msg.SettlementDate, g[0].msg.AcquirerID)
		}
	}
	pc2.setBehave(func(_ int, req *specs.Message) reply { return reply{resp: defaultAnswer(req, "12")} })
	if err := cl.Announce(context.Background(), 20261123); err == nil {
		t.Error("Announce with a PC answering 12: no error")
	}
	if err := cl.Announce(context.Background(), 20261131); err == nil {
		t.Error("Announce of an invalid date: no error")
	}
}

func TestInboundRequestServed(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	defer store.Close()
	var gotPeer Peer
	var pmu sync.Mutex
	cl, _ := startClient(t, pc, store, time.Second, time.Hour, func(c *Config) {
		c.Links = terminals.NewLinks(nil)
		var n terminals.ConnID
		var mu sync.Mutex
		c.ConnID = func() terminals.ConnID { mu.Lock(); defer mu.Unlock(); n++; return n }
		c.Inbound = func(_ context.Context, p Peer, req *specs.Message) (*specs.Message, error) {
			pmu.Lock()
			gotPeer = p
			pmu.Unlock()
			if req.MTI == "0100" {
				return nil, errors.New("boom")
			}
			return &specs.Message{ResponseCode: "00", AuthID: "XYZ123", RRN: req.RRN}, nil
		}
	})
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	pc.sendOn(0, &specs.Message{MTI: "0200", ProcessingCode: "500000", Amount: "000000000100",
		TransmissionDateTime: "1121120000", STAN: "777777", AcquirerID: "200002", RRN: "532512777777",
		TerminalID: "ATM00001", Currency: "944"})
	g := pc.waitFor(1, 5*time.Second, "0210", isMTI("0210"))
	if m := g[0].msg; m.STAN != "777777" || m.ResponseCode != "00" || m.AuthID != "XYZ123" {
		t.Errorf("0210 DE 11/39/38 = %q/%q/%q", m.STAN, m.ResponseCode, m.AuthID)
	}
	pmu.Lock()
	if gotPeer.Institution != "200002" || !gotPeer.SignedOn || gotPeer.Conn == 0 {
		t.Errorf("peer %+v", gotPeer)
	}
	pmu.Unlock()
	pc.sendOn(0, &specs.Message{MTI: "0100", ProcessingCode: "310000", TransmissionDateTime: "1121120000",
		STAN: "777778", AcquirerID: "200002", TerminalID: "ATM00001"})
	g = pc.waitFor(1, 5*time.Second, "0110", isMTI("0110"))
	if g[0].msg.ResponseCode != "96" || g[0].msg.STAN != "777778" {
		t.Errorf("handler error answered %q (STAN %q), want 96", g[0].msg.ResponseCode, g[0].msg.STAN)
	}
	if len(cl.cfg.Links.SignedOn("200002")) != 1 {
		t.Error("Links does not show the signed-on connection")
	}
}

func TestDefaultInbound(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	e.pc.sendOn(0, &specs.Message{MTI: "0800", TransmissionDateTime: "1121120000", STAN: "123456", AcquirerID: "200002", NetworkCode: "301"})
	e.pc.sendOn(0, &specs.Message{MTI: "0500", ProcessingCode: "920000", TransmissionDateTime: "1121120000", STAN: "123457", AcquirerID: "200002"})
	g := e.pc.waitFor(1, 5*time.Second, "0810", isMTI("0810"))
	if g[0].msg.ResponseCode != "00" || g[0].msg.STAN != "123456" || g[0].msg.NetworkCode != "301" {
		t.Errorf("0810 = %+v", g[0].msg)
	}
	g = e.pc.waitFor(1, 5*time.Second, "0510", isMTI("0510"))
	if g[0].msg.ResponseCode != "91" {
		t.Errorf("0510 DE 39 = %q, want 91", g[0].msg.ResponseCode)
	}
}

func TestClientsRoute(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	defer store.Close()
	log := &syncBuffer{}
	reg := registry(t, time.Second, time.Hour, pc.addr)
	p, err := New(testConfig(t, log), reg, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tests := []struct {
		pan  string
		inst string // "" = no client
	}{
		{"5100000000000008", "200002"},
		{"6100000000000007", ""}, // PC 300003 is not dialled
		{"7100000000000006", ""}, // no PC takes it
	}
	for _, tc := range tests {
		c, ok := p.Route(tc.pan)
		if ok != (tc.inst != "") || (ok && c.Institution().ID != tc.inst) {
			t.Errorf("Route(%s) = %v, %v; want %q", tc.pan, c, ok, tc.inst)
		}
	}
	if _, ok := p.Client("300003"); ok {
		t.Error("a client for an institution without Dial")
	}
	eventually(t, 5*time.Second, "signed on", func() bool {
		st := p.Status()
		return len(st) == 1 && st[0].SignedOn
	})
	if err := p.Announce(context.Background(), 20261122); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	reg := registry(t, time.Second, time.Hour, "127.0.0.1:1")
	in, _ := reg.Institution("200002")
	nodial, _ := reg.Institution("300003")
	store := openStore(t, "")
	defer store.Close()
	good := testConfig(t, &syncBuffer{})
	tests := []struct {
		name  string
		cfg   func(Config) Config
		inst  *terminals.Institution
		store Store
	}{
		{"no host id", func(c Config) Config { c.HostID = ""; return c }, in, store},
		{"host id not digits", func(c Config) Config { c.HostID = "12A"; return c }, in, store},
		{"host id too long", func(c Config) Config { c.HostID = "123456789012"; return c }, in, store},
		{"links without ids", func(c Config) Config { c.Links = terminals.NewLinks(nil); return c }, in, store},
		{"no dial", func(c Config) Config { return c }, nodial, store},
		{"no store", func(c Config) Config { return c }, in, nil},
	}
	for _, tc := range tests {
		if _, err := NewClient(tc.cfg(good), tc.inst, tc.store); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestReverseApprovedAuthorization(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	req := authReq("5100000000000008")
	res, err := e.cl.Authorize(context.Background(), req)
	if err != nil || !res.Approved {
		t.Fatalf("%+v, %v", res, err)
	}
	if err := e.cl.Reverse(context.Background(), req, res); err != nil {
		t.Fatal(err)
	}
	adv := e.pc.waitFor(1, 5*time.Second, "0420", isMTI("0420"))
	orig := e.pc.matching(isMTI("0200"))[0].msg
	checkAdvice(t, &adv[0].msg, &orig)
	eventually(t, 5*time.Second, "advice done", func() bool { return e.cl.Status().PendingAdvices == 0 })

	declined := res
	declined.Approved, declined.ResponseCode = false, "51"
	if err := e.cl.Reverse(context.Background(), req, declined); !errors.Is(err, ErrNotApproved) {
		t.Errorf("Reverse of a declined authorization: %v", err)
	}
	if err := e.cl.Reverse(context.Background(), req, AuthResult{Approved: true}); !errors.Is(err, ErrNotApproved) {
		t.Errorf("Reverse without the host's identifiers: %v", err)
	}
}

func TestAuthorizeCurrencyOfPC(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	store := openStore(t, "")
	defer store.Close()
	reg, err := terminals.Parse("t.yaml", []byte(fmt.Sprintf(`institutions:
  - id: "200002"
    dial: [%q]
    bins: [{prefix: "5"}]
    timeout: 1s
    currency: 944
`, pc.addr)))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := reg.Institution("200002")
	cl, err := NewClient(testConfig(t, &syncBuffer{}), in, store)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	r := authReq("5100000000000008")
	r.Currency = "840"
	if res, err := cl.Authorize(context.Background(), r); !errors.Is(err, ErrCurrency) || !errors.Is(err, ErrInvalidRequest) || res.Sent {
		t.Fatalf("USD to an AZN PC: %+v, %v", res, err)
	}
	r.Currency = "944"
	if res, err := cl.Authorize(context.Background(), r); err != nil || res.ResponseCode != "00" {
		t.Fatalf("AZN: %+v, %v", res, err)
	}
}

// Many authorizations in flight, answered in random order after random delays: each
// caller gets the answer to its own 0200.
func TestConcurrentAuthorizationsMatched(t *testing.T) {
	e := newEnv(t, 3*time.Second, time.Hour)
	codes := []string{"00", "51", "55", "05", "54"}
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI != "0200" {
			return reply{resp: defaultAnswer(req, "00")}
		}
		// The code follows the amount, so each caller knows what it must get.
		n, _ := strconv.Atoi(req.Amount)
		return reply{resp: defaultAnswer(req, codes[n%len(codes)]), delay: time.Duration(n%7) * 3 * time.Millisecond}
	})
	e.waitSignedOn()
	const callers = 64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := authReq("5100000000000008")
			r.Amount = int64(100 + i)
			res, err := e.cl.Authorize(context.Background(), r)
			if err != nil {
				t.Error(err)
				return
			}
			if want := codes[(100+i)%len(codes)]; res.ResponseCode != want {
				t.Errorf("amount %d: got %s, want %s", 100+i, res.ResponseCode, want)
			}
		}()
	}
	wg.Wait()
	if st := e.cl.Status(); st.LateResponses != 0 || st.PendingAdvices != 0 {
		t.Errorf("status %+v", st)
	}
}
