package clearing

import (
	"context"
	"fmt"
	"io"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/ledger"
)

// GatedLedger is the ledger with its Cutover routed through the core's day gate
// (billpay.Core.Cutover): hand it, instead of the bare store, to whatever moves the
// business date (the switch's scheduled cutover, the CLI), so that no payment straddles
// the close of day.
type GatedLedger struct {
	ledger.Ledger
	Core *billpay.Core
}

// Cutover closes the day through the core's gate.
func (g GatedLedger) Cutover(ctx context.Context, next ledger.Date) error {
	return g.Core.Cutover(ctx, next)
}

// ProgressPrinter returns a Progress func that prints one line per report to w (a
// terminal: stderr), for big days.
func ProgressPrinter(w io.Writer) func(Progress) {
	return func(p Progress) {
		fmt.Fprintf(w, "clearing %s: %s, %d payments and reversals read\n", isoDate(p.Date), p.Stage, p.Payments)
	}
}

// CloseDay closes business date d through the core's gate: when the ledger's business
// date is d it moves to the day after; when it is already later it does nothing; an
// earlier business date (d not yet open) is an error.
func CloseDay(ctx context.Context, core *billpay.Core, d ledger.Date) error {
	cur := core.Ledger().BusinessDate()
	switch {
	case cur > d:
		return nil
	case cur < d:
		return fmt.Errorf("clearing: cannot close %s: the business date is %s", isoDate(d), isoDate(cur))
	}
	return core.Cutover(ctx, addDays(d, 1))
}
