package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay/httpapi"
	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/switch/bills/billstest"
)

func call(t *testing.T, method, url, key, idem, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if idem != "" {
		r.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: %d %q", method, url, res.StatusCode, b)
	}
	return res.StatusCode, out
}

// A payment made over HTTP shows in an ISO inquiry, and a payment made over ISO shows
// over HTTP: one core behind the ISO 8583 host and the HTTP adapter.
func TestPaymentAcrossHTTPAndISO(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := billstest.Start(ctx, billstest.Options{Dir: t.TempDir(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	api, _, err := httpapi.New(httpapi.DemoConfig(st.Core.Registry()), httpapi.Deps{Core: st.Core, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api)
	defer ts.Close()

	pos, err := simulators.DialPOS(ctx, simulators.POSConfig{Addr: st.TermAddr, Terminal: "T0000001", Timeout: 10 * time.Second, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer pos.Close()
	if rc, err := pos.SignOn(ctx); err != nil || rc != "00" {
		t.Fatalf("sign-on %q %v", rc, err)
	}
	target := simulators.AccountTarget("AZERISIQ", "1000000001")
	before, err := pos.Inquiry(ctx, target)
	if err != nil || before.RC != "00" {
		t.Fatalf("ISO inquiry %+v %v", before, err)
	}

	// HTTP → ISO.
	status, p := call(t, "POST", ts.URL+"/v1/payments", httpapi.DemoKioskKey, "x1",
		`{"target":{"provider":"AZERISIQ","account":"1000000001"},"amount":"100.00","method":"cash"}`)
	if status != 201 {
		t.Fatalf("HTTP payment %d %v", status, p)
	}
	after, err := pos.Inquiry(ctx, target)
	if err != nil || after.RC != "00" {
		t.Fatalf("ISO inquiry %+v %v", after, err)
	}
	if after.Total != before.Total-10000 {
		t.Fatalf("ISO inquiry total %d after an HTTP payment of 100.00 (before %d)", after.Total, before.Total)
	}

	// ISO → HTTP.
	pay, err := pos.Pay(ctx, target, 5000, nil)
	if err != nil || pay.RC != "00" || pay.Result.Receipt == "" {
		t.Fatalf("ISO payment %+v %v", pay, err)
	}
	status, got := call(t, "GET", ts.URL+"/v1/payments/"+pay.Result.Receipt, httpapi.DemoWebKey, "", "")
	if status != 200 || got["amount"] != "50.00" || got["terminal"] != "T0000001" || got["method"] != "CASH" || got["status"] != "posted" {
		t.Fatalf("HTTP status of the ISO payment %d %v", status, got)
	}
	status, inq := call(t, "GET", ts.URL+"/v1/inquiry?provider=AZERISIQ&account=1000000001", httpapi.DemoWebKey, "", "")
	want := simulators.FormatMinor(before.Total - 15000)
	if status != 200 || inq["total"] != want {
		t.Fatalf("HTTP inquiry total %v, want %s", inq["total"], want)
	}
	// Both payments reach the provider's notices, in order.
	status, ns := call(t, "GET", ts.URL+"/v1/providers/AZERISIQ/notices", httpapi.DemoProviderKey("AZERISIQ"), "", "")
	list, _ := ns["notices"].([]any)
	if status != 200 || len(list) != 2 {
		t.Fatalf("notices %d %v", status, ns)
	}
	if list[0].(map[string]any)["receipt"] != p["receipt"] || list[1].(map[string]any)["receipt"] != pay.Result.Receipt {
		t.Fatalf("notices out of order: %v", list)
	}
}
