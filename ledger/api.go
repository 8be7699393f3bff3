package ledger

// API pinned by the coordinator so that billpay/ can be written in parallel with ledger/.
// The ledger helper implements it; the exported names and signatures are the contract
// (additions are fine; changes must be mirrored in billpay).

import (
	"context"
	"errors"
)

// AccountKind is the kind of a ledger account.
type AccountKind uint8

const (
	KindAcquirerReceivable AccountKind = iota + 1 // per institution or agent
	KindProviderPayable                           // per provider; may not go negative
	KindCommissionIncome                          // the hub's commission
	KindSubscriberAdvances                        // prepayments held for subscribers
	KindCashDrawer                                // per payment point
	KindSettlement                                // money moving to/from banks
	KindSuspense                                  // unmatched money awaiting investigation
)

// AccountID names one ledger account: a kind and an owner (institution, provider,
// payment point; "" for the singleton kinds).
type AccountID struct {
	Kind  AccountKind
	Owner string
}

// Currency is the ISO 4217 numeric code (944 = AZN).
type Currency uint16

// Date is a business date as YYYYMMDD (20261101).
type Date uint32

// TransferID is time-ordered: later transfers have larger ids.
type TransferID uint64

// Side of a posting.
type Side uint8

const (
	Debit Side = iota + 1
	Credit
)

// Posting is one leg of a transfer, in integer minor units (Amount > 0).
type Posting struct {
	Account  AccountID
	Side     Side
	Amount   int64
	Currency Currency
}

// Code says what a transfer is for.
type Code uint16

const (
	CodePayment Code = iota + 1
	CodeReversal
	CodeCommission
	CodeSettlement
	CodePayout
	CodeAdjustment
)

// Refs ties a transfer to the outside world.
type Refs struct {
	PaymentID string
	RRN       string
	STAN      string
	Terminal  string
}

// Transfer is immutable once posted. Postings must balance per currency.
type Transfer struct {
	ID           TransferID // assigned by the sequencer
	Code         Code
	Postings     []Posting
	Refs         Refs
	Reverses     TransferID // set on a reversal: the original it reverses (once only)
	BusinessDate Date       // assigned by the sequencer: the date it was posted on
	PostedAt     int64      // unix nanoseconds, assigned by the sequencer
}

// Write is a record of another package (billpay, switch) committed in the same atomic
// batch as the transfer. Keys must use that package's own key prefix (see keys.go).
type Write struct {
	Key, Value []byte
	Delete     bool
}

// Writer receives a command's streamed writes inside the sequencer (large imports).
type Writer interface {
	Set(key, value []byte) error
	Delete(key []byte) error
}

// Command is one exactly-once unit of work.
type Command struct {
	Key         []byte   // idempotency key; required, caller-namespaced
	RequestHash [32]byte // hash of the caller's request; same Key, other hash → ErrConflict
	Transfer    *Transfer
	Reverse     TransferID // post the exact mirror of this transfer (once); Transfer must be nil
	Writes      []Write
	WriteFunc   func(Writer) error // optional streamed writes (large); runs in the sequencer
	Result      []byte             // caller's outcome, stored with the key, returned to duplicates
}

// Status of a command's outcome.
type Status uint8

const (
	Committed Status = iota + 1
	Declined         // a balance or reversal rule refused it; remembered under the key
)

// Outcome is what a command came to. Callers see it only once it is durable.
type Outcome struct {
	Status       Status
	Reason       error // for Declined: ErrInsufficientFunds, ErrAlreadyReversed, ...
	TransferID   TransferID
	BusinessDate Date
	Result       []byte
	Duplicate    bool // the stored outcome of an earlier command with the same key
	// RequestHash is the hash of the request the outcome was decided for (the command's
	// RequestHash), stored with it: a caller replaying a key by Lookup compares it with
	// its own request's, so its Result need not carry a copy.
	RequestHash [32]byte
}

var (
	ErrConflict          = errors.New("ledger: idempotency key reused with a different request")
	ErrUnbalanced        = errors.New("ledger: postings do not balance")
	ErrInsufficientFunds = errors.New("ledger: account may not go negative")
	ErrAlreadyReversed   = errors.New("ledger: transfer already reversed")
	ErrNotFound          = errors.New("ledger: not found")
	ErrClosed            = errors.New("ledger: store closed")
)

// Balance of one account in one currency.
type Balance struct {
	Debits, Credits int64
}

// Reader reads other packages' records as of the last durable (synced and published)
// group. Never reads Pebble state that is not yet synced.
type Reader interface {
	Get(key []byte) (value []byte, ok bool, err error)
	// Scan calls fn for each key in [lower, upper) in order until fn returns false.
	Scan(lower, upper []byte, fn func(key, value []byte) bool) error
	Close() error
}

// Ledger is what billpay and switch depend on (implemented by *Store).
type Ledger interface {
	Submit(ctx context.Context, cmd *Command) (Outcome, error)
	Lookup(ctx context.Context, key []byte) (Outcome, bool, error)
	Balance(acct AccountID, cur Currency) Balance
	BusinessDate() Date
	Cutover(ctx context.Context, next Date) error
	View() (Reader, error)
}
