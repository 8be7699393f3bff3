package debtfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The scanner is a strict, streaming tokenizer for exactly the XML a debt
// list needs: start/end tags with attributes, whitespace, comments and
// processing instructions. It has no DTD support at all: <!DOCTYPE, <!ENTITY
// and <![CDATA[ are refused, and the only references it knows are the five
// predefined entities and numeric character references, so external entities
// and entity expansion cannot happen. Every token must fit in MaxTokenBytes.

const (
	bufSize      = 2 * MaxTokenBytes
	progressStep = 4 << 20
)

type evKind uint8

const (
	evStart evKind = iota + 1
	evEnd
	evText // non-whitespace character data (not allowed anywhere in a debt list)
	evEOF
)

type attr struct {
	name, val []byte
}

// event is one token. Its slices point into the scanner's buffers and are
// valid until the next call to next.
type event struct {
	kind  evKind
	name  []byte
	attrs []attr
	empty bool // <x/>
	line  int  // line of the token's first byte
}

type scanner struct {
	src  io.Reader
	buf  []byte
	pos  int // next unread byte
	end  int // end of valid data
	eof  bool
	rerr error

	read     int64 // bytes read from src
	lastProg int64
	progress func(int64)
	tee      io.Writer

	lineBase int // line number at buf[linePos]
	linePos  int

	started bool // past the optional BOM / XML declaration position
	inText  bool // a non-space text run was already reported
	attrs   [maxAttrs]attr
	scratch []byte // decoded attribute values; never reallocated
	any     bool   // something other than a BOM was consumed
}

func newScanner(src io.Reader, progress func(int64), tee io.Writer) *scanner {
	return &scanner{
		src:      src,
		tee:      tee,
		buf:      make([]byte, bufSize),
		progress: progress,
		lineBase: 1,
	}
}

// lineAt returns the line of buf[p] and moves the counting point there;
// p must not be before the previous call's p.
func (s *scanner) lineAt(p int) int {
	if p > s.linePos {
		s.lineBase += bytes.Count(s.buf[s.linePos:p], []byte{'\n'})
		s.linePos = p
	}
	return s.lineBase
}

// peekLine is lineAt without moving the counting point.
func (s *scanner) peekLine(p int) int {
	if p > s.linePos {
		return s.lineBase + bytes.Count(s.buf[s.linePos:p], []byte{'\n'})
	}
	return s.lineBase
}

func (s *scanner) fatal(p int, format string, args ...any) error {
	return &FileError{Line: s.peekLine(p), Msg: fmt.Sprintf(format, args...)}
}

// fill keeps buf[keep:end], moves it to the front and reads more. It
// returns false at the end of input.
func (s *scanner) fill(keep int) (bool, error) {
	if s.eof {
		if s.rerr != nil {
			return false, s.rerr
		}
		return false, nil
	}
	if s.end-keep >= len(s.buf) { // cannot happen: tokens are at most MaxTokenBytes
		return false, s.fatal(keep, "token longer than the buffer")
	}
	if keep > 0 {
		s.lineAt(keep)
		n := copy(s.buf, s.buf[keep:s.end])
		s.pos -= keep
		s.end = n
		s.linePos = 0
	}
	for {
		n, err := s.src.Read(s.buf[s.end:])
		if n > 0 && s.tee != nil {
			if _, werr := s.tee.Write(s.buf[s.end : s.end+n]); werr != nil {
				s.eof, s.rerr = true, werr
				return false, werr
			}
		}
		s.end += n
		s.read += int64(n)
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.rerr = err
			}
			if s.progress != nil {
				s.progress(s.read)
			}
			if n > 0 {
				return true, nil
			}
			if s.rerr != nil {
				return false, s.rerr
			}
			return false, nil
		}
		if n > 0 {
			if s.progress != nil && s.read-s.lastProg >= progressStep {
				s.lastProg = s.read
				s.progress(s.read)
			}
			return true, nil
		}
	}
}

var errNeedMore = errors.New("need more")

// next returns the next token.
func (s *scanner) next() (event, error) {
	for {
		if s.pos >= s.end {
			ok, err := s.fill(s.pos)
			if err != nil {
				return event{}, err
			}
			if !ok {
				return event{kind: evEOF, line: s.lineAt(s.pos)}, nil
			}
			continue
		}
		if !s.started {
			s.started = true
			if bytes.HasPrefix(s.buf[s.pos:s.end], []byte("\xef\xbb\xbf")) {
				s.pos += 3
				continue
			}
			if s.end-s.pos < 3 && !s.eof {
				// Too little to tell whether a BOM starts here.
				s.started = false
				if _, err := s.fill(s.pos); err != nil {
					return event{}, err
				}
				continue
			}
			if b := s.buf[s.pos]; b == 0xfe || b == 0xff || b == 0 {
				return event{}, s.fatal(s.pos, "not UTF-8 (UTF-16 or UTF-32 byte order)")
			}
		}
		if s.buf[s.pos] != '<' {
			if ev, ok, err := s.text(); err != nil || ok {
				return ev, err
			}
			continue
		}
		s.inText = false
		// A token is parsed within a window of MaxTokenBytes, so the limit
		// holds the same however the input arrives.
		lim := s.end
		if lim-s.pos > MaxTokenBytes {
			lim = s.pos + MaxTokenBytes
		}
		ev, n, err := s.markup(s.buf[s.pos:lim], s.pos)
		if err == errNeedMore {
			if lim-s.pos >= MaxTokenBytes {
				return event{}, s.fatal(s.pos, "tag, comment or processing instruction longer than %d bytes", MaxTokenBytes)
			}
			ok, ferr := s.fill(s.pos)
			if ferr != nil {
				return event{}, ferr
			}
			if !ok {
				return event{}, s.fatal(s.pos, "unexpected end of file inside markup")
			}
			continue
		}
		if err != nil {
			return event{}, err
		}
		start := s.pos
		s.pos += n
		s.any = true
		if ev.kind == 0 { // comment or processing instruction
			continue
		}
		ev.line = s.lineAt(start)
		return ev, nil
	}
}

// text consumes character data up to the next '<'. It reports an evText
// event the first time a run holds anything but whitespace.
func (s *scanner) text() (event, bool, error) {
	b := s.buf[s.pos:s.end]
	i := bytes.IndexByte(b, '<')
	if i < 0 {
		i = len(b)
	}
	seg := b[:i]
	if i > 0 {
		s.any = true
	}
	for j, c := range seg {
		if c != ' ' && c != '\n' && c != '\t' && c != '\r' {
			p := s.pos + j
			s.pos += i
			if s.inText {
				return event{}, false, nil
			}
			s.inText = true
			return event{kind: evText, line: s.lineAt(p)}, true, nil
		}
	}
	s.pos += i
	return event{}, false, nil
}

// markup parses the token at b[0] == '<'. off is b's offset in s.buf (for
// error lines). It returns errNeedMore when b ends inside the token.
func (s *scanner) markup(b []byte, off int) (event, int, error) {
	if len(b) < 2 {
		return event{}, 0, errNeedMore
	}
	switch b[1] {
	case '/':
		return s.endTag(b, off)
	case '!':
		return s.bang(b, off)
	case '?':
		return s.procInst(b, off)
	}
	return s.startTag(b, off)
}

func (s *scanner) bang(b []byte, off int) (event, int, error) {
	if len(b) < 4 {
		if !s.eof {
			return event{}, 0, errNeedMore
		}
	}
	if !bytes.HasPrefix(b, []byte("<!--")) {
		if bytes.HasPrefix(b, []byte("<!DOCTYPE")) || bytes.HasPrefix(b, []byte("<!doctype")) {
			return event{}, 0, s.fatal(off, "DOCTYPE is not allowed (no DTDs, no entities)")
		}
		if bytes.HasPrefix(b, []byte("<![CDATA[")) {
			return event{}, 0, s.fatal(off, "CDATA sections are not allowed")
		}
		if len(b) < 9 && !s.eof {
			return event{}, 0, errNeedMore
		}
		return event{}, 0, s.fatal(off, "markup declarations are not allowed")
	}
	i := bytes.Index(b[4:], []byte("--"))
	if i < 0 {
		return event{}, 0, errNeedMore
	}
	body := b[4 : 4+i]
	if 4+i+2 >= len(b) {
		return event{}, 0, errNeedMore
	}
	if b[4+i+2] != '>' {
		return event{}, 0, s.fatal(off+4+i, "'--' inside a comment")
	}
	if err := s.checkChars(body, off+4); err != nil {
		return event{}, 0, err
	}
	return event{}, 4 + i + 3, nil
}

func (s *scanner) procInst(b []byte, off int) (event, int, error) {
	i := bytes.Index(b[2:], []byte("?>"))
	if i < 0 {
		return event{}, 0, errNeedMore
	}
	body := b[2 : 2+i]
	n := 2 + i + 2
	t := 0
	for t < len(body) && body[t] != ' ' && body[t] != '\t' && body[t] != '\n' && body[t] != '\r' {
		t++
	}
	target := body[:t]
	if len(target) == 0 {
		return event{}, 0, s.fatal(off, "processing instruction without a target")
	}
	if len(target) == 3 && (target[0]|0x20) == 'x' && (target[1]|0x20) == 'm' && (target[2]|0x20) == 'l' {
		if s.any {
			return event{}, 0, s.fatal(off, "XML declaration not at the start of the file")
		}
		if err := s.xmlDecl(body[t:], off); err != nil {
			return event{}, 0, err
		}
		return event{}, n, nil
	}
	if err := s.checkChars(body, off+2); err != nil {
		return event{}, 0, err
	}
	return event{}, n, nil
}

// xmlDecl checks the pseudo-attributes of <?xml …?>: version 1.x, encoding
// UTF-8 when given.
func (s *scanner) xmlDecl(b []byte, off int) error {
	for len(b) > 0 {
		b = trimSpace(b)
		if len(b) == 0 {
			break
		}
		eq := bytes.IndexByte(b, '=')
		if eq < 0 {
			return s.fatal(off, "malformed XML declaration")
		}
		name := string(trimSpace(b[:eq]))
		rest := trimSpace(b[eq+1:])
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return s.fatal(off, "malformed XML declaration")
		}
		q := bytes.IndexByte(rest[1:], rest[0])
		if q < 0 {
			return s.fatal(off, "malformed XML declaration")
		}
		val := string(rest[1 : 1+q])
		b = rest[q+2:]
		switch name {
		case "version":
			if len(val) < 3 || val[:2] != "1." {
				return s.fatal(off, "XML version %q not supported", val)
			}
		case "encoding":
			if !equalFold(val, "UTF-8") && !equalFold(val, "UTF8") {
				return s.fatal(off, "encoding %q: debt lists are UTF-8", val)
			}
		case "standalone":
		default:
			return s.fatal(off, "malformed XML declaration")
		}
	}
	return nil
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 32
		}
		if 'a' <= y && y <= 'z' {
			y -= 32
		}
		if x != y {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// nameTab marks bytes that may appear in an XML name (ASCII subset plus
// every non-ASCII byte; names are checked for UTF-8 separately).
var nameTab = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['.'], t['_'], t[':'] = true, true, true, true
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return
}()

func (s *scanner) name(b []byte, i, off int) (int, error) {
	j := i
	var hi byte
	for j < len(b) && nameTab[b[j]] {
		hi |= b[j]
		j++
	}
	if j == len(b) {
		return 0, errNeedMore
	}
	if j == i {
		return 0, s.fatal(off+i, "malformed tag: name expected")
	}
	if c := b[i]; c == '-' || c == '.' || ('0' <= c && c <= '9') {
		return 0, s.fatal(off+i, "malformed name %q", b[i:j])
	}
	if hi >= 0x80 {
		if err := s.checkChars(b[i:j], off+i); err != nil {
			return 0, err
		}
	}
	return j, nil
}

func (s *scanner) endTag(b []byte, off int) (event, int, error) {
	j, err := s.name(b, 2, off)
	if err != nil {
		return event{}, 0, err
	}
	name := b[2:j]
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j == len(b) {
		return event{}, 0, errNeedMore
	}
	if b[j] != '>' {
		return event{}, 0, s.fatal(off+j, "malformed end tag </%s", name)
	}
	return event{kind: evEnd, name: name}, j + 1, nil
}

func (s *scanner) startTag(b []byte, off int) (event, int, error) {
	i, err := s.name(b, 1, off)
	if err != nil {
		return event{}, 0, err
	}
	ev := event{kind: evStart, name: b[1:i]}
	s.scratch = s.scratch[:0]
	n := 0
	for {
		j := i
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return event{}, 0, errNeedMore
		}
		switch b[j] {
		case '>':
			ev.attrs = s.attrs[:n]
			return ev, j + 1, nil
		case '/':
			if j+1 == len(b) {
				return event{}, 0, errNeedMore
			}
			if b[j+1] != '>' {
				return event{}, 0, s.fatal(off+j, "malformed tag <%s", ev.name)
			}
			ev.attrs = s.attrs[:n]
			ev.empty = true
			return ev, j + 2, nil
		}
		if j == i {
			return event{}, 0, s.fatal(off+j, "whitespace expected before attribute in <%s", ev.name)
		}
		k, err := s.name(b, j, off)
		if err != nil {
			return event{}, 0, err
		}
		aname := b[j:k]
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k == len(b) {
			return event{}, 0, errNeedMore
		}
		if b[k] != '=' {
			return event{}, 0, s.fatal(off+k, "'=' expected after attribute %s", aname)
		}
		k++
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		if k == len(b) {
			return event{}, 0, errNeedMore
		}
		q := b[k]
		if q != '"' && q != '\'' {
			return event{}, 0, s.fatal(off+k, "quoted value expected for attribute %s", aname)
		}
		e := bytes.IndexByte(b[k+1:], q)
		if e < 0 {
			return event{}, 0, errNeedMore
		}
		raw := b[k+1 : k+1+e]
		val, err := s.attrValue(raw, off+k+1)
		if err != nil {
			return event{}, 0, err
		}
		for _, a := range s.attrs[:n] {
			if len(a.name) == len(aname) && string(a.name) == string(aname) {
				return event{}, 0, s.fatal(off+j, "duplicate attribute %s", aname)
			}
		}
		if n == maxAttrs {
			return event{}, 0, s.fatal(off+j, "more than %d attributes in <%s>", maxAttrs, ev.name)
		}
		s.attrs[n] = attr{name: aname, val: val}
		n++
		i = k + 1 + e + 1
	}
}

// plainTab marks bytes that an attribute value can hold as they are: no
// reference, no '<', no character to normalize, ASCII.
var plainTab = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['&'], t['<'], t[0x7f] = false, false, true
	return
}()

// attrValue returns the value of raw after reference decoding and the
// XML attribute-value normalisation (tab, CR, LF → space; CR LF → one
// space). It checks UTF-8 and XML characters. off is raw's offset in buf.
func (s *scanner) attrValue(raw []byte, off int) ([]byte, error) {
	i := 0
	for i < len(raw) && plainTab[raw[i]] {
		i++
	}
	if i == len(raw) {
		return raw, nil
	}
	simple := true
	for _, c := range raw[i:] {
		if c == '&' || c == '<' || c < 0x20 {
			simple = false
			break
		}
	}
	if simple { // only printable ASCII and non-ASCII beyond i
		// U+FFFE and U+FFFF (not XML characters) start with 0xEF, as only
		// U+F000–U+FFFF do: rare enough to look closer only then.
		if !utf8.Valid(raw[i:]) || bytes.IndexByte(raw[i:], 0xef) >= 0 {
			if err := s.checkChars(raw[i:], off+i); err != nil {
				return nil, err
			}
		}
		return raw, nil
	}
	start := len(s.scratch)
	out := append(s.scratch, raw[:i]...)
	for i < len(raw) {
		c := raw[i]
		switch {
		case c == '<':
			return nil, s.fatal(off+i, "'<' in an attribute value")
		case c == '\r':
			out = append(out, ' ')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			i++
		case c == '\n' || c == '\t':
			out = append(out, ' ')
			i++
		case c < 0x20:
			return nil, s.fatal(off+i, "control character %#x", c)
		case c == '&':
			r, n, err := s.reference(raw[i:], off+i)
			if err != nil {
				return nil, err
			}
			out = utf8.AppendRune(out, r)
			i += n
		case c < 0x80:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n <= 1 || !isXMLChar(r) {
				return nil, s.fatal(off+i, "invalid UTF-8 or character not allowed in XML")
			}
			out = append(out, raw[i:i+n]...)
			i += n
		}
	}
	s.scratch = out
	return out[start:], nil
}

// reference decodes &lt; &gt; &amp; &quot; &apos; &#N; &#xH; at b[0]=='&'.
func (s *scanner) reference(b []byte, off int) (rune, int, error) {
	semi := bytes.IndexByte(b, ';')
	if semi < 0 || semi > 12 {
		return 0, 0, s.fatal(off, "malformed reference (an & must be written &amp;)")
	}
	ref := b[1:semi]
	switch string(ref) {
	case "lt":
		return '<', semi + 1, nil
	case "gt":
		return '>', semi + 1, nil
	case "amp":
		return '&', semi + 1, nil
	case "quot":
		return '"', semi + 1, nil
	case "apos":
		return '\'', semi + 1, nil
	}
	if len(ref) < 2 || ref[0] != '#' {
		return 0, 0, s.fatal(off, "unknown entity &%s; (only the five XML entities and character references)", ref)
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, 0, s.fatal(off, "malformed character reference &%s;", ref)
	}
	var r rune
	for _, c := range digits {
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, 0, s.fatal(off, "malformed character reference &%s;", ref)
		}
		r = r*base + d
	}
	if !isXMLChar(r) {
		return 0, 0, s.fatal(off, "character reference &%s; is not an XML character", ref)
	}
	return r, semi + 1, nil
}

func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r < 0x20:
		return false
	case r <= 0xD7FF:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	case r < 0x10000:
		return false
	}
	return r <= 0x10FFFF
}

// checkChars checks that b is UTF-8 of XML characters.
func (s *scanner) checkChars(b []byte, off int) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return s.fatal(off+i, "control character %#x", c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 || !isXMLChar(r) {
			return s.fatal(off+i, "invalid UTF-8 or character not allowed in XML")
		}
		i += n
	}
	return nil
}
