package pcclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/terminals"
)

// Clients holds one Client per processing centre the host dials (institutions of the
// registry with Dial addresses), keyed by institution id.
type Clients struct {
	reg   *terminals.Registry
	byID  map[string]*Client
	order []*Client // by institution id
}

// New builds a client for every institution of reg that has Dial addresses. It does no
// I/O until Start.
func New(cfg Config, reg *terminals.Registry, store Store) (*Clients, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrConfig)
	}
	p := &Clients{reg: reg, byID: map[string]*Client{}}
	for _, in := range reg.Institutions() {
		if len(in.Dial) == 0 {
			continue
		}
		c, err := NewClient(cfg, in, store)
		if err != nil {
			return nil, fmt.Errorf("pcclient: institution %s: %w", in.ID, err)
		}
		p.byID[in.ID] = c
		p.order = append(p.order, c)
	}
	return p, nil
}

// Start starts every client; on an error the ones started are closed again.
func (p *Clients) Start(ctx context.Context) error {
	for i, c := range p.order {
		if err := c.Start(ctx); err != nil {
			for _, s := range p.order[:i] {
				s.Close()
			}
			return fmt.Errorf("pcclient: starting %s: %w", c.inst.ID, err)
		}
	}
	return nil
}

// Close closes every client.
func (p *Clients) Close() error {
	for _, c := range p.order {
		c.Close()
	}
	return nil
}

// Client returns the client of institution id.
func (p *Clients) Client(id string) (*Client, bool) {
	c, ok := p.byID[id]
	return c, ok
}

// Route returns the client of the processing centre that authorizes pan (the
// registry's BIN table). It is false when no PC takes the card, or when the PC that does
// is not one the host dials (its authorizations go over the connections it opens to the
// host, which the switch owns).
func (p *Clients) Route(pan string) (*Client, bool) {
	in, ok := p.reg.Route(pan)
	if !ok {
		return nil, false
	}
	return p.Client(in.ID)
}

// Announce sends the cutover to every client's signed-on connections. A PC with no
// signed-on connection is named in the error (ErrNoLink) but does not stop the others.
func (p *Clients) Announce(ctx context.Context, next ledger.Date) error {
	var errs []error
	for _, c := range p.order {
		if err := c.Announce(ctx, next); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Status reports every client, by institution id.
func (p *Clients) Status() []Status {
	out := make([]Status, 0, len(p.order))
	for _, c := range p.order {
		out = append(out, c.Status())
	}
	return out
}
