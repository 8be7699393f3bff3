// Package hostswitch (directory switch/, since "switch" is a Go keyword) is the host's
// ISO 8583 network layer: one TCP listener per link kind (PC link, dialect pc87a;
// terminal link, dialect term87b), the registry of live connections with its limit, one
// reader and one writer goroutine per connection, a bounded pool of handlers with
// backpressure to the readers, network management (0800 sign-on, sign-off, echo; sign-on
// state per PC connection), the checks of host-iso8583.md §9 (unreadable frames, missing
// mandatory fields), the router from (MTI, processing code) to a Handler, the host's own
// requests on accepted PC connections (idle echo, cutover announcement, Request), graceful
// shutdown, zerolog lines per connection event and per message, and Prometheus metrics
// on a registry of its own.
//
// It owns: sockets and their deadlines, framing errors, the sign-on rule of §3, the
// response MTI, the fields every response echoes and DE 15 in every 0110/0210/0410/0430.
//
// It must never: parse ISO bytes itself (specs/ does), decide a payment (handlers do),
// drop a request whose MTI and DE 11 could be read without answering it, log DE 35, DE 52,
// raw message bytes or an unmasked PAN, write to a socket without a deadline, let one
// connection's slow peer delay another connection, or use a package-level mutable global
// (the default Prometheus registry included).
package hostswitch
