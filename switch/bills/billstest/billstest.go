// Package billstest builds a whole host in one process for tests, benchmarks and
// conformance runs: a ledger store in a directory, the bill-payment core with the demo
// providers and seed, the ISO 8583 host on 127.0.0.1 ephemeral ports with the
// bill-payment handlers, the clients of the processing centres the registry dials, and
// the cutover. It wires things the way cmd/billswitch does; it holds no logic of its
// own. It must never be used by production code paths.
package billstest

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/billpay"
	"github.com/billswitch/billswitch/billpay/clearing"
	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	hostswitch "github.com/billswitch/billswitch/switch"
	"github.com/billswitch/billswitch/switch/bills"
	"github.com/billswitch/billswitch/switch/pcclient"
	"github.com/billswitch/billswitch/terminals"
)

// Options configure a Stack. Only Dir is required.
type Options struct {
	Dir      string              // data directory of the ledger
	Registry *terminals.Registry // nil: terminals.Demo()
	HostID   string              // DE 32 of the host's own requests (default 999999)
	// InitialDate is the business date of a new store (default: today UTC).
	InitialDate ledger.Date
	// PCConfig tunes the PC clients (HostID, Logger are filled in).
	PCConfig pcclient.Config
	Logger   zerolog.Logger
	// PCAddr and TermAddr default to 127.0.0.1:0.
	PCAddr, TermAddr string
	HostConfig       hostswitch.Config
	// Authorizer, if set, wraps the handlers' authorizer (a test's fault injection).
	Authorizer func(bills.Authorizer) bills.Authorizer
}

// Stack is a running host.
type Stack struct {
	Store    *ledger.Store
	Core     *billpay.Core
	Registry *terminals.Registry
	Host     *hostswitch.Host
	Handlers *bills.Handlers
	Clients  *pcclient.Clients
	Cutover  *bills.Cutover
	RegCode  string // the demo registration code
	PCAddr   string
	TermAddr string
}

// Start builds and starts a stack.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	if o.Dir == "" {
		return nil, errors.New("billstest: Dir is required")
	}
	if o.Registry == nil {
		o.Registry = terminals.Demo()
	}
	if o.HostID == "" {
		o.HostID = "999999"
	}
	if o.PCAddr == "" {
		o.PCAddr = "127.0.0.1:0"
	}
	if o.TermAddr == "" {
		o.TermAddr = "127.0.0.1:0"
	}
	st = &Stack{Registry: o.Registry}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	st.Store, err = ledger.Open(ledger.Options{Dir: o.Dir, InitialDate: o.InitialDate, Logger: o.Logger})
	if err != nil {
		return st, err
	}
	st.Core, err = billpay.New(billpay.Options{Ledger: st.Store, Registry: billpay.DemoRegistry(), Logger: o.Logger})
	if err != nil {
		return st, err
	}
	if st.RegCode, err = billpay.SeedDemo(ctx, st.Core); err != nil {
		return st, err
	}
	pc, err := specs.NewPC87A()
	if err != nil {
		return st, err
	}
	term, err := specs.NewTerm87B()
	if err != nil {
		return st, err
	}
	pcc := o.PCConfig
	pcc.HostID, pcc.Dialect = o.HostID, pc
	pcc.Logger = o.Logger.With().Str("component", "pcclient").Logger()
	// PC requests on dialled connections go to the same handlers (set before Start).
	var inbound pcclient.InboundHandler
	pcc.Inbound = func(ctx context.Context, p pcclient.Peer, req *specs.Message) (*specs.Message, error) {
		return inbound(ctx, p, req)
	}
	st.Clients, err = pcclient.New(pcc, o.Registry, st.Store)
	if err != nil {
		return st, err
	}
	hc := o.HostConfig
	hc.PCAddr, hc.TerminalAddr, hc.HostID = o.PCAddr, o.TermAddr, o.HostID
	st.Host, err = hostswitch.New(hc, hostswitch.Deps{
		PC: pc, Terminal: term, Directory: o.Registry, Logger: o.Logger,
		BusinessDate: func() string { return bdMMDD(st.Store.BusinessDate()) }, // the ledger's date
	})
	if err != nil {
		return st, err
	}
	var auth bills.Authorizer = bills.PCAuthorizer{Clients: st.Clients}
	if o.Authorizer != nil {
		auth = o.Authorizer(auth)
	}
	st.Handlers, err = bills.Register(st.Host.Router(), bills.Deps{
		Core: st.Core, Registry: o.Registry, Authorizer: auth, Logger: o.Logger,
	})
	if err != nil {
		return st, err
	}
	bd := func() string { return bdMMDD(st.Store.BusinessDate()) }
	inbound = bills.Inbound(st.Host.Router(), o.Registry, bd)
	st.Cutover, err = bills.NewCutover(bills.CutoverConfig{
		// Through the core's gate, as `billswitch serve` wires it: no payment or
		// reversal straddles the cutover.
		Ledger:     clearing.GatedLedger{Ledger: st.Store, Core: st.Core},
		Announcers: []bills.Announcer{bills.HostAnnouncer{Host: st.Host}, st.Clients},
		Logger:     o.Logger,
	})
	if err != nil {
		return st, err
	}
	if err = st.Clients.Start(ctx); err != nil {
		return st, err
	}
	if err = st.Host.Start(ctx); err != nil {
		return st, err
	}
	st.PCAddr, st.TermAddr = st.Host.Addr(specs.LinkPC), st.Host.Addr(specs.LinkTerminal)
	return st, nil
}

func bdMMDD(d ledger.Date) string {
	s := []byte("0000")
	v := uint32(d) % 10000
	for i := 3; i >= 0; i-- {
		s[i] = byte('0' + v%10)
		v /= 10
	}
	return string(s)
}

// Close stops the host, the PC clients and the store (in that order).
func (st *Stack) Close() error {
	var errs []error
	if st.Host != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, st.Host.Shutdown(ctx))
		cancel()
	}
	if st.Clients != nil {
		errs = append(errs, st.Clients.Close())
	}
	if st.Store != nil {
		errs = append(errs, st.Store.Close())
	}
	return errors.Join(errs...)
}
