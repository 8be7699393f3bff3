// Package debtfile reads a provider's debt list (provider-exchange.md §1):
// the XML file of accounts and debts a provider sends, with its optional
// detached Ed25519 signature.
//
// It owns: the file's syntax (a strict streaming scanner for exactly this
// document shape), the validation of every record (account numbers and
// their uniqueness in the file, service codes through a caller's registry
// check, periods, amounts to int64 minor units without floats, meters,
// cards, closed and prepaid accounts), reporting every bad record by line
// number up to a cap, and checking the signature over the file's exact
// bytes in constant memory.
//
// It must never: store or apply anything (the bill-pay core does that,
// atomically, after a clean Validate pass); decide duplicate or stale
// file-ids, full/delta semantics or registers-through netting (the core's,
// which knows the store); transliterate names (kept as UTF-8); process a
// DTD or any entity beyond the five predefined ones and character
// references (a DOCTYPE is refused, so XXE and entity expansion cannot
// happen); parse an amount as a float; or let its memory grow with the
// file beyond the duplicate-number set (about 30 bytes per account).
//
// Use: Validate(file, opts) for a full pass that keeps nothing, then
// NewReader + Next for a pass that yields accounts one by one (the
// *Account is reused between calls; Clone what you keep). Apply nothing
// unless the Report is OK and, for the Next pass, Valid() is true after
// io.EOF. Decisions where the contract is silent: docs/decisions-debtfile.md.
package debtfile
