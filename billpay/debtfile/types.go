package debtfile

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Namespace is the XML namespace of a debt list (PE §1).
const Namespace = "urn:billpay:debts:1"

// Mode says what a file's accounts mean: the provider's whole state or only
// the accounts that changed.
type Mode uint8

const (
	// ModeFull: the file is the provider's whole current state; accounts it
	// does not list are closed (by the core).
	ModeFull Mode = iota + 1
	// ModeDelta: only the listed accounts change.
	ModeDelta
)

func (m Mode) String() string {
	switch m {
	case ModeFull:
		return "full"
	case ModeDelta:
		return "delta"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Header is the root element's attributes.
type Header struct {
	Provider string
	FileID   string
	Created  time.Time // with the file's own offset
	// RegistersThrough is a date: midnight UTC of that day.
	RegistersThrough time.Time
	Mode             Mode
	Line             int // line of the <debts> start tag
}

// Meter is a debt's meter reading. The numbers are kept as the file wrote
// them (decimal strings); they are validated as non-negative decimals.
type Meter struct {
	ID                string
	Previous, Current string
	Unit, Tariff      string
}

// Card is a prepaid account's smart card.
type Card struct {
	ID       string
	Sequence uint32
}

// Debt is one service and period of an account.
type Debt struct {
	Line    int
	Service string
	Period  int   // YYYYMM
	Amount  int64 // minor units; negative = credit
	Meter   *Meter
}

// Account is one <account> record.
type Account struct {
	Line                                int
	Number, Name, Address, Phone, Email string
	Closed                              bool
	Prepaid                             bool
	Card                                *Card
	Debts                               []Debt
}

// Clone returns a deep copy of a, safe to keep after the next call to
// Reader.Next.
func (a *Account) Clone() *Account {
	if a == nil {
		return nil
	}
	c := *a
	if a.Card != nil {
		card := *a.Card
		c.Card = &card
	}
	if a.Debts != nil {
		c.Debts = make([]Debt, len(a.Debts))
		copy(c.Debts, a.Debts)
		for i := range c.Debts {
			if m := c.Debts[i].Meter; m != nil {
				mc := *m
				c.Debts[i].Meter = &mc
			}
		}
	}
	return &c
}

// RecordError is one bad record. Field names the attribute or element at
// fault ("amount", "period", "number", "card", …, "" when the record as a
// whole is wrong); Msg is the whole human text after the account number.
type RecordError struct {
	Line    int
	Account string // the account number, "" when it is missing or itself invalid
	Field   string
	Msg     string
}

func (e RecordError) Error() string {
	var b strings.Builder
	b.WriteString("line ")
	b.WriteString(strconv.Itoa(e.Line))
	b.WriteString(": ")
	if e.Account != "" {
		b.WriteString("account ")
		b.WriteString(e.Account)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Report is what a pass over a file found.
type Report struct {
	Errors   []RecordError // in the order found (an account-level error after its debts'), at most Options.MaxErrors
	More     int           // errors found beyond the cap
	Accounts int           // <account> elements read
	Debts    int           // <debt> elements read
}

// OK reports whether the pass found no bad record.
func (r Report) OK() bool { return len(r.Errors) == 0 && r.More == 0 }

// FileError is a problem that stops reading: the file is not well-formed
// XML, uses a forbidden construct (DOCTYPE, entities, CDATA), breaks a size
// limit, is not a debts file, or has an invalid header. Nothing after it is
// read.
type FileError struct {
	Line int
	Msg  string
}

func (e *FileError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Options configure a Reader.
type Options struct {
	// MinorDigits is the currency's number of minor digits (2 for AZN).
	// Amounts with more fraction digits are errors; fewer are scaled. 0 means
	// whole units only. Must be 0..6.
	MinorDigits int
	// Service reports whether a service code is registered for the provider
	// (nil accepts any code of valid syntax). It is called once per distinct
	// code per Reader and must be deterministic.
	Service func(code string) bool
	// MaxErrors caps Report.Errors (0 means 100); further errors only count
	// in Report.More.
	MaxErrors int
	// Progress, when set, is called with the number of bytes read so far
	// after each read of at least 4 MiB since the last call, and at the end.
	Progress func(bytesRead int64)
	// Tee, when set, receives every byte the Reader reads, in order (a
	// write error stops the Reader). With a SignatureCheck here, the bytes a
	// pass validates or applies are the very bytes whose signature is
	// checked, with no extra pass over the file.
	Tee io.Writer
}

// Limits of one record, beyond which a record is bad (RecordError) or, for
// the markup itself, the file is refused (FileError).
const (
	MaxAmount          = 10_000_000_000_000 // |amount| in minor units must stay below this (10^13)
	MaxDebtsPerAccount = 10_000
	MaxTokenBytes      = 64 << 10 // one tag, comment or processing instruction
	maxDepth           = 32
	maxAttrs           = 32
	maxCodeLen         = 32 // account numbers, service codes, meter and card ids
	maxProviderLen     = 16
	maxFileIDLen       = 64
	maxNameLen         = 256
	maxAddressLen      = 512
	maxPhoneLen        = 32
	maxEmailLen        = 254
	maxMeterNumLen     = 24
	maxUnitLen         = 16
	defaultMaxErrors   = 100
	minYear, maxYear   = 2000, 2099
)
