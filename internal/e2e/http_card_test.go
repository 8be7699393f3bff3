package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay/httpapi"
	"github.com/billswitch/billswitch/internal/httpcards"
	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/bills/billstest"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// pcSim is a processing centre the host dials: it signs the host on, approves 0200s
// (51 for BIN 520051), and acknowledges reversal advices.
type pcSim struct {
	ln       net.Listener
	auths    atomic.Int64
	advices  atomic.Int64
	lastPAN  atomic.Value
	lastTerm atomic.Value
}

func startPC(t *testing.T) *pcSim {
	d, err := specs.NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pcSim{ln: ln}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := simulators.NewConn(nc, d, simulators.ConnOptions{Handler: p.handle})
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *pcSim) handle(_ *simulators.Conn, req *specs.Message) *specs.Message {
	switch req.MTI {
	case "0200":
		p.auths.Add(1)
		p.lastPAN.Store(req.PAN)
		p.lastTerm.Store(strings.TrimSpace(req.TerminalID))
		if strings.HasPrefix(req.PAN, "520051") {
			return simulators.Response(req, "51")
		}
		r := simulators.Response(req, "00")
		r.AuthID = "A12345"
		return r
	case "0420", "0421":
		p.advices.Add(1)
	}
	return simulators.Response(req, "00")
}

// Card payments over HTTP authorized by a processing centre over real TCP, through the
// wiring cmd uses (httpcards over bills.PCAuthorizer and the host's PC clients).
func TestHTTPCardPaymentThroughPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc := startPC(t)
	reg, err := terminals.Parse("e2e.yaml", []byte(fmt.Sprintf(`
institutions:
  - id: "300003"
    name: Dialled PC
    dial: ["%s"]
    bins:
      - prefix: "5200"
    timeout: 2s
agents:
  - id: DEMOAGENT
terminals:
  - id: T0000001
    kind: KIOSK
    cash: true
    owner: DEMOAGENT
`, pc.ln.Addr())))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// start runs a host on dir and the HTTP adapter over it.
	start := func() (*billstest.Stack, *pcclient.Client, *httptest.Server, func()) {
		st, err := billstest.Start(ctx, billstest.Options{Dir: dir, Registry: reg, Logger: zerolog.Nop(),
			PCConfig: pcclient.Config{ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
				AdviceRetryMin: 50 * time.Millisecond, AdviceRetryMax: 200 * time.Millisecond, WriteAhead: true}})
		if err != nil {
			t.Fatal(err)
		}
		client, ok := st.Clients.Client("300003")
		if !ok {
			t.Fatal("no client of the dialled PC")
		}
		for deadline := time.Now().Add(10 * time.Second); !client.Status().SignedOn; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the host did not sign on to the PC")
			}
		}
		cards := httpcards.New(bills.PCAuthorizer{Clients: st.Clients}, st.Registry)
		api, _, err := httpapi.New(httpapi.DemoConfig(st.Core.Registry()), httpapi.Deps{Core: st.Core, Authorizer: cards, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(api)
		var once sync.Once
		stop := func() {
			once.Do(func() {
				ts.Close()
				if err := st.Close(); err != nil {
					t.Error(err)
				}
			})
		}
		t.Cleanup(stop)
		return st, client, ts, stop
	}
	_, client, ts, stop := start()
	body := func(pan, account string) string {
		return fmt.Sprintf(`{"target":{"provider":"AZERISIQ","account":"%s"},"amount":"25.00","method":"card","card":{"pan":"%s","expiry":"2812"}}`, account, pan)
	}
	pan := simulators.Luhn("520000000000001")
	status, p := call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoWebKey, "card-1", body(pan, "1000000001"))
	if status != 201 || pc.auths.Load() != 1 || pc.lastPAN.Load() != pan || pc.lastTerm.Load() != "WEB" {
		t.Fatalf("card payment %d %v; PC saw %d authorizations", status, p, pc.auths.Load())
	}
	status, got := call(t, "GET", ts.URL+"/v1/payments/"+p["receipt"].(string), httpapi.DemoWebKey, "", "")
	if status != 200 || got["method"] != "CARD" || got["acquirer"] != "300003" || got["channel"] != "WEB" {
		t.Fatalf("status %v", got)
	}
	// Repeat: no second authorization.
	if status, _ := call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoWebKey, "card-1", body(pan, "1000000001")); status != 200 || pc.auths.Load() != 1 {
		t.Fatalf("repeat %d, %d authorizations", status, pc.auths.Load())
	}
	// Declined by the PC: 402 with its code, nothing posted.
	status, prob := call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoWebKey, "card-2", body(simulators.Luhn("520051000000002"), "1000000001"))
	if status != 402 || prob["code"] != "card_declined" || prob["response_code"] != "51" {
		t.Fatalf("decline %d %v", status, prob)
	}
	// A card no PC takes: declined 14 without a request.
	before := pc.auths.Load()
	status, prob = call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoWebKey, "card-3", body(simulators.Luhn("999999000000003"), "1000000001"))
	if status != 402 || prob["response_code"] != "14" || pc.auths.Load() != before {
		t.Fatalf("unroutable card %d %v", status, prob)
	}
	// With write-ahead advices, the posted payment's authorization was completed: a
	// restart of the host reverses nothing at the PC.
	stop()
	_, client, ts, _ = start()
	time.Sleep(500 * time.Millisecond) // ten advice retry periods
	if n := pc.advices.Load(); n != 0 {
		t.Fatalf("the PC got %d reversal advices for a posted card payment", n)
	}
	// The PC goes down: 503 card_unavailable, nothing taken.
	pc.ln.Close()
	client.Close()
	status, prob = call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoWebKey, "card-4", body(pan, "1000000001"))
	if status != 503 || prob["code"] != "card_unavailable" {
		t.Fatalf("PC down %d %v", status, prob)
	}
	_, inq := call(t, "GET", ts.URL+"/v1/inquiry?provider=AZERISIQ&account=1000000001", httpapi.DemoWebKey, "", "")
	if inq["total"] != "4160.18" { // 4185.18 − the one approved 25.00
		t.Fatalf("total %v", inq["total"])
	}
}
