package debtfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// ErrBadSignature: the signature does not verify over the file's bytes
// with the provider's key.
var ErrBadSignature = errors.New("debtfile: signature does not match the file and the provider's key")

// VerifySignature checks a detached Ed25519 signature (PE §1: FILE.sig,
// base64, over the file's exact bytes) while streaming the file, so a
// file of any size is verified in constant memory.
//
// This is pure Ed25519 (RFC 8032 §5.1.7), the scheme of crypto/ed25519.Sign
// over the whole file, not Ed25519ph: the verifier's only pass over the
// message is SHA-512(R || A || M), which can be fed as a stream once R (from
// the signature) and A (the key) are known. The group equation is then
// checked as crypto/ed25519 does ([S]B = R + [k]A, cofactorless, S
// canonical), with filippo.io/edwards25519. The result is the same as
// ed25519.Verify(pub, wholeFile, sig), which the tests check.
//
// sigBase64 is the content of the .sig file: standard base64 (padded or
// not) of the 64 signature bytes; surrounding whitespace is ignored.
func VerifySignature(pub ed25519.PublicKey, file io.Reader, sigBase64 []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("debtfile: public key of %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	text := bytes.TrimRight(bytes.TrimSpace(sigBase64), "=")
	sig := make([]byte, base64.RawStdEncoding.DecodedLen(len(text)))
	n, err := base64.RawStdEncoding.Decode(sig, text)
	if err != nil {
		return fmt.Errorf("debtfile: signature file is not base64: %w", err)
	}
	if n != ed25519.SignatureSize {
		return fmt.Errorf("debtfile: signature of %d bytes, want %d", n, ed25519.SignatureSize)
	}
	sig = sig[:n]

	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("debtfile: invalid public key: %w", err)
	}
	S, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return ErrBadSignature
	}

	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	if _, err := io.Copy(h, file); err != nil {
		return fmt.Errorf("debtfile: reading the file: %w", err)
	}
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		return err
	}
	minusA := new(edwards25519.Point).Negate(A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	if !bytes.Equal(sig[:32], R.Bytes()) {
		return ErrBadSignature
	}
	return nil
}
