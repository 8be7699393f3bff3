package debtfile

import (
	"bytes"
	"hash/maphash"
	"math"
)

// numberSet is the set of account numbers seen in one file, for the
// duplicate check. It keeps each number once in one byte arena and an
// open-addressing table of (32-bit hash tag, index) words; a tag match is
// confirmed by comparing the bytes, so a hash collision never reports a
// false duplicate. The seed is random per Reader, so a file cannot be
// crafted to collide. Cost: the number's bytes + 4 (offset) + 4 (line) +
// about 13 bytes of table per account: some 30 MB for a million 10-digit
// numbers.
type numberSet struct {
	seed   maphash.Seed
	slots  []uint64 // 0 = empty; else tag<<32 | (index+1)
	starts []uint32 // start of number i in data
	lines  []uint32 // line of number i
	data   []byte
}

func newNumberSet() numberSet {
	return numberSet{seed: maphash.MakeSeed(), slots: make([]uint64, 1<<8)}
}

func (s *numberSet) get(i uint32) []byte {
	end := uint32(len(s.data))
	if int(i)+1 < len(s.starts) {
		end = s.starts[i+1]
	}
	return s.data[s.starts[i]:end]
}

// add inserts b. It returns the line of the earlier occurrence and true
// when b was already there; full is true when the set cannot hold more.
func (s *numberSet) add(b []byte, line int) (first int, dup, full bool) {
	if len(s.data)+len(b) > math.MaxUint32 || len(s.starts) >= math.MaxUint32-1 {
		return 0, false, true
	}
	if (len(s.starts)+1)*10 > len(s.slots)*6 {
		s.grow()
	}
	h := maphash.Bytes(s.seed, b)
	tag := h >> 32
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := s.slots[i]
		if v == 0 {
			idx := uint32(len(s.starts))
			s.starts = append(s.starts, uint32(len(s.data)))
			s.lines = append(s.lines, uint32(line))
			s.data = append(s.data, b...)
			s.slots[i] = tag<<32 | uint64(idx+1)
			return 0, false, false
		}
		if v>>32 == tag {
			idx := uint32(v) - 1
			if bytes.Equal(s.get(idx), b) {
				return int(s.lines[idx]), true, false
			}
		}
	}
}

func (s *numberSet) grow() {
	slots := make([]uint64, 2*len(s.slots))
	mask := uint64(len(slots) - 1)
	for _, v := range s.slots {
		if v == 0 {
			continue
		}
		h := maphash.Bytes(s.seed, s.get(uint32(v)-1))
		i := h & mask
		for slots[i] != 0 {
			i = (i + 1) & mask
		}
		slots[i] = v
	}
	s.slots = slots
}
