package billpay

import "testing"

func TestZeroPad(t *testing.T) {
	for _, tc := range []struct {
		v     uint64
		width int
		want  string
	}{{0, 6, "000000"}, {42, 6, "000042"}, {999999, 6, "999999"}, {1234567, 6, "1234567"}, {7, 7, "0000007"}, {261121, 6, "261121"}} {
		if got := zeroPad(tc.v, tc.width); got != tc.want {
			t.Errorf("zeroPad(%d, %d) = %q, want %q", tc.v, tc.width, got, tc.want)
		}
	}
}
