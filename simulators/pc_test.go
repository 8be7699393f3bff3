package simulators

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

func TestParseIssuerRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want IssuerRule
		err  bool
	}{
		{"4169=approve", IssuerRule{Prefix: "4169", Action: Approve}, false},
		{"4000=decline:51", IssuerRule{Prefix: "4000", Action: Decline, Code: "51"}, false},
		{"4000=decline", IssuerRule{Prefix: "4000", Action: Decline, Code: "05"}, false},
		{"4111=delay:2s", IssuerRule{Prefix: "4111", Action: Delay, Delay: 2 * time.Second}, false},
		{"4222=noanswer", IssuerRule{Prefix: "4222", Action: NoAnswer}, false},
		{"4333=disconnect", IssuerRule{Prefix: "4333", Action: Disconnect}, false},
		{"=approve", IssuerRule{Action: Approve}, false},
		{"4x=approve", IssuerRule{}, true},
		{"4=decline:5", IssuerRule{}, true},
		{"4=delay:soon", IssuerRule{}, true},
		{"4=maybe", IssuerRule{}, true},
		{"4", IssuerRule{}, true},
	} {
		got, err := ParseIssuerRule(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseIssuerRule(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// The issuer answers the host's authorizations per BIN: the fake host sends them on
// the PC's own signed-on connection (full duplex) and reads the answers.
func TestIssuerBehaviourPerBIN(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	answers := make(chan *specs.Message, 16)
	h := newFakeHost(t, d, func(_ *fakeConn, m *specs.Message) *specs.Message {
		if IsRequest(m.MTI) {
			return Response(m, "00") // the PC's sign-on
		}
		answers <- m
		return nil
	})
	rules := []IssuerRule{
		{Prefix: "4", Action: Approve},
		{Prefix: "4000", Action: Decline, Code: "51"},
		{Prefix: "4111", Action: Delay, Delay: 150 * time.Millisecond},
		{Prefix: "4222", Action: NoAnswer},
		{Prefix: "4333", Action: Disconnect},
	}
	is := NewIssuer(rules, IssuerRates{}, 1, testLogger(t))
	pc, err := NewPC(PCConfig{Addr: h.addr(), Issuer: is})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	hostKeys := NewKeys()
	auth := func(pan string) *specs.Message {
		m := &specs.Message{MTI: "0200", ProcessingCode: "500000", Amount: N12(500), TransmissionDateTime: hostKeys.TransmissionTime(),
			STAN: hostKeys.NextSTAN(), AcquirerID: "999", PAN: Luhn(pan), Expiry: "2812", Currency: "944", TerminalID: "T0000001"}
		if err := h.firstConn().send(m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	await := func(within time.Duration) *specs.Message {
		select {
		case m := <-answers:
			return m
		case <-time.After(within):
			return nil
		}
	}
	for _, tc := range []struct {
		pan, rc string
		min     time.Duration
	}{
		{"416973000000001", "00", 0},
		{"400012345678901", "51", 0},
		{"411112345678901", "00", 150 * time.Millisecond},
	} {
		start := time.Now()
		req := auth(tc.pan)
		m := await(3 * time.Second)
		if m == nil || m.MTI != "0210" || m.STAN != req.STAN || m.ResponseCode != tc.rc {
			t.Fatalf("%s: answer %+v, want 0210/%s", tc.pan, m, tc.rc)
		}
		if tc.rc == "00" && len(m.AuthID) != 6 {
			t.Fatalf("%s: approval without DE 38", tc.pan)
		}
		if el := time.Since(start); el < tc.min {
			t.Fatalf("%s: answered after %v, want ≥ %v", tc.pan, el, tc.min)
		}
	}
	// An advice for an authorization is acknowledged.
	orig := auth("422212345678901") // no answer
	if m := await(300 * time.Millisecond); m != nil {
		t.Fatalf("noanswer BIN answered: %+v", m)
	}
	de90, _ := specs.FormatDE90(specs.OriginalData{MTI: "0200", STAN: orig.STAN, TransmissionDateTime: orig.TransmissionDateTime, AcquirerID: "999"})
	adv := &specs.Message{MTI: "0420", ProcessingCode: "500000", Amount: orig.Amount, TransmissionDateTime: hostKeys.TransmissionTime(), STAN: hostKeys.NextSTAN(), AcquirerID: "999", OriginalData: de90}
	if err := h.firstConn().send(adv); err != nil {
		t.Fatal(err)
	}
	if m := await(3 * time.Second); m == nil || m.MTI != "0430" || m.ResponseCode != "00" || m.STAN != adv.STAN {
		t.Fatalf("advice answer %+v", m)
	}
	// The disconnect BIN closes the PC's connection.
	auth("433312345678901")
	c, _ := pc.conn()
	if c != nil {
		select {
		case <-c.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("disconnect BIN left the connection open")
		}
	}
	st := is.Stats()
	if st.Authorizations != 5 || st.ByAction["decline"] != 1 || st.ByAction["delay"] != 1 || st.ByAction["noanswer"] != 1 || st.ByAction["disconnect"] != 1 || st.Advices != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIssuerRandomRates(t *testing.T) {
	for _, tc := range []struct {
		rates IssuerRates
		want  Action
	}{
		{IssuerRates{}, Approve},
		{IssuerRates{Decline: 1}, Decline},
		{IssuerRates{Delay: 1}, Delay},
		{IssuerRates{NoAnswer: 1}, NoAnswer},
		{IssuerRates{Disconnect: 1}, Disconnect},
	} {
		is := NewIssuer([]IssuerRule{{Prefix: "5", Action: Approve}}, tc.rates, 3, testLogger(t))
		for i := 0; i < 20; i++ {
			if got := is.decide("4169731234567890").Action; got != tc.want {
				t.Fatalf("rates %+v: %v, want %v", tc.rates, got, tc.want)
			}
		}
		if got := is.decide("5111").Action; got != Approve {
			t.Fatalf("a rule beats the rates: %v", got)
		}
	}
	is := NewIssuer(nil, IssuerRates{Decline: 0.5, DeclineCode: "55"}, 9, testLogger(t))
	n := 0
	for i := 0; i < 1000; i++ {
		r := is.decide("4")
		if r.Action == Decline {
			n++
			if r.Code != "55" {
				t.Fatalf("decline code %q", r.Code)
			}
		}
	}
	if n < 400 || n > 600 {
		t.Fatalf("%d of 1000 declined at rate 0.5", n)
	}
}

func TestPCPayBill(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	bh := newBillHost()
	h := newFakeHost(t, d, bh.respond)
	pc, err := NewPC(PCConfig{Addr: h.addr(), Timeout: time.Second, AdviceRetry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := context.Background()
	if _, err := pc.PayBill(ctx, BillPayment{Target: AccountTarget("AZERISIQ", "1000000001"), Amount: 100}); err == nil {
		t.Fatal("payment before sign-on succeeded")
	}
	if err := pc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		bp     BillPayment
		rc     string
		target string
		amount int64
	}{
		{"atm part", BillPayment{Channel: ChannelATM, Target: AccountTarget("AZERISIQ", "1000000001"), Amount: 250}, "00", "1000000001", 250},
		{"regcode split", BillPayment{Target: RegCodeTarget("7700000001"), Amount: 100}, "00", "regcode 7700000001", 100},
		{"internet whole due of chosen account", BillPayment{Channel: ChannelInternet, Target: RegCodeTarget("7700000001"), ChooseAccount: true}, "00", "1000000101", 3850},
		{"unknown account", BillPayment{Target: AccountTarget("AZERISIQ", "99")}, "25", "AZERISIQ:99", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := pc.PayBill(ctx, tc.bp)
			if err != nil {
				t.Fatal(err)
			}
			if out.RC != tc.rc || out.Amount != tc.amount || !strings.HasSuffix(out.Target.String(), tc.target) {
				t.Fatalf("outcome %+v", out)
			}
			if tc.rc == "00" && (out.Result.Receipt == "" || len(out.Result.Allocated) != 1 || out.Result.Allocated[0].Amount != tc.amount) {
				t.Fatalf("result %+v", out.Result)
			}
			if tc.rc == "00" && (!LuhnValid(out.Request.PAN) || !strings.Contains(out.MaskedPAN, "*")) {
				t.Fatalf("card %q masked %q", out.Request.PAN, out.MaskedPAN)
			}
		})
	}
	bh.mu.Lock()
	if bh.due["1000000101"] != 0 {
		t.Fatalf("chosen account due %d after paying it whole", bh.due["1000000101"])
	}
	bh.silent["0200"] = true // the host posts nothing and says nothing
	bh.mu.Unlock()
	out, err := pc.PayBill(ctx, BillPayment{Target: AccountTarget("AZERISIQ", "1000000001"), Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !out.TimedOut || !out.Reversed {
		t.Fatalf("timeout outcome %+v", out)
	}
	if _, err := pc.PayBill(ctx, BillPayment{Target: AccountTarget("AZERISIQ", "1000000101")}); !errors.Is(err, ErrNothingDue) {
		t.Fatalf("paying a zero due: %v", err)
	}
}

// In listen mode the host dials the PC: the PC answers the host's sign-on, signs on
// itself, and pays over that connection.
func TestPCListenAcceptsHostConnection(t *testing.T) {
	d := mustDialect(t, specs.LinkPC)
	pc, err := NewPC(PCConfig{Listen: "127.0.0.1:0", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx := context.Background()
	addr, err := pc.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	bh := newBillHost()
	host := NewConn(nc, d, ConnOptions{Handler: func(_ *Conn, req *specs.Message) *specs.Message { return bh.respond(nil, req) }})
	defer host.Close()
	hk := NewKeys()
	resp, err := host.RoundTripTimeout(&specs.Message{MTI: "0800", TransmissionDateTime: hk.TransmissionTime(), STAN: hk.NextSTAN(), NetworkCode: "001"}, 2*time.Second)
	if err != nil || resp.ResponseCode != "00" || resp.MTI != "0810" {
		t.Fatalf("host sign-on: %+v %v", resp, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := pc.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	out, err := pc.PayBill(ctx, BillPayment{Target: AccountTarget("AZERISIQ", "1000000001"), Amount: 42})
	if err != nil || out.RC != "00" {
		t.Fatalf("%+v %v", out, err)
	}
	// Once the PC has dialled a connection of its own, payments go out on that one.
	bh2 := newBillHost()
	h2 := newFakeHost(t, d, bh2.respond)
	pc.cfg.Addr = h2.addr()
	if err := pc.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := pc.PayBill(ctx, BillPayment{Target: AccountTarget("AZERISIQ", "1000000001"), Amount: 43}); err != nil || out.RC != "00" {
		t.Fatalf("%+v %v", out, err)
	}
	bh.mu.Lock()
	bh2.mu.Lock()
	defer bh.mu.Unlock()
	defer bh2.mu.Unlock()
	if bh.payments != 1 || bh2.payments != 1 {
		t.Fatalf("payments on the host-dialled connection %d, on the PC-dialled one %d; want 1 and 1", bh.payments, bh2.payments)
	}
}
