package simulators

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/billswitch/billswitch/specs"
)

// Action is what the simulated card issuer does with an authorization.
type Action int

// The issuer's behaviours.
const (
	Approve    Action = iota // 0210/00 with an approval code
	Decline                  // 0210 with the rule's code (default 05)
	Delay                    // wait, then approve
	NoAnswer                 // never answer
	Disconnect               // close the connection instead of answering
)

var actionNames = [...]string{"approve", "decline", "delay", "noanswer", "disconnect"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// IssuerRule is the behaviour for the cards whose PAN starts with Prefix (the longest
// matching prefix wins; "" matches every card).
type IssuerRule struct {
	Prefix string
	Action Action
	Code   string        // Decline: DE 39 (default 05)
	Delay  time.Duration // Delay: how long
}

// ParseIssuerRule reads "PREFIX=approve", "PREFIX=decline:51", "PREFIX=delay:2s",
// "PREFIX=noanswer", "PREFIX=disconnect".
func ParseIssuerRule(s string) (IssuerRule, error) {
	prefix, act, ok := strings.Cut(s, "=")
	if !ok || strings.Trim(prefix, "0123456789") != "" {
		return IssuerRule{}, fmt.Errorf("issuer rule %q: want BIN-PREFIX=ACTION", s)
	}
	name, arg, _ := strings.Cut(act, ":")
	r := IssuerRule{Prefix: prefix}
	switch name {
	case "approve":
		r.Action = Approve
	case "decline":
		r.Action, r.Code = Decline, arg
		if r.Code == "" {
			r.Code = "05"
		}
		if len(r.Code) != 2 {
			return r, fmt.Errorf("issuer rule %q: a response code has two characters", s)
		}
	case "delay":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return r, fmt.Errorf("issuer rule %q: delay:DURATION (e.g. delay:2s)", s)
		}
		r.Action, r.Delay = Delay, d
	case "noanswer":
		r.Action = NoAnswer
	case "disconnect":
		r.Action = Disconnect
	default:
		return r, fmt.Errorf("issuer rule %q: action is approve, decline[:CODE], delay:DURATION, noanswer or disconnect", s)
	}
	return r, nil
}

// IssuerRates are random behaviours for cards no rule names, each a probability
// (their sum ≤ 1; the rest is approved).
type IssuerRates struct {
	Decline     float64
	DeclineCode string // default 51
	Delay       float64
	DelayFor    time.Duration
	NoAnswer    float64
	Disconnect  float64
}

// IssuerStats count what the issuer did.
type IssuerStats struct {
	Authorizations int64            `json:"authorizations"`
	ByAction       map[string]int64 `json:"by_action"`
	Advices        int64            `json:"advices"`   // 0420/0421 received (answered 0430)
	Reversals      int64            `json:"reversals"` // 0400 received (answered 0410)
	NetMgmt        int64            `json:"net_mgmt"`  // 0800 received (answered 0810)
}

// Issuer is the card-issuer side of the PC simulator: it answers the host's 0200
// authorizations by rule or at random, acknowledges 0420/0421 with 0430 and 0400 with
// 0410, and answers 0800 with 0810. Use its Handle as a Conn's Handler.
type Issuer struct {
	rules []IssuerRule // longest prefix first
	rates IssuerRates
	log   zerolog.Logger

	mu    sync.Mutex
	rng   *rand.Rand
	stats IssuerStats
	codes int64 // approval codes
}

// NewIssuer builds an issuer. seed 0 takes the clock.
func NewIssuer(rules []IssuerRule, rates IssuerRates, seed uint64, log zerolog.Logger) *Issuer {
	rs := append([]IssuerRule(nil), rules...)
	sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Prefix) > len(rs[j].Prefix) })
	if rates.DeclineCode == "" {
		rates.DeclineCode = "51"
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return &Issuer{rules: rs, rates: rates, log: log, rng: rand.New(rand.NewPCG(seed, 1)),
		stats: IssuerStats{ByAction: map[string]int64{}}}
}

// Stats returns a copy of the counters.
func (is *Issuer) Stats() IssuerStats {
	is.mu.Lock()
	defer is.mu.Unlock()
	s := is.stats
	s.ByAction = make(map[string]int64, len(is.stats.ByAction))
	for k, v := range is.stats.ByAction {
		s.ByAction[k] = v
	}
	return s
}

// decide picks the behaviour for a PAN.
func (is *Issuer) decide(pan string) IssuerRule {
	for _, r := range is.rules {
		if strings.HasPrefix(pan, r.Prefix) {
			return r
		}
	}
	is.mu.Lock()
	x := is.rng.Float64()
	is.mu.Unlock()
	r := is.rates
	switch {
	case x < r.Decline:
		return IssuerRule{Action: Decline, Code: r.DeclineCode}
	case x < r.Decline+r.Delay:
		return IssuerRule{Action: Delay, Delay: r.DelayFor}
	case x < r.Decline+r.Delay+r.NoAnswer:
		return IssuerRule{Action: NoAnswer}
	case x < r.Decline+r.Delay+r.NoAnswer+r.Disconnect:
		return IssuerRule{Action: Disconnect}
	}
	return IssuerRule{Action: Approve}
}

// Handle answers one request of the host (a Handler).
func (is *Issuer) Handle(c *Conn, req *specs.Message) *specs.Message {
	switch req.MTI {
	case "0800":
		is.count(func(s *IssuerStats) { s.NetMgmt++ })
		return Response(req, "00")
	case "0420", "0421":
		is.count(func(s *IssuerStats) { s.Advices++ })
		is.log.Info().Str("mti", req.MTI).Str("stan", req.STAN).Str("original", req.OriginalData).Msg("reversal advice")
		return Response(req, "00")
	case "0400", "0401":
		is.count(func(s *IssuerStats) { s.Reversals++ })
		return Response(req, "00")
	case "0100", "0200", "0201":
	default:
		return Response(req, "12")
	}
	rule := is.decide(req.PAN)
	is.count(func(s *IssuerStats) { s.Authorizations++; s.ByAction[rule.Action.String()]++ })
	is.log.Info().Str("mti", req.MTI).Str("stan", req.STAN).Str("pan", maskPAN(req.PAN)).
		Str("amount", req.Amount).Str("action", rule.Action.String()).Msg("authorization")
	switch rule.Action {
	case NoAnswer:
		return nil
	case Disconnect:
		c.Close()
		return nil
	case Decline:
		return Response(req, rule.Code)
	case Delay:
		time.Sleep(rule.Delay)
	}
	resp := Response(req, "00")
	is.mu.Lock()
	is.codes++
	resp.AuthID = fmt.Sprintf("%06d", is.codes%1000000)
	is.mu.Unlock()
	return resp
}

func (is *Issuer) count(f func(*IssuerStats)) {
	is.mu.Lock()
	f(&is.stats)
	is.mu.Unlock()
}
