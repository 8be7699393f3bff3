// Package bills holds the host's ISO 8583 bill-payment handlers (host-iso8583.md
// §3–§8) on both links: debt inquiry (0100/310000), payment and top-up (0200/0201
// 50xx00, 51xx00), reversal request (0400/0401), reversal advice (0420/0421),
// reconciliation (0500/920000); the exactly-once keys of the wire (§7); card
// authorization of terminal payments through the card's processing centre; the
// record of reconciliation mismatches; and the business-day cutover with its 0800/201
// announcement.
//
// It owns: turning ISO messages into billpay commands and billpay outcomes into ISO
// responses, the §7 key of each request class, the switch's records under prefixes
// 0x40 (reconciliation mismatches) and 0x41 (PC authorizations of terminal card
// payments, for forwarding their reversals), and its ledger command keys "sw/…"
// (refusals kept under their request's key). pcclient owns 0x4C–0x4D.
//
// It must never: post anything itself (billpay does, in one durable command), approve a
// terminal card payment the processing centre did not answer 00, post on a PC answer
// that came after the timeout, answer an approval before billpay's command is durable,
// log DE 35, DE 52 or an unmasked PAN, or keep package-level mutable state.
package bills
