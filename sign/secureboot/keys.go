package secureboot

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Roles of the keys, in the order of the chain: PK signs KEK, KEK signs
// db, db signs the EFI programs the firmware runs.
var Roles = []string{"PK", "KEK", "db"}

// DefaultBits is the RSA key size keygen uses: 2048 is what every UEFI
// implementation must accept for Authenticode and authenticated
// variables.
const DefaultBits = 2048

// File names inside a Secure Boot key directory.
func KeyFile(role string) string  { return role + ".key" }  // PEM PKCS#8, mode 0600
func CertFile(role string) string { return role + ".crt" }  // PEM X.509
func AuthFile(role string) string { return role + ".auth" } // signed signature list for enrollment

// Key is one role's key pair and self-signed certificate.
type Key struct {
	Role string
	Cert *x509.Certificate
	Priv *rsa.PrivateKey
}

// KeySet is a whole chain, loaded from a key directory.
type KeySet struct {
	Dir         string
	PK, KEK, DB Key
	Owner       GUID // SignatureOwner of every list, derived from PK
	AuthPK      []byte
	AuthKEK     []byte
	AuthDB      []byte
	AuthTime    time.Time
}

// Generate makes PK, KEK and db keys and certificates in dir and the
// three .auth files systemd-boot enrolls. It refuses to overwrite any
// file. ts is the timestamp of the authenticated writes and the
// certificates' start of validity (callers pass SOURCE_DATE_EPOCH or
// now): a later update of a variable must carry a newer one.
func Generate(dir, commonName string, bits int, ts time.Time) (*KeySet, error) {
	if bits != 2048 && bits != 3072 && bits != 4096 {
		return nil, fmt.Errorf("secureboot: RSA key size %d: use 2048, 3072 or 4096", bits)
	}
	for _, r := range Roles {
		for _, f := range []string{KeyFile(r), CertFile(r), AuthFile(r)} {
			if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("secureboot: %s exists; refusing to overwrite Secure Boot keys", filepath.Join(dir, f))
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("secureboot: %w", err)
			}
		}
	}
	ts = ts.UTC().Truncate(time.Second)
	keys := map[string]Key{}
	for _, r := range Roles {
		k, err := newKey(r, commonName, bits, ts)
		if err != nil {
			return nil, err
		}
		keys[r] = k
		if err := writeKey(dir, k); err != nil {
			return nil, err
		}
	}
	s := &KeySet{Dir: dir, PK: keys["PK"], KEK: keys["KEK"], DB: keys["db"]}
	s.Owner = ownerOf(s.PK.Cert)
	var err error
	if s.AuthPK, err = AuthVar("PK", GlobalVariable, SignatureList(s.Owner, s.PK.Cert.Raw), ts, s.PK.Cert, s.PK.Priv); err != nil {
		return nil, err
	}
	if s.AuthKEK, err = AuthVar("KEK", GlobalVariable, SignatureList(s.Owner, s.KEK.Cert.Raw), ts, s.PK.Cert, s.PK.Priv); err != nil {
		return nil, err
	}
	if s.AuthDB, err = AuthVar("db", ImageSecurityDatabase, SignatureList(s.Owner, s.DB.Cert.Raw), ts, s.KEK.Cert, s.KEK.Priv); err != nil {
		return nil, err
	}
	s.AuthTime = ts
	for r, data := range map[string][]byte{"PK": s.AuthPK, "KEK": s.AuthKEK, "db": s.AuthDB} {
		if err := writeNew(filepath.Join(dir, AuthFile(r)), data, 0o644); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ownerOf derives the SignatureOwner GUID from the PK certificate, so a
// key set names one owner without storing another file.
func ownerOf(pk *x509.Certificate) GUID {
	sum := sha256.Sum256(pk.Raw)
	var g GUID
	copy(g[:], sum[:16])
	g[7] = g[7]&0x0f | 0x40 // version 4 layout (time_hi in LE order)
	g[8] = g[8]&0x3f | 0x80
	return g
}

func newKey(role, cn string, bits int, ts time.Time) (Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return Key{}, fmt.Errorf("secureboot: %s key: %w", role, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Key{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn + " Secure Boot " + role},
		NotBefore:             ts.Add(-24 * time.Hour),
		NotAfter:              ts.AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  role != "db",
	}
	if role == "db" {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return Key{}, fmt.Errorf("secureboot: %s certificate: %w", role, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Key{}, err
	}
	return Key{Role: role, Cert: cert, Priv: priv}, nil
}

func writeKey(dir string, k Key) error {
	p8, err := x509.MarshalPKCS8PrivateKey(k.Priv)
	if err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, KeyFile(k.Role)), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, CertFile(k.Role)), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw}), 0o644)
}

// writeNew creates path exclusively, so a concurrent keygen cannot
// replace a key between our check and our write.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("secureboot: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("secureboot: write %s: %w", path, err)
	}
	return f.Close()
}

// Load reads a key directory made by Generate and checks that it holds
// one consistent chain: each .auth file parses, carries its role's
// certificate and is signed by the role above it.
func Load(dir string) (*KeySet, error) {
	s := &KeySet{Dir: dir}
	for _, r := range Roles {
		k, err := loadKey(dir, r)
		if err != nil {
			return nil, err
		}
		switch r {
		case "PK":
			s.PK = k
		case "KEK":
			s.KEK = k
		default:
			s.DB = k
		}
	}
	s.Owner = ownerOf(s.PK.Cert)
	checks := []struct {
		role   string
		vendor GUID
		own    *x509.Certificate
		signer *x509.Certificate
		dst    *[]byte
	}{
		{"PK", GlobalVariable, s.PK.Cert, s.PK.Cert, &s.AuthPK},
		{"KEK", GlobalVariable, s.KEK.Cert, s.PK.Cert, &s.AuthKEK},
		{"db", ImageSecurityDatabase, s.DB.Cert, s.KEK.Cert, &s.AuthDB},
	}
	for _, c := range checks {
		path := filepath.Join(dir, AuthFile(c.role))
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("secureboot: %w", err)
		}
		a, err := ParseAuth(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := a.Verify(c.role, c.vendor, c.signer); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		sigs, err := ParseSignatureLists(a.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(sigs) != 1 || string(sigs[0].Data) != string(c.own.Raw) {
			return nil, fmt.Errorf("%s: does not hold %s", path, CertFile(c.role))
		}
		*c.dst = data
		s.AuthTime = a.Time
	}
	return s, nil
}

func loadKey(dir, role string) (Key, error) {
	kp := filepath.Join(dir, KeyFile(role))
	data, err := os.ReadFile(kp)
	if err != nil {
		return Key{}, fmt.Errorf("secureboot: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return Key{}, fmt.Errorf("secureboot: %s: no PEM block", kp)
	}
	var priv any
	if priv, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		if priv, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
			return Key{}, fmt.Errorf("secureboot: %s: %w", kp, err)
		}
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return Key{}, fmt.Errorf("secureboot: %s: not an RSA key", kp)
	}
	cp := filepath.Join(dir, CertFile(role))
	if data, err = os.ReadFile(cp); err != nil {
		return Key{}, fmt.Errorf("secureboot: %w", err)
	}
	if b, _ = pem.Decode(data); b == nil {
		return Key{}, fmt.Errorf("secureboot: %s: no PEM block", cp)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return Key{}, fmt.Errorf("secureboot: %s: %w", cp, err)
	}
	if !rk.PublicKey.Equal(cert.PublicKey) {
		return Key{}, fmt.Errorf("secureboot: %s does not belong to %s", cp, kp)
	}
	return Key{Role: role, Cert: cert, Priv: rk}, nil
}
