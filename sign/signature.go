package sign

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// A signature file is three lines of text:
//
//	imgbuild-signature v1
//	key-id <KeyID of the signing key>
//	ed25519 <base64 signature>
//
// The key id only helps a reader; Verify does not trust it.
const sigHeader = "imgbuild-signature v1"

// signedContext separates these signatures from any other use of the
// same key: the signed message is signedContext followed by the record.
const signedContext = "imgbuild release record v1\n"

// ChannelContext separates signatures over channel metadata (package
// update/repo) from record signatures made with the same key.
const ChannelContext = "imgbuild channel v1\n"

// ErrUnverified is wrapped by every VerifyBytes (and Verify) error about
// the signature itself: no trusted keys, none that matches, or a
// signature file that is not one. errors.Is tells these apart from a
// record that does not parse, or a file that could not be read.
var ErrUnverified = errors.New("sign: signature does not verify")

// unverified is an ErrUnverified with its own message.
type unverified struct{ msg string }

func (e *unverified) Error() string        { return e.msg }
func (e *unverified) Is(target error) bool { return target == ErrUnverified }

func unverifiedf(format string, args ...any) error {
	return &unverified{msg: fmt.Sprintf(format, args...)}
}

// Sign signs r.Canonical() and returns the signature file content.
func Sign(r Record, key ed25519.PrivateKey) ([]byte, error) {
	return SignBytes(signedContext, r.Canonical(), key)
}

// Verify checks sig over the exact bytes of recordJSON against each of
// keys (several while keys rotate) and only then parses the record.
func Verify(recordJSON, sig []byte, keys []ed25519.PublicKey) (*Record, error) {
	if err := VerifyBytes(signedContext, recordJSON, sig, keys); err != nil {
		return nil, err
	}
	return ParseRecord(recordJSON)
}

// SignBytes signs context followed by data and returns the signature
// file content. The context keeps a signature made for one kind of
// document from being valid for another.
func SignBytes(context string, data []byte, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign: private key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	sig := ed25519.Sign(key, append([]byte(context), data...))
	pub := key.Public().(ed25519.PublicKey)
	return fmt.Appendf(nil, "%s\nkey-id %s\ned25519 %s\n", sigHeader, KeyID(pub), base64.StdEncoding.EncodeToString(sig)), nil
}

// VerifyBytes checks sig over context followed by the exact bytes of
// data against each of keys (several while keys rotate).
func VerifyBytes(context string, data, sig []byte, keys []ed25519.PublicKey) error {
	if len(keys) == 0 {
		return unverifiedf("sign: no trusted keys to verify against")
	}
	signer, raw, err := parseSignature(sig)
	if err != nil {
		return err
	}
	msg := append([]byte(context), data...)
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = KeyID(k)
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, raw) {
			return nil
		}
	}
	return unverifiedf("sign: signature does not match any trusted key (key ids: %s; the signature names key id %s)",
		strings.Join(ids, ", "), signer)
}

func parseSignature(sig []byte) (keyID string, raw []byte, err error) {
	sc := bufio.NewScanner(bytes.NewReader(sig))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || lines[0] != sigHeader {
		return "", nil, unverifiedf("sign: signature file is not %q followed by key-id and ed25519 lines", sigHeader)
	}
	keyID, ok1 := strings.CutPrefix(lines[1], "key-id ")
	b64, ok2 := strings.CutPrefix(lines[2], "ed25519 ")
	if !ok1 || !ok2 {
		return "", nil, unverifiedf("sign: signature file: want key-id and ed25519 lines")
	}
	raw, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return "", nil, unverifiedf("sign: signature file: ed25519 line is not a base64 %d-byte signature", ed25519.SignatureSize)
	}
	return keyID, raw, nil
}
