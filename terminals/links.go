package terminals

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// ConnID identifies one live connection. The switch allocates them (a
// counter will do); Links only requires that two live connections never share
// one.
type ConnID uint64

// Links tracks the live processing-centre connections and which of them have
// signed on (0800/001). It is safe for concurrent use. A connection belongs to
// at most one institution: an accepted connection may be registered with Up
// before the PC has said who it is (institution ""), and is bound by SignOn.
type Links struct {
	now func() time.Time

	mu    sync.Mutex
	conns map[ConnID]*linkState
}

type linkState struct {
	inst       string
	remote     string
	up         time.Time
	signedOn   bool
	signedOnAt time.Time
}

// LinkState is one connection as Snapshot reports it.
type LinkState struct {
	Conn        ConnID    `json:"conn"`
	Institution string    `json:"institution"` // "" until the PC signs on
	Remote      string    `json:"remote"`
	Up          time.Time `json:"up"`
	SignedOn    bool      `json:"signed_on"`
	SignedOnAt  time.Time `json:"signed_on_at,omitzero"`
}

// NewLinks returns an empty Links. now stamps the times in Snapshot; nil
// means time.Now.
func NewLinks(now func() time.Time) *Links {
	if now == nil {
		now = time.Now
	}
	return &Links{now: now, conns: map[ConnID]*linkState{}}
}

// Up records a new connection from remote (an address, for the operator).
// inst may be "" when the peer has not yet identified itself. It is an error
// to bring up a connection id that is already up.
func (l *Links) Up(inst string, conn ConnID, remote string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.conns[conn]; dup {
		return fmt.Errorf("terminals: connection %d is already up", conn)
	}
	l.conns[conn] = &linkState{inst: inst, remote: remote, up: l.now()}
	return nil
}

// SignOn marks conn signed on for inst, binding it to inst if Up left it
// unbound, and registering it if it was never brought up. Signing on again is
// harmless. It is an error to sign a connection on for a second institution.
func (l *Links) SignOn(inst string, conn ConnID) error {
	if inst == "" {
		return fmt.Errorf("terminals: sign-on of connection %d without an institution", conn)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c, ok := l.conns[conn]
	if !ok {
		c = &linkState{inst: inst, up: now}
		l.conns[conn] = c
	}
	if c.inst == "" {
		c.inst = inst
	}
	if c.inst != inst {
		return fmt.Errorf("terminals: connection %d belongs to institution %s, not %s", conn, c.inst, inst)
	}
	if !c.signedOn {
		c.signedOn, c.signedOnAt = true, now
	}
	return nil
}

// SignOff marks conn signed off (0800/002); it stays up and bound to its
// institution. Unknown connections are ignored.
func (l *Links) SignOff(conn ConnID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[conn]; ok {
		c.signedOn, c.signedOnAt = false, time.Time{}
	}
}

// Down forgets conn (the connection closed). Unknown connections are ignored.
func (l *Links) Down(conn ConnID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, conn)
}

// Institution returns the institution conn is bound to, if any.
func (l *Links) Institution(conn ConnID) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.conns[conn]
	if !ok || c.inst == "" {
		return "", false
	}
	return c.inst, true
}

// IsSignedOn reports whether conn is up and signed on for inst.
func (l *Links) IsSignedOn(inst string, conn ConnID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.conns[conn]
	return ok && c.signedOn && c.inst == inst
}

// SignedOn returns inst's signed-on connections in ascending id order, in a
// new slice (empty when the PC is unreachable).
func (l *Links) SignedOn(inst string) []ConnID {
	l.mu.Lock()
	var out []ConnID
	for id, c := range l.conns {
		if c.signedOn && c.inst == inst {
			out = append(out, id)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Snapshot returns every live connection, ordered by institution then
// connection id, for the admin endpoint.
func (l *Links) Snapshot() []LinkState {
	l.mu.Lock()
	out := make([]LinkState, 0, len(l.conns))
	for id, c := range l.conns {
		out = append(out, LinkState{Conn: id, Institution: c.inst, Remote: c.remote, Up: c.up, SignedOn: c.signedOn, SignedOnAt: c.signedOnAt})
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Institution != out[j].Institution {
			return out[i].Institution < out[j].Institution
		}
		return out[i].Conn < out[j].Conn
	})
	return out
}
