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
	mm, err := c.dialect.ToMoov(&m)
	if err != nil {
		return nil, &isoerrors.UnpackError{Err: err}
	}
	return mm, nil
}

// WriteMessage implements connection.MessageWriter: one Write of header and body. A
// message that does not pack is a PackError (the connection stays up).
func (c *codec) WriteMessage(w io.Writer, mm *iso8583.Message) error {
	var m specs.Message
	if err := specs.FromMoov(mm, &m); err != nil {
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
