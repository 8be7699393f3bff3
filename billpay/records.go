package billpay

// Meter is a debt's meter data as the provider sent it (decimal strings).
type Meter struct {
	ID                string
	Previous, Current string
	Unit, Tariff      string
}

// Reading is a meter reading a payer gives with a payment (tag 06).
type Reading struct {
	Service, Meter, Value string
}

type debtRec struct {
	Service string
	Period  int
	Amount  int64 // as the provider's file says
	Meter   *Meter
}

// paidRec is money the host accepted on one business date for one service and period
// of an account after the registers-through date of the account's last file (reversals
// are negative). Due = file amount − Σ paid.
type paidRec struct {
	Service string
	Period  int // 0 = advance
	Date    uint32
	Amount  int64
}

type accountRec struct {
	Gen                         uint32 // version (from the key; also stored) = the import that wrote it
	Closed, Prepaid             bool
	Name, Address, Phone, Email string
	CardID                      string
	CardSeq                     uint32 // sequence last known to be on the card
	IssuedSeq                   uint32 // sequence of the last top-up credential issued (0 = none)
	RegistersThrough            uint32 // YYYYMMDD of the last file that listed the account
	Debts                       []debtRec
	Paid                        []paidRec
}

const recFormat = 1

func (r *accountRec) encode(dst []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, 256)
	}
	e := enc{b: append(dst, recFormat)}
	e.u(uint64(r.Gen))
	e.bool(r.Closed)
	e.bool(r.Prepaid)
	e.s(r.Name)
	e.s(r.Address)
	e.s(r.Phone)
	e.s(r.Email)
	e.s(r.CardID)
	e.u(uint64(r.CardSeq))
	e.u(uint64(r.IssuedSeq))
	e.u(uint64(r.RegistersThrough))
	e.u(uint64(len(r.Debts)))
	for _, d := range r.Debts {
		e.s(d.Service)
		e.u(uint64(d.Period))
		e.i(d.Amount)
		if d.Meter == nil {
			e.bool(false)
		} else {
			e.bool(true)
			e.s(d.Meter.ID)
			e.s(d.Meter.Previous)
			e.s(d.Meter.Current)
			e.s(d.Meter.Unit)
			e.s(d.Meter.Tariff)
		}
	}
	e.u(uint64(len(r.Paid)))
	for _, p := range r.Paid {
		e.s(p.Service)
		e.u(uint64(p.Period))
		e.u(uint64(p.Date))
		e.i(p.Amount)
	}
	return e.b
}

func decodeAccount(v []byte) (*accountRec, error) {
	if len(v) == 0 || v[0] != recFormat {
		return nil, errCorrupt
	}
	d := dec{b: v[1:]}
	r := &accountRec{}
	r.Gen = uint32(d.u())
	r.Closed = d.bool()
	r.Prepaid = d.bool()
	r.Name, r.Address, r.Phone, r.Email = d.s(), d.s(), d.s(), d.s()
	r.CardID = d.s()
	r.CardSeq = uint32(d.u())
	r.IssuedSeq = uint32(d.u())
	r.RegistersThrough = uint32(d.u())
	n := d.count()
	if n > 0 {
		r.Debts = make([]debtRec, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		db := &r.Debts[i]
		db.Service = d.s()
		db.Period = int(d.u())
		db.Amount = d.i()
		if d.bool() {
			db.Meter = &Meter{ID: d.s(), Previous: d.s(), Current: d.s(), Unit: d.s(), Tariff: d.s()}
		}
	}
	n = d.count()
	if n > 0 {
		r.Paid = make([]paidRec, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		p := &r.Paid[i]
		p.Service = d.s()
		p.Period = int(d.u())
		p.Date = uint32(d.u())
		p.Amount = d.i()
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// addPaid records amount paid on (service, period) on business date date.
func (r *accountRec) addPaid(service string, period int, date uint32, amount int64) {
	for i := range r.Paid {
		p := &r.Paid[i]
		if p.Service == service && p.Period == period && p.Date == date {
			p.Amount += amount
			return
		}
	}
	r.Paid = append(r.Paid, paidRec{service, period, date, amount})
}

// compactPaid drops netting entries that came to zero.
func (r *accountRec) compactPaid() {
	out := r.Paid[:0]
	for _, p := range r.Paid {
		if p.Amount != 0 {
			out = append(out, p)
		}
	}
	r.Paid = out
}

// dues returns what the account owes now, per service and period: each debt of the file
// less what was paid on it since, and the advances (period 0) as credits.
func (r *accountRec) dues() []Due {
	type sp struct {
		s string
		p int
	}
	paid := map[sp]int64{}
	for _, p := range r.Paid {
		paid[sp{p.Service, p.Period}] += p.Amount
	}
	out := make([]Due, 0, len(r.Debts)+1)
	for _, d := range r.Debts {
		k := sp{d.Service, d.Period}
		out = append(out, Due{d.Service, d.Period, d.Amount - paid[k]})
		delete(paid, k)
	}
	// Payments on periods the file does not list (advances, or debts dropped by a newer
	// file) stand as credits of their own.
	for _, p := range r.Paid {
		k := sp{p.Service, p.Period}
		if v, ok := paid[k]; ok {
			if v != 0 {
				out = append(out, Due{p.Service, p.Period, -v})
			}
			delete(paid, k)
		}
	}
	return out
}

// providerRec is a provider's import state. Account records are versioned by the import
// that wrote them: a debt list stages its records under a fresh version in chunks, then
// one small command raises Committed to that version, which makes them all visible at
// once (an import that never gets there leaves invisible records, its version listed in
// Aborted). An account is open when its current version is at least FullVersion (the
// last full file), so a full file closes unlisted accounts without touching them.
type providerRec struct {
	Committed   uint32   // highest version readers may see
	FullVersion uint32   // version of the last applied full file
	NextVersion uint32   // last version handed to an import attempt
	Pending     uint32   // version of the attempt in progress (0 = none)
	Aborted     []uint32 // versions of attempts that never committed (their records are invisible)
	LastCreated int64    // unix seconds of the last applied file's created
	LastFileID  string
}

// visible reports whether records of version v are part of the committed state.
func (r *providerRec) visible(v uint32) bool {
	if v > r.Committed {
		return false
	}
	for _, a := range r.Aborted {
		if a == v {
			return false
		}
	}
	return true
}

func (r *providerRec) encode() []byte {
	e := enc{b: []byte{recFormat}}
	e.u(uint64(r.Committed))
	e.u(uint64(r.FullVersion))
	e.u(uint64(r.NextVersion))
	e.u(uint64(r.Pending))
	e.u(uint64(len(r.Aborted)))
	for _, a := range r.Aborted {
		e.u(uint64(a))
	}
	e.i(r.LastCreated)
	e.s(r.LastFileID)
	return e.b
}

func decodeProvider(v []byte) (*providerRec, error) {
	if len(v) == 0 || v[0] != recFormat {
		return nil, errCorrupt
	}
	d := dec{b: v[1:]}
	r := &providerRec{Committed: uint32(d.u()), FullVersion: uint32(d.u()), NextVersion: uint32(d.u()), Pending: uint32(d.u())}
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		r.Aborted = append(r.Aborted, uint32(d.u()))
	}
	r.LastCreated = d.i()
	r.LastFileID = d.s()
	return r, d.err
}

// AccountRef names one account at one provider.
type AccountRef struct {
	Provider, Account string
}

// Subscriber is the holder of a registration code.
type Subscriber struct {
	Code               string
	Name, Phone, Email string
	Accounts           []AccountRef
	// Duplicate: Register found the request's key already used by the same request and
	// returned that registration (as the subscriber is now) instead of a new one.
	Duplicate bool
}

func (s *Subscriber) encode() []byte {
	e := enc{b: []byte{recFormat}}
	e.s(s.Name)
	e.s(s.Phone)
	e.s(s.Email)
	e.u(uint64(len(s.Accounts)))
	for _, a := range s.Accounts {
		e.s(a.Provider)
		e.s(a.Account)
	}
	return e.b
}

func decodeSubscriber(code string, v []byte) (*Subscriber, error) {
	if len(v) == 0 || v[0] != recFormat {
		return nil, errCorrupt
	}
	d := dec{b: v[1:]}
	s := &Subscriber{Code: code, Name: d.s(), Phone: d.s(), Email: d.s()}
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		s.Accounts = append(s.Accounts, AccountRef{d.s(), d.s()})
	}
	return s, d.err
}
