package specs

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"reflect"
	"testing"
)

// Golden vectors written by hand from host-iso8583.md §1–§2 (bitmaps worked out bit by
// bit in the comments); none of these bytes come from the code under test.

var pin = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}

// DE 48 of the 0200: tag 01 (8) AZERISIQ, tag 02 (10) ACC1234567 = 28 characters.
const de48Pay = "01008AZERISIQ" + "02010ACC1234567"

// DE 48 of the 0100: tag 03 (10) registration code = 15 characters.
const de48Inq = "03010" + "1234567890"

type golden struct {
	name string
	msg  Message
	pc   string // pc87a bytes
	term string // term87b bytes
}

func goldens() []golden {
	return []golden{
		{
			// 0100: DE 3, 7, 11, 32, 41, 48, 49.
			// byte1 bits 3,7 = 0010 0010 = 22; byte2 bit 11 = 0010 0000 = 20; byte3 00;
			// byte4 bit 32 = 01; byte5 00; byte6 bits 41,48 = 1000 0001 = 81;
			// byte7 bit 49 = 80; byte8 00.
			name: "0100",
			msg: Message{MTI: "0100", ProcessingCode: "310000", TransmissionDateTime: "1121201530",
				STAN: "000122", AcquirerID: "12345", TerminalID: "TERM0001",
				AdditionalData: de48Inq, Currency: "944"},
			pc: "0100" + "2220000100818000" + "310000" + "1121201530" + "000122" +
				"05" + "12345" + "TERM0001" + "015" + de48Inq + "944",
			term: "\x01\x00" + "\x22\x20\x00\x01\x00\x81\x80\x00" + "\x31\x00\x00" +
				"\x11\x21\x20\x15\x30" + "\x00\x01\x22" + "\x05" + "\x01\x23\x45" +
				"TERM0001" + "\x00\x15" + de48Inq + "\x09\x44",
		},
		{
			// 0200: DE 2, 3, 4, 7, 11, 12, 13, 14, 22, 32, 37, 41, 42, 48, 49, 52.
			// byte1 bits 2,3,4,7 = 0111 0010 = 72; byte2 bits 11-14 = 0011 1100 = 3C;
			// byte3 bit 22 = 0000 0100 = 04; byte4 bit 32 = 01; byte5 bit 37 = 0000 1000 = 08;
			// byte6 bits 41,42,48 = 1100 0001 = C1; byte7 bits 49,52 = 1001 0000 = 90; byte8 00.
			name: "0200",
			msg: Message{MTI: "0200", PAN: "4169741234567890", ProcessingCode: "500000",
				Amount: "000000012345", TransmissionDateTime: "1121201530", STAN: "000123",
				LocalTime: "201530", LocalDate: "1121", Expiry: "2812", POSEntryMode: "021",
				AcquirerID: "12345", RRN: "532520000123", TerminalID: "TERM0001",
				CardAcceptorID: "AGENT0000000001", AdditionalData: de48Pay, Currency: "944",
				PINBlock: pin},
			pc: "0200" + "723C040108C19000" + "16" + "4169741234567890" + "500000" +
				"000000012345" + "1121201530" + "000123" + "201530" + "1121" + "2812" + "021" +
				"05" + "12345" + "532520000123" + "TERM0001" + "AGENT0000000001" +
				"028" + de48Pay + "944" + "0123456789ABCDEF",
			term: "\x02\x00" + "\x72\x3C\x04\x01\x08\xC1\x90\x00" +
				"\x16" + "\x41\x69\x74\x12\x34\x56\x78\x90" + "\x50\x00\x00" +
				"\x00\x00\x00\x01\x23\x45" + "\x11\x21\x20\x15\x30" + "\x00\x01\x23" +
				"\x20\x15\x30" + "\x11\x21" + "\x28\x12" + "\x00\x21" +
				"\x05" + "\x01\x23\x45" + "532520000123" + "TERM0001" + "AGENT0000000001" +
				"\x00\x28" + de48Pay + "\x09\x44" + "\x01\x23\x45\x67\x89\xAB\xCD\xEF",
		},
		{
			// 0420: DE 3, 4, 7, 11, 32, 41, 90 (so bit 1 set, secondary bitmap).
			// primary: byte1 bits 1,3,4,7 = 1011 0010 = B2; byte2 bit 11 = 20; byte4 bit 32 = 01;
			// byte6 bit 41 = 80. secondary: bit 90 = secondary bit 26 = byte4 0100 0000 = 40.
			// DE 90: MTI 0200, STAN 000123, DE 7 1121201530, DE 32 00000012345, DE 33 zeros.
			name: "0420",
			msg: Message{MTI: "0420", ProcessingCode: "500000", Amount: "000000012345",
				TransmissionDateTime: "1121201600", STAN: "000124", AcquirerID: "12345",
				TerminalID:   "TERM0001",
				OriginalData: "0200" + "000123" + "1121201530" + "00000012345" + "00000000000"},
			pc: "0420" + "B220000100800000" + "0000004000000000" + "500000" + "000000012345" +
				"1121201600" + "000124" + "05" + "12345" + "TERM0001" +
				"0200" + "000123" + "1121201530" + "00000012345" + "00000000000",
			term: "\x04\x20" + "\xB2\x20\x00\x01\x00\x80\x00\x00" + "\x00\x00\x00\x40\x00\x00\x00\x00" +
				"\x50\x00\x00" + "\x00\x00\x00\x01\x23\x45" + "\x11\x21\x20\x16\x00" +
				"\x00\x01\x24" + "\x05" + "\x01\x23\x45" + "TERM0001" +
				// 42 digits, 21 bytes: 0200|000123|1121201530|00000012345|00000000000
				"\x02\x00\x00\x01\x23\x11\x21\x20\x15\x30" + "\x00\x00\x00\x12\x34\x50" +
				"\x00\x00\x00\x00\x00",
		},
		{
			// 0500: DE 3, 7, 11, 15, 32, 41, 76, 77, 88, 89, 97.
			// primary: byte1 bits 1,3,7 = 1010 0010 = A2; byte2 bits 11,15 = 0010 0010 = 22;
			// byte4 bit 32 = 01; byte6 bit 41 = 80.
			// secondary: 76,77 = bits 12,13 = byte2 0001 1000 = 18; 88 = bit 24 = byte3 01;
			// 89 = bit 25 = byte4 80; 97 = bit 33 = byte5 80.
			// DE 97 = 100000 − 20000 = D 80000.
			name: "0500",
			msg: Message{MTI: "0500", ProcessingCode: "920000", TransmissionDateTime: "1121235900",
				STAN: "000126", SettlementDate: "1121", AcquirerID: "12345", TerminalID: "TERM0001",
				DebitsNumber: "0000000005", DebitsReversalNumber: "0000000001",
				DebitsAmount: "0000000000100000", DebitsReversalAmount: "0000000000020000",
				NetSettlement: "D0000000000080000"},
			pc: "0500" + "A222000100800000" + "0018018080000000" + "920000" + "1121235900" +
				"000126" + "1121" + "05" + "12345" + "TERM0001" + "0000000005" + "0000000001" +
				"0000000000100000" + "0000000000020000" + "D0000000000080000",
			term: "\x05\x00" + "\xA2\x22\x00\x01\x00\x80\x00\x00" + "\x00\x18\x01\x80\x80\x00\x00\x00" +
				"\x92\x00\x00" + "\x11\x21\x23\x59\x00" + "\x00\x01\x26" + "\x11\x21" +
				"\x05" + "\x01\x23\x45" + "TERM0001" + "\x00\x00\x00\x00\x05" + "\x00\x00\x00\x00\x01" +
				"\x00\x00\x00\x00\x00\x10\x00\x00" + "\x00\x00\x00\x00\x00\x02\x00\x00" +
				"D" + "\x00\x00\x00\x00\x00\x08\x00\x00",
		},
		{
			// 0800: DE 7, 11, 70. primary byte1 bits 1,7 = 1000 0010 = 82; byte2 bit 11 = 20.
			// secondary: 70 = bit 6 = byte1 0000 0100 = 04.
			name: "0800",
			msg:  Message{MTI: "0800", TransmissionDateTime: "1121201530", STAN: "000125", NetworkCode: "301"},
			pc:   "0800" + "8220000000000000" + "0400000000000000" + "1121201530" + "000125" + "301",
			term: "\x08\x00" + "\x82\x20\x00\x00\x00\x00\x00\x00" + "\x04\x00\x00\x00\x00\x00\x00\x00" +
				"\x11\x21\x20\x15\x30" + "\x00\x01\x25" + "\x03\x01",
		},
	}
}

func dialects(t testing.TB) (pc, term *Dialect) {
	t.Helper()
	pc, err := NewPC87A()
	if err != nil {
		t.Fatal(err)
	}
	term, err = NewTerm87B()
	if err != nil {
		t.Fatal(err)
	}
	return pc, term
}

func TestGolden(t *testing.T) {
	pc, term := dialects(t)
	for _, g := range goldens() {
		for _, c := range []struct {
			d   *Dialect
			raw string
		}{{pc, g.pc}, {term, g.term}} {
			t.Run(g.name+"/"+c.d.Name(), func(t *testing.T) {
				var m Message
				if err := c.d.Unpack([]byte(c.raw), &m); err != nil {
					t.Fatalf("unpack: %v", err)
				}
				if !reflect.DeepEqual(m, g.msg) {
					t.Errorf("unpack:\n got %+v\nwant %+v", m, g.msg)
				}
				msg := g.msg
				got, err := c.d.Pack(&msg)
				if err != nil {
					t.Fatalf("pack: %v", err)
				}
				if !bytes.Equal(got, []byte(c.raw)) {
					t.Errorf("pack:\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString([]byte(c.raw)))
				}
				mti, stan, err := c.d.Scan([]byte(c.raw))
				if err != nil || mti != g.msg.MTI || stan != g.msg.STAN {
					t.Errorf("scan = %q %q %v", mti, stan, err)
				}
			})
		}
	}
}

// Fixed fields shorter than their length are filled when packed: n zero-filled on the
// left, an/ans space-filled on the right.
func TestPackFills(t *testing.T) {
	pc, term := dialects(t)
	m := Message{MTI: "0800", TransmissionDateTime: "1121201530", STAN: "125", NetworkCode: "1",
		TerminalID: "T1"}
	// bits 7, 11, 41, 70: primary 82 20 00 00 00 80 00 00; secondary 04 00..
	wantPC := "0800" + "8220000000800000" + "0400000000000000" + "1121201530" + "000125" +
		"T1      " + "001"
	wantTerm := "\x08\x00" + "\x82\x20\x00\x00\x00\x80\x00\x00" + "\x04\x00\x00\x00\x00\x00\x00\x00" +
		"\x11\x21\x20\x15\x30" + "\x00\x01\x25" + "T1      " + "\x00\x01"
	for _, c := range []struct {
		d    *Dialect
		want string
	}{{pc, wantPC}, {term, wantTerm}} {
		got, err := c.d.Pack(&m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s: got %x want %x", c.d.Name(), got, c.want)
		}
	}
}

// A 19-digit PAN on term87b: odd count, left-padded with a 0 nibble; LL counts digits.
func TestTermOddPAN(t *testing.T) {
	_, term := dialects(t)
	m := Message{MTI: "0200", PAN: "6762123456789012345", STAN: "000001"}
	// bits 2, 11: 40 20 00 00 00 00 00 00
	want := "\x02\x00" + "\x40\x20\x00\x00\x00\x00\x00\x00" + "\x19" +
		"\x06\x76\x21\x23\x45\x67\x89\x01\x23\x45" + "\x00\x00\x01"
	got, err := term.Pack(&m)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("got %x want %x", got, want)
	}
	var back Message
	if err := term.Unpack(got, &back); err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("unpack = %+v, %v", back, err)
	}
}

// One Dialect is shared by every connection: concurrent use must be safe (run with -race).
func TestConcurrentUse(t *testing.T) {
	pc, term := dialects(t)
	g := goldens()
	done := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			d, gv := pc, g[i%len(g)]
			raw := gv.pc
			if i%2 == 1 {
				d, raw = term, gv.term
			}
			for j := 0; j < 200; j++ {
				var m Message
				if err := d.Unpack([]byte(raw), &m); err != nil {
					done <- err
					return
				}
				out, err := d.Pack(&m)
				if err != nil || string(out) != raw {
					done <- fmt.Errorf("%s %s: repack differs (%v)", d.Name(), gv.name, err)
					return
				}
			}
			done <- nil
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
