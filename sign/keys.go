// Package sign holds imgbuild's signed documents and their keys: ed25519
// keys in PEM files (keys.go); release records in canonical JSON
// (record.go), the document that vouches for a release's kernel,
// initramfs, USR and UKIs; disk image descriptions (diskimage.go), which
// vouch for a whole disk image the PXE installer writes; and detached
// signatures over any document (signature.go), each kind under its own
// context so that one cannot pass for another, verified against a list
// of trusted keys (so keys can rotate). Every error about a signature
// that does not verify is ErrUnverified. Update channel metadata is
// signed here too, by package update/repo (ChannelContext).
//
// Key files are standard PEM, readable by openssl: the private key is a
// PKCS #8 "PRIVATE KEY" block (mode 0600), the public key a PKIX "PUBLIC
// KEY" block.
package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Key file names GenerateKey writes.
const (
	PrivateKeyFile = "release.key"
	PublicKeyFile  = "release.pub"
)

// KeyID names a public key in messages: the first 8 bytes of the SHA-256
// of the raw 32-byte key, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new key pair in dir (PrivateKeyFile, mode 0600,
// and PublicKeyFile, mode 0644). It refuses to overwrite either file,
// since losing a release key cannot be undone.
func GenerateKey(dir string) (pubPath, privPath string, err error) {
	pubPath, privPath = filepath.Join(dir, PublicKeyFile), filepath.Join(dir, PrivateKeyFile)
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("sign: %s exists; refusing to overwrite a key", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("sign: %w", err)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("sign: generate key: %w", err)
	}
	privPEM, err := encodePrivate(priv)
	if err != nil {
		return "", "", err
	}
	pubPEM, err := encodePublic(pub)
	if err != nil {
		return "", "", err
	}
	if err := writeNew(privPath, privPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return pubPath, privPath, nil
}

// writeNew creates path exclusively (O_EXCL closes the race with the
// Lstat check) and sets mode explicitly, whatever the umask.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("sign: create key file: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("sign: chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("sign: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("sign: write %s: %w", path, err)
	}
	return nil
}

func encodePrivate(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("sign: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func encodePublic(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sign: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// LoadPrivate reads a private key file written by GenerateKey.
func LoadPrivate(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	k, err := ParsePrivate(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// LoadPublic reads a public key file written by GenerateKey.
func LoadPublic(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	k, err := ParsePublic(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// ParsePrivate decodes a PEM "PRIVATE KEY" block holding an ed25519 key.
func ParsePrivate(pemData []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(pemData, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("sign: parse private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sign: private key is %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublic decodes a PEM "PUBLIC KEY" block holding an ed25519 key,
// as stage-1 does with the key carried in the initramfs.
func ParsePublic(pemData []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(pemData, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("sign: parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sign: public key is %T, want ed25519", k)
	}
	return pub, nil
}

func pemBlock(data []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("sign: no PEM block (want %q)", typ)
	}
	if b.Type != typ {
		return nil, fmt.Errorf("sign: PEM block is %q, want %q", b.Type, typ)
	}
	return b.Bytes, nil
}
