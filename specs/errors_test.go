package specs

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var errShape = regexp.MustCompile(`^(MTI|bitmap|field \d+): [a-zA-Z0-9 ,./:-]+$`)

func TestUnpackErrors(t *testing.T) {
	pc, term := dialects(t)
	g := goldens()
	pc0200, term0200 := g[1].pc, g[1].term
	pc0800 := g[4].pc
	const pcHead = "0800" + "8220000000000000" + "0400000000000000"
	const termHead = "\x08\x00" + "\x82\x20\x00\x00\x00\x00\x00\x00" + "\x04\x00\x00\x00\x00\x00\x00\x00"
	tests := []struct {
		name  string
		d     *Dialect
		raw   string
		field int // field the error must name; -1: ErrTrailingData
	}{
		{"empty", pc, "", 0},
		{"short MTI", pc, "080", 0},
		{"MTI not digits", pc, "08A0" + pc0800[4:], 0},
		{"bitmap truncated", pc, "0800822000", 1},
		{"bitmap not hex", pc, "0800822G000000000000", 1},
		{"secondary truncated", pc, "0800" + "8220000000000000" + "04000", 1},
		{"unknown field 5", pc, "0800" + "8A20000000000000" + pc0800[20:], 5},
		{"bit 65 set", pc, "0800" + "8220000000000000" + "8400000000000000" + pc0800[36:], 65},
		{"unknown field 100", pc, "0800" + "8220000000000000" + "0400000010000000" + pc0800[36:], 100},
		{"truncated last field", pc, pc0800[:len(pc0800)-1], 70},
		{"truncated middle", pc, pcHead + "11212015", 7},
		{"trailing byte", pc, pc0800 + "X", -1},
		{"DE 11 not digits", pc, pcHead + "1121201530" + "00012A" + "301", 11},
		{"DE 11 with space", pc, pcHead + "1121201530" + " 00125" + "301", 11},
		{"LL not digits", pc, "0200" + "4000000000000000" + "1X" + "4169741234567890", 2},
		{"LL over max", pc, "0200" + "4000000000000000" + "20" + "41697412345678901234", 2},
		{"LL zero", pc, "0200" + "4000000000000000" + "00", 2},
		{"PAN not digits", pc, "0200" + "4000000000000000" + "04" + "41a9", 2},
		{"ans not printable", pc, "0800" + "0000000000800000" + "TERM\x01001", 41},
		{"LLL truncated", pc, "0100" + "0000000000010000" + "01", 48},
		{"binary not hex", pc, "0200" + "0000000000001000" + "0123456789ABCDEG", 52},
		{"DE 97 bad sign", pc, "0500" + "8000000000000000" + "0000000080000000" + "X0000000000080000", 97},
		{"DE 97 not digits", pc, "0500" + "8000000000000000" + "0000000080000000" + "D00000000000800-0", 97},
		{"term short MTI", term, "\x08", 0},
		{"term MTI bad nibble", term, "\x0A\x00" + termHead[2:], 0},
		{"term bitmap truncated", term, "\x08\x00\x82\x20", 1},
		{"term unknown field 5", term, "\x08\x00" + "\x8A\x20\x00\x00\x00\x00\x00\x00" + termHead[10:], 5},
		{"term DE 11 bad nibble", term, termHead + "\x11\x21\x20\x15\x30" + "\x00\x01\x2A" + "\x03\x01", 11},
		{"term pad nibble not 0", term, termHead + "\x11\x21\x20\x15\x30" + "\x00\x01\x25" + "\x13\x01", 70},
		{"term truncated", term, term0200[:len(term0200)-3], 52},
		{"term trailing", term, term0200 + "\x00", -1},
		{"term LL over max", term, "\x02\x00" + "\x40\x00\x00\x00\x00\x00\x00\x00" + "\x20" + strings.Repeat("\x11", 10), 2},
		{"term LL bad nibble", term, "\x02\x00" + "\x40\x00\x00\x00\x00\x00\x00\x00" + "\x1F" + strings.Repeat("\x11", 10), 2},
		{"term LLL over 999 form", term, "\x01\x00" + "\x00\x00\x00\x00\x00\x01\x00\x00" + "\x10\x00", 48},
		{"term DE 97 bad sign", term, "\x05\x00" + "\x80\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00\x80\x00\x00\x00" + "X" + strings.Repeat("\x00", 8), 97},
		{"term DE 97 bad nibble", term, "\x05\x00" + "\x80\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00\x80\x00\x00\x00" + "C" + strings.Repeat("\x0F", 8), 97},
	}
	for _, tc := range tests {
		t.Run(tc.d.Name()+"/"+tc.name, func(t *testing.T) {
			m := Message{MTI: "stale", PAN: "stale"}
			err := tc.d.Unpack([]byte(tc.raw), &m)
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if tc.field < 0 {
				if !errors.Is(err, ErrTrailingData) {
					t.Fatalf("err = %v, want ErrTrailingData", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want an error naming field %d", err, tc.field)
			}
			if !errShape.MatchString(err.Error()) {
				t.Errorf("error %q does not have the safe shape", err)
			}
		})
	}
	// The error of a message holding a PAN never contains it.
	var m Message
	err := pc.Unpack([]byte(pc0200[:len(pc0200)-2]), &m)
	if err == nil || strings.Contains(err.Error(), "4169741234567890") || strings.Contains(err.Error(), "0123456789") {
		t.Errorf("err = %v", err)
	}
}

func TestUnpackAccepts(t *testing.T) {
	pc, term := dialects(t)
	g := goldens()
	tests := []struct {
		name string
		d    *Dialect
		raw  string
		want Message
	}{
		{"lower-case bitmap", pc, "0200" + "723c040108c19000" + g[1].pc[20:], g[1].msg},
		{"lower-case binary field", pc, strings.TrimSuffix(g[1].pc, "ABCDEF") + "abcdef", g[1].msg},
		{"secondary bitmap of zeros", pc, "0800" + "8220000000000000" + "0000000000000000" + "1121201530" + "000125",
			Message{MTI: "0800", TransmissionDateTime: "1121201530", STAN: "000125"}},
		{"term secondary bitmap of zeros", term, "\x08\x00" + "\x82\x20\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00" +
			"\x11\x21\x20\x15\x30" + "\x00\x01\x25",
			Message{MTI: "0800", TransmissionDateTime: "1121201530", STAN: "000125"}},
		{"fixed fields kept as they came", pc, "0800" + "0220000000800000" + "1121201530" + "000125" + "T1      ",
			Message{MTI: "0800", TransmissionDateTime: "1121201530", STAN: "000125", TerminalID: "T1      "}},
		{"term DE 97 credit", term, "\x05\x00" + "\x80\x00\x00\x00\x00\x00\x00\x00" + "\x00\x00\x00\x00\x80\x00\x00\x00" +
			"C" + "\x00\x00\x00\x00\x00\x00\x12\x34",
			Message{MTI: "0500", NetSettlement: "C0000000000001234"}},
	}
	for _, tc := range tests {
		t.Run(tc.d.Name()+"/"+tc.name, func(t *testing.T) {
			var m Message
			if err := tc.d.Unpack([]byte(tc.raw), &m); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("got %+v\nwant %+v", m, tc.want)
			}
		})
	}
}

func TestPackErrors(t *testing.T) {
	pc, term := dialects(t)
	base := Message{MTI: "0800", STAN: "000001"}
	tests := []struct {
		name  string
		edit  func(m *Message)
		field int
	}{
		{"MTI short", func(m *Message) { m.MTI = "080" }, 0},
		{"MTI letters", func(m *Message) { m.MTI = "08x0" }, 0},
		{"numeric letters", func(m *Message) { m.STAN = "00000A" }, 11},
		{"numeric too long", func(m *Message) { m.STAN = "1234567" }, 11},
		{"LLVAR too long", func(m *Message) { m.PAN = strings.Repeat("4", 20) }, 2},
		{"ans too long", func(m *Message) { m.TerminalID = "TERM00012" }, 41},
		{"ans not printable", func(m *Message) { m.TerminalID = "TERM\n" }, 41},
		{"LLLVAR too long", func(m *Message) { m.AdditionalData = strings.Repeat("x", 1000) }, 48},
		{"binary short", func(m *Message) { m.PINBlock = []byte{1, 2, 3} }, 52},
		{"DE 97 bad sign", func(m *Message) { m.NetSettlement = "+0000000000000001" }, 97},
		{"DE 97 short", func(m *Message) { m.NetSettlement = "D1" }, 97},
	}
	for _, d := range []*Dialect{pc, term} {
		for _, tc := range tests {
			t.Run(d.Name()+"/"+tc.name, func(t *testing.T) {
				m := base
				tc.edit(&m)
				_, err := d.Pack(&m)
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("err = %v, want field %d", err, tc.field)
				}
			})
		}
	}
}

func TestScan(t *testing.T) {
	pc, term := dialects(t)
	tests := []struct {
		name     string
		d        *Dialect
		raw      string
		mti      string
		stan     string
		errField int // -1 none
	}{
		{"ok", pc, "0800" + "0020000000000000" + "000125", "0800", "000125", -1},
		{"ok after PAN and DE 4", pc, "0200" + "5020000000000000" + "04" + "4111" + "000000000100" + "000777" + "garbage", "0200", "000777", -1},
		{"malformed PAN still scans", pc, "0200" + "4020000000000000" + "04" + "41a1" + "000777", "0200", "000777", -1},
		{"term bad PAN nibble still scans", term, "\x02\x00" + "\x40\x20\x00\x00\x00\x00\x00\x00" + "\x04\x4F\xFF" + "\x00\x07\x77", "0200", "000777", -1},
		{"PAN prefix unreadable", pc, "0200" + "4020000000000000" + "0x" + "41a1" + "000777", "0200", "", 2},
		{"DE 11 absent", pc, "0800" + "0200000000000000" + "1121201530", "0800", "", 11},
		{"DE 11 not digits", pc, "0800" + "0020000000000000" + "00012A", "0800", "", 11},
		{"DE 11 truncated", pc, "0800" + "0020000000000000" + "0001", "0800", "", 11},
		{"MTI unreadable", pc, "08X0" + "0020000000000000" + "000125", "", "", 0},
		{"unknown field before 11", pc, "0800" + "0820000000000000" + "000125", "0800", "", 5},
		{"term ok", term, "\x08\x00" + "\x00\x20\x00\x00\x00\x00\x00\x00" + "\x00\x01\x25", "0800", "000125", -1},
		{"term DE 11 bad nibble", term, "\x08\x00" + "\x00\x20\x00\x00\x00\x00\x00\x00" + "\x00\x01\xA5", "0800", "", 11},
		{"term DE 11 absent", term, "\x08\x00" + "\x02\x00\x00\x00\x00\x00\x00\x00" + "\x11\x21\x20\x15\x30", "0800", "", 11},
	}
	for _, tc := range tests {
		t.Run(tc.d.Name()+"/"+tc.name, func(t *testing.T) {
			mti, stan, err := tc.d.Scan([]byte(tc.raw))
			if tc.errField < 0 {
				if err != nil || mti != tc.mti || stan != tc.stan {
					t.Fatalf("Scan = %q, %q, %v", mti, stan, err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.errField {
				t.Fatalf("err = %v, want field %d", err, tc.errField)
			}
			if mti != tc.mti {
				t.Errorf("mti = %q, want %q", mti, tc.mti)
			}
		})
	}
}
