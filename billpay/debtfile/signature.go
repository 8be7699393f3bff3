package debtfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/edwards25519"
)

// ErrBadSignature: the signature does not verify over the file's bytes
// with the provider's key.
var ErrBadSignature = errors.New("debtfile: signature does not match the file and the provider's key")

// VerifySignature checks a detached Ed25519 signature (PE §1: FILE.sig,
// base64, over the file's exact bytes) while streaming the file, so a file
// of any size is verified in constant memory. See SignatureCheck.
func VerifySignature(pub ed25519.PublicKey, file io.Reader, sigBase64 []byte) error {
	c, err := NewSignatureCheck(pub, sigBase64)
	if err != nil {
		return err
	}
	if _, err := io.Copy(c, file); err != nil {
		return fmt.Errorf("debtfile: reading the file: %w", err)
	}
	return c.Verify()
}

// SignatureCheck verifies a detached Ed25519 signature over the bytes
// written to it. Put it in Options.Tee to check the signature of exactly
// the bytes a Reader reads, then call Verify after io.EOF.
//
// This is pure Ed25519 (RFC 8032 §5.1.7), the scheme of crypto/ed25519.Sign
// over the whole file, not Ed25519ph: the verifier's only pass over the
// message is SHA-512(R || A || M), which can be fed as a stream once R (from
// the signature) and A (the key) are known. The group equation is then
// checked as crypto/ed25519 does ([S]B = R + [k]A, cofactorless, S
// canonical), with filippo.io/edwards25519. The verdict is the same as
// ed25519.Verify(pub, wholeFile, sig), which the tests check.
type SignatureCheck struct {
	sig [ed25519.SignatureSize]byte
	A   *edwards25519.Point
	S   *edwards25519.Scalar // nil when S is not canonical (never verifies)
	h   hash.Hash
}

// NewSignatureCheck decodes the .sig file's content (standard base64,
// padded or not, of the 64 signature bytes; surrounding whitespace is
// ignored) and the provider's key. It fails when either is malformed.
func NewSignatureCheck(pub ed25519.PublicKey, sigBase64 []byte) (*SignatureCheck, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("debtfile: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	text := bytes.TrimRight(bytes.TrimSpace(sigBase64), "=")
	buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(text)))
	n, err := base64.RawStdEncoding.Decode(buf, text)
	if err != nil {
		return nil, fmt.Errorf("debtfile: signature file is not base64: %w", err)
	}
	if n != ed25519.SignatureSize {
		return nil, fmt.Errorf("debtfile: signature of %d bytes, want %d", n, ed25519.SignatureSize)
	}
	c := &SignatureCheck{h: sha512.New()}
	copy(c.sig[:], buf)
	if c.A, err = new(edwards25519.Point).SetBytes(pub); err != nil {
		return nil, fmt.Errorf("debtfile: invalid public key: %w", err)
	}
	if S, err := edwards25519.NewScalar().SetCanonicalBytes(c.sig[32:]); err == nil {
		c.S = S
	}
	c.h.Write(c.sig[:32])
	c.h.Write(pub)
	return c, nil
}

// Write adds file bytes; it never fails.
func (c *SignatureCheck) Write(p []byte) (int, error) { return c.h.Write(p) }

// Verify reports whether the signature holds over every byte written:
// nil, or ErrBadSignature.
func (c *SignatureCheck) Verify() error {
	if c.S == nil {
		return ErrBadSignature
	}
	k, err := edwards25519.NewScalar().SetUniformBytes(c.h.Sum(nil))
	if err != nil {
		return err
	}
	minusA := new(edwards25519.Point).Negate(c.A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, c.S)
	if !bytes.Equal(c.sig[:32], R.Bytes()) {
		return ErrBadSignature
	}
	return nil
}
