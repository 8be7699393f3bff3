package specs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// failAfter fails the test if anything past the header is read: a bad header must be
// refused from the header alone.
type headerOnly struct {
	r      io.Reader
	hl     int
	read   int
	misuse bool
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if h.read >= h.hl {
		h.misuse = true
		return 0, io.EOF
	}
	if len(p) > h.hl-h.read {
		p = p[:h.hl-h.read]
	}
	n, err := h.r.Read(p)
	h.read += n
	return n, err
}

func TestReadFrame(t *testing.T) {
	pc, term := dialects(t)
	body8192 := strings.Repeat("x", 8192)
	tests := []struct {
		name    string
		d       *Dialect
		in      string
		want    string
		err     error
		hdrOnly bool // the error must come from the header alone
	}{
		{"pc ok", pc, "0005hello", "hello", nil, false},
		{"pc max", pc, "8192" + body8192, body8192, nil, false},
		{"pc zero", pc, "0000", "", ErrFrameEmpty, true},
		{"pc too large", pc, "8193", "", ErrFrameTooLarge, true},
		{"pc 9999", pc, "9999", "", ErrFrameTooLarge, true},
		{"pc plus sign", pc, "+063", "", ErrFrameHeader, true},
		{"pc space", pc, " 063", "", ErrFrameHeader, true},
		{"pc minus", pc, "-001", "", ErrFrameHeader, true},
		{"pc hex", pc, "00A0", "", ErrFrameHeader, true},
		{"pc short body", pc, "0010abc", "", io.ErrUnexpectedEOF, false},
		{"pc short header", pc, "00", "", io.ErrUnexpectedEOF, false},
		{"pc eof", pc, "", "", io.EOF, false},
		{"term ok", term, "\x00\x05hello", "hello", nil, false},
		{"term max", term, "\x20\x00" + body8192, body8192, nil, false},
		{"term zero", term, "\x00\x00", "", ErrFrameEmpty, true},
		{"term too large", term, "\x20\x01", "", ErrFrameTooLarge, true},
		{"term 65535", term, "\xFF\xFF", "", ErrFrameTooLarge, true},
		{"term short body", term, "\x00\x05he", "", io.ErrUnexpectedEOF, false},
		{"term eof", term, "", "", io.EOF, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := tc.d.Framer()
			var r io.Reader = strings.NewReader(tc.in)
			var ho *headerOnly
			if tc.hdrOnly {
				ho = &headerOnly{r: r, hl: fr.HeaderLen()}
				r = ho
			}
			got, err := fr.ReadFrame(r, nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && string(got) != tc.want {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
			if ho != nil && ho.misuse {
				t.Fatal("read past the header")
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	pc, term := dialects(t)
	tests := []struct {
		d    *Dialect
		n    int
		head string
		err  error
	}{
		{pc, 5, "0005", nil},
		{pc, 1234, "1234", nil},
		{pc, 8192, "8192", nil},
		{pc, 0, "", ErrFrameEmpty},
		{pc, 8193, "", ErrFrameTooLarge},
		{term, 5, "\x00\x05", nil},
		{term, 300, "\x01\x2C", nil},
		{term, 8192, "\x20\x00", nil},
		{term, 0, "", ErrFrameEmpty},
		{term, 8193, "", ErrFrameTooLarge},
	}
	for _, tc := range tests {
		msg := bytes.Repeat([]byte{'m'}, tc.n)
		got, err := tc.d.Framer().AppendFrame([]byte("pre"), msg)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s %d: err = %v", tc.d.Name(), tc.n, err)
		}
		if err != nil {
			continue
		}
		if want := "pre" + tc.head + string(msg); string(got) != want {
			t.Fatalf("%s %d: header %q", tc.d.Name(), tc.n, got[3:3+len(tc.head)])
		}
	}
}

// Frames written with AppendFrame are read back one by one over real TCP, the buffer
// reused between reads.
func TestFrameTCP(t *testing.T) {
	pc, term := dialects(t)
	for _, d := range []*Dialect{pc, term} {
		t.Run(d.Name(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			msgs := []string{"a", strings.Repeat("b", 300), strings.Repeat("c", 8192), "dd"}
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return
				}
				defer c.Close()
				var out []byte
				for _, m := range msgs {
					out, _ = d.Framer().AppendFrame(out, []byte(m))
				}
				_, _ = c.Write(out)
			}()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 0, 64)
			for i, want := range msgs {
				got, err := d.Framer().ReadFrame(c, buf)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if string(got) != want {
					t.Fatalf("frame %d: %d bytes, want %d", i, len(got), len(want))
				}
				buf = got[:0]
			}
			if _, err := d.Framer().ReadFrame(c, buf); !errors.Is(err, io.EOF) {
				t.Fatalf("after last frame: %v", err)
			}
		})
	}
}
