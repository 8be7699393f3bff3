package pcclient

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/moov-io/iso8583"
	isoerrors "github.com/moov-io/iso8583/errors"

	"github.com/billswitch/billswitch/specs"
)

// fieldIDs are the data elements of host-iso8583.md §2 that travel as characters.
var fieldIDs = [...]int{2, 3, 4, 7, 11, 12, 13, 14, 15, 18, 22, 32, 33, 35, 37, 38, 39, 41, 42,
	43, 48, 49, 54, 66, 70, 76, 77, 88, 89, 90, 97}

// binaryIDs are the data elements that travel as binary (hex on pc87a).
var binaryIDs = [...]int{52, 64, 128}

// strField returns the typed message's string field of data element id.
func strField(m *specs.Message, id int) *string {
	switch id {
	case 2:
		return &m.PAN
	case 3:
		return &m.ProcessingCode
	case 4:
		return &m.Amount
	case 7:
		return &m.TransmissionDateTime
	case 11:
		return &m.STAN
	case 12:
		return &m.LocalTime
	case 13:
		return &m.LocalDate
	case 14:
		return &m.Expiry
	case 15:
		return &m.SettlementDate
	case 18:
		return &m.MerchantType
	case 22:
		return &m.POSEntryMode
	case 32:
		return &m.AcquirerID
	case 33:
		return &m.ForwarderID
	case 35:
		return &m.Track2
	case 37:
		return &m.RRN
	case 38:
		return &m.AuthID
	case 39:
		return &m.ResponseCode
	case 41:
		return &m.TerminalID
	case 42:
		return &m.CardAcceptorID
	case 43:
		return &m.CardAcceptorName
	case 48:
		return &m.AdditionalData
	case 49:
		return &m.Currency
	case 54:
		return &m.AdditionalAmounts
	case 66:
		return &m.SettlementCode
	case 70:
		return &m.NetworkCode
	case 76:
		return &m.DebitsNumber
	case 77:
		return &m.DebitsReversalNumber
	case 88:
		return &m.DebitsAmount
	case 89:
		return &m.DebitsReversalAmount
	case 90:
		return &m.OriginalData
	case 97:
		return &m.NetSettlement
	}
	return nil
}

func binField(m *specs.Message, id int) *[]byte {
	switch id {
	case 52:
		return &m.PINBlock
	case 64:
		return &m.MAC
	case 128:
		return &m.MAC2
	}
	return nil
}

// toMoov builds the moov message of m (iso8583-connection speaks moov messages). The
// error names the field only.
func toMoov(spec *iso8583.MessageSpec, m *specs.Message) (*iso8583.Message, error) {
	mm := iso8583.NewMessage(spec)
	mm.MTI(m.MTI)
	for _, id := range fieldIDs {
		if v := *strField(m, id); v != "" {
			if err := mm.Field(id, v); err != nil {
				return nil, &specs.FieldError{Field: id, Reason: "not accepted by the spec"}
			}
		}
	}
	for _, id := range binaryIDs {
		if v := *binField(m, id); v != nil {
			if err := mm.BinaryField(id, append([]byte(nil), v...)); err != nil {
				return nil, &specs.FieldError{Field: id, Reason: "not accepted by the spec"}
			}
		}
	}
	return mm, nil
}

// fromMoov fills m (reset first) from a moov message.
func fromMoov(mm *iso8583.Message, m *specs.Message) error {
	m.Reset()
	mti, err := mm.GetMTI()
	if err != nil {
		return &specs.FieldError{Field: 0, Reason: "unreadable"}
	}
	m.MTI = mti
	for id, f := range mm.GetFields() {
		if id < 2 {
			continue
		}
		if p := strField(m, id); p != nil {
			s, err := f.String()
			if err != nil {
				return &specs.FieldError{Field: id, Reason: "unreadable"}
			}
			*p = s
			continue
		}
		if p := binField(m, id); p != nil {
			b, err := f.Bytes()
			if err != nil {
				return &specs.FieldError{Field: id, Reason: "unreadable"}
			}
			*p = append([]byte(nil), b...)
		}
	}
	return nil
}

// codec is one connection's MessageReader and MessageWriter: the pc87a frame (4 ASCII
// digits) read and written with the project's Framer, header and body in one write, and
// the body unpacked by the project's codec first so that an error never carries message
// bytes (moov's UnpackError.RawMessage stays nil).
type codec struct {
	dialect *specs.Dialect
	rbuf    []byte // only the connection's read loop uses it
	wbuf    []byte // only the connection's write loop uses it
}

// ReadMessage implements connection.MessageReader. A framing error closes the
// connection (host-iso8583.md §1); a body that does not unpack is reported as an
// UnpackError without RawMessage, and the connection reads on.
func (c *codec) ReadMessage(r io.Reader) (*iso8583.Message, error) {
	raw, err := c.dialect.Framer().ReadFrame(r, c.rbuf)
	if err != nil {
		return nil, err
	}
	if cap(raw) > cap(c.rbuf) && cap(raw) <= 2*specs.MaxFrame {
		c.rbuf = raw[:0]
	}
	var m specs.Message
	if err := c.dialect.Unpack(raw, &m); err != nil {
		return nil, &isoerrors.UnpackError{Err: err}
	}
	mm, err := toMoov(c.dialect.Spec(), &m)
	if err != nil {
		return nil, &isoerrors.UnpackError{Err: err}
	}
	return mm, nil
}

// WriteMessage implements connection.MessageWriter: one Write of header and body. A
// message that does not pack is a PackError (the connection stays up).
func (c *codec) WriteMessage(w io.Writer, mm *iso8583.Message) error {
	var m specs.Message
	if err := fromMoov(mm, &m); err != nil {
		return &isoerrors.PackError{Err: err}
	}
	body, err := c.dialect.AppendPack(c.wbuf[:0], &m)
	if err != nil {
		return &isoerrors.PackError{Err: err}
	}
	frame, err := c.dialect.Framer().AppendFrame(make([]byte, 0, len(body)+4), body)
	if err != nil {
		return &isoerrors.PackError{Err: err}
	}
	if cap(body) <= 2*specs.MaxFrame {
		c.wbuf = body[:0]
	}
	_, err = w.Write(frame)
	return err
}

// deadlineConn sets a write deadline before every write: iso8583-connection's writer
// goroutine has none, and a peer that stops reading would otherwise block every Send
// for ever (libraries.md).
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if err := d.Conn.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil {
		return 0, err
	}
	return d.Conn.Write(p)
}

// requestID matches a response to its request on the host's own STAN and RRN (DE 11 and
// DE 37) and the message class, so that a PC's request with the same STAN, or a
// response to another message class, never completes the wrong call.
type requestID struct{}

func (requestID) GenerateRequestID(mm *iso8583.Message) (string, error) {
	if mm == nil {
		return "", errors.New("pcclient: nil message")
	}
	mti, err := mm.GetMTI()
	if err != nil || len(mti) != 4 {
		return "", errors.New("pcclient: message without MTI")
	}
	stan, err := mm.GetString(11)
	if err != nil || stan == "" {
		return "", errors.New("pcclient: message without DE 11")
	}
	rrn, err := mm.GetString(37)
	if err != nil {
		return "", fmt.Errorf("pcclient: DE 37: %w", err)
	}
	return mti[:2] + "|" + stan + "|" + rrn, nil
}

// isResponse reports whether mti is a response (third digit 1 or 3: 0110, 0210, 0430,
// 0810, ...).
func isResponse(mti string) bool {
	return len(mti) == 4 && (mti[2] == '1' || mti[2] == '3')
}

// responseMTI is the response MTI of a request (0200 → 0210, 0421 → 0430).
func responseMTI(mti string) string {
	if len(mti) != 4 {
		return mti
	}
	b := []byte(mti)
	b[2]++
	b[3] = '0'
	return string(b)
}
