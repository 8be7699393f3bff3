package billpay

// Test helpers for billpay/clearing's benchmark (clearing_bench_test.go, package
// billpay_test): a business day of payments written straight into the store.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/billswitch/billswitch/ledger"
)

// SeedDayForBench writes n payment records of business date date straight into the
// store, as Pay would have left them, without the per-payment path: the demo
// registry's four providers in turn (one account line each), 20 card acquirers and 50
// cash kiosks, 1 % reversed the same day. The money is posted as one transfer per
// chunk of one acquirer's (or kiosk's) payments, with each provider's net and the
// commission, so that the ledger holds what the records say. The date must be the
// ledger's business date.
func SeedDayForBench(ctx context.Context, c *Core, date ledger.Date, n int) error {
	if c.l.BusinessDate() != date {
		return fmt.Errorf("seed: business date is %d, not %d", c.l.BusinessDate(), date)
	}
	reg := c.Registry()
	codes := []string{"AZERISIQ", "AZERIGAZ", "AZERSU", "BAKTELECOM"}
	var provs []*Provider
	var svcs []string
	for _, code := range codes {
		p, ok := reg.Provider(code)
		if !ok {
			return fmt.Errorf("seed: provider %s not registered", code)
		}
		provs = append(provs, p)
		svcs = append(svcs, p.Services[0].Code)
	}
	const acquirers, kiosks, chunk = 20, 50, 16384
	parties := acquirers + kiosks
	day := fmt.Sprintf("R%06d", uint32(date)%1_000_000)
	base := int64(1_793_500_000) * 1e9
	seq := 0
	for party := range parties {
		count := n / parties
		if party < n%parties {
			count++
		}
		for done := 0; done < count; {
			m := min(chunk, count-done)
			var writes []ledger.Write
			var debit int64
			net := make([]int64, len(provs))
			var fees int64
			for range m {
				seq++
				i := seq
				pi := i % len(provs)
				amount := int64(100 + i%50000)
				fee := provs[pi].Commission.Of(amount)
				rec := &paymentRec{Kind: resultPayment, CmdKey: []byte("bp/pay/bench-" + strconv.Itoa(i)),
					Target: Target{Provider: codes[pi], Account: strconv.Itoa(7000000000 + i%4096)}, Amount: amount,
					Commission: fee, Currency: 944, Channel: ChannelATM, Method: MethodCard,
					Acquirer: fmt.Sprintf("BANK%02d", party), Terminal: fmt.Sprintf("ATM%05d", i%2000),
					RRN: fmt.Sprintf("%012d", i), STAN: fmt.Sprintf("%06d", i%1_000_000),
					Allocations: []Allocation{{codes[pi], strconv.Itoa(7000000000 + i%4096), svcs[pi], 202610, amount}},
					PaidDate:    uint32(date), PostedAt: base + int64(i)*50_000_000}
				if party >= acquirers {
					rec.Channel, rec.Method, rec.Acquirer, rec.Terminal = ChannelKiosk, MethodCash, "", fmt.Sprintf("K%04d", party-acquirers)
				}
				if i%100 == 0 {
					rec.Reversed, rec.ReversalKey, rec.ReversalDate = true, []byte("bench-rev"), uint32(date)
				} else {
					debit += amount
					net[pi] += amount - fee
					fees += fee
				}
				writes = append(writes, ledger.Write{Key: paymentKey(fmt.Sprintf("%s%07d", day, i)), Value: rec.encode()})
			}
			done += m
			cmd := &ledger.Command{Key: []byte(fmt.Sprintf("bench/seed/%d/%d", party, done)), Writes: writes}
			if debit > 0 {
				t := &ledger.Transfer{Code: ledger.CodePayment}
				acct := ledger.AccountID{Kind: ledger.KindAcquirerReceivable, Owner: fmt.Sprintf("BANK%02d", party)}
				if party >= acquirers {
					acct = ledger.AccountID{Kind: ledger.KindCashDrawer, Owner: fmt.Sprintf("K%04d", party-acquirers)}
				}
				t.Postings = append(t.Postings, ledger.Posting{Account: acct, Side: ledger.Debit, Amount: debit, Currency: 944})
				for pi, v := range net {
					if v > 0 {
						t.Postings = append(t.Postings, ledger.Posting{Account: ledger.AccountID{Kind: ledger.KindProviderPayable, Owner: codes[pi]},
							Side: ledger.Credit, Amount: v, Currency: 944})
					}
				}
				if fees > 0 {
					t.Postings = append(t.Postings, ledger.Posting{Account: ledger.AccountID{Kind: ledger.KindCommissionIncome}, Side: ledger.Credit, Amount: fees, Currency: 944})
				}
				cmd.Transfer = t
			}
			if _, err := c.l.Submit(ctx, cmd); err != nil {
				return err
			}
		}
	}
	return nil
}
