package terminals

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a registry file.
type Problem struct {
	File string
	Line int // 1-based; 0 when the problem has no position (an unreadable file)
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// ParseError lists every problem found in a registry file, in line order.
type ParseError struct {
	Problems []Problem
}

func (e *ParseError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates the registry file at path.
func Load(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &ParseError{Problems: []Problem{{File: path, Msg: err.Error()}}}
	}
	return Parse(path, data)
}

// Parse validates a registry file's contents; name is used in error messages.
// On failure the error is a *ParseError naming every problem found.
func Parse(name string, data []byte) (*Registry, error) {
	p := &parser{file: name, dials: map[string]dialAt{}}
	reg := p.parse(data)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &ParseError{Problems: p.problems}
	}
	return reg, nil
}

type parser struct {
	file     string
	problems []Problem
	dials    map[string]dialAt // dial address -> where first listed
}

type dialAt struct {
	inst string
	line int
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// syntax reports an error from the YAML library, moving its "line N:" into
// the file:line position.
func (p *parser) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, after, ok := strings.Cut(rest, ": ")
		if line, err := strconv.Atoi(num); ok && err == nil {
			p.errorf(line, "%s", after)
			return
		}
	}
	p.errorf(0, "%s", msg)
}

// Limits from the host interface (DE 32 n..11, DE 41 ans8, DE 42 ans15).
const (
	maxInstitutionID = 11
	maxTerminalID    = 8
	maxCardAcceptor  = 15
	maxAgentID       = 32
	maxBINLength     = 19
)

func (p *parser) parse(data []byte) *Registry {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(0, "empty registry file")
		} else {
			p.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(extra.Line, "more than one YAML document; a registry file holds one")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			p.errorf(0, "empty registry file")
			return nil
		}
		root = resolve(root.Content[0])
	}
	top := p.fields(root, "registry", "institutions", "agents", "terminals")
	if top == nil {
		return nil
	}

	reg := &Registry{
		institutions: map[string]*Institution{},
		agents:       map[string]*Agent{},
		terminals:    map[string]*Terminal{},
	}
	instLine := map[string]int{}
	var routes []binRoute
	for _, n := range p.list(top["institutions"], "institutions") {
		in, bins := p.institution(n)
		if in == nil {
			continue
		}
		if prev, dup := instLine[in.ID]; dup {
			p.errorf(n.Line, "duplicate institution id %q (first declared at line %d)", in.ID, prev)
			continue
		}
		instLine[in.ID] = n.Line
		reg.institutions[in.ID] = in
		routes = append(routes, bins...)
	}

	agentLine := map[string]int{}
	for _, n := range p.list(top["agents"], "agents") {
		a := p.agent(n)
		if a == nil {
			continue
		}
		if prev, dup := agentLine[a.ID]; dup {
			p.errorf(n.Line, "duplicate agent id %q (first declared at line %d)", a.ID, prev)
			continue
		}
		if prev, clash := instLine[a.ID]; clash {
			p.errorf(n.Line, "agent id %q is also an institution id (line %d); owners must be unambiguous", a.ID, prev)
			continue
		}
		agentLine[a.ID] = n.Line
		reg.agents[a.ID] = a
	}

	termLine := map[string]int{}
	for _, n := range p.list(top["terminals"], "terminals") {
		t, ownerLine := p.terminal(n)
		if t == nil {
			continue
		}
		if prev, dup := termLine[t.ID]; dup {
			p.errorf(n.Line, "duplicate terminal id %q (first declared at line %d)", t.ID, prev)
			continue
		}
		termLine[t.ID] = n.Line
		if t.Owner != "" {
			_, isInst := reg.institutions[t.Owner]
			_, isAgent := reg.agents[t.Owner]
			if !isInst && !isAgent {
				p.errorf(ownerLine, "terminal %s: owner %q is neither an institution nor an agent", t.ID, t.Owner)
			}
		}
		reg.terminals[t.ID] = t
	}

	reg.segs = p.binTable(routes)
	return reg
}

// institution parses one entry of institutions:. It returns nil when the
// entry is too broken to register (no usable id).
func (p *parser) institution(n *yaml.Node) (*Institution, []binRoute) {
	f := p.fields(n, "institution", "id", "name", "dial", "accept", "bins", "timeout", "echo_interval", "currency")
	if f == nil {
		return nil, nil
	}
	id, idLine, ok := p.requiredString(f, n, "id", "institution")
	if !ok {
		return nil, nil
	}
	if !isDigits(id) || len(id) > maxInstitutionID {
		p.errorf(idLine, "institution id %q: want 1 to %d digits (DE 32)", id, maxInstitutionID)
		return nil, nil
	}
	in := &Institution{
		ID:           id,
		Name:         p.optionalString(f, "name"),
		Timeout:      p.duration(f, "timeout", id, DefaultTimeout),
		EchoInterval: p.duration(f, "echo_interval", id, DefaultEchoInterval),
	}
	for _, d := range p.list(f["dial"], "dial") {
		s, ok := p.str(d, "dial address")
		if !ok {
			continue
		}
		if err := checkHostPort(s); err != nil {
			p.errorf(d.Line, "institution %s: dial address %q: %v", id, s, err)
			continue
		}
		// The same address twice would open two links to one peer.
		if prev, dup := p.dials[s]; dup {
			p.errorf(d.Line, "institution %s: dial address %s already listed under institution %s (line %d)", id, s, prev.inst, prev.line)
			continue
		}
		p.dials[s] = dialAt{inst: id, line: d.Line}
		in.Dial = append(in.Dial, s)
	}
	for _, a := range p.list(f["accept"], "accept") {
		s, ok := p.str(a, "accept address")
		if !ok {
			continue
		}
		prefix, err := parseAccept(s)
		if err != nil {
			p.errorf(a.Line, "institution %s: accept %q: %v", id, s, err)
			continue
		}
		in.Accept = append(in.Accept, s)
		in.accept = append(in.accept, prefix)
	}
	if c, ok := f["currency"]; ok && !isNull(c) {
		s, ok := p.str(c, "currency")
		v, err := strconv.ParseUint(s, 10, 16)
		if !ok {
			// reported by str
		} else if err != nil || v < 1 || v > 999 || !isDigits(s) {
			p.errorf(c.Line, "institution %s: currency %q: want an ISO 4217 numeric code 1 to 999", id, s)
		} else {
			in.Currency = uint16(v)
		}
	}
	var routes []binRoute
	for _, b := range p.list(f["bins"], "bins") {
		r, ok := p.binRange(b, id)
		if !ok {
			continue
		}
		in.BINs = append(in.BINs, r)
		routes = append(routes, binRoute{BINRange: r, inst: in, line: b.Line})
	}
	return in, routes
}

// binRange parses {low, high} or the shorthand {prefix}.
func (p *parser) binRange(n *yaml.Node, inst string) (BINRange, bool) {
	f := p.fields(n, "bin range", "low", "high", "prefix")
	if f == nil {
		return BINRange{}, false
	}
	var r BINRange
	if pre, ok := f["prefix"]; ok {
		if _, ok := f["low"]; ok {
			p.errorf(n.Line, "institution %s: bin range: give either prefix or low and high, not both", inst)
			return r, false
		}
		if _, ok := f["high"]; ok {
			p.errorf(n.Line, "institution %s: bin range: give either prefix or low and high, not both", inst)
			return r, false
		}
		s, ok := p.str(pre, "prefix")
		if !ok || !p.binDigits(pre.Line, inst, "prefix", s) {
			return r, false
		}
		return BINRange{Low: s, High: s}, true
	}
	low, lowLine, ok1 := p.requiredString(f, n, "low", "bin range of institution "+inst)
	high, highLine, ok2 := p.requiredString(f, n, "high", "bin range of institution "+inst)
	if !ok1 || !ok2 {
		return r, false
	}
	ok1 = p.binDigits(lowLine, inst, "low", low)
	ok2 = p.binDigits(highLine, inst, "high", high)
	if !ok1 || !ok2 {
		return r, false
	}
	if len(low) != len(high) {
		p.errorf(n.Line, "institution %s: bin range %s-%s: low and high must have the same number of digits", inst, low, high)
		return r, false
	}
	if low > high {
		p.errorf(n.Line, "institution %s: bin range %s-%s: low is above high", inst, low, high)
		return r, false
	}
	return BINRange{Low: low, High: high}, true
}

func (p *parser) binDigits(line int, inst, key, s string) bool {
	if !isDigits(s) || len(s) > maxBINLength {
		p.errorf(line, "institution %s: bin %s %q: want 1 to %d digits", inst, key, s, maxBINLength)
		return false
	}
	return true
}

// binRoute is one validated range of one institution.
type binRoute struct {
	BINRange
	lo, hi uint64 // bounds()
	inst   *Institution
	line   int // where it was declared, for messages
}

// binTable checks that the ranges form a laminar family (any two are
// disjoint or one lies strictly inside the other), reporting every partial
// overlap and every pair covering the same cards, and flattens the rest into
// disjoint segments owned by the innermost range.
func (p *parser) binTable(routes []binRoute) []binSeg {
	for i := range routes {
		routes[i].lo, routes[i].hi = routes[i].bounds()
	}
	// Outer ranges before the ranges they contain.
	sort.SliceStable(routes, func(i, j int) bool {
		if routes[i].lo != routes[j].lo {
			return routes[i].lo < routes[j].lo
		}
		return routes[i].hi > routes[j].hi
	})
	var segs []binSeg
	emit := func(lo, hi uint64, in *Institution) {
		if n := len(segs); n > 0 && segs[n-1].inst == in && segs[n-1].hi+1 == lo {
			segs[n-1].hi = hi
			return
		}
		segs = append(segs, binSeg{lo: lo, hi: hi, inst: in})
	}
	var open []binRoute // a chain of nested ranges, innermost last
	var cur uint64      // start of the part of the PAN space not yet emitted
	closeTo := func(limit uint64, all bool) {
		for len(open) > 0 {
			top := open[len(open)-1]
			if !all && top.hi >= limit {
				return
			}
			if cur <= top.hi {
				emit(cur, top.hi, top.inst)
				cur = top.hi + 1
			}
			open = open[:len(open)-1]
		}
	}
	for _, r := range routes {
		closeTo(r.lo, false)
		if len(open) > 0 {
			top := open[len(open)-1]
			switch {
			case r.lo == top.lo && r.hi == top.hi:
				p.errorf(r.line, "institution %s: bin range %s-%s covers the same cards as %s-%s of %s (line %d)",
					r.inst.ID, r.Low, r.High, top.Low, top.High, owner(r, top), top.line)
				continue
			case r.hi > top.hi:
				p.errorf(r.line, "institution %s: bin range %s-%s overlaps %s-%s of %s (line %d) without lying inside it",
					r.inst.ID, r.Low, r.High, top.Low, top.High, owner(r, top), top.line)
				continue
			}
			if cur < r.lo {
				emit(cur, r.lo-1, top.inst)
			}
		}
		cur = r.lo
		open = append(open, r)
	}
	closeTo(0, true)
	return segs
}

func owner(r, other binRoute) string {
	if r.inst == other.inst {
		return "the same institution"
	}
	return "institution " + other.inst.ID
}

func (p *parser) agent(n *yaml.Node) *Agent {
	f := p.fields(n, "agent", "id", "name")
	if f == nil {
		return nil
	}
	id, line, ok := p.requiredString(f, n, "id", "agent")
	if !ok {
		return nil
	}
	if len(id) > maxAgentID || !isPrintable(id) || strings.ContainsRune(id, ' ') {
		p.errorf(line, "agent id %q: want 1 to %d printable ASCII characters without spaces", id, maxAgentID)
		return nil
	}
	return &Agent{ID: id, Name: p.optionalString(f, "name")}
}

// terminal parses one entry of terminals:; it also returns the line of the
// owner key so an unknown owner can be reported there.
func (p *parser) terminal(n *yaml.Node) (*Terminal, int) {
	f := p.fields(n, "terminal", "id", "kind", "card_acceptor", "name", "cash", "owner")
	if f == nil {
		return nil, 0
	}
	id, idLine, ok := p.requiredString(f, n, "id", "terminal")
	if !ok {
		return nil, 0
	}
	if len(id) > maxTerminalID || !isPrintable(id) || strings.TrimSpace(id) != id {
		p.errorf(idLine, "terminal id %q: want 1 to %d printable ASCII characters, no leading or trailing spaces (DE 41)", id, maxTerminalID)
		return nil, 0
	}
	t := &Terminal{ID: id, Name: p.optionalString(f, "name")}
	if s, line, ok := p.requiredString(f, n, "kind", "terminal "+id); ok {
		k, err := ParseKind(s)
		if err != nil {
			p.errorf(line, "terminal %s: %v", id, err)
		}
		t.Kind = k
	}
	if ca, ok := f["card_acceptor"]; ok && !isNull(ca) {
		if s, ok := p.str(ca, "card_acceptor"); !ok {
			// reported by str
		} else if len(s) > maxCardAcceptor || !isPrintable(s) || strings.TrimSpace(s) != s {
			p.errorf(ca.Line, "terminal %s: card_acceptor %q: want up to %d printable ASCII characters, no leading or trailing spaces (DE 42)", id, s, maxCardAcceptor)
		} else {
			t.CardAcceptor = s
		}
	}
	if c, ok := f["cash"]; ok && !isNull(c) {
		// Only true/false: yaml.v3 would also take yes/on into a bool.
		if c.Kind != yaml.ScalarNode || c.ShortTag() != "!!bool" || c.Decode(&t.Cash) != nil {
			p.errorf(c.Line, "terminal %s: cash %q: want true or false", id, c.Value)
		}
	}
	owner, ownerLine, _ := p.requiredString(f, n, "owner", "terminal "+id)
	t.Owner = owner
	return t, ownerLine
}

func (p *parser) duration(f map[string]*yaml.Node, key, inst string, def time.Duration) time.Duration {
	n, ok := f[key]
	if !ok || isNull(n) {
		return def
	}
	s, ok := p.str(n, key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.errorf(n.Line, "institution %s: %s %q: want a positive duration such as 8s or 1m30s", inst, key, s)
		return def
	}
	return d
}

// fields checks that n is a mapping whose keys are all in allowed, and
// returns its values by key. Unknown and repeated keys are reported.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s: want a mapping of keys (%s), got %s", what, strings.Join(allowed, ", "), kindName(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	keyLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if !contains(allowed, k.Value) {
			p.errorf(k.Line, "%s: unknown key %q (known keys: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := keyLine[k.Value]; dup {
			p.errorf(k.Line, "%s: key %q repeated (first at line %d)", what, k.Value, prev)
			continue
		}
		keyLine[k.Value] = k.Line
		out[k.Value] = v
	}
	return out
}

// list returns the items of a sequence; a missing or null value is empty.
func (p *parser) list(n *yaml.Node, what string) []*yaml.Node {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s: want a list, got %s", what, kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = resolve(c)
	}
	return out
}

// str returns a scalar's text as written (so 0100 stays "0100").
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, "%s: want a single value, got %s", what, kindName(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

func (p *parser) requiredString(f map[string]*yaml.Node, parent *yaml.Node, key, what string) (string, int, bool) {
	n, ok := f[key]
	if !ok || isNull(n) {
		p.errorf(parent.Line, "%s: missing %s", what, key)
		return "", parent.Line, false
	}
	s, ok := p.str(n, what+" "+key)
	if !ok {
		return "", n.Line, false
	}
	if s == "" {
		p.errorf(n.Line, "%s: empty %s", what, key)
		return "", n.Line, false
	}
	return s, n.Line, true
}

func (p *parser) optionalString(f map[string]*yaml.Node, key string) string {
	n, ok := f[key]
	if !ok {
		return ""
	}
	s, _ := p.str(n, key)
	return s
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1 to 65535", port)
	}
	return nil
}

// parseAccept parses an IP address or a CIDR prefix. A prefix with host bits
// set (10.0.0.1/8) is refused as probably a typo.
func parseAccept(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("want an IP address or CIDR prefix")
		}
		if pr.Masked() != pr {
			return netip.Prefix{}, fmt.Errorf("host bits set; did you mean %s?", pr.Masked())
		}
		return pr, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want an IP address or CIDR prefix")
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned addresses are not supported")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
