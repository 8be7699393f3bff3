// Package terminals is the registry of who may talk to the host and where
// cards are routed.
//
// It owns:
//   - the registry file (YAML): processing centres (institutions) with their
//     addresses, BIN ranges and timeouts; agents; terminals with their kind,
//     card acceptor, cash permission and owner. Load/Parse validate it and
//     report every problem as file:line: message (see docs/registry.md);
//   - the BIN table: Registry.Route picks the processing centre that
//     authorizes a PAN, longest matching prefix first;
//   - per-link state: Links tracks which PC connections are up and signed on.
//
// A Registry is immutable once built and safe for concurrent use; Demo builds
// the registry of `billswitch serve --demo` fresh on each call.
//
// It must never: import another billswitch package (it is a leaf), open
// connections or files other than the registry file it is asked to load,
// keep package-level mutable state, or log (errors are returned; card
// numbers passed to Route are never stored or printed).
package terminals
