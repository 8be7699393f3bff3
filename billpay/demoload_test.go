package billpay

import (
	"context"
	"testing"
)

func TestSeedDemoLoad(t *testing.T) {
	ctx := context.Background()
	c, _, _ := seeded(t)
	for _, n := range []int{0, -1, demoLoadMax + 1} {
		if err := SeedDemoLoad(ctx, c, n); err == nil {
			t.Fatalf("n=%d accepted", n)
		}
	}
	fixture := Target{Provider: "AZERISIQ", Account: "1000000001"}
	before := due(t, c, fixture)
	if err := SeedDemoLoad(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	if err := SeedDemoLoad(ctx, c, 3); err != nil { // a restart: nothing changes
		t.Fatalf("again: %v", err)
	}
	for _, tc := range []struct {
		account string
		due     int64
	}{
		{"9000000001", 20_000_000},
		{"9000000003", 20_000_000},
		{"1000000001", before}, // the fixture's accounts are untouched
	} {
		if got := due(t, c, Target{Provider: "AZERISIQ", Account: tc.account}); got != tc.due {
			t.Errorf("%s: due %d, want %d", tc.account, got, tc.due)
		}
	}
	if _, err := c.Inquire(ctx, Target{Provider: "AZERISIQ", Account: "9000000004"}); err == nil {
		t.Fatal("9000000004 exists")
	}
	if _, err := c.Pay(ctx, cashPay("load-1", Target{Provider: "AZERISIQ", Account: "9000000002"}, 1)); err != nil {
		t.Fatal(err)
	}
}
