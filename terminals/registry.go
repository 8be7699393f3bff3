package terminals

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Defaults applied to an institution whose file entry leaves them out.
const (
	DefaultTimeout      = 8 * time.Second
	DefaultEchoInterval = 60 * time.Second
)

// Institution is a processing centre (PC) the host exchanges ISO 8583 with.
// Values returned by a Registry are shared: callers must not modify them.
type Institution struct {
	ID           string        // acquiring institution id, DE 32: 1–11 digits
	Name         string        // display name; may be empty
	Dial         []string      // host:port the host dials; empty = the PC dials us
	Accept       []string      // IPs or CIDRs the PC may connect from; empty = any
	BINs         []BINRange    // card ranges this PC authorizes
	Timeout      time.Duration // authorization timeout (default 8s)
	EchoInterval time.Duration // idle echo interval (default 60s)
	Currency     uint16        // ISO 4217 numeric currency of the PC; 0 = not restricted

	accept []netip.Prefix // Accept, parsed
}

// Accepts reports whether a connection from addr may claim to be this
// institution. An institution with no Accept list accepts any address.
func (in *Institution) Accepts(addr netip.Addr) bool {
	if len(in.accept) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range in.accept {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// BINRange is an inclusive range of card number prefixes. Low and High are
// digit strings of the same length L (1–19). A PAN falls in the range when
// its first L digits, compared as numbers, lie between Low and High: so
// "4"–"4" is every PAN starting with 4, and "416973"–"416974" two six-digit
// BINs. Ranges of different lengths are comparable: "4", "40"–"49" and
// "400000"–"499999" hold the same cards. (A PAN shorter than L is read as if
// padded with zeros; real PANs, 12–19 digits, are never that short.)
type BINRange struct {
	Low, High string
}

// Contains reports whether pan's leading digits fall in the range.
func (b BINRange) Contains(pan string) bool {
	x, ok := panKey(pan)
	if !ok {
		return false
	}
	lo, hi := b.bounds()
	return lo <= x && x <= hi
}

// panDigits is the longest PAN (ISO/IEC 7812); every range and PAN is
// compared as a 19-digit number, which fits in a uint64.
const panDigits = 19

// bounds returns the range as 19-digit numbers: Low padded with zeros, High
// with nines. It assumes a validated range.
func (b BINRange) bounds() (lo, hi uint64) {
	for i := 0; i < panDigits; i++ {
		dl, dh := uint64(0), uint64(9)
		if i < len(b.Low) {
			dl, dh = uint64(b.Low[i]-'0'), uint64(b.High[i]-'0')
		}
		lo, hi = lo*10+dl, hi*10+dh
	}
	return lo, hi
}

// panKey reads a PAN's first 19 digits as a number, padding a shorter PAN
// with zeros. Anything but digits (or nothing) has no key.
func panKey(pan string) (uint64, bool) {
	if pan == "" {
		return 0, false
	}
	var x uint64
	for i := 0; i < panDigits; i++ {
		d := uint64(0)
		if i < len(pan) {
			c := pan[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			d = uint64(c - '0')
		}
		x = x*10 + d
	}
	for i := panDigits; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return 0, false
		}
	}
	return x, true
}

// Agent is a party other than a processing centre that owns terminals (a
// bill-payment agent running kiosks or cashier desks).
type Agent struct {
	ID   string
	Name string
}

// Terminal is a device that sends requests on the terminal link, or under a
// PC on the PC link (an ATM whose DE 41 the PC forwards).
// Values returned by a Registry are shared: callers must not modify them.
type Terminal struct {
	ID           string // DE 41: 1–8 printable ASCII characters, stored without padding
	Kind         Kind
	CardAcceptor string // DE 42: up to 15 printable ASCII characters; may be empty
	Name         string
	Cash         bool   // may take cash payments (requests without DE 2/35)
	Owner        string // id of the owning institution or agent
}

// Registry holds the institutions, agents and terminals of one registry file,
// and the BIN table built from the institutions' ranges. It is immutable once
// built and safe for concurrent use.
type Registry struct {
	institutions map[string]*Institution
	agents       map[string]*Agent
	terminals    map[string]*Terminal
	// segs is the BIN table flattened into disjoint, ascending segments of
	// the 19-digit PAN space, each owned by the innermost range covering it.
	segs []binSeg
}

type binSeg struct {
	lo, hi uint64
	inst   *Institution
}

// Institution returns the institution with acquiring institution id id.
func (r *Registry) Institution(id string) (*Institution, bool) {
	in, ok := r.institutions[id]
	return in, ok
}

// Agent returns the agent with the given id.
func (r *Registry) Agent(id string) (*Agent, bool) {
	a, ok := r.agents[id]
	return a, ok
}

// Terminal returns the terminal with the given id. DE 41 is a fixed eight
// characters padded with spaces, so trailing spaces are ignored.
func (r *Registry) Terminal(id string) (*Terminal, bool) {
	t, ok := r.terminals[strings.TrimRight(id, " ")]
	return t, ok
}

// Route returns the processing centre that authorizes pan. Ranges may nest
// (Parse refuses any other overlap), and the innermost range containing the
// PAN wins: a PC's 8-digit BIN carved out of another PC's 6-digit range takes
// the cards of that BIN. A PAN with anything but digits routes nowhere.
func (r *Registry) Route(pan string) (*Institution, bool) {
	x, ok := panKey(pan)
	if !ok {
		return nil, false
	}
	i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].hi >= x })
	if i < len(r.segs) && r.segs[i].lo <= x {
		return r.segs[i].inst, true
	}
	return nil, false
}

// Institutions returns every institution, sorted by id, in a new slice.
func (r *Registry) Institutions() []*Institution { return sortedValues(r.institutions) }

// Agents returns every agent, sorted by id, in a new slice.
func (r *Registry) Agents() []*Agent { return sortedValues(r.agents) }

// Terminals returns every terminal, sorted by id, in a new slice.
func (r *Registry) Terminals() []*Terminal { return sortedValues(r.terminals) }

func sortedValues[V any](m map[string]*V) []*V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
