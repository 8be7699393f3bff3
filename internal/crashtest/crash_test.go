package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/simulators"
	"github.com/billswitch/billswitch/specs"
)

// The demo's ids and the fixture's dues (billpay/demo/fixture-AZERISIQ.xml).
const (
	provider    = "AZERISIQ"
	institution = "100001"   // the demo PC's DE 32
	atm         = "ATM00001" // the demo PC's ATM (DE 41 of PC-link payments)
	cashTerm    = "T0000001" // the demo cash terminal
	kioskKey    = "demo-kiosk-key"
)

// fixtureAccounts are the accounts paid, with their due in the fixture and their weight in the
// mix. 1000000101 (39.50 due) runs into advances on ELEC (rule ANY) after a few
// thousand payments; that keeps the arithmetic (due − Σ approved) exact.
type account struct {
	number string
	due    int64 // minor units
	weight int
}

func fixtureAccounts() []account {
	return []account{
		{"1000000001", 418518, 4},
		{"1000000101", 3950, 1},
	}
}

// config of one run.
type config struct {
	rounds     int
	load       time.Duration // the longest a round's load runs before the kill
	termConns  int
	pcConns    int
	inflight   int // goroutines per connection
	httpConc   int // concurrent HTTP kiosk payments
	maxAmount  int64
	httpChecks int // approved receipts checked over HTTP per round (all when ≤ 0)
}

func testConfig() config {
	c := config{rounds: 2, load: 2 * time.Second, termConns: 3, pcConns: 2, inflight: 8, httpConc: 8, maxAmount: 5, httpChecks: 0}
	if os.Getenv("BILLSWITCH_SOAK") == "1" {
		c.rounds, c.load, c.inflight, c.httpConc = 8, 6*time.Second, 16, 16
	}
	if !testing.Short() && os.Getenv("BILLSWITCH_SOAK") != "1" {
		c.rounds = 3
	}
	if v, err := strconv.Atoi(os.Getenv("BILLSWITCH_CRASH_ROUNDS")); err == nil && v > 0 {
		c.rounds = v
	}
	return c
}

// payReq is one payment the client sent and what became of it. Its fields after msg
// are guarded by tester.mu.
type payReq struct {
	link    specs.Link     // linkHTTP: a kiosk payment over the HTTP API
	msg     *specs.Message // the 0200 as sent (its key: DE 32/link, DE 41, DE 11, DE 7)
	idem    string         // HTTP: the Idempotency-Key
	body    string         // HTTP: the request body
	account string
	amount  int64
	round   int

	termCard bool   // a terminal's card payment, authorized by the card's PC
	answered bool   // a 0210 arrived before the crash
	rc       string // DE 39 of that 0210, or of the 0201 that settled it
	authID   string // DE 38
	receipt  string // tag 22
	settled  string // how the reconciliation settled it (for the summary)

	// PC link only: a reversal advice (0420) of the payment, sent during the load
	// (a cancelled dispense of an approved payment) or by the reconciliation (the
	// sender settling a payment it got no answer to, host-iso8583.md §7).
	byAdvice    bool           // settle it with a 0420 rather than a 0201 if unanswered
	rev         *specs.Message // the 0420 as sent
	revAnswered bool           // its 0430 arrived before the crash
	revRC       string
	reversed    bool // acknowledged (0430/00): the payment no longer counts
}

// counts reports whether the payment's money stays with the provider: approved and
// not reversed.
func (p *payReq) counts() bool { return p.rc == "00" && !p.reversed }

// linkHTTP marks a payment made over the HTTP API (specs' links start at 1).
const linkHTTP specs.Link = 0

func (p *payReq) key() string {
	if p.link == linkHTTP {
		return "http/" + p.idem
	}
	return fmt.Sprintf("%d/%s/%s/%s/%s", p.link, p.msg.AcquirerID, p.msg.TerminalID, p.msg.STAN, p.msg.TransmissionDateTime)
}

type tester struct {
	t       *testing.T
	cfg     config
	seed    uint64
	bin     string
	dataDir string
	logDir  string
	keys    *simulators.Keys
	pcD     *specs.Dialect
	pc      pcBook // what the simulated PC saw of the host
	regPath string // the registry: the demo's, with the host dialling the simulated PC
	termD   *specs.Dialect
	issuer  *simulators.Issuer
	cardSeq atomic.Uint32

	mu       sync.Mutex
	reqs     []*payReq
	killedAt map[int]time.Time // round → when the SIGKILL was sent

	// violations of the invariants, found by the checks.
	vmu        sync.Mutex
	violations []string
	// offBy is a deliberate error in the expected due (negativeControls): a correct
	// host must then fail the due check.
	offBy int64
}

func (ts *tester) violate(format string, args ...any) {
	ts.vmu.Lock()
	defer ts.vmu.Unlock()
	ts.violations = append(ts.violations, fmt.Sprintf(format, args...))
}

func (ts *tester) nViolations() int {
	ts.vmu.Lock()
	defer ts.vmu.Unlock()
	return len(ts.violations)
}

// TestCrashNothingAcknowledgedLost runs the real host binary under concurrent payments
// on both ISO links, SIGKILLs it at a random moment mid-load, restarts it on the same
// data directory and checks host-iso8583.md §7 and the durability standard: every
// approval the client received stands exactly once (a 0201 replays the same DE 38 and
// receipt; the HTTP API knows the receipt), every request left unanswered is settled
// by its 0201 with no second posting, each account's due is the fixture's due minus
// exactly the approved payments, and `billswitch ledger verify` passes on the crash
// image and after a clean stop.
func TestCrashNothingAcknowledgedLost(t *testing.T) {
	ts := newTester(t, testConfig())
	ts.run()
	if n := ts.nViolations(); n > 0 {
		t.Fatalf("%d invariant violations (seed %d), first: %s", n, ts.seed, strings.Join(firstN(ts.violations, 20), "\n  "))
	}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func newTester(t *testing.T, cfg config) *tester {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("BILLSWITCH_CRASH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (BILLSWITCH_CRASH_SEED=%d repeats the kill moments and amounts)", seed, seed)
	tmp := t.TempDir()
	ts := &tester{t: t, cfg: cfg, seed: seed, killedAt: map[int]time.Time{}, dataDir: filepath.Join(tmp, "data"), logDir: tmp, keys: simulators.NewKeys()}
	var err error
	if ts.pcD, err = specs.NewPC87A(); err != nil {
		t.Fatal(err)
	}
	if ts.termD, err = specs.NewTerm87B(); err != nil {
		t.Fatal(err)
	}
	ts.issuer = simulators.NewIssuer(nil, simulators.IssuerRates{}, seed, zerolog.Nop())
	ts.bin = buildHost(t, tmp)
	ts.regPath = writeRegistry(t, tmp, ts.listenPC(t))
	return ts
}

// start starts the host and waits until it has signed on to the simulated PC.
func (ts *tester) start(name string) *hostProc {
	before := ts.pcSignOns()
	h := startHost(ts.t, ts.bin, ts.dataDir, ts.regPath, filepath.Join(ts.logDir, name+".log"), 60*time.Second)
	if !ts.waitSignOn(before, 15*time.Second) {
		ts.t.Fatalf("%s: the host did not sign on to the simulated PC; log:\n%s", name, tail(h.logPath, 30))
	}
	return h
}

func (ts *tester) run() {
	t := ts.t
	rng := rand.New(rand.NewPCG(ts.seed, 0x5eed))
	began := time.Now()

	h := ts.start("start")
	regcode := h.RegCode
	if !isDigits(regcode, 10) {
		t.Fatalf("registration code %q in the start-up log, want 10 digits", regcode)
	}
	// The fixture's dues, before any payment.
	dues := ts.dues(h)
	for _, a := range fixtureAccounts() {
		if dues[a.number] != a.due {
			t.Fatalf("fresh host: due of %s is %d, want the fixture's %d", a.number, dues[a.number], a.due)
		}
	}

	for round := 1; round <= ts.cfg.rounds; round++ {
		killAt := time.Duration(float64(ts.cfg.load) * (0.25 + 0.75*rng.Float64()))
		// Odd rounds close the business day (POST /admin/cutover, which also runs the
		// clearing of the closed day) at a random moment of the load before the kill.
		cutAt := time.Duration(-1)
		if round%2 == 1 {
			cutAt = time.Duration(float64(killAt) * (0.1 + 0.85*rng.Float64()))
		}
		st := time.Now()
		sent, cutNote := ts.load(h, round, killAt, cutAt)
		loadTook := time.Since(st)

		// The crash image, read-only, before anything opens it again.
		out, err := verifyLedger(context.Background(), ts.bin, ts.dataDir)
		if err != nil {
			ts.violate("round %d: ledger verify of the crash image: %v\n%s", round, err, out)
		}

		// Every other round, a second crash during recovery: the host is killed a
		// random moment after it starts, before or after it is ready.
		startKill := ""
		if round%2 == 0 {
			d := time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
			where := killDuringStart(t, ts.bin, ts.dataDir, ts.regPath, filepath.Join(ts.logDir, fmt.Sprintf("round%d-startkill.log", round)), d)
			startKill = fmt.Sprintf(", killed again %s into its restart (%s)", d.Round(time.Millisecond), where)
			if out, err := verifyLedger(context.Background(), ts.bin, ts.dataDir); err != nil {
				ts.violate("round %d: ledger verify after a kill during restart: %v\n%s", round, err, out)
			}
		}

		st = time.Now()
		h = ts.start(fmt.Sprintf("round%d", round))
		restart := time.Since(st)
		if h.RegCode != regcode {
			ts.violate("round %d: registration code %q after restart, was %q", round, h.RegCode, regcode)
		}
		st = time.Now()
		sum := ts.reconcile(h, round)
		sum += "; " + ts.checkCardAuths(fmt.Sprintf("round %d", round))
		t.Logf("round %d: killed after %s (load %s): %d payments sent%s%s; restart %s; %s; checks %s",
			round, killAt.Round(time.Millisecond), loadTook.Round(time.Millisecond), sent, cutNote, startKill,
			restart.Round(time.Millisecond), sum, time.Since(st).Round(time.Millisecond))
		if ts.nViolations() > 0 {
			t.Logf("host log tail (%s):\n%s", h.logPath, tail(h.logPath, 30))
			h.Kill()
			return
		}
	}

	// A clean stop, then the ledger verified with the host stopped, then a last start
	// that checks every approval of every round once more.
	if err := h.Stop(30 * time.Second); err != nil {
		ts.violate("clean stop: %v", err)
	}
	if out, err := verifyLedger(context.Background(), ts.bin, ts.dataDir); err != nil {
		ts.violate("ledger verify after a clean stop: %v\n%s", err, out)
	} else {
		t.Logf("ledger verify after a clean stop:\n%s", strings.TrimSpace(out))
	}
	h = ts.start("final")
	ts.checkAll(h)
	ts.negativeControls(h)
	h.Kill()
	t.Logf("%d rounds in %s", ts.cfg.rounds, time.Since(began).Round(time.Millisecond))
}

// load sends payments on both links from cfg.termConns terminal-link and cfg.pcConns
// PC-link connections, cfg.inflight at a time on each, and SIGKILLs the host after
// killAt. It returns when every sender has stopped (the host's death closes their
// connections) and says how many payments were sent.
func (ts *tester) load(h *hostProc, round int, killAt, cutAt time.Duration) (int, string) {
	t := ts.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var conns []*simulators.Conn
	var links []specs.Link
	for i := 0; i < ts.cfg.termConns; i++ {
		c, err := simulators.Dial(ctx, ts.termD, h.TermAddr, simulators.ConnOptions{})
		if err != nil {
			t.Fatalf("dial terminal link: %v", err)
		}
		conns, links = append(conns, c), append(links, specs.LinkTerminal)
	}
	for i := 0; i < ts.cfg.pcConns; i++ {
		c := ts.dialPC(ctx, h)
		conns, links = append(conns, c), append(links, specs.LinkPC)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	var wg sync.WaitGroup
	var sent atomic.Int64
	stop := make(chan struct{})
	for ci, c := range conns {
		for j := 0; j < ts.cfg.inflight; j++ {
			wg.Add(1)
			rng := rand.New(rand.NewPCG(ts.seed+uint64(round), uint64(ci*1000+j)))
			// The first terminal connection pays by card: the host has the card's
			// PC (100001, the simulated PC it dials) authorize it.
			card := ci == 0 && links[ci] == specs.LinkTerminal
			go func() {
				defer wg.Done()
				ts.sender(c, links[ci], card, round, rng, stop, &sent)
			}()
		}
	}
	for j := 0; j < ts.cfg.httpConc; j++ {
		wg.Add(1)
		rng := rand.New(rand.NewPCG(ts.seed+uint64(round), uint64(1_000_000+j)))
		go func() {
			defer wg.Done()
			ts.httpSender(h.HTTPAddr, round, j, rng, stop, &sent)
		}()
	}
	cutNote := ""
	cutDone := make(chan struct{})
	if cutAt >= 0 {
		go func() {
			defer close(cutDone)
			time.Sleep(cutAt)
			cutNote = ", " + cutover(h, killAt-cutAt)
			cutNote = strings.Replace(cutNote, "cutover", fmt.Sprintf("cutover at %s", cutAt.Round(time.Millisecond)), 1)
		}()
	} else {
		close(cutDone)
	}
	select {
	case <-time.After(killAt):
	case <-ctx.Done():
	}
	ts.mu.Lock()
	ts.killedAt[round] = time.Now()
	ts.mu.Unlock()
	h.Kill()
	close(stop)
	wg.Wait()
	<-cutDone
	return int(sent.Load()), cutNote
}

// cutover asks the host to close the business day now (POST /admin/cutover) and says
// what came of it; the kill may well interrupt it.
func cutover(h *hostProc, timeout time.Duration) string {
	client := &http.Client{Timeout: timeout + time.Second}
	res, err := client.Post("http://"+h.AdminAddr+"/admin/cutover", "application/json", nil)
	if err != nil {
		return "cutover interrupted by the kill"
	}
	defer res.Body.Close()
	var out map[string]string
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		return fmt.Sprintf("cutover answered %d %s", res.StatusCode, strings.TrimSpace(string(b)))
	}
	return fmt.Sprintf("cutover: day %s closed, now %s", out["closed"], out["business_date"])
}

// sender sends one payment at a time on c until stop or until c closes.
func (ts *tester) sender(c *simulators.Conn, link specs.Link, card bool, round int, rng *rand.Rand, stop <-chan struct{}, sent *atomic.Int64) {
	origin := ts.origin(link)
	for {
		select {
		case <-stop:
			return
		case <-c.Done():
			return
		default:
		}
		acct := pickAccount(rng)
		amount := 1 + rng.Int64N(ts.cfg.maxAmount)
		msg := origin.Payment(simulators.AccountTarget(provider, acct), amount, ts.payOpts(link, card))
		p := &payReq{link: link, msg: msg, account: acct, amount: amount, round: round, termCard: card,
			byAdvice: link == specs.LinkPC && rng.IntN(2) == 0}
		ts.mu.Lock()
		ts.reqs = append(ts.reqs, p)
		ts.mu.Unlock()
		sent.Add(1)
		resp, err := c.RoundTripTimeout(msg, 15*time.Second)
		if err != nil {
			// No answer: the host died (ErrClosed), or it was too slow. Either way the
			// reconciliation settles it with a 0201.
			continue
		}
		res, perr := simulators.ParsePayment(resp)
		ts.mu.Lock()
		p.answered, p.rc, p.authID, p.receipt = true, res.RC, res.AuthID, res.Receipt
		ts.mu.Unlock()
		if perr != nil {
			ts.violate("round %d: 0210 of %s unreadable: %v", round, p.key(), perr)
		}
		if res.RC == "00" {
			ts.checkApproval(p, res, "0210")
			if link == specs.LinkPC && rng.IntN(8) == 0 {
				ts.reverseDuringLoad(c, origin, p)
			}
		}
	}
}

// reverseDuringLoad sends a 0420 for an approved PC-link payment (a cancelled
// dispense) and records its answer.
func (ts *tester) reverseDuringLoad(c *simulators.Conn, origin simulators.Origin, p *payReq) {
	rev, err := origin.Reversal("0420", p.msg)
	if err != nil {
		ts.violate("0420 of %s: %v", p.key(), err)
		return
	}
	ts.mu.Lock()
	p.rev = rev
	ts.mu.Unlock()
	resp, err := c.RoundTripTimeout(rev, 15*time.Second)
	if err != nil {
		return // settled by its 0421 after the restart
	}
	ts.mu.Lock()
	p.revAnswered, p.revRC = true, resp.ResponseCode
	if resp.ResponseCode == "00" {
		p.reversed = true
	}
	ts.mu.Unlock()
	if resp.ResponseCode != "00" {
		ts.violate("round %d: 0420 of approved %s answered %s", p.round, p.key(), resp.ResponseCode)
	}
}

// advice sends a reversal advice (0420, or the 0421 repeat of an earlier one) and
// checks that it is acknowledged 0430/00.
func (ts *tester) advice(cc checkConns, rev *specs.Message) error {
	resp, err := cc.pc.RoundTripTimeout(rev, 15*time.Second)
	if err != nil {
		return err
	}
	if resp.MTI != "0430" || resp.ResponseCode != "00" {
		return fmt.Errorf("%s answered %s/%s, want 0430/00", rev.MTI, resp.MTI, resp.ResponseCode)
	}
	return nil
}

// checkApproval checks what an approval must carry: DE 38, a receipt, and an
// allocation that adds up to the amount.
func (ts *tester) checkApproval(p *payReq, res simulators.PaymentResult, what string) {
	if res.AuthID == "" || res.Receipt == "" {
		ts.violate("%s of %s approved without DE 38 (%q) or receipt (%q)", what, p.key(), res.AuthID, res.Receipt)
	}
	if p.link == linkHTTP {
		return // the HTTP answer's allocations are not read here
	}
	var sum int64
	for _, a := range res.Allocated {
		sum += a.Amount
	}
	if sum != p.amount {
		ts.violate("%s of %s: tag 24 allocates %d, amount %d", what, p.key(), sum, p.amount)
	}
}

func pickAccount(rng *rand.Rand) string {
	total := 0
	for _, a := range fixtureAccounts() {
		total += a.weight
	}
	n := rng.IntN(total)
	for _, a := range fixtureAccounts() {
		if n < a.weight {
			return a.number
		}
		n -= a.weight
	}
	return fixtureAccounts()[0].number
}

func (ts *tester) origin(link specs.Link) simulators.Origin {
	if link == specs.LinkPC {
		return simulators.Origin{Link: specs.LinkPC, Institution: institution, Terminal: atm, Keys: ts.keys}
	}
	return simulators.Origin{Link: specs.LinkTerminal, Terminal: cashTerm, Keys: ts.keys}
}

func (ts *tester) payOpts(link specs.Link, card bool) simulators.PaymentOptions {
	if card {
		return simulators.PaymentOptions{Card: simulators.TestCard(ts.cardSeq.Add(1))}
	}
	if link == specs.LinkPC {
		pan := simulators.Luhn(fmt.Sprintf("416973%09d", ts.cardSeq.Add(1)))
		return simulators.PaymentOptions{Card: &simulators.Card{PAN: pan, Expiry: "2812"}, EntryMode: "021"}
	}
	return simulators.PaymentOptions{EntryMode: "010"} // cash
}

// dialPC dials the PC link and signs on as the demo processing centre.
func (ts *tester) dialPC(ctx context.Context, h *hostProc) *simulators.Conn {
	t := ts.t
	c, err := simulators.Dial(ctx, ts.pcD, h.PCAddr, simulators.ConnOptions{Handler: ts.pcHandle})
	if err != nil {
		t.Fatalf("dial PC link: %v", err)
	}
	resp, err := c.RoundTripTimeout(ts.origin(specs.LinkPC).NetMgmt("001"), 10*time.Second)
	if err != nil || resp.ResponseCode != "00" {
		c.Close()
		t.Fatalf("PC sign-on: %v %+v", err, resp)
	}
	return c
}

// checkConns are the connections of the checks: one per ISO link, and an HTTP client.
type checkConns struct {
	term, pc *simulators.Conn
	http     *http.Client
	httpAddr string
}

func (ts *tester) checkConns(h *hostProc) checkConns {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	term, err := simulators.Dial(ctx, ts.termD, h.TermAddr, simulators.ConnOptions{})
	if err != nil {
		ts.t.Fatalf("dial terminal link: %v", err)
	}
	return checkConns{term: term, pc: ts.dialPC(ctx, h), http: &http.Client{Timeout: 15 * time.Second}, httpAddr: h.HTTPAddr}
}

func (cc checkConns) on(link specs.Link) *simulators.Conn {
	if link == specs.LinkPC {
		return cc.pc
	}
	return cc.term
}

func (cc checkConns) Close() {
	cc.term.Close()
	cc.pc.Close()
	cc.http.CloseIdleConnections()
}

// repeat sends the payment again under its key: the 0201 of an ISO payment (reading
// its 0210), the same POST of an HTTP one. fresh is true when the host says it
// processed the request as new (only the HTTP API says so: 201 rather than 200).
func (ts *tester) repeat(cc checkConns, p *payReq) (res simulators.PaymentResult, fresh bool, err error) {
	if p.link == linkHTTP {
		return ts.httpRepeat(cc, p)
	}
	resp, err := cc.on(p.link).RoundTripTimeout(simulators.Repeat("0201", p.msg), 15*time.Second)
	if err != nil {
		return simulators.PaymentResult{}, false, err
	}
	res, err = simulators.ParsePayment(resp)
	return res, false, err
}

// reconcile settles and checks the payments of one round after the restart.
func (ts *tester) reconcile(h *hostProc, round int) string {
	cc := ts.checkConns(h)
	defer cc.Close()
	ts.mu.Lock()
	var mine []*payReq
	for _, p := range ts.reqs {
		if p.round == round {
			mine = append(mine, p)
		}
	}
	ts.mu.Unlock()

	counts := map[string]int{}
	var cmu sync.Mutex
	count := func(s string) {
		cmu.Lock()
		counts[s]++
		cmu.Unlock()
	}
	ts.mu.Lock()
	killedAt := ts.killedAt[round]
	ts.mu.Unlock()
	ts.parallel(mine, 16, func(p *payReq) {
		ts.mu.Lock()
		answered, rc, auth, receipt := p.answered, p.rc, p.authID, p.receipt
		ts.mu.Unlock()
		if !answered && p.byAdvice {
			// The sender settles its unanswered payment by reversing it: whether or
			// not the host posted it, nothing of it may remain, and a repeated advice
			// has no second effect.
			rev, err := ts.origin(specs.LinkPC).Reversal("0420", p.msg)
			if err == nil {
				err = ts.advice(cc, rev)
			}
			if err == nil {
				err = ts.advice(cc, simulators.Repeat("0421", rev))
			}
			if err != nil {
				ts.violate("round %d: reversal advice of unanswered %s: %v", round, p.key(), err)
				return
			}
			ts.mu.Lock()
			p.rev, p.revAnswered, p.revRC, p.reversed, p.settled = rev, true, "00", true, "0420"
			ts.mu.Unlock()
			count("ISO unanswered: reversed by 0420")
			return
		}
		res, fresh, err := ts.repeat(cc, p)
		if err != nil {
			ts.violate("round %d: repeat of %s: %v", round, p.key(), err)
			return
		}
		kind := "ISO"
		if p.link == linkHTTP {
			kind = "HTTP"
		}
		switch {
		case answered && rc == "00":
			// An approval the client holds must stand, unchanged, exactly once.
			if res.RC != "00" || res.AuthID != auth || res.Receipt != receipt || fresh {
				ts.violate("round %d: approved %s (auth %s, receipt %s, %d) lost after the crash: its repeat got %s, auth %q, receipt %q, processed as new %v",
					round, p.key(), auth, receipt, p.amount, res.RC, res.AuthID, res.Receipt, fresh)
				return
			}
			count(kind + " approved: replayed")
		case answered:
			// A decline stands too (a 91, 96 or HTTP 5xx posted nothing and may be
			// processed anew).
			if res.RC != rc && rc != "96" && rc != "91" && !strings.HasPrefix(rc, "http 5") {
				ts.violate("round %d: declined %s (%s): its repeat got %s", round, p.key(), rc, res.RC)
				return
			}
			if res.RC == "00" {
				ts.checkApproval(p, res, "repeat")
				ts.settle(p, res)
			}
			count(kind + " declined " + rc + ": repeat " + res.RC)
		default:
			// No answer before the crash: the repeat replays an approval (posted before
			// the crash) or processes it as new; a second repeat must replay the first.
			if res.RC == "00" {
				ts.checkApproval(p, res, "repeat")
			}
			again, fresh2, err := ts.repeat(cc, p)
			if err != nil {
				ts.violate("round %d: second repeat of unanswered %s: %v", round, p.key(), err)
				return
			}
			if again.RC != res.RC || again.AuthID != res.AuthID || again.Receipt != res.Receipt || fresh2 {
				ts.violate("round %d: unanswered %s: first repeat %s/%s/%s, second %s/%s/%s (processed as new %v)", round, p.key(),
					res.RC, res.AuthID, res.Receipt, again.RC, again.AuthID, again.Receipt, fresh2)
			}
			ts.settle(p, res)
			if res.RC != "00" {
				count(kind + " unanswered: repeat " + res.RC)
				return
			}
			// When was it posted: before the kill (the host posted it and died before
			// answering), or by the repeat?
			got, err := getPayment(cc.http, cc.httpAddr, res.Receipt)
			if err != nil {
				ts.violate("round %d: unanswered %s settled with receipt %s: %v", round, p.key(), res.Receipt, err)
				return
			}
			if at, err := time.Parse(time.RFC3339Nano, got.PostedAt); err == nil && at.Before(killedAt) {
				count(kind + " unanswered: posted before the kill, repeat replayed it")
			} else {
				count(kind + " unanswered: repeat processed it as new")
			}
		}
	})

	// Reversals sent during the load: an acknowledged one stands (its 0421 is answered
	// 00 with no second effect), an unanswered one is settled by its 0421.
	var revs []*payReq
	ts.mu.Lock()
	for _, p := range mine {
		if p.rev != nil && p.settled != "0420" {
			revs = append(revs, p)
		}
	}
	ts.mu.Unlock()
	ts.parallel(revs, 16, func(p *payReq) {
		ts.mu.Lock()
		rev, answered := p.rev, p.revAnswered
		ts.mu.Unlock()
		if err := ts.advice(cc, simulators.Repeat("0421", rev)); err != nil {
			ts.violate("round %d: 0421 of the reversal of %s (acknowledged before the crash: %v): %v", round, p.key(), answered, err)
			return
		}
		ts.mu.Lock()
		p.reversed = true
		ts.mu.Unlock()
		if answered {
			count("ISO reversal acknowledged: 0421 replayed")
		} else {
			count("ISO reversal unanswered: settled by 0421")
		}
	})

	// Receipts are unique across every approval so far.
	ts.checkReceiptsUnique()
	// The HTTP API knows every approved receipt of the round.
	var approved []*payReq
	ts.mu.Lock()
	for _, p := range mine {
		if p.rc == "00" {
			approved = append(approved, p)
		}
	}
	ts.mu.Unlock()
	if n := ts.cfg.httpChecks; n > 0 && len(approved) > n {
		approved = approved[:n]
	}
	ts.checkHTTP(h, approved)
	ts.checkDues(h)

	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, counts[k])
	}
	return b.String()
}

// settle records the outcome a 0201 gave a payment the client held no approval for.
func (ts *tester) settle(p *payReq, res simulators.PaymentResult) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p.rc, p.authID, p.receipt, p.settled = res.RC, res.AuthID, res.Receipt, "0201"
}

// checkAll re-checks every approval of every round (0201 and HTTP) and the dues.
func (ts *tester) checkAll(h *hostProc) {
	cc := ts.checkConns(h)
	defer cc.Close()
	var approved []*payReq
	ts.mu.Lock()
	for _, p := range ts.reqs {
		if p.rc == "00" {
			approved = append(approved, p)
		}
	}
	ts.mu.Unlock()
	ts.parallel(approved, 16, func(p *payReq) {
		ts.checkReplayed(cc, p, "final")
		ts.mu.Lock()
		rev, reversed := p.rev, p.reversed
		ts.mu.Unlock()
		if reversed {
			if err := ts.advice(cc, simulators.Repeat("0421", rev)); err != nil {
				ts.violate("final: 0421 of the reversal of %s: %v", p.key(), err)
			}
		}
	})
	ts.checkHTTP(h, approved)
	ts.checkDues(h)
	nrev := 0
	ts.mu.Lock()
	for _, p := range ts.reqs {
		if p.reversed {
			nrev++
		}
	}
	ts.mu.Unlock()
	ts.t.Logf("final check after a clean restart: %d approvals replayed and found over HTTP, %d reversals (0420) repeated; %s",
		len(approved), nrev, ts.finalCardAuths())
}

// checkReplayed sends the 0201 of an approved payment: it must replay the approval.
func (ts *tester) checkReplayed(cc checkConns, p *payReq, what string) {
	res, fresh, err := ts.repeat(cc, p)
	if err != nil {
		ts.violate("%s: repeat of %s: %v", what, p.key(), err)
		return
	}
	if res.RC != "00" || res.AuthID != p.authID || res.Receipt != p.receipt || fresh {
		ts.violate("%s: approved %s (auth %s, receipt %s): its repeat got %s/%q/%q (processed as new %v)", what, p.key(), p.authID, p.receipt, res.RC, res.AuthID, res.Receipt, fresh)
	}
}

func (ts *tester) checkReceiptsUnique() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	seen := map[string]string{}
	for _, p := range ts.reqs {
		if p.rc != "00" {
			continue
		}
		if k, dup := seen[p.receipt]; dup {
			ts.violate("receipt %s given to two payments: %s and %s", p.receipt, k, p.key())
		}
		seen[p.receipt] = p.key()
	}
}

// getPayment reads GET /v1/payments/{receipt} as the demo kiosk.
func getPayment(client *http.Client, addr, receipt string) (httpPayment, error) {
	var got httpPayment
	req, err := http.NewRequest("GET", "http://"+addr+"/v1/payments/"+receipt, nil)
	if err != nil {
		return got, err
	}
	req.Header.Set("Authorization", "Bearer "+kioskKey)
	res, err := client.Do(req)
	if err != nil {
		return got, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return got, fmt.Errorf("GET /v1/payments/%s: %d %s", receipt, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		return got, fmt.Errorf("GET /v1/payments/%s: %v: %s", receipt, err, b)
	}
	return got, nil
}

// checkHTTP looks every receipt up with GET /v1/payments/{receipt}: posted, with the
// amount paid.
func (ts *tester) checkHTTP(h *hostProc, ps []*payReq) {
	client := &http.Client{Timeout: 15 * time.Second}
	defer client.CloseIdleConnections()
	ts.parallel(ps, 8, func(p *payReq) {
		got, err := getPayment(client, h.HTTPAddr, p.receipt)
		if err != nil {
			ts.violate("approved %s: %v", p.key(), err)
			return
		}
		ts.mu.Lock()
		want := "posted"
		if p.reversed {
			want = "reversed"
		}
		ts.mu.Unlock()
		if got.Receipt != p.receipt || got.Amount != simulators.FormatMinor(p.amount) || got.Status != want {
			ts.violate("GET /v1/payments/%s (approved %s, %s, %s): receipt %s, amount %s, status %s", p.receipt, p.key(),
				simulators.FormatMinor(p.amount), want, got.Receipt, got.Amount, got.Status)
		}
	})
}

// checkDues compares each account's due (ISO 0100) with the fixture's due minus the
// approved payments.
func (ts *tester) checkDues(h *hostProc) {
	paid := map[string]int64{}
	n := 0
	ts.mu.Lock()
	for _, p := range ts.reqs {
		if p.counts() {
			paid[p.account] += p.amount
			n++
		}
	}
	ts.mu.Unlock()
	dues := ts.dues(h)
	for _, a := range fixtureAccounts() {
		want := a.due - paid[a.number] - ts.offBy
		if dues[a.number] != want {
			ts.violate("due of %s is %d, want %d (fixture %d − %d approved and not reversed, of %d payments)",
				a.number, dues[a.number], want, a.due, paid[a.number], n)
		}
	}
}

// dues asks the host (0100 on the terminal link) for each account's total due.
func (ts *tester) dues(h *hostProc) map[string]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := simulators.Dial(ctx, ts.termD, h.TermAddr, simulators.ConnOptions{})
	if err != nil {
		ts.t.Fatalf("dial terminal link: %v", err)
	}
	defer c.Close()
	out := map[string]int64{}
	o := ts.origin(specs.LinkTerminal)
	for _, a := range fixtureAccounts() {
		resp, err := c.RoundTrip(ctx, o.Inquiry(simulators.AccountTarget(provider, a.number)))
		if err != nil {
			ts.t.Fatalf("inquiry %s: %v", a.number, err)
		}
		iq, err := simulators.ParseInquiry(resp)
		if err != nil || iq.RC != "00" {
			ts.t.Fatalf("inquiry %s: DE 39 %s, %v", a.number, iq.RC, err)
		}
		out[a.number] = iq.Total
	}
	return out
}

// parallel runs f over ps with n goroutines.
func (ts *tester) parallel(ps []*payReq, n int, f func(*payReq)) {
	ch := make(chan *payReq)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range ch {
				f(p)
			}
		}()
	}
	for _, p := range ps {
		ch <- p
	}
	close(ch)
	wg.Wait()
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// negativeControls show that the checks can fail: against the same host, an expected
// due one qəpik off and an approval whose receipt the client misremembers must each
// be reported. Their violations are then dropped; a control that reports nothing is
// itself a violation.
func (ts *tester) negativeControls(h *hostProc) {
	control := func(name string, f func()) {
		ts.vmu.Lock()
		before := len(ts.violations)
		ts.vmu.Unlock()
		f()
		ts.vmu.Lock()
		found := len(ts.violations) > before
		ts.violations = ts.violations[:before]
		ts.vmu.Unlock()
		if !found {
			ts.violate("negative control %q: a deliberately wrong expectation was not reported", name)
		}
	}
	control("due one qəpik off", func() {
		ts.offBy = 1
		defer func() { ts.offBy = 0 }()
		ts.checkDues(h)
	})
	var real *payReq
	ts.mu.Lock()
	for _, p := range ts.reqs {
		if p.rc == "00" {
			real = p
			break
		}
	}
	ts.mu.Unlock()
	if real == nil {
		ts.violate("negative controls: no approved payment at all")
		return
	}
	control("misremembered receipt", func() {
		fake := *real
		fake.receipt = "X" + real.receipt
		cc := ts.checkConns(h)
		defer cc.Close()
		ts.checkReplayed(cc, &fake, "control")
	})
	control("payment the host never saw", func() {
		fake := *real
		fake.receipt = "NEVER-GIVEN"
		ts.checkHTTP(h, []*payReq{&fake})
	})
}
