package debtfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

type kind uint8

const (
	kDebts kind = iota + 1
	kAccount
	kDebt
	kMeter
	kCard
	kUnknown
)

var kindName = [...][]byte{
	kDebts:   []byte("debts"),
	kAccount: []byte("account"),
	kDebt:    []byte("debt"),
	kMeter:   []byte("meter"),
	kCard:    []byte("card"),
}

type frame struct {
	kind kind
	name []byte // kUnknown only
	line int
}

type span struct{ off, n int32 }

type meterSpans struct{ id, previous, current, unit, tariff span }

type serviceInfo struct {
	code string
	ok   bool
	msg  string
}

type debtKey struct {
	service string
	period  int
}

// Reader reads one debt list as a stream. It is not safe for concurrent
// use.
type Reader struct {
	sc        *scanner
	opts      Options
	maxErrors int
	hdr       Header
	rep       Report
	err       error // sticky: a *FileError, a read error or io.EOF
	stack     []frame
	nums      numberSet
	services  map[string]serviceInfo

	// The account being read.
	acc       Account
	numBuf    [maxCodeLen]byte
	numLen    int // 0 when the number is missing or invalid
	accOpen   bool
	closed    bool
	prepaid   bool
	cards     int
	nDebts    int
	keys      []debtKey
	keySet    map[debtKey]struct{}
	debtOK    bool // the current debt's service and period are valid (for its label)
	debtLabel []byte
	hasMeter  bool

	// Build state (Next only): every string of an account is cut from one
	// string made at its end.
	build     bool
	arena     []byte
	fields    [6]span // number, name, address, phone, email, card id
	meters    []meterSpans
	debtMeter []int32
	meterVals []Meter
	card      Card
}

const (
	fNumber = iota
	fName
	fAddress
	fPhone
	fEmail
	fCardID
)

// NewReader reads up to and including the root element and checks the
// header. It returns a *FileError when the input is not a well-formed debts
// file in namespace urn:billpay:debts:1 or its header is invalid.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	if opts.MinorDigits < 0 || opts.MinorDigits > 6 {
		return nil, fmt.Errorf("debtfile: MinorDigits %d out of range 0..6", opts.MinorDigits)
	}
	rd := &Reader{
		sc:        newScanner(r, opts.Progress, opts.Tee),
		opts:      opts,
		maxErrors: opts.MaxErrors,
		nums:      newNumberSet(),
		services:  make(map[string]serviceInfo),
		stack:     make([]frame, 0, maxDepth),
	}
	if rd.maxErrors <= 0 {
		rd.maxErrors = defaultMaxErrors
	}
	for {
		ev, err := rd.sc.next()
		if err != nil {
			return nil, err
		}
		switch ev.kind {
		case evEOF:
			return nil, &FileError{Line: ev.line, Msg: "not a debts file: no root element"}
		case evText:
			return nil, &FileError{Line: ev.line, Msg: "not a debts file: text before the root element"}
		case evEnd:
			return nil, &FileError{Line: ev.line, Msg: "not a debts file: end tag before the root element"}
		case evStart:
			if err := rd.header(&ev); err != nil {
				return nil, err
			}
			if !ev.empty {
				rd.stack = append(rd.stack, frame{kind: kDebts, line: ev.line})
			}
			return rd, nil
		}
	}
}

func (r *Reader) header(ev *event) error {
	fail := func(format string, args ...any) error {
		return &FileError{Line: ev.line, Msg: fmt.Sprintf(format, args...)}
	}
	if string(ev.name) != "debts" {
		return fail("not a debts file: root element <%s>", ev.name)
	}
	h := Header{Line: ev.line}
	var ns, created, through, mode []byte
	var have [6]bool
	for _, a := range ev.attrs {
		switch string(a.name) {
		case "xmlns":
			ns, have[0] = a.val, true
		case "provider":
			if msg := checkCode(a.val, maxProviderLen); msg != "" {
				return fail("provider %s: %s", quote(a.val), msg)
			}
			h.Provider, have[1] = string(a.val), true
		case "file-id":
			if len(a.val) == 0 || len(a.val) > maxFileIDLen {
				return fail("file-id must be 1..%d characters", maxFileIDLen)
			}
			for _, c := range a.val {
				if c <= ' ' || c >= 0x7f {
					return fail("file-id %s: printable ASCII without spaces only", quote(a.val))
				}
			}
			h.FileID, have[2] = string(a.val), true
		case "created":
			created, have[3] = a.val, true
		case "registers-through":
			through, have[4] = a.val, true
		case "mode":
			mode, have[5] = a.val, true
		default:
			if !ignorableAttr(a.name) {
				return fail("unknown attribute %s on <debts>", a.name)
			}
		}
	}
	if !have[0] || string(ns) != Namespace {
		return fail("not a debts file: namespace must be %q", Namespace)
	}
	for i, name := range []string{"", "provider", "file-id", "created", "registers-through", "mode"} {
		if i > 0 && !have[i] {
			return fail("<debts> without %s", name)
		}
	}
	var err error
	if h.Created, err = time.Parse(time.RFC3339, string(created)); err != nil {
		return fail("created %s: not an RFC 3339 time with offset", quote(created))
	}
	if h.RegistersThrough, err = time.Parse(time.DateOnly, string(through)); err != nil {
		return fail("registers-through %s: not a date YYYY-MM-DD", quote(through))
	}
	cy, cm, cd := h.Created.Date()
	if h.RegistersThrough.After(time.Date(cy, cm, cd, 0, 0, 0, 0, time.UTC)) {
		return fail("registers-through %s is after the day the file was created", through)
	}
	switch string(mode) {
	case "full":
		h.Mode = ModeFull
	case "delta":
		h.Mode = ModeDelta
	default:
		return fail("mode %s: want full or delta", quote(mode))
	}
	r.hdr = h
	return nil
}

// ignorableAttr: namespace declarations and attributes in another
// namespace (xsi:schemaLocation, xml:lang, …) carry nothing of ours.
func ignorableAttr(name []byte) bool {
	return bytes.IndexByte(name, ':') >= 0
}

// Header returns the file's header.
func (r *Reader) Header() Header { return r.hdr }

// Report returns what was found so far; after Next returned io.EOF it is
// the whole file's.
func (r *Reader) Report() Report { return r.rep }

// Valid reports whether the whole file was read (Next returned io.EOF) and
// had no bad record.
func (r *Reader) Valid() bool { return r.err == io.EOF && r.rep.OK() }

// Next returns the next account, or io.EOF after the last one. The
// returned *Account, its Debts, Card and Meters are reused by the next call:
// Clone what you keep. A bad record does not make Next fail: it is put in
// the Report and reading goes on, so every bad record is found; the account
// is still returned, possibly incomplete, so a caller that applies accounts
// must apply nothing unless Valid() is true after io.EOF. A malformed file
// (*FileError) or a read error stops the Reader: Next returns that error
// from then on.
func (r *Reader) Next() (*Account, error) {
	r.build = true
	return r.next()
}

// Validate reads the whole file once, keeping nothing but the duplicate
// check's set of account numbers. err is a *FileError, a read error or a
// bad Options; bad records are in the Report (see Report.OK).
func Validate(src io.Reader, opts Options) (Header, Report, error) {
	r, err := NewReader(src, opts)
	if err != nil {
		return Header{}, Report{}, err
	}
	for {
		if _, err := r.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return r.hdr, r.rep, nil
			}
			return r.hdr, r.rep, err
		}
	}
}

func (r *Reader) fatal(line int, format string, args ...any) error {
	r.err = &FileError{Line: line, Msg: fmt.Sprintf(format, args...)}
	return r.err
}

// next reads events up to the end of the next account. Without build it
// returns (nil, nil) per account.
func (r *Reader) next() (*Account, error) {
	if r.err != nil {
		return nil, r.err
	}
	for {
		ev, err := r.sc.next()
		if err != nil {
			r.err = err
			return nil, err
		}
		depth := len(r.stack)
		switch ev.kind {
		case evEOF:
			if depth > 0 {
				top := r.stack[depth-1]
				return nil, r.fatal(ev.line, "unexpected end of file: <%s> of line %d not closed", r.frameName(top), top.line)
			}
			r.err = io.EOF
			return nil, io.EOF
		case evText:
			if depth == 0 {
				return nil, r.fatal(ev.line, "text after </debts>")
			}
			if r.stack[depth-1].kind != kUnknown {
				r.recErr(ev.line, "", "text content is not allowed in <"+string(r.frameName(r.stack[depth-1]))+">")
			}
		case evStart:
			if depth == 0 {
				return nil, r.fatal(ev.line, "element <%s> after </debts>", ev.name)
			}
			if depth == maxDepth {
				return nil, r.fatal(ev.line, "elements nested deeper than %d", maxDepth)
			}
			top := r.stack[depth-1].kind
			k := kUnknown
			switch string(ev.name) {
			case "account":
				if top == kDebts {
					k = kAccount
					r.startAccount(&ev)
				}
			case "debt":
				if top == kAccount {
					k = kDebt
					r.startDebt(&ev)
				}
			case "card":
				if top == kAccount {
					k = kCard
					r.startCard(&ev)
				}
			case "meter":
				if top == kDebt {
					k = kMeter
					r.startMeter(&ev)
				}
			}
			if k == kUnknown && top != kUnknown {
				r.recErr(ev.line, string(ev.name), "unknown element <"+string(ev.name)+"> in <"+string(r.frameName(r.stack[depth-1]))+">")
			}
			if ev.empty {
				if k == kAccount {
					return r.endAccount()
				}
				continue
			}
			f := frame{kind: k, line: ev.line}
			if k == kUnknown {
				f.name = append([]byte(nil), ev.name...)
			}
			r.stack = append(r.stack, f)
		case evEnd:
			if depth == 0 {
				return nil, r.fatal(ev.line, "end tag </%s> after </debts>", ev.name)
			}
			top := r.stack[depth-1]
			if want := r.frameName(top); !bytes.Equal(ev.name, want) {
				return nil, r.fatal(ev.line, "end tag </%s> does not match <%s> of line %d", ev.name, want, top.line)
			}
			r.stack = r.stack[:depth-1]
			if top.kind == kAccount {
				return r.endAccount()
			}
		}
	}
}

func (r *Reader) frameName(f frame) []byte {
	if f.kind == kUnknown {
		return f.name
	}
	return kindName[f.kind]
}

// recErr records a bad record of the current account (if any).
func (r *Reader) recErr(line int, field, msg string) {
	if len(r.rep.Errors) >= r.maxErrors {
		r.rep.More++
		return
	}
	acct := ""
	if r.inAccount() && r.numLen > 0 {
		acct = string(r.numBuf[:r.numLen])
	}
	r.rep.Errors = append(r.rep.Errors, RecordError{Line: line, Account: acct, Field: field, Msg: msg})
}

func (r *Reader) inAccount() bool { return r.accOpen }

func (r *Reader) keep(f int, v []byte) {
	if !r.build {
		return
	}
	r.fields[f] = r.put(v)
}

func (r *Reader) put(v []byte) span {
	s := span{int32(len(r.arena)), int32(len(v))}
	r.arena = append(r.arena, v...)
	return s
}

func (r *Reader) startAccount(ev *event) {
	r.rep.Accounts++
	r.acc = Account{Line: ev.line, Debts: r.acc.Debts[:0]}
	r.accOpen = true
	r.numLen, r.closed, r.prepaid, r.cards, r.nDebts = 0, false, false, 0, 0
	r.keys = r.keys[:0]
	r.keySet = nil
	r.arena = r.arena[:0]
	r.fields = [6]span{}
	r.meters = r.meters[:0]
	r.debtMeter = r.debtMeter[:0]
	r.card = Card{}
	line := ev.line

	var number []byte
	hasNumber := false
	for _, a := range ev.attrs {
		if string(a.name) == "number" {
			number, hasNumber = a.val, true
		}
	}
	switch {
	case !hasNumber:
		r.recErr(line, "number", "account without a number")
	default:
		if msg := checkCode(number, maxCodeLen); msg != "" {
			r.recErr(line, "number", "account number "+quote(number)+": "+msg)
			break
		}
		r.numLen = copy(r.numBuf[:], number)
		first, dup, full := r.nums.add(number, line)
		if full {
			r.recErr(line, "number", "too many accounts in one file")
		} else if dup {
			r.recErr(line, "number", "duplicate account number (first at line "+strconv.Itoa(first)+")")
		}
		r.keep(fNumber, number)
	}
	for _, a := range ev.attrs {
		var msg string
		switch string(a.name) {
		case "number":
		case "name":
			if msg = checkText(a.val, maxNameLen); msg == "" {
				r.keep(fName, a.val)
			}
		case "address":
			if msg = checkText(a.val, maxAddressLen); msg == "" {
				r.keep(fAddress, a.val)
			}
		case "phone":
			if msg = checkPhone(a.val); msg == "" {
				r.keep(fPhone, a.val)
			}
		case "email":
			if msg = checkEmail(a.val); msg == "" {
				r.keep(fEmail, a.val)
			}
		case "status":
			switch string(a.val) {
			case "closed":
				r.closed = true
			case "open":
			default:
				msg = "want open or closed"
			}
		case "prepaid":
			switch string(a.val) {
			case "true":
				r.prepaid = true
			case "false":
			default:
				msg = "want true or false"
			}
		default:
			r.otherAttr(line, "account", a)
			continue
		}
		if msg != "" {
			r.recErr(line, string(a.name), string(a.name)+" "+quote(a.val)+": "+msg)
		}
	}
}

// otherAttr handles an attribute the element does not define: a default
// namespace declaration must be ours, attributes of other namespaces are
// ignored, anything else is an error.
func (r *Reader) otherAttr(line int, elem string, a attr) {
	if string(a.name) == "xmlns" {
		if string(a.val) != Namespace {
			r.recErr(line, "xmlns", "<"+elem+"> in namespace "+quote(a.val))
		}
		return
	}
	if ignorableAttr(a.name) {
		return
	}
	r.recErr(line, string(a.name), "unknown attribute "+string(a.name)+" on <"+elem+">")
}

func (r *Reader) startDebt(ev *event) {
	r.rep.Debts++
	r.nDebts++
	r.hasMeter = false
	line := ev.line
	if r.nDebts > MaxDebtsPerAccount {
		if r.nDebts == MaxDebtsPerAccount+1 {
			r.recErr(line, "debt", "more than "+strconv.Itoa(MaxDebtsPerAccount)+" debts in one account")
		}
		return
	}
	if r.build {
		r.acc.Debts = append(r.acc.Debts, Debt{Line: line})
		r.debtMeter = append(r.debtMeter, -1)
	}
	var svc, period, amount []byte
	var hasSvc, hasPeriod, hasAmount bool
	for _, a := range ev.attrs {
		switch string(a.name) {
		case "service":
			svc, hasSvc = a.val, true
		case "period":
			period, hasPeriod = a.val, true
		case "amount":
			amount, hasAmount = a.val, true
		default:
			r.otherAttr(line, "debt", a)
		}
	}
	// The label names the debt in messages: "debt ELEC/202610".
	r.debtLabel = append(r.debtLabel[:0], "debt "...)
	r.debtLabel = append(r.debtLabel, svc...)
	r.debtLabel = append(r.debtLabel, '/')
	r.debtLabel = append(r.debtLabel, period...)
	label := func() string {
		if len(r.debtLabel) > 60 {
			return string(r.debtLabel[:60]) + "…"
		}
		return string(r.debtLabel)
	}

	var d Debt
	d.Line = line
	okKey := true
	if !hasSvc {
		r.recErr(line, "service", label()+": no service")
		okKey = false
	} else {
		info := r.service(svc)
		if info.msg != "" {
			r.recErr(line, "service", label()+": service "+quote(svc)+": "+info.msg)
			okKey = false
		}
		d.Service = info.code
	}
	if !hasPeriod {
		r.recErr(line, "period", label()+": no period")
		okKey = false
	} else {
		p, msg := parsePeriod(period)
		if msg != "" {
			r.recErr(line, "period", label()+": period "+msg)
			okKey = false
		}
		d.Period = p
	}
	if !hasAmount {
		r.recErr(line, "amount", label()+": no amount")
	} else {
		v, msg := parseAmount(amount, r.opts.MinorDigits)
		if msg != "" {
			r.recErr(line, "amount", label()+": amount "+quote(amount)+": "+msg)
		}
		d.Amount = v
	}
	if okKey && r.seenKey(debtKey{d.Service, d.Period}) {
		r.recErr(line, "debt", label()+": service and period repeated in the account")
	}
	if r.build {
		r.acc.Debts[len(r.acc.Debts)-1] = d
	}
}

// service returns the interned code and verdict for a service code.
func (r *Reader) service(b []byte) serviceInfo {
	if info, ok := r.services[string(b)]; ok {
		return info
	}
	info := serviceInfo{code: string(b)}
	if msg := checkCode(b, maxCodeLen); msg != "" {
		info.msg = msg
	} else if r.opts.Service != nil && !r.opts.Service(info.code) {
		info.msg = "not registered for provider " + r.hdr.Provider
	} else {
		info.ok = true
	}
	if len(r.services) < 4096 {
		r.services[info.code] = info
	}
	return info
}

// seenKey adds k to the account's (service, period) set and reports
// whether it was there.
func (r *Reader) seenKey(k debtKey) bool {
	if r.keySet != nil {
		if _, ok := r.keySet[k]; ok {
			return true
		}
		r.keySet[k] = struct{}{}
		return false
	}
	for _, x := range r.keys {
		if x == k {
			return true
		}
	}
	r.keys = append(r.keys, k)
	if len(r.keys) > 32 {
		r.keySet = make(map[debtKey]struct{}, 2*len(r.keys))
		for _, x := range r.keys {
			r.keySet[x] = struct{}{}
		}
	}
	return false
}

func (r *Reader) startMeter(ev *event) {
	line := ev.line
	label := string(r.debtLabel)
	if r.nDebts > MaxDebtsPerAccount {
		return
	}
	if r.hasMeter {
		r.recErr(line, "meter", label+": more than one meter")
	}
	r.hasMeter = true
	var m meterSpans
	hasID := false
	for _, a := range ev.attrs {
		var msg string
		var sp *span
		switch string(a.name) {
		case "id":
			hasID = true
			msg, sp = checkCode(a.val, maxCodeLen), &m.id
		case "previous":
			msg, sp = checkReading(a.val), &m.previous
		case "current":
			msg, sp = checkReading(a.val), &m.current
		case "tariff":
			msg, sp = checkReading(a.val), &m.tariff
		case "unit":
			msg, sp = checkText(a.val, maxUnitLen), &m.unit
		default:
			r.otherAttr(line, "meter", a)
			continue
		}
		if msg != "" {
			r.recErr(line, string(a.name), label+": meter "+string(a.name)+" "+quote(a.val)+": "+msg)
			continue
		}
		if r.build {
			*sp = r.put(a.val)
		}
	}
	if !hasID {
		r.recErr(line, "id", label+": meter without an id")
	}
	if r.build {
		r.debtMeter[len(r.debtMeter)-1] = int32(len(r.meters))
		r.meters = append(r.meters, m)
	}
}

func (r *Reader) startCard(ev *event) {
	line := ev.line
	r.cards++
	if r.cards == 2 {
		r.recErr(line, "card", "more than one card")
	}
	if !r.prepaid {
		r.recErr(line, "card", "card on an account that is not prepaid")
	}
	hasID, hasSeq := false, false
	for _, a := range ev.attrs {
		switch string(a.name) {
		case "id":
			hasID = true
			if msg := checkCode(a.val, maxCodeLen); msg != "" {
				r.recErr(line, "id", "card id "+quote(a.val)+": "+msg)
			} else {
				r.keep(fCardID, a.val)
			}
		case "sequence":
			hasSeq = true
			seq, msg := parseSequence(a.val)
			if msg != "" {
				r.recErr(line, "sequence", "card sequence "+quote(a.val)+": "+msg)
			}
			r.card.Sequence = seq
		default:
			r.otherAttr(line, "card", a)
		}
	}
	if !hasID {
		r.recErr(line, "id", "card without an id")
	}
	if !hasSeq {
		r.recErr(line, "sequence", "card without a sequence")
	}
}

// endAccount checks the account as a whole and, when building, makes its
// strings.
func (r *Reader) endAccount() (*Account, error) {
	if r.closed && r.nDebts > 0 {
		r.recErr(r.acc.Line, "debt", "closed account with "+strconv.Itoa(r.nDebts)+" debts")
	}
	if r.closed && r.cards > 0 {
		r.recErr(r.acc.Line, "card", "closed account with a card")
	}
	r.accOpen = false
	if !r.build {
		return nil, nil
	}
	a := &r.acc
	a.Closed, a.Prepaid = r.closed, r.prepaid
	s := string(r.arena)
	cut := func(sp span) string { return s[sp.off : sp.off+sp.n] }
	a.Number = cut(r.fields[fNumber])
	a.Name = cut(r.fields[fName])
	a.Address = cut(r.fields[fAddress])
	a.Phone = cut(r.fields[fPhone])
	a.Email = cut(r.fields[fEmail])
	if r.cards > 0 {
		r.card.ID = cut(r.fields[fCardID])
		a.Card = &r.card
	} else {
		r.card = Card{}
	}
	if cap(r.meterVals) < len(r.meters) {
		r.meterVals = make([]Meter, len(r.meters), 2*len(r.meters))
	}
	r.meterVals = r.meterVals[:len(r.meters)]
	for i, m := range r.meters {
		r.meterVals[i] = Meter{ID: cut(m.id), Previous: cut(m.previous), Current: cut(m.current), Unit: cut(m.unit), Tariff: cut(m.tariff)}
	}
	for i, mi := range r.debtMeter {
		if mi >= 0 {
			a.Debts[i].Meter = &r.meterVals[mi]
		}
	}
	return a, nil
}
