// Package httpapi is the HTTP adapter of the bill-payment core (billpay): the channel
// API of the web portal, kiosks and cashier desks (providers and services, inquiry by
// account or registration code, cash and card payments, prepaid top-ups, same-day
// reversal by an operator, payment status, receipts as HTML and PDF with a
// verification code and QR, payment history, subscriber registration and linking),
// the providers' web service (online updates of one or many accounts, import status,
// provider-exchange.md §2) and payment notices (webhook delivery with retry, and a
// polling endpoint with acknowledgement, §3). Its OpenAPI 3 document is openapi.yaml
// in this package, served at /openapi.yaml.
//
// It owns: JSON shapes and their validation (money as decimal strings, converted to
// int64 minor units with shopspring/decimal, never a float), RFC 9457 problems with
// stable codes, authentication (channel, operator and provider API keys; providers'
// Ed25519-signed requests), idempotency keys of HTTP requests (namespaced per client
// and handed to the core, which stores the outcome with the payment), body limits and
// per-request deadlines, the TLS-only rule for card data, receipt verification codes
// (HMAC under the host's receipt key), and the webhook dispatcher.
//
// It must never: post anything itself (billpay does, in one durable command, before
// any 2xx is written); import switch/ (card authorization comes through the
// CardAuthorizer interface that cmd wires to the processing-centre client); log or
// store a PAN (masked 6+4 only), CVV or card expiry; accept card data without TLS when
// RequireTLSForCards is set; let a provider see or change another provider's data;
// acknowledge a notice in the outbox before the provider's 2xx; or keep package-level
// mutable state.
//
// Wiring (cmd): cfg := DemoConfig(reg) or LoadConfig(path, getenv); srv, disp, err :=
// New(cfg, Deps{Core, Authorizer, Logger}); serve srv on an http.Server with the
// timeouts of docs/decisions-http.md (TLS in production), and run disp.Run(ctx) until
// shutdown. Decisions where the contracts are silent: docs/decisions-http.md.
package httpapi
