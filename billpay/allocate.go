package billpay

import (
	"cmp"
	"slices"
)

// Due is what one account owes for one service and period (negative = a credit).
// Period 0 is the advance line of a service (always a credit).
type Due struct {
	Service string
	Period  int // YYYYMM, 0 = advance
	Amount  int64
}

// AccountDues is one account of a payment's target with its dues.
type AccountDues struct {
	Provider *Provider
	Account  string
	Dues     []Due
}

// Mode of allocation (host-iso8583.md §4 tag 04).
type Mode uint8

const (
	ModeAuto  Mode = iota // A: split automatically by §5 (the default)
	ModeLines             // L: the lines as given
)

// Line is one payment line of ModeLines (tag 05): an amount for one service of one account.
type Line struct {
	Provider, Account, Service string
	Amount                     int64
}

// Allocation is what a payment paid on one debt (tag 24); Period 0 is an advance.
type Allocation struct {
	Provider, Account, Service string
	Period                     int
	Amount                     int64
}

type allocKey struct{ provider, account, service string }

// Allocate splits amount over the target's dues by host-iso8583.md §5 and checks every
// touched service's amount rule (provider-exchange.md §0). single says the target is one
// account (named by provider + account), not a registration code. It is a pure function:
// the caller supplies the current dues and posts the result.
func Allocate(amount int64, mode Mode, lines []Line, accounts []AccountDues, single bool) ([]Allocation, error) {
	if amount <= 0 {
		return nil, declinef(DeclineInvalidAmount, "amount must be above zero")
	}
	var out []Allocation
	var err error
	if mode == ModeLines {
		out, err = allocateLines(amount, lines, accounts, single)
	} else {
		out, err = allocateAuto(amount, accounts, single)
	}
	if err != nil {
		return nil, err
	}
	if err := checkRules(out, accounts); err != nil {
		return nil, err
	}
	return out, nil
}

type positiveDebt struct {
	acct  *AccountDues
	order int // index of the service in the provider's order
	Due
}

func allocateAuto(amount int64, accounts []AccountDues, single bool) ([]Allocation, error) {
	n := 0
	for i := range accounts {
		n += len(accounts[i].Dues)
	}
	debts := make([]positiveDebt, 0, n)
	for i := range accounts {
		a := &accounts[i]
		for _, d := range a.Dues {
			if d.Amount <= 0 || d.Period == 0 {
				continue // credits are never touched
			}
			_, order, ok := a.Provider.Service(d.Service)
			if !ok {
				order = len(a.Provider.Services) // a service no longer registered pays last
			}
			debts = append(debts, positiveDebt{acct: a, order: order, Due: d})
		}
	}
	slices.SortFunc(debts, func(x, y positiveDebt) int {
		return cmp.Or(cmp.Compare(x.Period, y.Period),
			cmp.Compare(x.acct.Provider.Code, y.acct.Provider.Code),
			cmp.Compare(x.acct.Account, y.acct.Account),
			cmp.Compare(x.order, y.order),
			cmp.Compare(x.Service, y.Service))
	})
	rest := amount
	var out []Allocation
	for _, d := range debts {
		if rest == 0 {
			break
		}
		pay := min(rest, d.Amount)
		out = append(out, Allocation{d.acct.Provider.Code, d.acct.Account, d.Service, d.Period, pay})
		rest -= pay
	}
	if rest == 0 {
		return out, nil
	}
	if !single || len(accounts) != 1 {
		return nil, declinef(DeclineInvalidAmount, "amount exceeds the target's positive debts by %d; a registration code takes no advance", rest)
	}
	a := &accounts[0]
	for _, s := range a.Provider.Services {
		if s.Rule.allowsAdvance() && !s.Prepaid {
			return append(out, Allocation{a.Provider.Code, a.Account, s.Code, 0, rest}), nil
		}
	}
	return nil, declinef(DeclineInvalidAmount, "amount exceeds the account's debts by %d and no service of %s takes an advance", rest, a.Provider.Code)
}

func allocateLines(amount int64, lines []Line, accounts []AccountDues, single bool) ([]Allocation, error) {
	if len(lines) == 0 {
		return nil, declinef(DeclineInvalidAmount, "lines mode without lines")
	}
	var sum int64
	merged := map[allocKey]int64{}
	var order []allocKey
	for _, l := range lines {
		if l.Amount <= 0 {
			return nil, declinef(DeclineInvalidAmount, "line %s:%s:%s pays nothing", l.Provider, l.Account, l.Service)
		}
		sum += l.Amount
		k := allocKey{l.Provider, l.Account, l.Service}
		if _, ok := merged[k]; !ok {
			order = append(order, k)
		}
		merged[k] += l.Amount
	}
	if sum != amount {
		return nil, declinef(DeclineInvalidAmount, "lines add up to %d, the amount is %d", sum, amount)
	}
	var out []Allocation
	for _, k := range order {
		var a *AccountDues
		for i := range accounts {
			if accounts[i].Provider.Code == k.provider && accounts[i].Account == k.account {
				a = &accounts[i]
				break
			}
		}
		if a == nil {
			return nil, declinef(DeclineUnknownAccount, "line names %s:%s, not an account of the target", k.provider, k.account)
		}
		svc, _, ok := a.Provider.Service(k.service)
		if !ok {
			return nil, declinef(DeclineInvalidAmount, "line names service %s, not a service of %s", k.service, k.provider)
		}
		var debts []Due
		for _, d := range a.Dues {
			if d.Service == k.service && d.Period != 0 && d.Amount > 0 {
				debts = append(debts, d)
			}
		}
		slices.SortFunc(debts, func(x, y Due) int { return cmp.Compare(x.Period, y.Period) })
		rest := merged[k]
		for _, d := range debts {
			if rest == 0 {
				break
			}
			pay := min(rest, d.Amount)
			out = append(out, Allocation{k.provider, k.account, k.service, d.Period, pay})
			rest -= pay
		}
		if rest > 0 {
			if !svc.Rule.allowsAdvance() || svc.Prepaid || !single {
				return nil, declinef(DeclineInvalidAmount, "line %s:%s:%s exceeds the service's due by %d and %s takes no advance here", k.provider, k.account, k.service, rest, svc.Rule)
			}
			out = append(out, Allocation{k.provider, k.account, k.service, 0, rest})
		}
	}
	return out, nil
}

// checkRules checks each touched service's amount rule against its whole due (the sum
// of its positive debts over all periods).
func checkRules(out []Allocation, accounts []AccountDues) error {
	paid := map[allocKey]int64{}
	var touched []allocKey
	for _, al := range out {
		k := allocKey{al.Provider, al.Account, al.Service}
		if _, ok := paid[k]; !ok {
			touched = append(touched, k)
		}
		paid[k] += al.Amount
	}
	for _, k := range touched {
		var a *AccountDues
		for i := range accounts {
			if accounts[i].Provider.Code == k.provider && accounts[i].Account == k.account {
				a = &accounts[i]
				break
			}
		}
		svc, _, ok := a.Provider.Service(k.service)
		if !ok {
			return declinef(DeclineInvalidAmount, "service %s of %s is not registered", k.service, k.provider)
		}
		var due int64
		for _, d := range a.Dues {
			if d.Service == k.service && d.Period != 0 && d.Amount > 0 {
				due += d.Amount
			}
		}
		p := paid[k]
		switch svc.Rule {
		case RuleExact:
			if p != due {
				return declinef(DeclineInvalidAmount, "%s:%s:%s is EXACT: pays %d of a due of %d", k.provider, k.account, k.service, p, due)
			}
		case RuleAtLeast:
			if p < due {
				return declinef(DeclineInvalidAmount, "%s:%s:%s is AT_LEAST: pays %d of a due of %d", k.provider, k.account, k.service, p, due)
			}
		case RuleAtMost:
			if p > due {
				return declinef(DeclineInvalidAmount, "%s:%s:%s is AT_MOST: pays %d over a due of %d", k.provider, k.account, k.service, p, due)
			}
		}
	}
	return nil
}
