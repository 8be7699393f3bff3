package pcclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"
	isoerrors "github.com/moov-io/iso8583/errors"
	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/ledger"
	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
)

// Response codes the client itself gives.
const (
	CodeApproved    = "00"
	CodeUnavailable = "91" // PC unavailable, timed out, or no signed-on link
	CodeSystemError = "96"
)

// Errors.
var (
	// ErrInvalidRequest wraps every refusal of a malformed AuthRequest; nothing was sent.
	ErrInvalidRequest = errors.New("pcclient: invalid authorization request")
	// ErrAdviceNotDurable: the authorization timed out, 91 is the answer, and its
	// reversal advice is queued and will be sent, but could not be written to the store
	// (it would not survive a restart).
	ErrAdviceNotDurable = errors.New("pcclient: reversal advice not stored durably")
	// ErrNoLink: no connection to the PC is signed on.
	ErrNoLink = errors.New("pcclient: no signed-on connection to the processing centre")
	// ErrCurrency: the PC takes card amounts in another currency (its registry
	// entry's Currency); it comes wrapped with ErrInvalidRequest.
	ErrCurrency = errors.New("pcclient: currency not accepted by the processing centre")
	// ErrNotApproved: Reverse was asked for an authorization the PC did not approve.
	ErrNotApproved = errors.New("pcclient: authorization was not approved")
	// ErrNotStarted: Start has not been called, or Close has.
	ErrNotStarted = errors.New("pcclient: client not running")
)

// AuthRequest is a card authorization the host asks of the card's processing centre
// (host-iso8583.md §3). Amount is in minor units.
type AuthRequest struct {
	PAN              string // DE 2, 12–19 digits
	Track2           string // DE 35, optional (never logged, never stored)
	Expiry           string // DE 14 YYMM, optional
	PINBlock         []byte // DE 52, 8 bytes, optional (never logged, never stored)
	Amount           int64  // DE 4, minor units, > 0
	Currency         string // DE 49, 3 digits
	ProcessingCode   string // DE 3; "" is 500000
	MerchantType     string // DE 18; "" is 4900 (utilities)
	POSEntryMode     string // DE 22, optional
	Terminal         string // DE 41, the terminal the payment came from
	CardAcceptor     string // DE 42, optional
	CardAcceptorName string // DE 43, optional
}

// AuthResult is the processing centre's answer, or the client's 91.
type AuthResult struct {
	// ResponseCode is the PC's DE 39 ("00" approved, "51", "55", ... passed through),
	// or 91 when the PC did not answer in time or no link was signed on. Post only on
	// Approved.
	ResponseCode string
	Approved     bool
	AuthID       string // DE 38 of the PC's 0210
	// The host's own identifiers of the 0200 (empty when nothing was sent).
	STAN, RRN, TransmissionDateTime string
	// Sent: a 0200 went (or may have gone) to the PC.
	Sent bool
	// Advice: a reversal advice (0420) for the 0200 was queued; it is sent until the
	// PC's 0430 arrives.
	Advice bool

	ahead uint64 // Config.WriteAhead: seq of the advice written ahead, in flight
}

// LinkStatus is one dialled connection.
type LinkStatus struct {
	Conn     terminals.ConnID `json:"conn"`
	Addr     string           `json:"addr"`
	SignedOn bool             `json:"signed_on"`
	Since    time.Time        `json:"since"`
}

// Status is a client's state for the admin endpoint.
type Status struct {
	Institution    string       `json:"institution"`
	Connected      bool         `json:"connected"` // at least one connection is up
	SignedOn       bool         `json:"signed_on"` // at least one connection is signed on
	Links          []LinkStatus `json:"links"`
	PendingAdvices int          `json:"pending_advices"`
	LateResponses  uint64       `json:"late_responses"` // responses that arrived after their caller had given up
}

// Client is the host as a client of one processing centre: it dials each of the PC's
// addresses, signs on, echoes idle links, reconnects with capped exponential backoff,
// authorizes card payments and delivers reversal advices from a durable queue.
type Client struct {
	cfg    Config
	inst   *terminals.Institution
	inst11 string
	store  Store
	log    zerolog.Logger
	saf    *safQueue

	stan    *stanAllocator // set by Start
	running atomic.Bool

	mu     sync.Mutex
	links  map[terminals.ConnID]*link
	rr     uint64
	cancel context.CancelFunc
	wg     sync.WaitGroup

	linkUp chan struct{} // signalled when a link signs on
	late   atomic.Uint64
}

type link struct {
	id       terminals.ConnID
	addr     string
	ready    chan struct{} // closed once conn is set
	conn     *connection.Connection
	since    time.Time
	signedOn atomic.Bool
}

// NewClient returns a client of inst (which must have Dial addresses). It does no I/O
// until Start.
func NewClient(cfg Config, inst *terminals.Institution, store Store) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if inst == nil || len(inst.Dial) == 0 {
		return nil, fmt.Errorf("%w: institution without Dial addresses", ErrConfig)
	}
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrConfig)
	}
	inst11 := specs.ZeroFill(inst.ID, 11)
	if inst11 == "" {
		return nil, fmt.Errorf("%w: institution id %q", ErrConfig, inst.ID)
	}
	return &Client{
		cfg:    cfg,
		inst:   inst,
		inst11: inst11,
		store:  store,
		log:    cfg.Logger.With().Str("pc", inst.ID).Logger(),
		saf:    newSAFQueue(store, inst11),
		links:  map[terminals.ConnID]*link{},
		linkUp: make(chan struct{}, 1),
	}, nil
}

// Institution is the PC this client talks to.
func (c *Client) Institution() *terminals.Institution { return c.inst }

func (c *Client) timeout() time.Duration {
	if c.inst.Timeout > 0 {
		return c.inst.Timeout
	}
	return terminals.DefaultTimeout
}

func (c *Client) echoInterval() time.Duration {
	if c.inst.EchoInterval > 0 {
		return c.inst.EchoInterval
	}
	return terminals.DefaultEchoInterval
}

// Start loads the pending advices and the STAN mark from the store, then dials every
// address of the PC and starts the advice sender. The goroutines stop at Close (or when
// ctx is cancelled).
func (c *Client) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return fmt.Errorf("pcclient: %s started twice", c.inst.ID)
	}
	stan, err := newSTANAllocator(c.store, c.inst11, c.cfg.STANBlock)
	if err != nil {
		return err
	}
	if err := c.saf.load(); err != nil {
		return err
	}
	c.stan = stan
	ctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.running.Store(true)
	if n := c.saf.len(); n > 0 {
		c.log.Info().Int("advices", n).Msg("pending reversal advices loaded")
	}
	for _, addr := range c.inst.Dial {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.supervise(ctx, addr)
		}()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.adviceSender(ctx)
	}()
	return nil
}

// Close stops dialling, closes every connection (waiting for calls in flight, at most
// the PC's timeout) and stops the advice sender. Pending advices stay in the store.
func (c *Client) Close() error {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	c.running.Store(false)
	cancel()
	c.wg.Wait()
	return nil
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// supervise keeps one address connected: dial, sign on, wait for the connection to
// end, back off (capped exponential, restarted after a connection that signed on).
func (c *Client) supervise(ctx context.Context, addr string) {
	backoff := c.cfg.ReconnectMin
	for ctx.Err() == nil {
		if c.session(ctx, addr) {
			backoff = c.cfg.ReconnectMin
		}
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, c.cfg.ReconnectMax)
	}
}

// session runs one connection to addr; it reports whether it signed on.
func (c *Client) session(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn().Str("addr", addr).Err(err).Msg("dial failed")
		}
		return false
	}
	l := &link{id: c.cfg.ConnID(), addr: addr, since: c.cfg.Now(), ready: make(chan struct{})}
	cd := &codec{dialect: c.cfg.Dialect}
	conn, err := connection.NewFrom(&deadlineConn{Conn: nc, timeout: c.cfg.WriteTimeout},
		c.cfg.Dialect.Spec(), nil, nil,
		connection.SetMessageReader(cd),
		connection.SetMessageWriter(cd),
		connection.SetRequestIDGenerator(requestID{}),
		connection.SendTimeout(c.timeout()),
		connection.IdleTime(c.echoInterval()),
		connection.ReadTimeout(24*time.Hour), // liveness is the echo's job
		connection.PingHandler(func(*connection.Connection) { c.echo(l) }),
		connection.InboundMessageHandler(func(_ *connection.Connection, mm *iso8583.Message) {
			c.inbound(ctx, l, mm)
		}),
		connection.ErrorHandler(func(err error) { c.connError(l, err) }),
		// Unusable from the first sign of failure (the library calls the failed handlers
		// before it drains the calls in flight), and of course once closed.
		connection.WithConnectionFailedHandler(func(*connection.Connection, error) { l.signedOn.Store(false) }),
		connection.ConnectionClosedHandler(func(*connection.Connection) { l.signedOn.Store(false) }),
	)
	if err != nil { // options only; cannot happen with the ones above
		nc.Close()
		c.log.Error().Err(err).Msg("connection setup")
		return false
	}
	l.conn = conn
	close(l.ready)
	log := c.log.With().Uint64("conn", uint64(l.id)).Str("addr", addr).Logger()
	if c.cfg.Links != nil {
		if err := c.cfg.Links.Up(c.inst.ID, l.id, addr); err != nil {
			log.Error().Err(err).Msg("links: up")
		}
	}
	c.mu.Lock()
	c.links[l.id] = l
	c.mu.Unlock()
	log.Info().Msg("connected")

	defer func() {
		c.mu.Lock()
		delete(c.links, l.id)
		c.mu.Unlock()
		if c.cfg.Links != nil {
			c.cfg.Links.Down(l.id)
		}
		log.Info().Bool("was_signed_on", l.signedOn.Load()).Msg("connection closed")
	}()

	if err := c.signOn(ctx, l); err != nil {
		log.Warn().Err(err).Msg("sign-on failed")
		conn.Close()
		return false
	}
	l.signedOn.Store(true)
	if c.cfg.Links != nil {
		if err := c.cfg.Links.SignOn(c.inst.ID, l.id); err != nil {
			log.Error().Err(err).Msg("links: sign-on")
		}
	}
	log.Info().Msg("signed on")
	select {
	case c.linkUp <- struct{}{}:
	default:
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		l.signedOn.Store(false)
		conn.Close()
	}
	return true
}

// netMessage builds an 0800 with network management code code.
func (c *Client) netMessage(ctx context.Context, code string) (*specs.Message, error) {
	stan, err := c.stan.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &specs.Message{
		MTI:                  "0800",
		TransmissionDateTime: formatDE7(c.cfg.Now()),
		STAN:                 stan,
		AcquirerID:           c.cfg.HostID,
		NetworkCode:          code,
	}, nil
}

// call sends m on l and waits up to timeout for its response.
func (c *Client) call(l *link, m *specs.Message, timeout time.Duration) (*specs.Message, error) {
	mm, err := c.cfg.Dialect.ToMoov(m)
	if err != nil {
		return nil, err
	}
	rm, err := l.conn.Send(mm, connection.SendTimeout(timeout))
	if err != nil {
		return nil, err
	}
	var resp specs.Message
	if err := specs.FromMoov(rm, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// signOn sends 0800/001 and wants 0810 with 00.
func (c *Client) signOn(ctx context.Context, l *link) error {
	m, err := c.netMessage(ctx, "001")
	if err != nil {
		return err
	}
	resp, err := c.call(l, m, c.timeout())
	if err != nil {
		return err
	}
	if resp.MTI != "0810" || resp.ResponseCode != CodeApproved {
		return fmt.Errorf("pcclient: sign-on answered %s/%q", resp.MTI, resp.ResponseCode)
	}
	return nil
}

// echo is the connection's idle handler: 0800/301 on a signed-on link. An echo that
// gets no answer within the PC's timeout drops the connection (it is redialled).
func (c *Client) echo(l *link) {
	<-l.ready
	if !l.signedOn.Load() || !c.running.Load() {
		return
	}
	m, err := c.netMessage(context.Background(), "301")
	if err != nil {
		c.log.Error().Err(err).Msg("echo: no STAN")
		return
	}
	resp, err := c.call(l, m, c.timeout())
	switch {
	case err != nil:
		c.log.Warn().Uint64("conn", uint64(l.id)).Err(err).Msg("echo unanswered: dropping the connection")
		l.signedOn.Store(false)
		l.conn.TriggerFailure(fmt.Errorf("echo unanswered: %w", err))
	case resp.ResponseCode != CodeApproved:
		c.log.Warn().Uint64("conn", uint64(l.id)).Str("rc", resp.ResponseCode).Msg("echo answered with an error code")
	default:
		c.log.Debug().Uint64("conn", uint64(l.id)).Msg("echo")
	}
}

// connError logs an error iso8583-connection could not return to a caller. Only the
// error's own text is logged: the project's codec never puts message bytes in an error,
// and moov's UnpackError.RawMessage is never read.
func (c *Client) connError(l *link, err error) {
	var ue *isoerrors.UnpackError
	switch {
	case errors.As(err, &ue):
		// Our codec's UnpackError carries a FieldError (field and reason only).
		c.log.Warn().Uint64("conn", uint64(l.id)).Str("error", ue.Err.Error()).Msg("unreadable message from PC dropped")
	case errors.Is(err, specs.ErrFrameHeader), errors.Is(err, specs.ErrFrameEmpty), errors.Is(err, specs.ErrFrameTooLarge):
		c.log.Warn().Uint64("conn", uint64(l.id)).Str("error", frameError(err).Error()).Msg("protocol violation: closing the connection")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug().Uint64("conn", uint64(l.id)).Msg("connection closed by the peer")
	default:
		c.log.Debug().Uint64("conn", uint64(l.id)).Str("error", err.Error()).Msg("connection error")
	}
}

// frameError returns the framing sentinel inside err.
func frameError(err error) error {
	for _, e := range []error{specs.ErrFrameHeader, specs.ErrFrameEmpty, specs.ErrFrameTooLarge} {
		if errors.Is(err, e) {
			return e
		}
	}
	return err
}

// inbound handles a message that matched no pending call: a response that came too
// late (dropped: its caller has already answered, and nothing may be posted on it), or
// a request of the PC (served by Config.Inbound and answered on the same connection).
func (c *Client) inbound(ctx context.Context, l *link, mm *iso8583.Message) {
	<-l.ready
	var req specs.Message
	if err := specs.FromMoov(mm, &req); err != nil {
		c.log.Warn().Uint64("conn", uint64(l.id)).Err(err).Msg("unreadable inbound message dropped")
		return
	}
	if isResponse(req.MTI) {
		c.late.Add(1)
		c.log.Warn().Uint64("conn", uint64(l.id)).Str("mti", req.MTI).Str("stan", req.STAN).
			Str("rrn", req.RRN).Str("rc", req.ResponseCode).Msg("late or unmatched response dropped")
		return
	}
	h := c.cfg.Inbound
	if h == nil {
		h = defaultInbound
	}
	hctx, cancel := context.WithTimeout(ctx, defaultInboundDeadline)
	defer cancel()
	p := Peer{Institution: c.inst.ID, Conn: l.id, Remote: l.addr, SignedOn: l.signedOn.Load()}
	resp, err := h(hctx, p, &req)
	if err != nil {
		c.log.Error().Uint64("conn", uint64(l.id)).Str("mti", req.MTI).Str("stan", req.STAN).Err(err).Msg("inbound handler failed: 96")
		resp = &specs.Message{ResponseCode: CodeSystemError, RRN: req.RRN, TerminalID: req.TerminalID,
			AcquirerID: req.AcquirerID, TransmissionDateTime: req.TransmissionDateTime}
	}
	if resp == nil {
		return
	}
	if resp.MTI == "" {
		resp.MTI = responseMTI(req.MTI)
	}
	if resp.STAN == "" {
		resp.STAN = req.STAN
	}
	rm, err := c.cfg.Dialect.ToMoov(resp)
	if err == nil {
		err = l.conn.Reply(rm)
	}
	if err != nil {
		c.log.Warn().Uint64("conn", uint64(l.id)).Str("mti", resp.MTI).Str("stan", resp.STAN).Err(err).Msg("reply not sent")
	}
}

// defaultInbound answers 0800 with 0810/00 and every other request with 91.
func defaultInbound(_ context.Context, _ Peer, req *specs.Message) (*specs.Message, error) {
	resp := &specs.Message{
		TransmissionDateTime: req.TransmissionDateTime,
		AcquirerID:           req.AcquirerID,
		RRN:                  req.RRN,
		TerminalID:           req.TerminalID,
		NetworkCode:          req.NetworkCode,
		ResponseCode:         CodeUnavailable,
	}
	if req.MTI == "0800" {
		resp.ResponseCode = CodeApproved
	}
	return resp, nil
}

// pick returns a signed-on link (round robin), or nil.
func (c *Client) pick() *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []*link
	for _, l := range c.links {
		if l.signedOn.Load() {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].id < ls[j].id })
	c.rr++
	return ls[c.rr%uint64(len(ls))]
}

func (r *AuthRequest) validate() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrInvalidRequest, what) }
	switch {
	case len(r.PAN) < 12 || len(r.PAN) > 19 || !allDigits(r.PAN):
		return bad("PAN must be 12-19 digits")
	case r.Amount <= 0 || r.Amount > 999999999999:
		return bad("amount out of range")
	case len(r.Currency) != 3 || !allDigits(r.Currency):
		return bad("currency must be 3 digits")
	case r.ProcessingCode != "" && (len(r.ProcessingCode) != 6 || !allDigits(r.ProcessingCode)):
		return bad("processing code must be 6 digits")
	case r.Expiry != "" && (len(r.Expiry) != 4 || !allDigits(r.Expiry)):
		return bad("expiry must be YYMM")
	case r.PINBlock != nil && len(r.PINBlock) != 8:
		return bad("PIN block must be 8 bytes")
	case r.Terminal == "" || len(r.Terminal) > 8:
		return bad("terminal id must be 1-8 characters")
	}
	return nil
}

// Authorize asks the PC to authorize a card payment: a 0200 with processing code
// 500000 (unless the request names another), the card data as given, DE 4/49, and the
// host's own DE 7, 11, 32 and 37. It waits up to the institution's timeout (or ctx's
// deadline, if earlier).
//
// The result's ResponseCode is the PC's DE 39, passed through; post only when Approved.
// With no signed-on link the result is 91 and nothing is sent. When a 0200 was (or may
// have been) sent and no readable 0210 came back in time, a reversal advice (0420) is
// durably queued before Authorize returns 91; a 0210 arriving later is dropped. An
// error comes with 96 (nothing sent, caller's fault or a bug), or with 91 and
// ErrAdviceNotDurable.
func (c *Client) Authorize(ctx context.Context, r AuthRequest) (AuthResult, error) {
	if err := r.validate(); err != nil {
		return AuthResult{ResponseCode: CodeSystemError}, err
	}
	if c.inst.Currency != 0 && r.Currency != specs.ZeroFill(strconv.Itoa(int(c.inst.Currency)), 3) {
		return AuthResult{ResponseCode: CodeSystemError}, fmt.Errorf("%w: %w", ErrInvalidRequest, ErrCurrency)
	}
	if !c.running.Load() {
		return AuthResult{ResponseCode: CodeUnavailable}, nil
	}
	if err := ctx.Err(); err != nil {
		return AuthResult{ResponseCode: CodeUnavailable}, err
	}
	l := c.pick()
	if l == nil {
		c.log.Info().Str("pan", specs.MaskPAN(r.PAN)).Msg("authorization: no signed-on link: 91")
		return AuthResult{ResponseCode: CodeUnavailable}, nil
	}
	stan, err := c.stan.Next(ctx)
	if err != nil {
		return AuthResult{ResponseCode: CodeSystemError}, err
	}
	now := c.cfg.Now()
	m := c.original(r, stan, now)
	res := AuthResult{STAN: stan, RRN: m.RRN, TransmissionDateTime: m.TransmissionDateTime}
	if _, err := c.cfg.Dialect.Pack(m); err != nil { // the error names the field only
		return AuthResult{ResponseCode: CodeSystemError}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	timeout := c.timeout()
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	log := c.log.With().Uint64("conn", uint64(l.id)).Str("stan", stan).Str("rrn", m.RRN).
		Str("pan", specs.MaskPAN(r.PAN)).Int64("amount", r.Amount).Logger()

	if timeout <= 0 {
		return AuthResult{ResponseCode: CodeUnavailable}, context.DeadlineExceeded
	}
	mm, err := c.cfg.Dialect.ToMoov(m)
	if err != nil {
		return AuthResult{ResponseCode: CodeSystemError}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	var ahead *advice
	if c.cfg.WriteAhead {
		if ahead, err = c.newAdvice(ctx, m, now); err == nil {
			err = c.saf.writeAhead(ctx, ahead)
		}
		if err != nil { // nothing sent
			return AuthResult{ResponseCode: CodeUnavailable}, fmt.Errorf("%w: %w", ErrAdviceNotDurable, err)
		}
		res.ahead = ahead.Seq
	}
	var resp *specs.Message
	rm, err := l.conn.Send(mm, connection.SendTimeout(timeout))
	switch {
	case err == nil:
		resp = &specs.Message{}
		if ferr := specs.FromMoov(rm, resp); ferr != nil {
			resp.ResponseCode = "" // unreadable: treated as no answer
		}
	case errors.Is(err, connection.ErrSendTimeout), errors.Is(err, connection.ErrConnectionClosed):
		// The 0200 went out, or may have: settled below by the advice.
	default:
		// Refused before it was written (pack or request id error): nothing sent.
		return AuthResult{ResponseCode: CodeSystemError}, fmt.Errorf("pcclient: 0200 not sent: %w", err)
	}
	if err == nil && resp.MTI == "0210" && len(resp.ResponseCode) == 2 {
		res.ResponseCode = resp.ResponseCode
		res.Approved = resp.ResponseCode == CodeApproved
		res.AuthID = resp.AuthID
		res.Sent = true
		log.Info().Str("rc", res.ResponseCode).Msg("authorization answered")
		if ahead != nil && !res.Approved {
			res.ahead = 0
			if err := c.saf.discard(context.WithoutCancel(ctx), ahead.Seq); err != nil {
				// Left in flight: reversed after a restart, which is harmless for a decline.
				log.Warn().Err(err).Msg("written-ahead advice of a declined authorization not deleted")
			}
		}
		return res, nil
	}
	// No usable answer: the PC may have authorized. Queue the advice durably, then 91.
	reason := "unreadable response"
	if err != nil {
		reason = err.Error()
	}
	res.ResponseCode, res.Sent, res.Advice, res.ahead = CodeUnavailable, true, true, 0
	var aerr error
	if ahead != nil {
		if aerr = c.saf.activate(context.WithoutCancel(ctx), ahead); aerr != nil {
			aerr = fmt.Errorf("%w: %w", ErrAdviceNotDurable, aerr)
		}
	} else {
		aerr = c.queueAdvice(context.WithoutCancel(ctx), m, now)
	}
	log.Warn().Str("reason", reason).AnErr("advice_error", aerr).Msg("authorization unanswered: 91, reversal advice queued")
	return res, aerr
}

// original is the 0200 of r under the host's STAN, at now.
func (c *Client) original(r AuthRequest, stan string, now time.Time) *specs.Message {
	m := &specs.Message{
		MTI:                  "0200",
		PAN:                  r.PAN,
		ProcessingCode:       r.ProcessingCode,
		Amount:               specs.ZeroFill(strconv.FormatInt(r.Amount, 10), 12),
		TransmissionDateTime: formatDE7(now),
		STAN:                 stan,
		Expiry:               r.Expiry,
		MerchantType:         r.MerchantType,
		POSEntryMode:         r.POSEntryMode,
		AcquirerID:           c.cfg.HostID,
		Track2:               r.Track2,
		RRN:                  formatRRN(now, stan),
		TerminalID:           r.Terminal,
		CardAcceptorID:       r.CardAcceptor,
		CardAcceptorName:     r.CardAcceptorName,
		Currency:             r.Currency,
		PINBlock:             r.PINBlock,
	}
	if m.ProcessingCode == "" {
		m.ProcessingCode = DefaultProcessingCode
	}
	if m.MerchantType == "" {
		m.MerchantType = DefaultMerchantType
	}
	return m
}

// Reverse durably queues a reversal advice (0420, repeated as 0421 until the 0430) for
// an authorization the PC approved but the host could not complete (the payment was
// declined or could not be posted). r and res are the request and result of that
// Authorize call. It returns once the advice is durable (or with ErrAdviceNotDurable:
// queued in memory only). Calling it twice queues two advices; the PC gives the second
// no effect (§7), but the caller should not.
func (c *Client) Reverse(ctx context.Context, r AuthRequest, res AuthResult) error {
	if !res.Approved || res.STAN == "" || res.TransmissionDateTime == "" || res.RRN == "" {
		return ErrNotApproved
	}
	m := c.original(r, res.STAN, c.cfg.Now())
	m.TransmissionDateTime, m.RRN = res.TransmissionDateTime, res.RRN
	var err error
	if res.ahead != 0 {
		// The written-ahead record becomes the queued advice (same key).
		var a *advice
		if a, err = c.newAdvice(ctx, m, c.cfg.Now()); err == nil {
			a.Seq = res.ahead
			err = c.saf.activate(context.WithoutCancel(ctx), a)
		}
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrAdviceNotDurable, err)
		}
	} else {
		err = c.queueAdvice(context.WithoutCancel(ctx), m, c.cfg.Now())
	}
	c.log.Info().Str("stan", res.STAN).Str("rrn", res.RRN).Str("pan", specs.MaskPAN(r.PAN)).
		AnErr("advice_error", err).Msg("approved authorization reversed: advice queued")
	return err
}

// newAdvice builds the reversal advice of the 0200 orig, with its own STAN. If none can
// be reserved (the store is failing), the original's STAN serves: the 0430 is still
// matched, on class 04, STAN and RRN.
func (c *Client) newAdvice(ctx context.Context, orig *specs.Message, now time.Time) (*advice, error) {
	de90, err := specs.FormatDE90(specs.OriginalData{
		MTI:                  orig.MTI,
		STAN:                 orig.STAN,
		TransmissionDateTime: orig.TransmissionDateTime,
		AcquirerID:           c.cfg.HostID,
	})
	if err != nil {
		return nil, err
	}
	a := &advice{
		DE7:            formatDE7(now),
		RRN:            orig.RRN,
		ProcessingCode: orig.ProcessingCode,
		Amount:         orig.Amount,
		Currency:       orig.Currency,
		Terminal:       orig.TerminalID,
		CardAcceptor:   orig.CardAcceptorID,
		Original:       de90,
		Created:        now,
		OrigSTAN:       orig.STAN,
	}
	if a.STAN, err = c.stan.Next(ctx); err != nil {
		a.STAN = orig.STAN
	}
	return a, nil
}

// queueAdvice durably queues the reversal advice of the 0200 orig.
func (c *Client) queueAdvice(ctx context.Context, orig *specs.Message, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, err := c.newAdvice(ctx, orig, now)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAdviceNotDurable, err)
	}
	if err := c.saf.enqueue(ctx, a); err != nil {
		return fmt.Errorf("%w: %w", ErrAdviceNotDurable, err)
	}
	return nil
}

// CompletionWrite is, under Config.WriteAhead, the write that completes an approved
// authorization: the caller puts it in the ledger command that posts the payment, so
// that the payment and the end of the authorization's write-ahead advice are one atomic
// batch. It is false when there is nothing to complete (no write-ahead, not approved).
func (c *Client) CompletionWrite(res AuthResult) (ledger.Write, bool) {
	if res.ahead == 0 || !res.Approved {
		return ledger.Write{}, false
	}
	return c.saf.deleteWrite(res.ahead), true
}

// Complete ends an approved authorization's write-ahead advice on its own (one synced
// write), for a caller that posted the payment without CompletionWrite. Without
// write-ahead it does nothing.
func (c *Client) Complete(ctx context.Context, res AuthResult) error {
	if res.ahead == 0 || !res.Approved {
		return nil
	}
	return c.saf.discard(context.WithoutCancel(ctx), res.ahead)
}

// PendingReversal is the reversal advice of an approved authorization, built before
// the ledger command that makes it durable (ReversalWrite) and queued in memory once
// that command has committed (QueueReversal). The zero value is no advice.
type PendingReversal struct {
	a *advice
	w ledger.Write
}

// Write is the advice's durable record, for the caller's ledger command.
func (p PendingReversal) Write() ledger.Write { return p.w }

// ReversalWrite builds the reversal advice (0420, repeated as 0421 until the 0430) of an
// approved authorization whose posted payment is being reversed: the caller puts
// Write() in the same ledger command that reverses the payment, so that the host's
// reversal and the PC's advice are one atomic batch (a crash leaves both or neither),
// and calls QueueReversal once that command has committed. An advice committed but
// never handed to QueueReversal (a crash in between) is sent after the next Start, which
// loads every record of the queue. r and res are those of the Authorize call (res need
// only carry STAN, RRN, DE 7 and Approved). It fails with ErrNotApproved, or
// ErrNotStarted before Start (the queue's sequence numbers are only known once its
// records are loaded).
func (c *Client) ReversalWrite(ctx context.Context, r AuthRequest, res AuthResult) (PendingReversal, error) {
	if !res.Approved || res.STAN == "" || res.TransmissionDateTime == "" || res.RRN == "" {
		return PendingReversal{}, ErrNotApproved
	}
	if !c.running.Load() {
		return PendingReversal{}, ErrNotStarted
	}
	now := c.cfg.Now()
	m := c.original(r, res.STAN, now)
	m.TransmissionDateTime, m.RRN = res.TransmissionDateTime, res.RRN
	a, err := c.newAdvice(ctx, m, now)
	if err != nil {
		return PendingReversal{}, err
	}
	w, err := c.saf.prepare(a)
	if err != nil {
		return PendingReversal{}, err
	}
	return PendingReversal{a: a, w: w}, nil
}

// QueueReversal hands an advice built by ReversalWrite, whose record the caller's
// ledger command has committed, to the live queue. It is queued at most once per
// authorization (by DE 90: the 0200's STAN, DE 7 and DE 32): a second call, or one for an
// authorization whose advice is already pending, does nothing. Never call it for a
// command that did not commit: the PC would release the card's money for a payment
// the host kept.
func (c *Client) QueueReversal(p PendingReversal) {
	if p.a == nil {
		return
	}
	if c.saf.queueOnce(p.a) {
		c.log.Info().Str("stan", p.a.STAN).Str("rrn", p.a.RRN).Str("orig_stan", p.a.OrigSTAN).
			Msg("posted authorization reversed: advice queued")
	}
}

// adviceSender delivers the queue's advices in order, one at a time: 0420 first, 0421
// for every repeat, until a 0430 arrives (see deliver for the codes that end it).
func (c *Client) adviceSender(ctx context.Context) {
	backoff := c.cfg.AdviceRetryMin
	for ctx.Err() == nil {
		a, ok := c.saf.head()
		if !ok {
			select {
			case <-c.saf.wake:
			case <-ctx.Done():
			}
			continue
		}
		l := c.pick()
		if l == nil {
			select {
			case <-c.linkUp:
			case <-ctx.Done():
			}
			continue
		}
		if c.deliver(ctx, l, a) {
			if err := c.saf.done(context.WithoutCancel(ctx), a); err != nil {
				c.log.Error().Err(err).Str("stan", a.STAN).Msg("advice answered but not removed; it will be repeated")
			} else {
				backoff = c.cfg.AdviceRetryMin
				continue
			}
		}
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, c.cfg.AdviceRetryMax)
	}
}

// deliver sends a once and reports whether its 0430 ended it. Any 0430 ends it except
// one with 91 (the PC did not take it: not signed on, unavailable) or 96 (system
// error): those are repeated.
func (c *Client) deliver(ctx context.Context, l *link, a *advice) bool {
	mti := "0421"
	if !a.Sent {
		mti = "0420"
		if err := c.saf.markSent(context.WithoutCancel(ctx), a); err != nil {
			c.log.Warn().Err(err).Str("stan", a.STAN).Msg("advice: first transmission not recorded")
		}
	}
	log := c.log.With().Uint64("conn", uint64(l.id)).Str("mti", mti).Str("stan", a.STAN).
		Str("rrn", a.RRN).Str("orig_stan", a.OrigSTAN).Logger()
	resp, err := c.call(l, a.message(mti, c.cfg.HostID), c.timeout())
	if err != nil {
		log.Warn().Err(err).Msg("advice unanswered")
		return false
	}
	if resp.MTI != "0430" {
		log.Warn().Str("resp_mti", resp.MTI).Msg("advice answered with the wrong MTI")
		return false
	}
	switch resp.ResponseCode {
	case CodeApproved:
		log.Info().Msg("advice acknowledged")
		return true
	case CodeUnavailable, CodeSystemError:
		log.Warn().Str("rc", resp.ResponseCode).Msg("advice not taken; will repeat")
		return false
	default:
		log.Warn().Str("rc", resp.ResponseCode).Msg("advice answered with an error code; not repeated")
		return true
	}
}

// Announce sends the cutover (0800/201, DE 15 = the new business date as MMDD) on every
// signed-on connection and waits for each 0810. It fails with ErrNoLink when none is
// signed on, and names each connection that did not answer 00.
func (c *Client) Announce(ctx context.Context, next ledger.Date) error {
	if !next.Valid() {
		return fmt.Errorf("pcclient: cutover date %d", next)
	}
	if !c.running.Load() {
		return ErrNotStarted
	}
	c.mu.Lock()
	var ls []*link
	for _, l := range c.links {
		if l.signedOn.Load() {
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	if len(ls) == 0 {
		return fmt.Errorf("%w: %s", ErrNoLink, c.inst.ID)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].id < ls[j].id })
	var errs []error
	for _, l := range ls {
		m, err := c.netMessage(ctx, "201")
		if err != nil {
			return err
		}
		m.SettlementDate = fmt.Sprintf("%04d", uint32(next)%10000)
		resp, err := c.call(l, m, c.timeout())
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("pcclient: cutover to %s conn %d: %w", c.inst.ID, l.id, err))
		case resp.ResponseCode != CodeApproved:
			errs = append(errs, fmt.Errorf("pcclient: cutover to %s conn %d answered %q", c.inst.ID, l.id, resp.ResponseCode))
		default:
			c.log.Info().Uint64("conn", uint64(l.id)).Str("date", m.SettlementDate).Msg("cutover announced")
		}
	}
	return errors.Join(errs...)
}

// Status reports the client's links and queue.
func (c *Client) Status() Status {
	s := Status{Institution: c.inst.ID, PendingAdvices: c.saf.len(), LateResponses: c.late.Load()}
	c.mu.Lock()
	for _, l := range c.links {
		ls := LinkStatus{Conn: l.id, Addr: l.addr, SignedOn: l.signedOn.Load(), Since: l.since}
		s.Links = append(s.Links, ls)
		s.Connected = true
		s.SignedOn = s.SignedOn || ls.SignedOn
	}
	c.mu.Unlock()
	sort.Slice(s.Links, func(i, j int) bool { return s.Links[i].Conn < s.Links[j].Conn })
	return s
}
