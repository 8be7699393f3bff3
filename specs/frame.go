package specs

import "io"

// pcFramer: 4 ASCII decimal digits = byte length of the message (host-iso8583.md §1).
type pcFramer struct{}

// termFramer: 2 bytes unsigned big-endian = byte length of the message.
type termFramer struct{}

func (pcFramer) HeaderLen() int   { return 4 }
func (termFramer) HeaderLen() int { return 2 }

func (pcFramer) parse(h []byte) (int, error) {
	n := 0
	for _, c := range h {
		if c < '0' || c > '9' {
			return 0, ErrFrameHeader
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func (termFramer) parse(h []byte) (int, error) { return int(h[0])<<8 | int(h[1]), nil }

func (f pcFramer) ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	return readFrame(r, buf, 4, f.parse)
}

func (f termFramer) ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	return readFrame(r, buf, 2, f.parse)
}

func readFrame(r io.Reader, buf []byte, hl int, parse func([]byte) (int, error)) ([]byte, error) {
	if cap(buf) < hl {
		buf = make([]byte, 0, 1024)
	}
	h := buf[:hl]
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n, err := parse(h)
	if err != nil {
		return nil, err
	}
	if err := checkLen(n); err != nil {
		return nil, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

func checkLen(n int) error {
	if n == 0 {
		return ErrFrameEmpty
	}
	if n > MaxFrame {
		return ErrFrameTooLarge
	}
	return nil
}

func (pcFramer) AppendFrame(dst, msg []byte) ([]byte, error) {
	n := len(msg)
	if err := checkLen(n); err != nil {
		return dst, err
	}
	dst = append(dst, '0'+byte(n/1000), '0'+byte(n/100%10), '0'+byte(n/10%10), '0'+byte(n%10))
	return append(dst, msg...), nil
}

func (termFramer) AppendFrame(dst, msg []byte) ([]byte, error) {
	n := len(msg)
	if err := checkLen(n); err != nil {
		return dst, err
	}
	dst = append(dst, byte(n>>8), byte(n))
	return append(dst, msg...), nil
}
