package hostswitch

import (
	"testing"

	"github.com/billswitch/billswitch/specs"
)

// counts returns the value of every series of family name, keyed by its label values
// joined with "/".
func counts(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			k := ""
			for _, l := range s.GetLabel() {
				k += l.GetValue() + "/"
			}
			if c := s.GetCounter(); c != nil {
				out[k] = c.GetValue()
			} else if h := s.GetHistogram(); h != nil {
				out[k] = float64(h.GetSampleCount())
			}
		}
	}
	return out
}

// observeMessage caches label children; counts land on the right labels, the first
// time and after.
func TestObserveMessageLabels(t *testing.T) {
	m := NewMetrics()
	for _, tc := range []struct {
		li            int
		link, mti, rc string
		times         int
	}{
		{0, "pc", "0200", "00", 3},
		{1, "terminal", "0200", "00", 1},
		{0, "pc", "0201", "94", 2},
		{0, "pc", "0999", "00", 1},
		{1, "terminal", "0400", "X1", 2},
	} {
		for range tc.times {
			m.observeMessage(tc.li, tc.link, tc.mti, tc.rc, 0.001)
		}
	}
	wantMsg := map[string]float64{"pc/0200/00/": 3, "terminal/0200/00/": 1, "pc/0201/94/": 2, "pc/other/00/": 1, "terminal/0400/other/": 2}
	got := counts(t, m, "billswitch_messages_total")
	if len(got) != len(wantMsg) {
		t.Errorf("messages %v, want %v", got, wantMsg)
	}
	for k, v := range wantMsg {
		if got[k] != v {
			t.Errorf("messages %s = %v, want %v", k, got[k], v)
		}
	}
	wantLat := map[string]float64{"pc/0200/": 3, "terminal/0200/": 1, "pc/0201/": 2, "pc/other/": 1, "terminal/0400/": 2}
	gotLat := counts(t, m, "billswitch_message_latency_seconds")
	for k, v := range wantLat {
		if gotLat[k] != v {
			t.Errorf("latency %s count = %v, want %v (all: %v)", k, gotLat[k], v, gotLat)
		}
	}
}

func TestAppendMaskedPAN(t *testing.T) {
	for _, pan := range []string{"", "4", "416973", "416973000000", "4169730000000", "4169738800000013", "4169738800000000013", "41697388000000000000013"} {
		if got, want := string(appendMaskedPAN(nil, pan)), specs.MaskPAN(pan); got != want {
			t.Errorf("%q: %q, want %q", pan, got, want)
		}
	}
}
