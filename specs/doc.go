// Package specs owns bytes ↔ fields for the host's two ISO 8583 dialects (pc87a on the
// PC link, term87b on the terminal link): the moov-io/iso8583 message specs kept as
// embedded data, the length framing of each link, the DE 48 TT LLL VALUE codec and the
// typed Message that the rest of the host uses. Nothing else in the project parses ISO.
//
// It must never log, never hold card data beyond a call, and never import another
// package of this module.
package specs
