package hostswitch

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/rs/zerolog"
)

// inbound is one request frame whose MTI and DE 11 could be read.
type inbound struct {
	frame        *[]byte // pooled copy of the message bytes
	mti, stan    string
	read         time.Time
	signedOnAs   string // institution the PC connection was signed on for when read
	termSignedOn bool
}

// Response codes the host itself gives (host-iso8583.md §6).
const (
	rcApproved    = "00"
	rcUnknown     = "03"
	rcNotAllowed  = "12"
	rcFormatError = "30"
	rcNotSignedOn = "91"
	rcSystemError = "96"
	netSignOn     = "001"
	netSignOff    = "002"
	netEcho       = "301"
)

// outcome is what process decided, for the log line.
type outcome struct {
	resp *specs.Message
	sess *Session
	note string // why the host answered by itself (30, 12, 03, 91, 96)
}

// process turns one inbound request into a packed response frame, or nil when the
// frame gets no response (an MTI that is not a request). It never returns an error:
// whatever goes wrong becomes a response code.
func (c *conn) process(in *inbound) *[]byte {
	defer c.h.putBuf(in.frame)
	respMTI := ResponseMTI(in.mti)
	if respMTI == "" {
		c.h.metrics.dropped.WithLabelValues(c.l.name, "not_a_request").Inc()
		c.log.Warn().Str("event", "dropped").Str("reason", "not_a_request").Str("mti", in.mti).
			Str("stan", in.stan).Msg("frame dropped: MTI is not a request the host serves")
		return nil
	}
	req := &specs.Message{}
	var o outcome
	if err := c.l.dialect.Unpack(*in.frame, req); err != nil {
		// §9: MTI and DE 11 are readable (Scan), the rest is not: 30, DE 11 echoed.
		*req = specs.Message{MTI: in.mti, STAN: in.stan}
		o = outcome{resp: reply(rcFormatError), note: "unreadable: " + err.Error()}
	} else {
		o = c.decide(in, req)
	}
	frame, resp := c.pack(respMTI, req, &o)
	c.record(in, req, resp, &o)
	return frame
}

func reply(rc string) *specs.Message { return &specs.Message{ResponseCode: rc} }

// served are the base request MTIs of host-iso8583.md §3.
func served(base string) bool {
	switch base {
	case "0100", "0200", "0400", "0420", "0500", "0800":
		return true
	}
	return false
}

// decide applies, in order: the MTI is served (12); mandatory fields (30); network
// management; the sender is known (03); the PC connection signed on for it (91); a
// handler exists (12); the handler.
func (c *conn) decide(in *inbound, req *specs.Message) outcome {
	if !served(baseMTI(req.MTI)) {
		return outcome{resp: reply(rcNotAllowed), note: "MTI not served"}
	}
	if note := c.mandatory(req); note != "" {
		return outcome{resp: reply(rcFormatError), note: note}
	}
	if req.MTI == "0800" {
		return c.netMgmt(in, req)
	}
	sess := &Session{Link: c.l.link, Conn: c.id, Remote: c.remote}
	if c.l.link == specs.LinkPC {
		if _, ok := c.h.dir.Institution(req.AcquirerID); !ok {
			return outcome{resp: reply(rcUnknown), note: "unknown acquiring institution"}
		}
		if in.signedOnAs != req.AcquirerID {
			return outcome{resp: reply(rcNotSignedOn), note: "connection not signed on for this institution"}
		}
		sess.SignedOn, sess.Institution = true, req.AcquirerID
		if t, ok := c.h.dir.Terminal(req.TerminalID); ok && t.Owner == req.AcquirerID {
			sess.Terminal = t
		}
	} else {
		t, ok := c.h.dir.Terminal(req.TerminalID)
		if !ok {
			return outcome{resp: reply(rcUnknown), note: "unknown terminal"}
		}
		sess.Terminal, sess.Institution, sess.SignedOn = t, t.Owner, in.termSignedOn
	}
	h, ok := c.h.router.Lookup(req.MTI, req.ProcessingCode)
	if !ok {
		return outcome{resp: reply(rcNotAllowed), sess: sess, note: "no handler for MTI and processing code"}
	}
	resp, err := c.call(h, *sess, req)
	switch {
	case err != nil:
		return outcome{resp: reply(rcSystemError), sess: sess, note: "handler: " + err.Error()}
	case resp == nil:
		return outcome{resp: reply(rcSystemError), sess: sess, note: "handler returned no response"}
	case resp.ResponseCode == "":
		resp.ResponseCode = rcSystemError
		return outcome{resp: resp, sess: sess, note: "handler response without DE 39"}
	}
	return outcome{resp: resp, sess: sess}
}

// call runs a handler; a panic is a system error, not a dead process.
func (c *conn) call(h Handler, s Session, req *specs.Message) (resp *specs.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return h.ServeISO(c.h.baseCtx, s, req)
}

// mandatory returns why req lacks a mandatory field (host-iso8583.md §2, §9), or "".
// Formats were checked by Unpack; DE 7 is also checked to be a plausible date and time,
// and DE 48, when present, to be a readable TT LLL VALUE sequence.
func (c *conn) mandatory(req *specs.Message) string {
	if !validDE7(req.TransmissionDateTime) {
		if req.TransmissionDateTime == "" {
			return "DE 7 missing"
		}
		return "DE 7 not MMDDhhmmss"
	}
	pc := c.l.link == specs.LinkPC
	if pc && req.AcquirerID == "" {
		return "DE 32 missing"
	}
	switch req.MTI[:2] {
	case "01", "02", "04":
		if strings.TrimRight(req.TerminalID, " ") == "" {
			return "DE 41 missing"
		}
		if req.ProcessingCode == "" {
			return "DE 3 missing"
		}
	case "05":
		if !pc && strings.TrimRight(req.TerminalID, " ") == "" {
			return "DE 41 missing"
		}
		if req.ProcessingCode == "" {
			return "DE 3 missing"
		}
	case "08":
		if req.NetworkCode == "" {
			return "DE 70 missing"
		}
	}
	// §6: DE 48 unreadable is a format error, whatever the handler.
	if req.AdditionalData != "" {
		if _, err := specs.ParseDE48(req.AdditionalData); err != nil {
			return "DE 48 unreadable: " + err.Error()
		}
	}
	return ""
}

func validDE7(s string) bool {
	if len(s) != 10 || !digits(s) {
		return false
	}
	n := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	mm, dd, hh, mi, ss := n(0), n(2), n(4), n(6), n(8)
	return mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31 && hh < 24 && mi < 60 && ss < 60
}

// netMgmt serves 0800 (§3): 001 sign-on, 002 sign-off, 301 echo → 00; any other code
// → 12. On the PC link DE 32 must be a known PC (03), and for sign-on one that may
// connect from this address (03). On the terminal link a DE 41, when present, must be a
// registered terminal (03).
func (c *conn) netMgmt(in *inbound, req *specs.Message) outcome {
	sess := &Session{Link: c.l.link, Conn: c.id, Remote: c.remote}
	code := req.NetworkCode
	if c.l.link == specs.LinkPC {
		inst, ok := c.h.dir.Institution(req.AcquirerID)
		if !ok {
			return outcome{resp: netReply(rcUnknown, code), sess: sess, note: "unknown acquiring institution"}
		}
		sess.Institution = inst.ID
		switch code {
		case netSignOn:
			if addr, ok := remoteAddr(c.nc.RemoteAddr()); ok && !inst.Accepts(addr) {
				return outcome{resp: netReply(rcUnknown, code), sess: sess, note: "institution may not connect from this address"}
			}
			if in.signedOnAs != "" && in.signedOnAs != inst.ID {
				return outcome{resp: netReply(rcNotAllowed, code), sess: sess, note: "connection signed on for another institution"}
			}
			if err := c.h.links.SignOn(inst.ID, c.id); err != nil {
				return outcome{resp: netReply(rcNotAllowed, code), sess: sess, note: "connection bound to another institution"}
			}
			id := inst.ID
			c.signedOnAs.Store(&id)
			sess.SignedOn = true
		case netSignOff:
			c.signedOnAs.Store(nil)
			c.h.links.SignOff(c.id)
		case netEcho:
			sess.SignedOn = in.signedOnAs == inst.ID
		default:
			return outcome{resp: netReply(rcNotAllowed, code), sess: sess, note: "network management code not served"}
		}
		return outcome{resp: netReply(rcApproved, code), sess: sess}
	}
	if strings.TrimRight(req.TerminalID, " ") != "" {
		t, ok := c.h.dir.Terminal(req.TerminalID)
		if !ok {
			return outcome{resp: netReply(rcUnknown, code), sess: sess, note: "unknown terminal"}
		}
		sess.Terminal, sess.Institution = t, t.Owner
	}
	switch code {
	case netSignOn:
		c.termSignedOn.Store(true)
	case netSignOff:
		c.termSignedOn.Store(false)
	case netEcho:
	default:
		return outcome{resp: netReply(rcNotAllowed, code), sess: sess, note: "network management code not served"}
	}
	return outcome{resp: netReply(rcApproved, code), sess: sess}
}

func netReply(rc, code string) *specs.Message {
	return &specs.Message{ResponseCode: rc, NetworkCode: code}
}

func remoteAddr(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr(), true
	}
	return netip.Addr{}, false
}

// needsDE15 are the responses that carry the business date (host-iso8583.md §2).
func needsDE15(respMTI string) bool {
	switch respMTI {
	case "0110", "0210", "0410", "0430":
		return true
	}
	return false
}

// complete sets the response MTI, DE 11, the echoed fields the response left empty
// and DE 15 where §2 wants it.
func (c *conn) complete(respMTI string, req, resp *specs.Message) {
	CompleteResponse(resp, req, c.h.bizDate)
	resp.MTI = respMTI // = ResponseMTI(req.MTI)
}

// CompleteResponse fills what every response of the host carries: the response MTI,
// DE 11, the request's DE 3, 4, 7, 12, 13, 32, 33, 37, 41, 42, 49 where
// the response left them empty (never DE 2, 14, 35, 52), DE 70 of an 0810, and DE 15
// (businessDate, MMDD) of 0110/0210/0410/0430. Connections the host dials use it too.
func CompleteResponse(resp, req *specs.Message, businessDate func() string) {
	resp.MTI = ResponseMTI(req.MTI)
	resp.STAN = req.STAN
	echo := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	echo(&resp.ProcessingCode, req.ProcessingCode)
	echo(&resp.Amount, req.Amount)
	echo(&resp.TransmissionDateTime, req.TransmissionDateTime)
	echo(&resp.LocalTime, req.LocalTime)
	echo(&resp.LocalDate, req.LocalDate)
	echo(&resp.AcquirerID, req.AcquirerID)
	echo(&resp.ForwarderID, req.ForwarderID)
	echo(&resp.RRN, req.RRN)
	echo(&resp.TerminalID, req.TerminalID)
	echo(&resp.CardAcceptorID, req.CardAcceptorID)
	echo(&resp.Currency, req.Currency)
	if resp.MTI == "0810" {
		echo(&resp.NetworkCode, req.NetworkCode)
	}
	if needsDE15(resp.MTI) && resp.SettlementDate == "" && businessDate != nil {
		resp.SettlementDate = businessDate()
	}
}

// pack completes and packs the response into a pooled frame. A response that does not
// pack (a handler's malformed field) is replaced by a minimal 96 with DE 7, DE 11 and
// DE 15; a request answered 30 whose fields cannot be echoed gets a minimal 30.
func (c *conn) pack(respMTI string, req *specs.Message, o *outcome) (*[]byte, *specs.Message) {
	c.complete(respMTI, req, o.resp)
	d := c.l.dialect
	scratch := c.h.getBuf()
	defer c.h.putBuf(scratch)
	body, err := d.AppendPack((*scratch)[:0], o.resp)
	if err != nil {
		rc := rcSystemError
		if o.resp.ResponseCode == rcFormatError {
			rc = rcFormatError
		}
		o.note = strings.TrimPrefix(o.note+"; ", "; ") + "response does not pack: " + err.Error()
		min := &specs.Message{ResponseCode: rc}
		if validDE7(req.TransmissionDateTime) {
			min.TransmissionDateTime = req.TransmissionDateTime
		}
		min.MTI, min.STAN = respMTI, req.STAN
		if respMTI == "0810" && len(req.NetworkCode) == 3 && digits(req.NetworkCode) {
			min.NetworkCode = req.NetworkCode
		}
		if needsDE15(respMTI) {
			min.SettlementDate = c.h.bizDate()
		}
		o.resp = min
		if body, err = d.AppendPack((*scratch)[:0], min); err != nil {
			c.log.Error().Str("event", "pack_failed").Str("mti", respMTI).Str("stan", req.STAN).Err(err).
				Msg("minimal response does not pack: request dropped")
			return nil, min
		}
	}
	out := c.h.getBuf()
	frame, err := d.Framer().AppendFrame((*out)[:0], body)
	if err != nil {
		c.h.putBuf(out)
		c.log.Error().Str("event", "frame_failed").Str("mti", respMTI).Str("stan", req.STAN).Err(err).
			Msg("response does not fit a frame: request dropped")
		return nil, o.resp
	}
	*out = frame
	return out, o.resp
}

// record writes the message's log line and metrics. Never DE 35, DE 52 or raw bytes;
// the PAN masked.
func (c *conn) record(in *inbound, req, resp *specs.Message, o *outcome) {
	lat := time.Since(in.read)
	m := c.h.metrics
	li := 0
	if c.l.link == specs.LinkTerminal {
		li = 1
	}
	m.observeMessage(li, c.l.name, in.mti, resp.ResponseCode, lat.Seconds())
	var ev *zerolog.Event
	switch resp.ResponseCode {
	case rcSystemError:
		ev = c.log.Error()
	case rcFormatError:
		ev = c.log.Warn()
	default:
		ev = c.log.Info()
	}
	if !ev.Enabled() {
		return
	}
	ev = ev.Str("event", "message").Str("mti", in.mti).Str("stan", in.stan).Str("resp_mti", resp.MTI).
		Str("rc", resp.ResponseCode).Int64("latency_us", lat.Microseconds())
	if req.ProcessingCode != "" {
		ev = ev.Str("proc", req.ProcessingCode)
	}
	if req.PAN != "" {
		var buf [32]byte
		ev = ev.Bytes("pan", appendMaskedPAN(buf[:0], req.PAN))
	}
	if t := strings.TrimRight(req.TerminalID, " "); t != "" {
		ev = ev.Str("terminal", t)
	}
	if req.AcquirerID != "" {
		ev = ev.Str("institution", req.AcquirerID)
	} else if o.sess != nil && o.sess.Institution != "" {
		ev = ev.Str("institution", o.sess.Institution)
	}
	if req.NetworkCode != "" {
		ev = ev.Str("de70", req.NetworkCode)
	}
	if o.note != "" {
		ev = ev.Str("note", o.note)
	}
	ev.Msg("message")
}

// rcLabel bounds the response-code label: handlers may set any two characters.
func rcLabel(rc string) string {
	if len(rc) == 2 && digits(rc) {
		return rc
	}
	return "other"
}

// appendMaskedPAN appends specs.MaskPAN(pan) to dst without building a string (the log
// line of every card request carries it).
func appendMaskedPAN(dst []byte, pan string) []byte {
	if len(pan) < 13 {
		for range len(pan) {
			dst = append(dst, '*')
		}
		return dst
	}
	dst = append(dst, pan[:6]...)
	for range len(pan) - 10 {
		dst = append(dst, '*')
	}
	return append(dst, pan[len(pan)-4:]...)
}
