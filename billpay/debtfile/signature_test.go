package debtfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"testing/iotest"
)

func TestVerifySignature(t *testing.T) {
	file, err := os.ReadFile("testdata/fixture-AZERISIQ.xml")
	if err != nil {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, file)
	sigFile := []byte(base64.StdEncoding.EncodeToString(sig) + "\n")
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)).Public().(ed25519.PublicKey)

	flipped := bytes.Clone(file)
	flipped[len(flipped)/2] ^= 1
	badSig := bytes.Clone(sig)
	badSig[5] ^= 1
	// S + L: the same signature with a non-canonical S (malleability).
	nonCanonical := bytes.Clone(sig)
	addL(nonCanonical[32:])

	cases := []struct {
		name    string
		pub     ed25519.PublicKey
		file    []byte
		sig     []byte
		bad     bool // ErrBadSignature
		malform bool // another error
	}{
		{"good", pub, file, sigFile, false, false},
		{"good unpadded no newline", pub, file, []byte(base64.RawStdEncoding.EncodeToString(sig)), false, false},
		{"file changed", pub, flipped, sigFile, true, false},
		{"file truncated", pub, file[:len(file)-1], sigFile, true, false},
		{"signature changed", pub, file, []byte(base64.StdEncoding.EncodeToString(badSig)), true, false},
		{"non-canonical S", pub, file, []byte(base64.StdEncoding.EncodeToString(nonCanonical)), true, false},
		{"other key", other, file, sigFile, true, false},
		{"missing signature", pub, file, nil, false, true},
		{"not base64", pub, file, []byte("not a signature!"), false, true},
		{"short", pub, file, []byte(base64.StdEncoding.EncodeToString(sig[:63])), false, true},
		{"bad key length", pub[:31], file, sigFile, false, true},
	}
	for _, c := range cases {
		err := VerifySignature(c.pub, iotest.HalfReader(bytes.NewReader(c.file)), c.sig)
		switch {
		case c.bad && !errors.Is(err, ErrBadSignature):
			t.Errorf("%s: %v, want ErrBadSignature", c.name, err)
		case c.malform && (err == nil || errors.Is(err, ErrBadSignature)):
			t.Errorf("%s: %v, want a format error", c.name, err)
		case !c.bad && !c.malform && err != nil:
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := VerifySignature(pub, iotest.ErrReader(errors.New("disk")), sigFile); err == nil || errors.Is(err, ErrBadSignature) {
		t.Errorf("read error: %v", err)
	}
}

// addL adds the group order L to the little-endian scalar s in place.
func addL(s []byte) {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(l[i]) + carry
		s[i], carry = byte(v), v>>8
	}
}

// The streaming check agrees with crypto/ed25519 on random and tampered
// inputs.
func TestVerifyMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		seed := make([]byte, ed25519.SeedSize)
		for j := range seed {
			seed[j] = byte(rng.IntN(256))
		}
		priv := ed25519.NewKeyFromSeed(seed)
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, rng.IntN(3000))
		for j := range msg {
			msg[j] = byte(rng.IntN(256))
		}
		sig := ed25519.Sign(priv, msg)
		switch i % 4 {
		case 1:
			sig[rng.IntN(64)] ^= byte(1 + rng.IntN(255))
		case 2:
			if len(msg) > 0 {
				msg[rng.IntN(len(msg))] ^= 1
			}
		case 3:
			for j := range sig {
				sig[j] = byte(rng.IntN(256))
			}
		}
		want := ed25519.Verify(pub, msg, sig)
		err := VerifySignature(pub, bytes.NewReader(msg), []byte(base64.StdEncoding.EncodeToString(sig)))
		if (err == nil) != want {
			t.Fatalf("case %d: stdlib %v, streaming %v", i, want, err)
		}
	}
}

// A SignatureCheck in Options.Tee verifies the bytes a Next pass read.
func TestSignatureTee(t *testing.T) {
	file, err := os.ReadFile("testdata/fixture-AZERISIQ.xml")
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	sig := []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(priv, file)))
	for _, tamper := range []bool{false, true} {
		in := bytes.Clone(file)
		if tamper {
			in = bytes.Replace(in, []byte(`amount="60.00"`), []byte(`amount="6.00" `), 1)
		}
		c, err := NewSignatureCheck(pub, sig)
		if err != nil {
			t.Fatal(err)
		}
		o := azn
		o.Tee = c
		accts, r, err := readAll(t, iotest.HalfReader(bytes.NewReader(in)), o)
		if err != nil || !r.Valid() || len(accts) != 5 {
			t.Fatalf("%v %d", err, len(accts))
		}
		if err := c.Verify(); (err != nil) != tamper {
			t.Errorf("tamper=%v: %v", tamper, err)
		}
	}
}
