// Package specs owns bytes ↔ fields for the host's two ISO 8583 dialects (pc87a on the
// PC link, term87b on the terminal link), as written in host-iso8583.md §1–§2:
//
//   - the moov-io/iso8583 message specs, kept as embedded JSON (data/*.json) and loaded
//     with moov's specs.ImportJSON; the project's BCD codecs replace moov's after loading;
//   - a fast codec (Dialect.Unpack, AppendPack, Scan) driven by a per-field table derived
//     once from the loaded spec, reading and writing the typed Message directly (no
//     iso8583.Message, no reflection per message); a test cross-checks it against moov's
//     own Pack/Unpack on hand-written golden vectors;
//   - the length framing of each link (Framer: 4 ASCII digits or 2 bytes big-endian,
//     0 and over 8192 refused from the header alone);
//   - the DE 48 TT LLL VALUE codec (DE48) and the inner formats of DE 54, DE 90, DE 97;
//   - MaskPAN, the one masking rule for PANs in logs.
//
// Nothing else in the project parses or builds ISO 8583 bytes.
//
// It must never log, never put message bytes or card data in an error (errors name the
// field and the reason only), never hold card data beyond a call, keep no package-level
// mutable state (callers build one Dialect per link and share it), and never import
// another package of this module.
package specs
