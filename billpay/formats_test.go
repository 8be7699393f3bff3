package billpay

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/billswitch/billswitch/ledger"
)

// encodeResultV1 is the format-1 result (before the payment details were read back from
// the payment record): format 1 | kind | request hash | the whole answer.
func encodeResultV1(kind byte, hash [32]byte, p *Payment) []byte {
	e := newEnc(192, recFormat, kind)
	e.b = append(e.b, hash[:]...)
	if p != nil {
		e.s(p.Receipt)
		e.s(p.AuthCode)
		e.i(p.Amount)
		e.i(p.Commission)
		e.u(uint64(p.Currency))
		encodeAllocs(&e, p.Allocations)
		e.s(p.Credential)
	}
	return e.b
}

// encodeNoticeV1 is the format-1 notice, which carried everything.
func encodeNoticeV1(n *Notice) []byte {
	e := newEnc(192, recFormat, byte(n.Kind))
	e.s(n.Account)
	e.s(n.Receipt)
	e.i(n.Amount)
	e.u(uint64(n.Currency))
	encodeAllocs(&e, n.Allocations)
	e.u(uint64(len(n.Readings)))
	for _, r := range n.Readings {
		e.s(r.Service)
		e.s(r.Meter)
		e.s(r.Value)
	}
	e.u(uint64(n.Channel))
	e.u(uint64(n.Method))
	e.s(n.Acquirer)
	e.s(n.Terminal)
	e.s(n.RRN)
	e.u(uint64(n.BusinessDate))
	e.i(n.Time.UnixNano())
	return e.b
}

// TestStoredOutcomes: what a stored outcome answers, in both result formats, and for the
// ledger's own declines (which keep no result, only the request hash).
func TestStoredOutcomes(t *testing.T) {
	ctx := context.Background()
	c, _, _ := seeded(t)
	req := cashPay("fmt1", Target{Provider: "AZERISIQ", Account: "1000000001"}, 150)
	paid, err := c.Pay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	hash := req.hash(resultPayment, "", 0)
	other := hash
	other[0] ^= 1
	v1 := &Payment{Receipt: "R261101000042", AuthCode: "000042", Amount: 700, Commission: 7, Currency: 944,
		Allocations: []Allocation{{Provider: "AZERISIQ", Account: "1000000002", Service: "ELEC", Period: 202609, Amount: 700}}}
	committed := func(result []byte, h [32]byte) ledger.Outcome {
		return ledger.Outcome{Status: ledger.Committed, BusinessDate: 20261101, TransferID: 9, Result: result, RequestHash: h}
	}
	declined := ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrAlreadyReversed, BusinessDate: 20261101, RequestHash: hash}
	cases := []struct {
		name    string
		out     ledger.Outcome
		want    *Payment // nil: an error
		decline Decline  // 0 with want == nil: any non-decline error
	}{
		{"format 2 reads the payment record", committed(encodeResult(resultPayment, paid.Receipt), hash), paid, 0},
		{"format 2, another request", committed(encodeResult(resultPayment, paid.Receipt), other), nil, DeclineConflict},
		{"format 2 naming no record", committed(encodeResult(resultPayment, "R261101999999"), hash), nil, 0},
		{"format 1 answers from itself", committed(encodeResultV1(resultPayment, hash, v1), [32]byte{}), v1, 0},
		{"format 1, another request", committed(encodeResultV1(resultPayment, other, v1), [32]byte{}), nil, DeclineConflict},
		{"void marker", committed(encodeResult(resultVoid, ""), [32]byte{0xff}), nil, DeclineAlreadyReversed},
		{"ledger decline: typed, not corrupt", declined, nil, DeclineAlreadyReversed},
		{"ledger decline, another request", ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrAlreadyReversed, RequestHash: other}, nil, DeclineConflict},
		{"garbage", committed([]byte{9, 9, 9}, hash), nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.fromOutcome(tc.out, hash)
			switch {
			case tc.want != nil:
				if err != nil {
					t.Fatal(err)
				}
				if got.Receipt != tc.want.Receipt || got.AuthCode != tc.want.AuthCode || got.Amount != tc.want.Amount ||
					got.Commission != tc.want.Commission || got.Currency != tc.want.Currency ||
					fmtAllocs(got.Allocations) != fmtAllocs(tc.want.Allocations) || got.TransferID != 9 || got.BusinessDate != 20261101 {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			case tc.decline != 0:
				wantDecline(t, err, tc.decline)
			default:
				if _, ok := DeclineOf(err); err == nil || ok {
					t.Fatalf("got %+v, %v; want a non-decline error", got, err)
				}
			}
		})
	}
	// A reversal's outcome declined by the ledger is typed too.
	rh := [32]byte{7}
	if _, err := c.reversalFromOutcome(ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrAlreadyReversed, RequestHash: rh}, rh); err == nil {
		t.Fatal("declined reversal answered")
	} else {
		wantDecline(t, err, DeclineAlreadyReversed)
	}
	_, err = c.reversalFromOutcome(ledger.Outcome{Status: ledger.Declined, Reason: ledger.ErrAlreadyReversed, RequestHash: rh}, [32]byte{8})
	wantDecline(t, err, DeclineConflict)
}

// TestNoticeFormats: a format-2 notice is completed from its payment record exactly as
// the notice was meant (lines of its account, negated for a reversal), and a format-1
// notice still reads as written.
func TestNoticeFormats(t *testing.T) {
	ctx := context.Background()
	c, _, code := seeded(t)
	p, err := c.Pay(ctx, cashPay("n1", Target{RegCode: code}, 2815))
	if err != nil {
		t.Fatal(err)
	}
	view, err := c.l.View()
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	v1 := &Notice{Seq: 5, Kind: NoticeReversal, Provider: "AZERISIQ", Account: "1000000102", Receipt: p.Receipt, Amount: -365,
		Currency: 944, Allocations: []Allocation{{Provider: "AZERISIQ", Account: "1000000102", Service: "ELEC", Period: 202609, Amount: -365}},
		Readings: []Reading{{Service: "ELEC", Meter: "M1", Value: "12345"}}, Channel: ChannelKiosk, Method: MethodCash,
		Terminal: "T0000001", RRN: "000000000001", BusinessDate: 20261101, Time: at}
	cases := []struct {
		name  string
		value []byte
		want  string
	}{
		{"format 2 payment", (&Notice{Kind: NoticePayment, Account: "1000000101", Receipt: p.Receipt, BusinessDate: 20261101, Time: at}).encode(),
			"payment 1000000101 2450 944 AZERISIQ:1000000101:ELEC:202608=1000;AZERISIQ:1000000101:ELEC:202609=1250;AZERISIQ:1000000101:GARBAGE:202609=200 T0000001 20261101"},
		{"format 2 reversal", (&Notice{Kind: NoticeReversal, Account: "1000000102", Receipt: p.Receipt, BusinessDate: 20261102, Time: at}).encode(),
			"reversal 1000000102 -365 944 AZERISIQ:1000000102:ELEC:202609=-365 T0000001 20261102"},
		{"format 1", encodeNoticeV1(v1), "reversal 1000000102 -365 944 AZERISIQ:1000000102:ELEC:202609=-365 T0000001 20261101"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := c.decodeNotice(view, "AZERISIQ", 5, tc.value, map[string]*paymentRec{})
			if err != nil {
				t.Fatal(err)
			}
			got := n.Kind.String() + " " + n.Account + " " + itoa(n.Amount) + " " + itoa(int64(n.Currency)) + " " +
				fmtAllocs(n.Allocations) + " " + n.Terminal + " " + itoa(int64(n.BusinessDate))
			if got != tc.want || n.Receipt != p.Receipt || !n.Time.Equal(at) || n.Seq != 5 || n.Channel != ChannelKiosk {
				t.Fatalf("got %q (%+v)\nwant %q", got, n, tc.want)
			}
		})
	}
	// A notice naming a payment with no record is an error, not an empty notice.
	bad := (&Notice{Kind: NoticePayment, Account: "1000000101", Receipt: "R261101999999"}).encode()
	if _, err := c.decodeNotice(view, "AZERISIQ", 6, bad, map[string]*paymentRec{}); !errors.Is(err, errCorrupt) {
		t.Fatalf("dangling notice: %v", err)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestRegisterKeyAcrossRestart: a registration under a key is found by a new Core on the
// same store (a restart), with the subscriber as it is now.
func TestRegisterKeyAcrossRestart(t *testing.T) {
	ctx := context.Background()
	c, l, _ := seeded(t)
	req := SubscriberRequest{Name: "A", Key: []byte("k1"), Accounts: []AccountRef{{"AZERISIQ", "1000000001"}, {"AZERISIQ", "1000000001"}}}
	first, err := c.Register(ctx, req)
	if err != nil || first.Duplicate || len(first.Accounts) != 1 {
		t.Fatalf("first %+v %v", first, err)
	}
	if _, err := c.Link(ctx, first.Code, AccountRef{"AZERISIQ", "1000000003"}); err != nil {
		t.Fatal(err)
	}
	c2, err := New(Options{Ledger: l, Registry: DemoRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c2.Register(ctx, req)
	if err != nil || !again.Duplicate || again.Code != first.Code || len(again.Accounts) != 2 {
		t.Fatalf("repeat %+v %v (first %s)", again, err, first.Code)
	}
	req.Phone = "+994"
	_, err = c2.Register(ctx, req)
	wantDecline(t, err, DeclineConflict)
	// A key whose request names an unknown account registers nothing and can be used again.
	_, err = c2.Register(ctx, SubscriberRequest{Name: "B", Key: []byte("k2"), Accounts: []AccountRef{{"AZERISIQ", "9"}}})
	wantDecline(t, err, DeclineUnknownAccount)
	if s, err := c2.Register(ctx, SubscriberRequest{Name: "B", Key: []byte("k2")}); err != nil || s.Duplicate {
		t.Fatalf("key after a refused request: %+v %v", s, err)
	}
}

// TestReceiptDigits: receipts are "R" YYMMDD and a seven-digit, zero-padded day
// sequence; the authorization code is its last six digits.
func TestReceiptDigits(t *testing.T) {
	c, _, _ := seeded(t)
	for i, want := range []string{"R2611010000001", "R2611010000002"} {
		p, err := c.Pay(context.Background(), cashPay("rd"+strconv.Itoa(i), Target{Provider: "AZERISIQ", Account: "1000000001"}, 10))
		if err != nil {
			t.Fatal(err)
		}
		if p.Receipt != want || p.AuthCode != want[8:] {
			t.Fatalf("receipt %q auth %q, want %q %q", p.Receipt, p.AuthCode, want, want[8:])
		}
	}
}
