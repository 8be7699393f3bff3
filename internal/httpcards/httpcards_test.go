package httpcards

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/billswitch/billswitch/billpay/httpapi"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

type fakeAuth struct {
	res  pcclient.AuthResult
	err  error
	got  pcclient.AuthRequest
	pc   string
	sent int

	reversed, completed []string
}

func (f *fakeAuth) Authorize(_ context.Context, pc *terminals.Institution, r pcclient.AuthRequest) (pcclient.AuthResult, error) {
	f.sent++
	f.got, f.pc = r, pc.ID
	return f.res, f.err
}

func (f *fakeAuth) Reverse(_ context.Context, pc *terminals.Institution, r pcclient.AuthRequest, res pcclient.AuthResult) error {
	f.reversed = append(f.reversed, res.STAN)
	return nil
}

func (f *fakeAuth) CompletionWrite(*terminals.Institution, pcclient.AuthResult) (ledger.Write, bool) {
	return ledger.Write{}, false
}

func (f *fakeAuth) ReversalWrite(context.Context, *terminals.Institution, pcclient.AuthRequest, pcclient.AuthResult) (pcclient.PendingReversal, error) {
	return pcclient.PendingReversal{}, nil
}

func (f *fakeAuth) QueueReversal(*terminals.Institution, pcclient.PendingReversal) {}

func (f *fakeAuth) Complete(_ context.Context, pc *terminals.Institution, res pcclient.AuthResult) error {
	f.completed = append(f.completed, res.STAN)
	return nil
}

type router map[string]*terminals.Institution

func (r router) Route(pan string) (*terminals.Institution, bool) { p, ok := r[pan[:6]]; return p, ok }

func TestAuthorize(t *testing.T) {
	pc := &terminals.Institution{ID: "100001"}
	rt := router{"416974": pc}
	req := httpapi.CardAuth{PAN: "4169741234567890", Expiry: "2812", Amount: 2500, Currency: 944, Terminal: "WEB"}
	for _, c := range []struct {
		name    string
		pan     string
		res     pcclient.AuthResult
		err     error
		want    httpapi.CardResult
		wantErr error
		sent    int
	}{
		{"approved", req.PAN, pcclient.AuthResult{Approved: true, ResponseCode: "00", AuthID: "A1", RRN: "R1", STAN: "S1"}, nil,
			httpapi.CardResult{Approved: true, ResponseCode: "00", AuthID: "A1", Acquirer: "100001", RRN: "R1", STAN: "S1"}, nil, 1},
		{"declined", req.PAN, pcclient.AuthResult{ResponseCode: "51"}, nil, httpapi.CardResult{ResponseCode: "51", Acquirer: "100001"}, nil, 1},
		{"no answer", req.PAN, pcclient.AuthResult{ResponseCode: "91"}, nil, httpapi.CardResult{}, ErrNoAnswer, 1},
		{"error", req.PAN, pcclient.AuthResult{ResponseCode: "96"}, pcclient.ErrInvalidRequest, httpapi.CardResult{}, pcclient.ErrInvalidRequest, 1},
		{"no route", "5555550000000000", pcclient.AuthResult{}, nil, httpapi.CardResult{ResponseCode: "14"}, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeAuth{res: c.res, err: c.err}
			r := req
			r.PAN = c.pan
			got, err := New(f, rt).Authorize(context.Background(), r)
			gotRef := got.Ref
			got.Ref = nil
			if !errors.Is(err, c.wantErr) || !reflect.DeepEqual(got, c.want) || f.sent != c.sent {
				t.Fatalf("got %+v %v (sent %d), want %+v %v", got, err, f.sent, c.want, c.wantErr)
			}
			if f.sent == 1 && (f.got.Currency != "944" || f.got.Amount != 2500 || f.got.Terminal != "WEB" || f.got.Expiry != "2812" || f.pc != "100001") {
				t.Fatalf("request %+v to %s", f.got, f.pc)
			}
			if got.Approved {
				got.Ref = gotRef
				cards := New(f, rt)
				if err := cards.CompleteAuthorization(context.Background(), r, got); err != nil || len(f.completed) != 1 || f.completed[0] != "S1" {
					t.Fatalf("complete %v %v", err, f.completed)
				}
				if err := cards.ReverseAuthorization(context.Background(), r, got); err != nil || len(f.reversed) != 1 || f.reversed[0] != "S1" {
					t.Fatalf("reverse %v %v", err, f.reversed)
				}
				if err := cards.ReverseAuthorization(context.Background(), r, httpapi.CardResult{}); err == nil {
					t.Fatal("reversed an authorization without its record")
				}
			}
		})
	}
}
