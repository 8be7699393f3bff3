// Package ledger owns money and durability: the one Pebble database of the payment core,
// the sequencer that group-commits every write with Sync, double-entry balances in
// integer minor units, transfers and reversals, idempotency records, business days and
// cutover, and the hash-chained journal.
//
// It knows nothing of bills, providers or ISO 8583. It must never acknowledge, or let a
// reader see, state that is not synced to disk.
package ledger
