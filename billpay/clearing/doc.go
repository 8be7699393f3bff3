// Package clearing closes a business day's money: from the payments and reversals that
// billpay recorded on a closed day it builds each provider's register
// (provider-exchange.md §4), the position report, the ISO 20022 pain.001.001.03 payout
// file, the per-bank payment lists and the reconciliation report, and posts the day's
// settlement through the ledger (one transfer per acquirer and per provider, each under
// an idempotency key of the date and the party), so that the files are views of what
// the ledger holds. Run is idempotent: a re-run posts nothing and writes byte-identical
// files. List shows the finished days. GatedLedger routes cutovers through the core's
// day gate so that no payment straddles a close of day.
//
// It owns the files under DATA/clearing/ and the ledger keys "clr/...". It must never:
// clear a day that is still open; post a settlement twice or under a key of another
// package; write a file in place (every file is written to a temporary name, synced and
// renamed; the MANIFEST last); put a wall-clock time in a file (every time in them
// derives from the date or from the payments); read state that is not durable (it reads
// through ledger.View); import switch/ (the 0500 mismatches come through
// MismatchSource); or keep package-level mutable state.
package clearing
