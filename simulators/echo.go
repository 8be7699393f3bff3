package simulators

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/moov-io/iso8583"
	connection "github.com/moov-io/iso8583-connection"
	"github.com/moov-io/iso8583-connection/server"

	"github.com/billswitch/billswitch/specs"
)

// EchoServer is a stock moov-io/iso8583-connection server that answers every request
// with a trivial response in the same dialect: MTI + 10, DE 39 00 and the fields a
// response echoes (DE 3, 4, 7, 11, 32, 37, 41, 49, 70). It decides nothing and stores
// nothing: it is the yardstick of `make bench-e2e`.
type EchoServer struct {
	srv *server.Server
	// Addr is the bound address once Start returned.
	Addr string
}

// echoed are the fields the echo server copies into its responses.
var echoed = [...]int{3, 4, 7, 11, 32, 37, 41, 49, 70}

// NewEchoServer builds an echo server for a dialect (its moov spec and its framing).
func NewEchoServer(d *specs.Dialect) *EchoServer {
	spec := d.Spec()
	var rd connection.MessageLengthReader
	var wr connection.MessageLengthWriter
	if d.Link() == specs.LinkPC {
		rd, wr = readASCII4, writeASCII4
	} else {
		rd, wr = readBinary2, writeBinary2
	}
	handler := func(c *connection.Connection, req *iso8583.Message) {
		mti, err := req.GetMTI()
		if err != nil || !IsRequest(mti) {
			return
		}
		resp := iso8583.NewMessage(spec)
		resp.MTI(ResponseMTI(mti))
		for _, id := range echoed {
			if v, err := req.GetString(id); err == nil && v != "" {
				_ = resp.Field(id, v)
			}
		}
		_ = resp.Field(39, "00")
		_ = c.Reply(resp)
	}
	srv := server.New(spec, rd, wr, connection.InboundMessageHandler(handler))
	return &EchoServer{srv: srv}
}

// Start listens on addr ("127.0.0.1:0" picks a port, see Addr) and serves in the
// background.
func (e *EchoServer) Start(addr string) error {
	if err := e.srv.Start(addr); err != nil {
		return err
	}
	e.Addr = e.srv.Addr
	return nil
}

// Close stops the server and its connections.
func (e *EchoServer) Close() { e.srv.Close() }

func readASCII4(r io.Reader) (int, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	for _, b := range h {
		if b < '0' || b > '9' {
			return 0, specs.ErrFrameHeader
		}
	}
	n, _ := strconv.Atoi(string(h[:]))
	if n == 0 || n > specs.MaxFrame {
		return 0, fmt.Errorf("frame length %d", n)
	}
	return n, nil
}

func writeASCII4(w io.Writer, n int) (int, error) {
	if n <= 0 || n > specs.MaxFrame {
		return 0, fmt.Errorf("frame length %d", n)
	}
	return fmt.Fprintf(w, "%04d", n)
}

func readBinary2(r io.Reader) (int, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(h[:]))
	if n == 0 || n > specs.MaxFrame {
		return 0, fmt.Errorf("frame length %d", n)
	}
	return n, nil
}

func writeBinary2(w io.Writer, n int) (int, error) {
	if n <= 0 || n > specs.MaxFrame {
		return 0, fmt.Errorf("frame length %d", n)
	}
	var h [2]byte
	binary.BigEndian.PutUint16(h[:], uint16(n))
	return w.Write(h[:])
}
