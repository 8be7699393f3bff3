package pcclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moov-io/iso8583"
	isoerrors "github.com/moov-io/iso8583/errors"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
)

func fullMessage() *specs.Message {
	return &specs.Message{
		MTI: "0200", PAN: "5100000000000008", ProcessingCode: "500000", Amount: "000000012345",
		TransmissionDateTime: "1121120000", STAN: "000042", LocalTime: "120000", LocalDate: "1121",
		Expiry: "2912", SettlementDate: "1121", MerchantType: "4900", POSEntryMode: "051",
		AcquirerID: "999001", ForwarderID: "12", Track2: "5100000000000008=2912", RRN: "532512000042",
		AuthID: "ABC123", ResponseCode: "00", TerminalID: "T0000001", CardAcceptorID: "DEMOKIOSK000001",
		CardAcceptorName: "BAKU KIOSK", AdditionalData: "01008AZERISIQ", Currency: "944",
		PINBlock: []byte{1, 2, 3, 4, 5, 6, 7, 8}, AdditionalAmounts: "0002944D000000001000",
		MAC: []byte{9, 9, 9, 9, 9, 9, 9, 9}, SettlementCode: "1", NetworkCode: "301",
		DebitsNumber: "0000000001", DebitsReversalNumber: "0000000000", DebitsAmount: "0000000000001000",
		DebitsReversalAmount: "0000000000000000", OriginalData: strings.Repeat("0", 42),
		NetSettlement: "D0000000000001000", MAC2: []byte{8, 8, 8, 8, 8, 8, 8, 8},
	}
}

func TestMoovRoundTrip(t *testing.T) {
	d := testDialect(t)
	m := fullMessage()
	mm, err := d.ToMoov(m)
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Message
	if err := specs.FromMoov(mm, &back); err != nil {
		t.Fatal(err)
	}
	want, _ := d.Pack(m)
	got, err := d.Pack(&back)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("round trip through moov changed the message:\n got %q\nwant %q (%v)", got, want, err)
	}
	// moov's own packing of the converted message is the project codec's.
	mp, err := mm.Pack()
	if err != nil || !bytes.Equal(mp, want) {
		t.Fatalf("moov Pack = %q, %v; want %q", mp, err, want)
	}
}

func TestCodecReadWrite(t *testing.T) {
	d := testDialect(t)
	c := &codec{dialect: d}
	mm, err := d.ToMoov(fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := c.WriteMessage(&w, mm); err != nil {
		t.Fatal(err)
	}
	body, _ := d.Pack(fullMessage())
	if h := w.String()[:4]; h != specs.ZeroFill(strconv.Itoa(len(body)), 4) {
		t.Errorf("header %q for a body of %d bytes", h, len(body))
	}
	got, err := c.ReadMessage(&w)
	if err != nil {
		t.Fatal(err)
	}
	if pan, _ := got.GetString(2); pan != "5100000000000008" {
		t.Errorf("DE 2 read back %q", pan)
	}
	tests := []struct {
		name      string
		in        string
		wantFrame error
		unpack    bool
	}{
		{"bad header", "12X4", specs.ErrFrameHeader, false},
		{"zero length", "0000", specs.ErrFrameEmpty, false},
		{"too long", "9999", specs.ErrFrameTooLarge, false},
		{"bad body", "00060200zz", nil, true},
	}
	for _, tc := range tests {
		_, err := c.ReadMessage(strings.NewReader(tc.in))
		if tc.wantFrame != nil && !errors.Is(err, tc.wantFrame) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantFrame)
		}
		var ue *isoerrors.UnpackError
		if tc.unpack != errors.As(err, &ue) {
			t.Errorf("%s: %T %v; UnpackError wanted: %v", tc.name, err, err, tc.unpack)
		}
	}
	// A body error is an UnpackError without RawMessage, and its text holds no card data.
	raw, _ := d.Pack(&specs.Message{MTI: "0210", PAN: "5100000000000008", Amount: "000000000100", STAN: "000001"})
	i := bytes.Index(raw, []byte("000000000100"))
	raw[i] = 'X'
	frame, _ := d.Framer().AppendFrame(nil, raw)
	_, err = c.ReadMessage(bytes.NewReader(frame))
	var ue *isoerrors.UnpackError
	if !errors.As(err, &ue) || ue.RawMessage != nil {
		t.Fatalf("bad body: %T %v; want UnpackError without RawMessage", err, err)
	}
	if strings.Contains(err.Error(), "5100000000000008") || strings.Contains(err.Error(), "X00000000100") {
		t.Errorf("error text carries message bytes: %v", err)
	}
}

func itoa(n int) string {
	return strings.TrimLeft(specs.ZeroFill(string(rune('0'+n/100%10))+string(rune('0'+n/10%10))+string(rune('0'+n%10)), 3), "")
}

func TestRequestID(t *testing.T) {
	d := testDialect(t)
	mk := func(m *specs.Message) *iso8583.Message {
		mm, err := d.ToMoov(m)
		if err != nil {
			t.Fatal(err)
		}
		return mm
	}
	req := mk(&specs.Message{MTI: "0200", STAN: "000001", RRN: "532512000001"})
	id, err := requestID{}.GenerateRequestID(req)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    *specs.Message
		same bool
	}{
		{"its 0210", &specs.Message{MTI: "0210", STAN: "000001", RRN: "532512000001", ResponseCode: "00"}, true},
		{"other RRN", &specs.Message{MTI: "0210", STAN: "000001", RRN: "532512999999"}, false},
		{"other STAN", &specs.Message{MTI: "0210", STAN: "000002", RRN: "532512000001"}, false},
		{"other class", &specs.Message{MTI: "0430", STAN: "000001", RRN: "532512000001"}, false},
		{"no RRN", &specs.Message{MTI: "0210", STAN: "000001"}, false},
	}
	for _, tc := range tests {
		got, err := requestID{}.GenerateRequestID(mk(tc.m))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (got == id) != tc.same {
			t.Errorf("%s: id %q vs request %q, same=%v", tc.name, got, id, tc.same)
		}
	}
	if _, err := (requestID{}).GenerateRequestID(mk(&specs.Message{MTI: "0210"})); err == nil {
		t.Error("no error for a message without DE 11")
	}
	if _, err := (requestID{}).GenerateRequestID(nil); err == nil {
		t.Error("no error for nil")
	}
}

func TestMTIHelpers(t *testing.T) {
	tests := []struct {
		mti, resp string
		isResp    bool
	}{
		{"0200", "0210", false}, {"0201", "0210", false}, {"0420", "0430", false}, {"0421", "0430", false},
		{"0800", "0810", false}, {"0210", "0220", true}, {"0430", "0440", true}, {"0810", "0820", true},
	}
	for _, tc := range tests {
		if got := responseMTI(tc.mti); got != tc.resp {
			t.Errorf("responseMTI(%s) = %s, want %s", tc.mti, got, tc.resp)
		}
		if got := isResponse(tc.mti); got != tc.isResp {
			t.Errorf("isResponse(%s) = %v", tc.mti, got)
		}
	}
}

func TestDeadlineConnUnblocksWrites(t *testing.T) {
	a, b := net.Pipe() // synchronous: a write blocks until the other end reads
	defer a.Close()
	defer b.Close()
	dc := &deadlineConn{Conn: a, timeout: 50 * time.Millisecond}
	done := make(chan error, 1)
	go func() { _, err := dc.Write([]byte("0004abcd")); done <- err }()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("write to a peer that does not read: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("write blocked past its deadline")
	}
	// A reading peer gets the bytes: the deadline is renewed before each write.
	go func() { buf := make([]byte, 8); b.Read(buf) }()
	time.Sleep(80 * time.Millisecond) // past the first deadline
	if _, err := dc.Write([]byte("0004abcd")); err != nil {
		t.Fatalf("second write: %v", err)
	}
}

func TestSTANAllocator(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	seen := map[string]bool{}
	for run := range 3 {
		store := openStore(t, dir)
		a, err := newSTANAllocator(store, "00000200002", 7)
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			s, err := a.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != 6 || seen[s] {
				t.Fatalf("run %d: STAN %q malformed or reused", run, s)
			}
			seen[s] = true
		}
		store.Close()
	}
	tests := []struct {
		count uint64
		want  string
	}{{0, "000001"}, {41, "000042"}, {999998, "999999"}, {999999, "000001"}, {2*999999 + 4, "000005"}}
	for _, tc := range tests {
		if got := formatSTAN(tc.count); got != tc.want {
			t.Errorf("formatSTAN(%d) = %s, want %s", tc.count, got, tc.want)
		}
	}
	at := time.Date(2026, 11, 21, 9, 5, 7, 0, time.UTC)
	if got := formatRRN(at, "000042"); got != "632509000042" {
		t.Errorf("formatRRN = %s", got)
	}
	if got := formatDE7(at); got != "1121090507" {
		t.Errorf("formatDE7 = %s", got)
	}
}

// failingStore fails every write of an advice record while fail is set.
type failingStore struct {
	Store
	fail atomic.Bool
}

func (f *failingStore) Submit(ctx context.Context, cmd *ledger.Command) (ledger.Outcome, error) {
	if f.fail.Load() {
		for _, w := range cmd.Writes {
			if len(w.Key) > 0 && w.Key[0] == PrefixAdvice {
				return ledger.Outcome{}, errors.New("disk on fire")
			}
		}
	}
	return f.Store.Submit(ctx, cmd)
}

func TestAdviceNotDurableStillSent(t *testing.T) {
	pc := newFakePC(t, testDialect(t))
	pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	real := openStore(t, "")
	defer real.Close()
	fs := &failingStore{Store: real}
	fs.fail.Store(true)
	log := &syncBuffer{}
	reg := registry(t, 100*time.Millisecond, time.Hour, pc.addr)
	in, _ := reg.Institution("200002")
	cl, err := NewClient(testConfig(t, log), in, fs)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	eventually(t, 5*time.Second, "signed on", func() bool { return cl.Status().SignedOn })
	res, err := cl.Authorize(context.Background(), authReq("5100000000000008"))
	if !errors.Is(err, ErrAdviceNotDurable) || res.ResponseCode != "91" {
		t.Fatalf("%+v, %v; want 91 and ErrAdviceNotDurable", res, err)
	}
	fs.fail.Store(false) // the deletion after the 0430 may succeed
	pc.waitFor(1, 5*time.Second, "0420 from memory", isMTI("0420"))
	eventually(t, 5*time.Second, "advice done", func() bool { return cl.Status().PendingAdvices == 0 })
}

func TestUnreadableResponseNotLogged(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	d := testDialect(t)
	raw, _ := d.Pack(&specs.Message{MTI: "0210", PAN: "5100000000000008", Amount: "000000000100", STAN: "000001"})
	raw[bytes.Index(raw, []byte("000000000100"))] = 'X'
	frame, _ := d.Framer().AppendFrame(nil, raw)
	e.pc.sendRaw(0, frame)
	eventually(t, 5*time.Second, "unreadable message logged", func() bool {
		return strings.Contains(e.log.String(), "unreadable message from PC dropped")
	})
	if l := e.log.String(); strings.Contains(l, "5100000000000008") || strings.Contains(l, "00000000100") {
		t.Errorf("log holds message bytes:\n%s", l)
	}
	// The connection stays up and usable.
	res, err := e.cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil || res.ResponseCode != "00" {
		t.Fatalf("%+v, %v", res, err)
	}
	if n := len(e.pc.matching(isNet("001"))); n != 1 {
		t.Errorf("%d sign-ons: the unreadable message closed the connection", n)
	}
}

func TestLinkDropsDuringAuthorization(t *testing.T) {
	e := newEnv(t, 2*time.Second, time.Hour)
	var dropped atomic.Bool
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" && !dropped.Swap(true) {
			go e.pc.dropConns()
			return reply{}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	e.waitSignedOn()
	start := time.Now()
	res, err := e.cl.Authorize(context.Background(), authReq("5100000000000008"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseCode != "91" || !res.Advice {
		t.Fatalf("%+v; want 91 with an advice (the 0200 was on the wire)", res)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("Authorize took %v: it waited for the timeout although the link dropped", time.Since(start))
	}
	// The advice may have been tried on the dying connection first (then it is a 0421).
	adv := e.pc.waitFor(1, 5*time.Second, "advice after the reconnect", func(m *specs.Message) bool {
		return m.MTI == "0420" || m.MTI == "0421"
	})
	if adv[0].conn == 0 {
		t.Error("advice on the dropped connection")
	}
	eventually(t, 5*time.Second, "advice done", func() bool { return e.cl.Status().PendingAdvices == 0 })
}

func TestAuthorizeCancelledContext(t *testing.T) {
	e := newEnv(t, time.Second, time.Hour)
	e.waitSignedOn()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := e.cl.Authorize(ctx, authReq("5100000000000008"))
	if !errors.Is(err, context.Canceled) || res.ResponseCode != "91" || res.Sent {
		t.Fatalf("%+v, %v", res, err)
	}
	// A deadline shorter than the PC's timeout bounds the wait.
	e.pc.setBehave(func(_ int, req *specs.Message) reply {
		if req.MTI == "0200" {
			return reply{}
		}
		return reply{resp: defaultAnswer(req, "00")}
	})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, _ = e.cl.Authorize(ctx, authReq("5100000000000008"))
	if res.ResponseCode != "91" || !res.Advice || time.Since(start) > 700*time.Millisecond {
		t.Fatalf("%+v after %v", res, time.Since(start))
	}
}
