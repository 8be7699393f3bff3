package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHTTPPayments64 measures cash payments over HTTP at 64 concurrent clients,
// over real TCP on 127.0.0.1, on the durable ledger (Pebble in a temporary directory,
// every 201 synced): 4096 accounts, each request a new Idempotency-Key.
//
//	go test -run '^$' -bench HTTPPayments64 -benchtime 20000x ./billpay/httpapi/
func BenchmarkHTTPPayments64(b *testing.B) {
	const clients, accounts = 64, 4096
	e := newEnv(b, envOpts{dir: b.TempDir()})
	var batch bytes.Buffer
	batch.WriteString(`{"accounts":[`)
	for i := range accounts {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"number":"%d","name":"Bench Payer","debts":[{"service":"ELEC","period":"202610","amount":"1000.00"}]}`, 7000000000+i)
	}
	batch.WriteString(`]}`)
	if r := e.req("POST", "/v1/providers/AZERISIQ/accounts", DemoProviderKey("AZERISIQ"), batch.Bytes(), "Idempotency-Key: bench-seed"); r.status != 201 {
		b.Fatalf("seed: %d %s", r.status, r.body)
	}
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	bodies := make([][]byte, accounts)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"target":{"provider":"AZERISIQ","account":"%d"},"amount":"0.01","method":"cash"}`, 7000000000+i)
	}
	var run atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	runID := run.Add(1)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req, _ := http.NewRequest("POST", e.ts.URL+"/v1/payments", bytes.NewReader(bodies[i%accounts]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+DemoKioskKey)
				req.Header.Set("Idempotency-Key", fmt.Sprintf("b%d-%d-%d", b.N, runID, i))
				res, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 201 {
					failed.Store(fmt.Sprintf("status %d: %s", res.StatusCode, body))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "payments/s")
}
