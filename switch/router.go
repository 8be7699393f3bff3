package hostswitch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
)

// Session is what a handler knows of the connection a request came on. It is a copy,
// taken when the request was read.
type Session struct {
	Link   specs.Link
	Conn   terminals.ConnID
	Remote string
	// SignedOn: on the PC link, the connection has signed on (0800/001) for Institution;
	// the host only passes a PC request to a handler when it has. On the terminal link,
	// whether the terminal sent 0800/001 (terminals need no sign-on).
	SignedOn bool
	// Institution is the acquiring institution of the request: on the PC link the
	// request's DE 32, a known PC the connection has signed on for; on the terminal link
	// the owner of the terminal (an institution or agent id).
	Institution string
	// Terminal is the registry entry of the request's DE 41: always set on the terminal
	// link (unknown terminals are answered 03 before a handler runs); on the PC link set
	// when DE 41 names a registered terminal of that PC (owner = DE 32), else nil.
	Terminal *terminals.Terminal
}

// Handler serves one kind of request. It returns the response; the host sets its MTI,
// echoes the request's DE 3, 4, 7, 11, 12, 13, 32, 33, 37, 41, 42, 49 where the
// response leaves them empty, always echoes DE 11, and adds DE 15 (business date) to
// 0110/0210/0410/0430 when it is empty. A response without DE 39, or an error, is
// answered 96 (system error): a handler returns an error only when nothing was posted.
// req belongs to the handler for the call only. ctx is cancelled when the host stops
// without grace.
type Handler interface {
	ServeISO(ctx context.Context, s Session, req *specs.Message) (*specs.Message, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s Session, req *specs.Message) (*specs.Message, error)

// ServeISO calls f.
func (f HandlerFunc) ServeISO(ctx context.Context, s Session, req *specs.Message) (*specs.Message, error) {
	return f(ctx, s, req)
}

// Router maps (MTI, processing code) to handlers. Repeats and advices route like their
// base request (0201 as 0200, 0401 as 0400, 0421 as 0420) and the handler sees the real
// MTI. It is safe for concurrent use; handlers are normally registered before Start.
type Router struct {
	mu     sync.RWMutex
	routes map[string][]route // base MTI → routes, longest processing-code prefix first
}

type route struct {
	prefix string
	h      Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{routes: map[string][]route{}} }

// Handle registers h for requests whose base MTI is mti ("0100", "0200", "0400",
// "0420", "0500") and whose processing code starts with pcPrefix ("" matches every
// processing code). The longest matching prefix wins. 0800 is served by the host
// itself and cannot be registered.
func (r *Router) Handle(mti, pcPrefix string, h Handler) error {
	if h == nil {
		return fmt.Errorf("hostswitch: nil handler for %s/%s", mti, pcPrefix)
	}
	if len(mti) != 4 || !digits(mti) || baseMTI(mti) != mti {
		return fmt.Errorf("hostswitch: %q is not a base request MTI", mti)
	}
	if mti == "0800" {
		return fmt.Errorf("hostswitch: 0800 is served by the host itself")
	}
	if len(pcPrefix) > 6 || !digits(pcPrefix) {
		return fmt.Errorf("hostswitch: processing code prefix %q", pcPrefix)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.routes[mti]
	for _, x := range rs {
		if x.prefix == pcPrefix {
			return fmt.Errorf("hostswitch: %s/%s registered twice", mti, pcPrefix)
		}
	}
	rs = append(rs, route{prefix: pcPrefix, h: h})
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	r.routes[mti] = rs
	return nil
}

// Lookup returns the handler for a request MTI (base or repeat/advice form) and
// processing code.
func (r *Router) Lookup(mti, pc string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, x := range r.routes[baseMTI(mti)] {
		if strings.HasPrefix(pc, x.prefix) {
			return x.h, true
		}
	}
	return nil, false
}

// baseMTI maps a repeat (xxx1) to its request (xxx0): 0201 → 0200, 0421 → 0420.
func baseMTI(mti string) string {
	if len(mti) == 4 && mti[3] == '1' {
		return mti[:3] + "0"
	}
	return mti
}

// ResponseMTI is the response MTI of a request or advice MTI (0100 → 0110, 0201 → 0210,
// 0420 → 0430, 0421 → 0430), or "" for an MTI that has none (responses, notifications,
// anything that is not four digits).
func ResponseMTI(mti string) string {
	if len(mti) != 4 || !digits(mti) {
		return ""
	}
	switch mti[2] {
	case '0', '2':
	default:
		return ""
	}
	if mti[3] != '0' && mti[3] != '1' {
		return ""
	}
	switch mti[:3] { // the served ones without building a string
	case "010":
		return "0110"
	case "020":
		return "0210"
	case "040":
		return "0410"
	case "042":
		return "0430"
	case "050":
		return "0510"
	case "080":
		return "0810"
	}
	return mti[:2] + string(mti[2]+1) + "0"
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
