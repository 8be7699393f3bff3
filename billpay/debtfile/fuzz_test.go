package debtfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzReader: no input panics; a Validate pass and a Next pass agree on the
// error, the report and validity (so the core's pass 2 never applies what
// pass 1 refused); reading the input one byte at a time changes nothing;
// and the Next pass yields exactly Report.Accounts accounts with
// Report.Debts debts when the file is valid.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"testdata/fixture-AZERISIQ.xml", "testdata/good.xml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(doc("<account number=\"1\"><debt service=\"ELEC\" period=\"202613\" amount=\"1.001\"/></account>\n<account number=\"1\"/>")))
	f.Add([]byte(doc("<account number=\"1\" name=\"&#x259;&amp;&lt;\"/>\n<!-- c --><?pi x?>")))
	f.Add([]byte("<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY a \"b\">]><debts/>"))
	f.Add([]byte(doc("<account number=\"2\" prepaid=\"true\"><card id=\"C\" sequence=\"1\"/><x><y/></x></account>")))
	o := azn
	o.MaxErrors = 5
	f.Fuzz(func(t *testing.T, data []byte) {
		h1, rep1, err1 := Validate(bytes.NewReader(data), o)
		h2, rep2, err2 := Validate(iotest.OneByteReader(bytes.NewReader(data)), o)
		if !sameErr(err1, err2) || !reflect.DeepEqual(rep1, rep2) || !reflect.DeepEqual(h1, h2) {
			t.Fatalf("one byte at a time differs:\n%v %+v\n%v %+v", err1, rep1, err2, rep2)
		}
		r, err := NewReader(bytes.NewReader(data), o)
		if err != nil {
			if err1 == nil || !sameErr(err, err1) {
				t.Fatalf("NewReader %v, Validate %v", err, err1)
			}
			return
		}
		accounts, debts := 0, 0
		var nerr error
		for {
			a, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					nerr = err
				}
				break
			}
			accounts++
			debts += len(a.Debts)
			_ = a.Clone()
		}
		if !sameErr(nerr, err1) || !reflect.DeepEqual(r.Report(), rep1) || !reflect.DeepEqual(r.Header(), h1) {
			t.Fatalf("Next pass %v %+v, Validate %v %+v", nerr, r.Report(), err1, rep1)
		}
		valid := err1 == nil && rep1.OK()
		if r.Valid() != valid {
			t.Fatalf("Valid() %v, Validate says %v", r.Valid(), valid)
		}
		if valid && (accounts != rep1.Accounts || debts != rep1.Debts) {
			t.Fatalf("%d accounts %d debts, report %+v", accounts, debts, rep1)
		}
	})
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}
