// Package crashtest holds the whole-host crash test: it builds the real
// cmd/billswitch binary, runs `billswitch serve --demo` on a data directory with
// every listener on an ephemeral 127.0.0.1 port, drives concurrent bill payments
// over real TCP on both ISO 8583 links (cash payments from terminal T0000001,
// card payments from processing centre 100001 after sign-on) with the simulators
// package, SIGKILLs the process at a seeded random moment mid-load and restarts it
// on the same directory. It then checks host-iso8583.md §7 and the durability
// standard of DEVELOPERS.md:
//
//   - every approval the client received stands exactly once: its 0201 replays the
//     same DE 38 and tag 22 receipt, and GET /v1/payments/{receipt} finds it posted
//     with the same amount; receipts are never shared;
//   - every payment left unanswered by the crash is settled by its 0201 (an approval
//     replayed, or processed as new) and a second 0201 gives the same answer;
//   - each account's due (ISO 0100) is the fixture's due minus exactly the approved
//     payments, across every round — so nothing acknowledged was lost and nothing
//     was posted twice;
//   - `billswitch ledger verify` passes on the raw crash image and after a clean stop.
//
// It owns no production code and must never be imported. It must never talk beyond
// loopback, use fixed ports, leave a host process running after a test (t.Cleanup
// kills it), or import the host's packages (switch/, billpay/, ledger/): the host
// is a black box behind its wire contracts and its command line.
//
// `go test -short` runs 2 rounds of about 2 s of load; without -short 3 rounds;
// BILLSWITCH_SOAK=1 runs 8 rounds of up to 6 s with more in flight.
// BILLSWITCH_CRASH_SEED repeats a run's kill moments and amounts;
// BILLSWITCH_CRASH_ROUNDS sets the number of rounds. The test skips when the go
// tool is not available to build the binary.
package crashtest
