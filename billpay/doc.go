// Package billpay is the bill-payment core: the provider registry (providers, services,
// amount rules, commission, keys), accounts and their debts (debt-list import, full and
// delta, with registers-through netting), subscribers and their registration codes,
// inquiry, payment with the allocation rules of host-iso8583.md §5, reversal, prepaid
// top-up credentials, receipts, and the outbox of provider notices.
//
// It speaks in domain types and integer minor units; declines are *DeclineError with a
// stable Decline kind that channels map to their own codes. Every change it makes is
// one ledger.Command: a payment's allocations, debt changes, payment record, notices
// and transfer (with its commission) are committed together, durably, through the
// ledger's sequencer; reads go through ledger.View (durable state only). Its records
// live under the key prefixes 0x20–0x3F (keys.go, docs/storage-billpay.md).
//
// It must never: parse or build ISO 8583 (the switch's job) or know its types; hold
// money or balances of its own (the ledger's); acknowledge anything before Submit
// returned it durable; write keys outside 0x20–0x3F or touch Pebble directly; apply part
// of a debt list; log a PAN, track 2 or PIN block (it never receives them); or keep
// package-level mutable state.
package billpay
