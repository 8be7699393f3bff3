package crashtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/billswitch/billswitch/simulators"
)

// httpPayment is what POST /v1/payments and GET /v1/payments/{receipt} answer.
type httpPayment struct {
	Receipt   string `json:"receipt"`
	Status    string `json:"status"`
	AuthCode  string `json:"auth_code"`
	Amount    string `json:"amount"`
	PostedAt  string `json:"posted_at"`
	Duplicate bool   `json:"duplicate"`
}

// postPayment sends POST /v1/payments as the demo kiosk with p's key and body. It
// returns the status and the payment (for a 2xx).
func postPayment(client *http.Client, addr string, p *payReq) (int, httpPayment, string, error) {
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/payments", strings.NewReader(p.body))
	if err != nil {
		return 0, httpPayment{}, "", err
	}
	req.Header.Set("Authorization", "Bearer "+kioskKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", p.idem)
	res, err := client.Do(req)
	if err != nil {
		return 0, httpPayment{}, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, httpPayment{}, "", err
	}
	var out httpPayment
	if res.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, &out); err != nil {
			return res.StatusCode, out, string(b), fmt.Errorf("payment JSON: %v", err)
		}
	}
	return res.StatusCode, out, string(b), nil
}

// httpSender pays over the HTTP API as the demo kiosk, one payment at a time, until
// stop. A request that fails (the host died) is left unanswered.
func (ts *tester) httpSender(addr string, round int, worker int, rng *rand.Rand, stop <-chan struct{}, sent *atomic.Int64) {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		acct := pickAccount(rng)
		amount := 1 + rng.Int64N(ts.cfg.maxAmount)
		p := &payReq{link: linkHTTP, account: acct, amount: amount, round: round,
			idem: fmt.Sprintf("crash-%d-r%d-w%d-%d", ts.seed, round, worker, n),
			body: fmt.Sprintf(`{"target":{"provider":%q,"account":%q},"amount":%q,"method":"cash"}`, provider, acct, simulators.FormatMinor(amount))}
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, p)
		ts.mu.Unlock()
		sent.Add(1)
		status, got, body, err := postPayment(client, addr, p)
		if err != nil && status == 0 {
			select {
			case <-stop:
				return
			default:
			}
			// Not answered (the host died mid-request, or the kill is on its way):
			// wait for the stop rather than spin on a dead port.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ts.mu.Lock()
		p.answered = true
		if status == http.StatusCreated && err == nil {
			p.rc, p.authID, p.receipt = "00", got.AuthCode, got.Receipt
		} else {
			p.rc = fmt.Sprintf("http %d", status)
		}
		ts.mu.Unlock()
		switch {
		case err != nil:
			ts.violate("round %d: POST /v1/payments %s: %d %v", round, p.key(), status, err)
		case status == http.StatusCreated:
			if got.Receipt == "" || got.Status != "posted" || got.Amount != simulators.FormatMinor(amount) {
				ts.violate("round %d: POST /v1/payments %s: 201 %s", round, p.key(), body)
			}
		case status == http.StatusOK:
			ts.violate("round %d: POST /v1/payments %s with a fresh key answered as a repeat: %s", round, p.key(), body)
		}
	}
}

// httpRepeat sends the payment's POST again (same key, same body): the HTTP form of a
// 0201. fresh reports a 201 (processed as new) rather than a 200 (a repeat).
func (ts *tester) httpRepeat(cc checkConns, p *payReq) (res simulators.PaymentResult, fresh bool, err error) {
	status, got, body, err := postPayment(cc.http, cc.httpAddr, p)
	if err != nil {
		return res, false, fmt.Errorf("%d %v %s", status, err, body)
	}
	switch status {
	case http.StatusCreated, http.StatusOK:
		return simulators.PaymentResult{RC: "00", AuthID: got.AuthCode, Receipt: got.Receipt}, status == http.StatusCreated, nil
	}
	return simulators.PaymentResult{RC: fmt.Sprintf("http %d", status)}, false, nil
}
