package hostswitch

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/billswitch/billswitch/specs"
	"github.com/billswitch/billswitch/terminals"
	"github.com/rs/zerolog"
)

// FuzzProcess: whatever bytes follow a frame header, the host never panics, and every
// frame whose MTI and DE 11 Scan can read and whose MTI has a response MTI is answered
// with that MTI and that DE 11 (§9).
func FuzzProcess(f *testing.F) {
	pc, term := dialects(f)
	for _, d := range []*specs.Dialect{pc, term} {
		for _, m := range []*specs.Message{
			{MTI: "0800", TransmissionDateTime: "1121101112", STAN: "000001", AcquirerID: demoPC, NetworkCode: "001"},
			{MTI: "0200", TransmissionDateTime: "1121101112", STAN: "000002", AcquirerID: demoPC, ProcessingCode: "500000",
				TerminalID: demoTerminal, Amount: "000000000101", PAN: "4169738800000001", AdditionalData: "01008AZERISIQ"},
			{MTI: "0500", TransmissionDateTime: "1321101112", STAN: "000003", ProcessingCode: "920000", NetSettlement: "D0000000000000000"},
			{MTI: "0300", STAN: "000004"},
		} {
			b, err := d.AppendPack(nil, m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(d == pc, b)
		}
	}
	f.Add(true, []byte("\xff\xfe"))
	hosts := map[bool]*conn{}
	for _, isPC := range []bool{true, false} {
		h, err := New(Config{PCAddr: "127.0.0.1:0", TerminalAddr: "127.0.0.1:0"},
			Deps{PC: pc, Terminal: term, Directory: terminals.Demo(), Logger: zerolog.Nop(), BusinessDate: func() string { return "1121" }})
		if err != nil {
			f.Fatal(err)
		}
		l := &listener{link: specs.LinkTerminal, name: "terminal", dialect: term}
		if isPC {
			l = &listener{link: specs.LinkPC, name: "pc", dialect: pc}
		}
		a, b := net.Pipe()
		f.Cleanup(func() { a.Close(); b.Close() })
		c := newConn(h, l, a, 1, "pipe")
		hosts[isPC] = c
	}
	f.Fuzz(func(t *testing.T, isPC bool, raw []byte) {
		c := hosts[isPC]
		d := c.l.dialect
		mti, stan, err := d.Scan(raw)
		if err != nil {
			return
		}
		in := &inbound{mti: mti, stan: stan, read: time.Now(), frame: c.h.getBuf(), signedOnAs: demoPC}
		*in.frame = append((*in.frame)[:0], raw...)
		out := c.process(in)
		want := ResponseMTI(mti)
		if want == "" {
			if out != nil {
				t.Fatalf("%s answered", mti)
			}
			return
		}
		if out == nil {
			t.Fatalf("%s STAN %s not answered", mti, stan)
		}
		body, err := d.Framer().ReadFrame(bytes.NewReader(*out), nil)
		if err != nil {
			t.Fatalf("response frame: %v", err)
		}
		var m specs.Message
		if err := d.Unpack(body, &m); err != nil {
			t.Fatalf("response does not unpack: %v", err)
		}
		if m.MTI != want || m.STAN != stan || m.ResponseCode == "" {
			t.Fatalf("response %s/%s/%q to %s/%s", m.MTI, m.STAN, m.ResponseCode, mti, stan)
		}
		if needsDE15(want) && m.SettlementDate == "" {
			t.Fatalf("%s without DE 15", want)
		}
	})
}
