package hostswitch

import (
	"github.com/billswitch/billswitch/specs"
)

// getBuf and putBuf recycle frame-sized buffers (request copies, packed responses).
func (h *Host) getBuf() *[]byte {
	if b, ok := h.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (h *Host) putBuf(b *[]byte) {
	if b == nil || cap(*b) > 4*specs.MaxFrame {
		return
	}
	h.bufs.Put(b)
}
