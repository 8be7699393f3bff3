// Package ledger owns money and durability: the one Pebble database of the payment core,
// the sequencer that group-commits every write with Sync, double-entry balances in
// integer minor units, transfers and reversals, idempotency records, business days and
// cutover, and the hash-chained journal.
//
// It knows nothing of bills, providers or ISO 8583. It must never acknowledge, or let a
// reader see, state that is not synced to disk.
//
// # Shape
//
// One goroutine, the sequencer, owns every balance. Submit queues a Command; the
// sequencer drains up to Options.MaxGroup of them, decides each against its working
// state (idempotency, reversal-once, balance rules), writes one Pebble batch for the
// group (transfers, outcomes, the commands' own Writes of billpay/switch records,
// touched balances, one journal record) and applies it with Sync. A second goroutine,
// the acker, waits for the WAL sync, publishes the new state (balances, business date,
// a Pebble snapshot for Lookup and View) and only then acknowledges the group. While
// one group syncs the sequencer builds the next. Pebble makes a batch readable before
// its sync completes, so nothing outside the sequencer reads the live database: Lookup,
// View, Transfer and Verify read the published snapshot; Balance and BusinessDate read
// the published in-memory state.
//
// # Exactly once
//
// Every command carries an idempotency key; the outcome (committed or declined, with
// the transfer id and the caller's Result) is stored under it in the same batch as the
// transfer and the caller's writes. The same key with the same RequestHash returns the
// stored outcome (Duplicate); with another hash, ErrConflict. A command is applied
// whole or not at all: a declined command's writes are not applied.
//
// # Balance rules
//
// Provider payable, commission income and subscriber advances are credit-normal and
// may not go negative (debits ≤ credits after the whole transfer), checked for a
// transfer that debits the account (net of its legs): one that credits an account a
// reversal took below zero is not refused. Reversals are not held to the rules.
// Acquirer receivable, cash drawer, settlement and suspense are free. A refusal is a
// Declined outcome with ErrInsufficientFunds, remembered under the key.
//
// # Storage
//
// Key layout in keys.go and docs/storage.md: one prefix byte per record kind,
// big-endian fixed-width fields; prefixes 0x01–0x1F are the ledger's, 0x20–0x3F
// billpay's, 0x40–0x4F switch's. Open rebuilds every balance from the transfers and
// refuses to start (ErrCorruptStore) unless they equal the stored balances and
// Σ debits = Σ credits per currency. Verify recomputes the journal's hash chain.
package ledger
