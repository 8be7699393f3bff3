package specs

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

var writeCorpus = flag.Bool("writecorpus", false, "rewrite the seed corpora under testdata/fuzz from the golden vectors")

// roundTrip checks that whatever unpacks packs and unpacks to the same Message, and that
// Scan agrees with Unpack.
func roundTrip(t *testing.T, d *Dialect, data []byte) {
	var m Message
	mti, stan, scanErr := d.Scan(data)
	if err := d.Unpack(data, &m); err != nil {
		return
	}
	if len(m.STAN) == 6 && (scanErr != nil || mti != m.MTI || stan != m.STAN) {
		t.Fatalf("Scan = %q %q %v, Unpack MTI %q STAN %q", mti, stan, scanErr, m.MTI, m.STAN)
	}
	packed, err := d.Pack(&m)
	if err != nil {
		t.Fatalf("unpacked message does not pack: %v", err)
	}
	var back Message
	if err := d.Unpack(packed, &back); err != nil {
		t.Fatalf("packed message does not unpack: %v", err)
	}
	if !reflect.DeepEqual(m, back) {
		t.Fatalf("round trip differs:\n%+v\n%+v", m, back)
	}
	again, err := d.Pack(&back)
	if err != nil || !bytes.Equal(again, packed) {
		t.Fatalf("second pack differs: %v", err)
	}
}

func FuzzUnpackPC87A(f *testing.F) {
	d, err := NewPC87A()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range goldens() {
		f.Add([]byte(g.pc))
	}
	f.Fuzz(func(t *testing.T, data []byte) { roundTrip(t, d, data) })
}

func FuzzUnpackTerm87B(f *testing.F) {
	d, err := NewTerm87B()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range goldens() {
		f.Add([]byte(g.term))
	}
	f.Fuzz(func(t *testing.T, data []byte) { roundTrip(t, d, data) })
}

func FuzzDE48(f *testing.F) {
	f.Add(de48Pay)
	f.Add(de48Inq)
	f.Add("04001A05023AZERSU:123:WATER=1000;25001T")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDE48(s)
		if err != nil {
			return
		}
		if got := d.String(); got != s {
			t.Fatalf("re-encoded differs")
		}
		for _, e := range d.Entries {
			if v, ok := d.Get(e.Tag); !ok || (v != e.Value && !hasEarlier(d, e)) {
				t.Fatalf("Get(%d) inconsistent", e.Tag)
			}
		}
	})
}

func hasEarlier(d DE48, e DE48Entry) bool {
	for _, x := range d.Entries {
		if x.Tag == e.Tag {
			return x != e
		}
	}
	return false
}

func FuzzFrame(f *testing.F) {
	pc, term := dialects(f)
	f.Add(false, []byte("0005hello"))
	f.Add(false, []byte("+063"))
	f.Add(false, []byte("8193"))
	f.Add(true, []byte("\x00\x05hello"))
	f.Add(true, []byte("\x20\x01"))
	f.Add(true, []byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, isTerm bool, data []byte) {
		fr := pc.Framer()
		if isTerm {
			fr = term.Framer()
		}
		r := bytes.NewReader(data)
		body, err := fr.ReadFrame(r, nil)
		if err != nil {
			return
		}
		if len(body) == 0 || len(body) > MaxFrame {
			t.Fatalf("accepted a frame of %d bytes", len(body))
		}
		consumed := len(data) - r.Len()
		out, err := fr.AppendFrame(nil, body)
		if err != nil || !bytes.Equal(out, data[:consumed]) {
			t.Fatalf("re-framed differs: %v", err)
		}
	})
}

// TestWriteSeedCorpus rewrites testdata/fuzz/* from the golden vectors (go test
// -run TestWriteSeedCorpus -writecorpus ./specs/). Without the flag it checks that the
// committed corpus holds every golden vector.
func TestWriteSeedCorpus(t *testing.T) {
	entries := map[string][]string{}
	for _, g := range goldens() {
		entries["FuzzUnpackPC87A"] = append(entries["FuzzUnpackPC87A"], corpusBytes(g.pc))
		entries["FuzzUnpackTerm87B"] = append(entries["FuzzUnpackTerm87B"], corpusBytes(g.term))
	}
	entries["FuzzDE48"] = []string{corpusString(de48Pay), corpusString(de48Inq),
		corpusString("04001L05023AZERSU:123:WATER=1000;")}
	entries["FuzzFrame"] = []string{
		"go test fuzz v1\nbool(false)\n[]byte(" + strconv.Quote("0005hello") + ")\n",
		"go test fuzz v1\nbool(true)\n[]byte(" + strconv.Quote("\x00\x05hello") + ")\n",
		"go test fuzz v1\nbool(false)\n[]byte(" + strconv.Quote("+063") + ")\n",
	}
	for target, list := range entries {
		for i, e := range list {
			p := filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed-%02d", i))
			if *writeCorpus {
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(e), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != e {
				t.Errorf("%s: missing or stale (run with -writecorpus): %v", p, err)
			}
		}
	}
}

func corpusBytes(s string) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(s) + ")\n"
}

func corpusString(s string) string {
	return "go test fuzz v1\nstring(" + strconv.Quote(s) + ")\n"
}
