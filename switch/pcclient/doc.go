// Package pcclient is the host as a client of each card processing centre (PC) it
// dials (host-iso8583.md §3, §7): the PC link in the direction host → PC.
//
// It owns:
//   - one Client per PC institution of the registry that has Dial addresses (Clients,
//     keyed by institution id, Route by the registry's BIN table);
//   - the connections it dials, built on moov-io/iso8583-connection: a net.Conn
//     wrapper that sets a write deadline before every write, the pc87a frame read and
//     written by specs' Framer (header and body in one write), responses matched on
//     the message class and the host's own STAN and RRN (DE 11 + DE 37), sign-on
//     (0800/001) on connect with the link usable only on 00, an echo (0800/301) when
//     the link has been idle for the institution's EchoInterval (an unanswered echo
//     drops the link), redial with capped exponential backoff;
//   - Authorize: the 0200 (processing code 500000) for a card payment from a terminal,
//     the PC's DE 39 passed through, 91 when the PC does not answer in time or no link
//     is signed on;
//   - the store-and-forward queue of reversal advices: when a 0200 went out and no
//     answer came in time, a 0420 is durably queued before Authorize returns 91, and is
//     sent (0420, then 0421 for every repeat) in order per PC until a 0430 arrives,
//     across restarts. The queue and the STAN high-water mark live in the ledger's
//     Pebble database under the switch's prefixes 0x4C and 0x4D, written through
//     ledger.Store.Submit (durable when it returns) and read through View;
//   - Reverse, the same advice for an approval the host could not complete, and
//     optionally (Config.WriteAhead) the advice written before each 0200 so that a
//     crash mid-authorization, or an approval never posted, is reversed after restart
//     (CompletionWrite deletes it in the ledger command that posts the payment);
//   - ReversalWrite, the advice's record for the caller's ledger command that reverses a
//     posted card payment, and QueueReversal to send it once that command committed;
//   - the cutover announcement (0800/201, DE 15) to every signed-on connection, and a
//     Status for the admin endpoint.
//
// Requests the PC sends on a connection the host dialled are handed to the switch's
// InboundHandler and answered on the same connection; responses that arrive after
// their caller gave up are logged and dropped.
//
// It must never: tell a caller a payment is approved on anything but the PC's 00 in a
// 0210 matched to its own 0200 (a late 0210 never changes an answer already given);
// return 91 for a 0200 that may have reached the PC before its reversal advice is
// queued (durably, or the error says it is not); write card data (DE 2, 35, 52) to the
// store; log DE 35, DE 52, an unmasked PAN, message bytes or moov's
// UnpackError.RawMessage; write to a socket without a deadline; keep package-level
// mutable state.
package pcclient
