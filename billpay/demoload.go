package billpay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
)

// DemoLoadFirst is the first of the demo's load-test accounts (AZERISIQ 9000000001…).
const DemoLoadFirst = 9000000001

// demoLoadMax bounds SeedDemoLoad's account count (one import held in memory).
const demoLoadMax = 1_000_000

// SeedDemoLoad adds n load-test accounts to the demo provider AZERISIQ — numbers
// 9000000001 … 9000000000+n, each owing 100 000.00 AZN for ELEC and for GARBAGE
// (period 202610) — as one delta debt list through the ordinary import, so that a load
// test can spread payments over many accounts (payments on one account serialize:
// each holds the account's lock through its durable commit). Run it after SeedDemo. It
// is idempotent per n (the file-id names n); a file refused as a duplicate or as older
// than the provider's last file changes nothing and is not an error.
func SeedDemoLoad(ctx context.Context, c *Core, n int) error {
	if n <= 0 || n > demoLoadMax {
		return fmt.Errorf("billpay: demo load accounts: %d not in 1..%d", n, demoLoadMax)
	}
	var b bytes.Buffer
	b.Grow(160 + n*160)
	// Created just after the demo fixture (2026-11-01T02:00:00+04:00) so it is never
	// stale against it; registers through the fixture's date.
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<debts xmlns="urn:billpay:debts:1" provider="AZERISIQ" file-id="AZERISIQ-DEMO-LOAD-%d" created="2026-11-01T02:00:01+04:00" registers-through="2026-10-31" mode="delta">
`, n)
	for i := range n {
		num := strconv.FormatUint(uint64(DemoLoadFirst+i), 10)
		b.WriteString(`  <account number="`)
		b.WriteString(num)
		b.WriteString(`" name="Load Test ` + num + `"><debt service="ELEC" period="202610" amount="100000.00"/><debt service="GARBAGE" period="202610" amount="100000.00"/></account>
`)
	}
	b.WriteString("</debts>\n")
	if _, err := c.ImportBytes(ctx, b.Bytes(), nil); err != nil {
		var ie *ImportError
		if errors.As(err, &ie) && (ie.Reason == RefusedDuplicate || ie.Reason == RefusedStale) {
			return nil
		}
		return fmt.Errorf("billpay: demo load accounts: %w", err)
	}
	return nil
}
