// Package simulators holds the black-box counterparties of the host, speaking only the
// wire contracts (host-iso8583.md, provider-exchange.md) over real TCP and HTTP:
//
//   - Conn, a small ISO 8583 client/peer connection shared by every simulator: one
//     framer per link, responses matched to requests on the response MTI and DE 11,
//     many requests in flight, one write deadline per socket write, writes coalesced,
//     and a Handler for the requests the peer sends (the host's 0800 and card
//     authorizations on the full-duplex PC link);
//   - Keys and Origin, which build requests with exactly-once keys that never repeat
//     (DE 32, DE 41, DE 11 from a clock-seeded counter, DE 7);
//   - PC, a processing-centre simulator: it signs on (dialling the host or accepting the
//     host's connection), originates ATM and internet bill payments (inquiry, choosing an
//     account or automatic split, payment, reversal advice on timeout) and acts as card
//     issuer for the host's authorizations with behaviour per BIN or at random rates;
//   - POS, a payment-point terminal simulator (cash and card, sign-on, inquiry, payment,
//     void, reversal advice on timeout, shift close with a 0500);
//   - Provider, a provider simulator: debt files (PE §1) and a receiver of payment
//     notices (PE §3);
//   - Load, the load generator (closed-loop or constant rate, a request mix, HDR
//     latency percentiles, response codes and errors, JSON);
//   - EchoServer, a stock moov-io/iso8583-connection server answering every request with
//     a trivial response in the same dialect (the benchmark's yardstick);
//   - RunDemoTraffic, a short burst of traffic from every channel with a printable
//     summary, for `billswitch demo`.
//
// It must never import the host's packages (switch/, billpay/, ledger/, terminals/):
// it is a client, so the host's own tests may use it. It must never repeat an
// exactly-once key within a process, log a whole PAN, track 2 or PIN block, or keep
// package-level mutable state. Money is int64 minor units.
package simulators
