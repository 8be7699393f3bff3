// Package e2e holds end-to-end tests that need packages no other package may import
// together: the ISO 8583 host (switch/) and the HTTP adapter (billpay/httpapi) on one
// bill-payment core, both over real TCP on 127.0.0.1. It has no production code and
// must never be imported.
package e2e
