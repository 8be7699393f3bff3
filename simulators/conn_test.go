package simulators

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

func TestResponseMTI(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0100", "0110"}, {"0200", "0210"}, {"0201", "0210"}, {"0420", "0430"},
		{"0421", "0430"}, {"0500", "0510"}, {"0800", "0810"}, {"0210", "0220"}, {"02", ""}, {"0290", ""},
	} {
		if got := ResponseMTI(tc.in); got != tc.want {
			t.Errorf("ResponseMTI(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEchoServerAnswersEveryRequest(t *testing.T) {
	for _, link := range []specs.Link{specs.LinkPC, specs.LinkTerminal} {
		d := mustDialect(t, link)
		t.Run(d.Name(), func(t *testing.T) {
			e := NewEchoServer(d)
			if err := e.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			c, err := Dial(context.Background(), d, e.Addr, ConnOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			o := Origin{Link: link, Institution: "100001", Terminal: "ATM00001", Keys: NewKeys()}
			pay := o.Payment(AccountTarget("AZERISIQ", "1000000001"), 101, PaymentOptions{})
			rev, err := o.Reversal("0420", pay)
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range []*specs.Message{o.NetMgmt("001"), o.Inquiry(AccountTarget("AZERISIQ", "1")), pay, rev} {
				resp, err := c.RoundTripTimeout(req, 5*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", req.MTI, err)
				}
				if resp.MTI != ResponseMTI(req.MTI) || resp.STAN != req.STAN || resp.ResponseCode != "00" {
					t.Fatalf("%s → %s STAN %s/%s RC %q", req.MTI, resp.MTI, req.STAN, resp.STAN, resp.ResponseCode)
				}
				if req.MTI == "0200" && (resp.Amount != req.Amount || resp.TerminalID != req.TerminalID) {
					t.Fatalf("0210 does not echo DE 4/41: %q %q", resp.Amount, resp.TerminalID)
				}
			}
		})
	}
}

// Many goroutines share one Conn: every response reaches its own sender.
func TestConnConcurrentMatching(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	h := newFakeHost(t, d, func(_ *fakeConn, req *specs.Message) *specs.Message {
		r := Response(req, "00")
		r.AuthID = req.STAN // lets the sender check it got its own answer
		return r
	})
	h.async = true // answers come back out of order
	c, err := Dial(context.Background(), d, h.addr(), ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := Origin{Link: specs.LinkPC, Institution: "100001", Terminal: "ATM00001", Keys: NewKeys()}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				req := o.Payment(AccountTarget("P", "A"), 1, PaymentOptions{})
				resp, err := c.RoundTripTimeout(req, 5*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if resp.AuthID != req.STAN {
					errs <- fmt.Errorf("request %s got the answer of %s", req.STAN, resp.AuthID)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Sent != 32*25 || s.Received != 32*25 || s.Unmatched != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConnTimeoutThenLateAnswerIsUnmatched(t *testing.T) {
	d := mustDialect(t, specs.LinkTerminal)
	release := make(chan struct{})
	h := newFakeHost(t, d, func(_ *fakeConn, req *specs.Message) *specs.Message {
		<-release
		return Response(req, "00")
	})
	h.async = true
	c, err := Dial(context.Background(), d, h.addr(), ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := Origin{Link: specs.LinkTerminal, Terminal: "T0000001", Keys: NewKeys()}
	req := o.NetMgmt("301")
	if _, err := c.RoundTripTimeout(req, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Unmatched != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("late answer not counted: %+v", c.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnDuplicateKeyAndClose(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	h := newFakeHost(t, d, func(*fakeConn, *specs.Message) *specs.Message { return nil })
	c, err := Dial(context.Background(), d, h.addr(), ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := Origin{Link: specs.LinkPC, Institution: "100001", Keys: NewKeys()}
	req := o.NetMgmt("301")
	first := make(chan error, 1)
	go func() { _, err := c.RoundTripTimeout(req, 5*time.Second); first <- err }()
	time.Sleep(50 * time.Millisecond)
	if _, err := c.RoundTripTimeout(req, time.Second); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("second in-flight request with the same key: err = %v", err)
	}
	// The host closing the connection fails the waiting request at once.
	for h.firstConn() == nil {
		time.Sleep(time.Millisecond)
	}
	h.firstConn().nc.Close()
	select {
	case err := <-first:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("request still waiting after the peer closed")
	}
	if err := c.Send(o.NetMgmt("301")); err == nil {
		// the write may succeed into the socket buffer before the close is seen; a
		// second one after Done must fail
		<-c.Done()
		if err := c.Send(o.NetMgmt("301")); err == nil {
			t.Fatal("send on a closed connection succeeded")
		}
	}
}

// The peer's requests reach the Handler and its answer goes back on the same link.
func TestConnHandlerAnswersPeerRequests(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	got := make(chan *specs.Message, 1)
	h := newFakeHost(t, d, func(_ *fakeConn, m *specs.Message) *specs.Message {
		got <- m
		return nil
	})
	c, err := Dial(context.Background(), d, h.addr(), ConnOptions{Handler: func(_ *Conn, req *specs.Message) *specs.Message {
		return Response(req, "00")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for h.firstConn() == nil {
		time.Sleep(time.Millisecond)
	}
	hostReq := &specs.Message{MTI: "0800", TransmissionDateTime: "1121101010", STAN: "123456", NetworkCode: "301"}
	if err := h.firstConn().send(hostReq); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.MTI != "0810" || m.STAN != "123456" || m.ResponseCode != "00" || m.NetworkCode != "301" {
			t.Fatalf("answer %+v", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no answer to the host's 0800")
	}
}

func TestKeysNeverRepeatAndLuhn(t *testing.T) {
	k := NewKeys()
	seen := make(map[string]bool)
	for i := 0; i < 200000; i++ {
		s := k.NextSTAN()
		if len(s) != 6 || s == "000000" {
			t.Fatalf("STAN %q", s)
		}
		if seen[s] {
			t.Fatalf("STAN %s repeated after %d", s, i)
		}
		seen[s] = true
	}
	// Two processes a second apart start 100 000 apart.
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	a := NewKeysAt(func() time.Time { return t0 })
	b := NewKeysAt(func() time.Time { return t0.Add(time.Second) })
	if sa, sb := a.NextSTAN(), b.NextSTAN(); sa == sb {
		t.Fatalf("same first STAN %s", sa)
	}
	for _, tc := range []struct {
		pan string
		ok  bool
	}{{"4111111111111111", true}, {"4111111111111112", false}, {Luhn("416973880012345"), true}, {"41x1", false}} {
		if got := LuhnValid(tc.pan); got != tc.ok {
			t.Errorf("LuhnValid(%s) = %v", tc.pan, got)
		}
	}
	if got := a.RRN("000123"); len(got) != 12 {
		t.Fatalf("RRN %q", got)
	}
	if N12(418518) != "000000418518" || FormatMinor(418518) != "4185.18" || FormatMinor(-5) != "-0.05" {
		t.Fatal("amount formatting")
	}
}

func TestParseMinor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"4185.18", 418518, false}, {"5", 500, false}, {"0.5", 50, false}, {"0.01", 1, false}, {"-2.00", -200, false},
		{"1.001", 0, true}, {"", 0, true}, {"1e3", 0, true}, {".5", 0, true}, {"1.x", 0, true},
	} {
		got, err := ParseMinor(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMinor(%q) = %d, %v", tc.in, got, err)
		}
	}
}
