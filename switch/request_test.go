package hostswitch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
)

// TestHostRequest: the host sends its own requests on an accepted PC connection (full
// duplex, §1) and matches the answers by MTI and DE 11, while the peer's own requests
// are served in between.
func TestHostRequest(t *testing.T) {
	th := startHost(t, Config{}, nil)
	p := th.dial(t, specs.LinkPC)
	p.signOn()
	ids := th.Links().SignedOn(demoPC)
	if len(ids) != 1 {
		t.Fatalf("signed-on connections %v", ids)
	}
	id := ids[0]

	type result struct {
		m   *specs.Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := th.Request(context.Background(), id, &specs.Message{MTI: "0800", TransmissionDateTime: "1121101112",
			STAN: "900001", AcquirerID: demoPC, NetworkCode: "201", SettlementDate: "1122"})
		done <- result{m, err}
	}()
	hostReq, err := p.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if hostReq.MTI != "0800" || hostReq.NetworkCode != "201" || hostReq.SettlementDate != "1122" {
		t.Fatalf("host sent %+v", hostReq)
	}
	// The peer's own request, before it answers the host's: served as usual.
	wantResp(t, p.roundTrip(p.request("0200")), "0210", "12")
	// A response nobody waits for is dropped; the right one is delivered.
	p.send(&specs.Message{MTI: "0810", TransmissionDateTime: hostReq.TransmissionDateTime, STAN: "900002", ResponseCode: "00"})
	p.send(&specs.Message{MTI: "0810", TransmissionDateTime: hostReq.TransmissionDateTime, STAN: hostReq.STAN,
		ResponseCode: "00", NetworkCode: "201", AcquirerID: demoPC})
	r := <-done
	if r.err != nil || r.m.ResponseCode != "00" || r.m.STAN != "900001" {
		t.Fatalf("Request: %+v, %v", r.m, r.err)
	}

	// No answer: the caller's context decides.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := th.Request(ctx, id, &specs.Message{MTI: "0800", TransmissionDateTime: "1121101112", STAN: "900003",
		AcquirerID: demoPC, NetworkCode: "301"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered Request: %v", err)
	}
	if _, err := th.Request(context.Background(), 999999, &specs.Message{MTI: "0800", STAN: "000001"}); !errors.Is(err, ErrNoConn) {
		t.Fatalf("unknown conn: %v", err)
	}
	if _, err := th.Request(context.Background(), id, &specs.Message{MTI: "0810", STAN: "000001"}); err == nil {
		t.Fatal("a response MTI accepted as a request")
	}
	// The connection closes while the host waits.
	go func() {
		_, err := th.Request(context.Background(), id, &specs.Message{MTI: "0800", TransmissionDateTime: "1121101112",
			STAN: "900004", AcquirerID: demoPC, NetworkCode: "301"})
		done <- result{nil, err}
	}()
	if _, err := p.recv(5 * time.Second); err != nil { // the 900003 echo
		t.Fatal(err)
	}
	if m, err := p.recv(5 * time.Second); err != nil || m.STAN != "900004" {
		t.Fatalf("second echo: %v", err)
	}
	_ = p.nc.Close()
	if r := <-done; !errors.Is(r.err, ErrConnClosed) {
		t.Fatalf("Request on a closed connection: %v", r.err)
	}
}
