package specs

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseDE48(t *testing.T) {
	tests := []struct {
		in   string
		want []DE48Entry
		err  error
	}{
		{"", nil, nil},
		{"01008AZERISIQ02010ACC1234567", []DE48Entry{{1, "AZERISIQ"}, {2, "ACC1234567"}}, nil},
		{"04001A99003xyz", []DE48Entry{{4, "A"}, {99, "xyz"}}, nil}, // unknown tag kept
		{"25000", []DE48Entry{{25, ""}}, nil},
		{"0100", nil, ErrDE48Truncated},
		{"01008AZERI", nil, ErrDE48Truncated},
		{"01008AZERISIQ0", nil, ErrDE48Truncated},
		{"0A008AZERISIQ", nil, ErrDE48Malformed},
		{"01-08AZERISIQ", nil, ErrDE48Malformed},
		{"01 08AZERISIQ", nil, ErrDE48Malformed},
	}
	for _, tc := range tests {
		d, err := ParseDE48(tc.in)
		if !errors.Is(err, tc.err) {
			t.Fatalf("%q: err = %v, want %v", tc.in, err, tc.err)
		}
		if err == nil {
			if !reflect.DeepEqual(d.Entries, tc.want) {
				t.Fatalf("%q: got %+v want %+v", tc.in, d.Entries, tc.want)
			}
			if d.String() != tc.in {
				t.Fatalf("%q: re-encoded %q", tc.in, d.String())
			}
		}
	}
}

func TestDE48GetSet(t *testing.T) {
	var d DE48
	d.Set(Tag01Provider, "AZERSU")
	d.Set(Tag02Account, "12/34-5")
	d.Set(Tag01Provider, "AZERIGAZ")
	if v, ok := d.Get(Tag01Provider); !ok || v != "AZERIGAZ" {
		t.Fatalf("Get(01) = %q %v", v, ok)
	}
	if _, ok := d.Get(Tag25Truncated); ok {
		t.Fatal("Get(25) found")
	}
	if got, want := d.String(), "01008AZERIGAZ"+"0200712/34-5"; got != want {
		t.Fatalf("String = %q want %q", got, want)
	}
	d.Set(Tag20Debts, string(make([]byte, 1000)))
	if _, err := d.AppendTo(nil); !errors.Is(err, ErrDE48TooLong) {
		t.Fatalf("err = %v", err)
	}
	if d.String() != "" {
		t.Fatal("String of an unencodable DE48 is not empty")
	}
	bad := DE48{Entries: []DE48Entry{{Tag: 100, Value: "x"}}}
	if _, err := bad.AppendTo(nil); !errors.Is(err, ErrDE48Malformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestDE54(t *testing.T) {
	tests := []struct {
		total int64
		want  string
		err   error
	}{
		{12345, "0002944D000000012345", nil},
		{0, "0002944D000000000000", nil},
		{-500, "0002944C000000000500", nil},
		{999_999_999_999, "0002944D999999999999", nil},
		{1_000_000_000_000, "", ErrRange},
		{-1 << 63, "", ErrRange},
	}
	for _, tc := range tests {
		got, err := FormatDE54(InquiryTotal(tc.total, "944"))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Fatalf("%d: %q %v", tc.total, got, err)
		}
		if err == nil {
			back, err := ParseDE54(got)
			if err != nil || len(back) != 1 || back[0] != InquiryTotal(tc.total, "944") {
				t.Fatalf("%d: parse %+v %v", tc.total, back, err)
			}
		}
	}
	for _, bad := range []string{"", "0002944D00000001234", "0002944X000000012345", "0002944D00000001234A", "00A2944D000000012345"} {
		if _, err := ParseDE54(bad); !errors.Is(err, ErrDE54Format) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
	if _, err := FormatDE54(AdditionalAmount{AccountType: "0", AmountType: "02", Currency: "944"}); !errors.Is(err, ErrDE54Format) {
		t.Fatalf("err = %v", err)
	}
	two, err := ParseDE54("0002944D000000000100" + "1002944C000000000007")
	if err != nil || len(two) != 2 || two[1].Amount != -7 || two[1].AccountType != "10" {
		t.Fatalf("two entries: %+v %v", two, err)
	}
}

func TestDE90(t *testing.T) {
	o := OriginalData{MTI: "0200", STAN: "123", TransmissionDateTime: "1121201530", AcquirerID: "12345"}
	got, err := FormatDE90(o)
	want := "0200" + "000123" + "1121201530" + "00000012345" + "00000000000"
	if err != nil || got != want {
		t.Fatalf("FormatDE90 = %q %v", got, err)
	}
	back, err := ParseDE90(got)
	wantBack := OriginalData{MTI: "0200", STAN: "000123", TransmissionDateTime: "1121201530",
		AcquirerID: "00000012345", ForwarderID: "00000000000"}
	if err != nil || back != wantBack {
		t.Fatalf("ParseDE90 = %+v %v", back, err)
	}
	for _, bad := range []OriginalData{{MTI: "02000"}, {STAN: "12a"}, {AcquirerID: "123456789012"}} {
		if _, err := FormatDE90(bad); !errors.Is(err, ErrDE90Format) {
			t.Fatalf("%+v: err = %v", bad, err)
		}
	}
	for _, bad := range []string{"", want[:41], want[:41] + "x"} {
		if _, err := ParseDE90(bad); !errors.Is(err, ErrDE90Format) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
	if ZeroFill("12345", 11) != "00000012345" || ZeroFill("1a", 4) != "" || ZeroFill("12345", 4) != "" {
		t.Fatal("ZeroFill")
	}
}

func TestDE97(t *testing.T) {
	tests := []struct {
		net  int64
		want string
		err  error
	}{
		{80000, "D0000000000080000", nil},
		{0, "D0000000000000000", nil},
		{-1234, "C0000000000001234", nil},
		{9_999_999_999_999_999, "D9999999999999999", nil},
		{10_000_000_000_000_000, "", ErrRange},
		{-1 << 63, "", ErrRange},
	}
	for _, tc := range tests {
		got, err := FormatDE97(tc.net)
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Fatalf("%d: %q %v", tc.net, got, err)
		}
		if err == nil {
			if back, err := ParseDE97(got); err != nil || back != tc.net {
				t.Fatalf("%q: %d %v", got, back, err)
			}
		}
	}
	for _, bad := range []string{"", "D000000000000000", "X0000000000000001", "D000000000000000A", "+0000000000000001"} {
		if _, err := ParseDE97(bad); !errors.Is(err, ErrDE97Format) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
}

func TestMaskPAN(t *testing.T) {
	for in, want := range map[string]string{
		"4169741234567890":    "416974******7890",
		"6762123456789012345": "676212*********2345",
		"4169741234567":       "416974***4567",
		"416974123456":        "************",
		"":                    "",
	} {
		if got := MaskPAN(in); got != want {
			t.Errorf("MaskPAN(%q) = %q want %q", in, got, want)
		}
	}
}

func TestBCDCodec(t *testing.T) {
	var c bcdCodec
	for _, tc := range []struct{ digits, packed string }{
		{"1234", "\x12\x34"}, {"021", "\x00\x21"}, {"7", "\x07"}, {"", ""},
	} {
		got, err := c.Encode([]byte(tc.digits))
		if err != nil || string(got) != tc.packed {
			t.Fatalf("Encode(%q) = %x %v", tc.digits, got, err)
		}
		back, n, err := c.Decode([]byte(tc.packed+"\xFF"), len(tc.digits))
		if err != nil || string(back) != tc.digits || n != len(tc.packed) {
			t.Fatalf("Decode(%x) = %q %d %v", tc.packed, back, n, err)
		}
	}
	if _, err := c.Encode([]byte("12a4")); err == nil {
		t.Fatal("Encode accepted a letter")
	}
	if _, _, err := c.Decode([]byte("\x1A"), 2); err == nil {
		t.Fatal("Decode accepted nibble A")
	}
	if _, _, err := c.Decode([]byte("\x12"), 3); err == nil {
		t.Fatal("Decode accepted short input")
	}
	var s signedBCDCodec
	got, err := s.Encode([]byte("C0000000000001234"))
	if err != nil || string(got) != "C\x00\x00\x00\x00\x00\x00\x12\x34" {
		t.Fatalf("signed Encode = %x %v", got, err)
	}
	back, n, err := s.Decode(got, 17)
	if err != nil || string(back) != "C0000000000001234" || n != 9 {
		t.Fatalf("signed Decode = %q %d %v", back, n, err)
	}
}
