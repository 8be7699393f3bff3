package specs

// API pinned by the coordinator so that switch/ can be written in parallel with specs/.
// The specs helper replaces the stub bodies; the exported names and signatures below are
// the contract (additions are fine, changes must be agreed).

import (
	"errors"
	"io"
)

// MaxFrame is the largest message a frame may carry (host-iso8583.md §1).
const MaxFrame = 8192

// Link is the kind of link a dialect belongs to.
type Link uint8

const (
	LinkPC       Link = iota + 1 // processing centre link, dialect pc87a
	LinkTerminal                 // terminal link, dialect term87b
)

// Framing errors. Each is a protocol violation: the connection is closed at once.
var (
	ErrFrameEmpty    = errors.New("specs: frame length 0")
	ErrFrameTooLarge = errors.New("specs: frame length over 8192")
	ErrFrameHeader   = errors.New("specs: malformed frame header")
)

// Framer reads and writes the length header of one link.
type Framer interface {
	// HeaderLen is the size of the length header in bytes (4 for pc87a, 2 for term87b).
	HeaderLen() int
	// ReadFrame reads one whole frame from r into buf (grown if too small) and returns
	// the message bytes (without header). A bad header returns one of the ErrFrame*
	// errors before any body byte is read.
	ReadFrame(r io.Reader, buf []byte) ([]byte, error)
	// AppendFrame appends the header and msg to dst, so a frame is written with one call.
	AppendFrame(dst, msg []byte) ([]byte, error)
}

// Message is the typed view of every data element of host-iso8583.md §2. Values are
// as they travel (digits, characters); "" (or nil for binary) means absent. Fixed fields
// are zero/space-filled when packed and kept as they came when unpacked.
type Message struct {
	MTI string

	PAN                  string // 2  n..19
	ProcessingCode       string // 3  n6
	Amount               string // 4  n12
	TransmissionDateTime string // 7  n10 MMDDhhmmss
	STAN                 string // 11 n6
	LocalTime            string // 12 n6
	LocalDate            string // 13 n4
	Expiry               string // 14 n4
	SettlementDate       string // 15 n4
	MerchantType         string // 18 n4
	POSEntryMode         string // 22 n3
	AcquirerID           string // 32 n..11
	ForwarderID          string // 33 n..11
	Track2               string // 35 z..37 (never logged)
	RRN                  string // 37 an12
	AuthID               string // 38 an6
	ResponseCode         string // 39 an2
	TerminalID           string // 41 ans8
	CardAcceptorID       string // 42 ans15
	CardAcceptorName     string // 43 ans40
	AdditionalData       string // 48 ans..999 (DE 48 TLV, see DE48)
	Currency             string // 49 n3
	PINBlock             []byte // 52 b8 (never logged)
	AdditionalAmounts    string // 54 an..120
	MAC                  []byte // 64 b8
	SettlementCode       string // 66 n1
	NetworkCode          string // 70 n3
	DebitsNumber         string // 76 n10
	DebitsReversalNumber string // 77 n10
	DebitsAmount         string // 88 n16
	DebitsReversalAmount string // 89 n16
	OriginalData         string // 90 n42
	NetSettlement        string // 97 x+n16 ("D0000000000001234")
	MAC2                 []byte // 128 b8
}
