package archive

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// debianKeys is the Debian bookworm archive signing keyring (automatic,
// security automatic and stable release keys), public keys only, as
// debian-archive-keyring ships them.
//
//go:embed keys/debian-bookworm.gpg
var debianKeys []byte

// DebianKeyring is the embedded Debian archive keyring.
func DebianKeyring() (openpgp.EntityList, error) {
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(debianKeys))
	if err != nil {
		return nil, fmt.Errorf("embedded Debian keyring: %w", err)
	}
	return keys, nil
}

// DebianFingerprints are the primary key fingerprints of the embedded
// keyring, which a lock without an archive section trusts.
func DebianFingerprints() []string {
	keys, err := DebianKeyring()
	if err != nil {
		return nil
	}
	var fps []string
	for _, k := range keys {
		fps = append(fps, Fingerprint(k))
	}
	return fps
}

// Fingerprint is the entity's primary key fingerprint in upper-case hex.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// TrustedKeys picks from keyring the keys the lock pins by fingerprint;
// a pinned fingerprint the keyring lacks is an error, since a lock that
// names a key nobody can check against trusts nothing.
func TrustedKeys(keyring openpgp.EntityList, fingerprints []string) (openpgp.EntityList, error) {
	byFP := map[string]*openpgp.Entity{}
	for _, k := range keyring {
		byFP[Fingerprint(k)] = k
	}
	var out openpgp.EntityList
	for _, fp := range fingerprints {
		k, ok := byFP[strings.ToUpper(strings.ReplaceAll(fp, " ", ""))]
		if !ok {
			return nil, fmt.Errorf("archive key %s: not in the keyring imgbuild carries", fp)
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("archive keys: the lock pins none")
	}
	return out, nil
}

// Release is a verified InRelease file's content.
type Release struct {
	Date       time.Time
	ValidUntil time.Time            // zero when the archive sets none (bookworm's main archive)
	Files      map[string]IndexFile // path below dists/SUITE -> hash and size
}

// IndexFile is one file an InRelease lists.
type IndexFile struct {
	SHA256 string
	Size   int64
}

// VerifyRelease checks that data is an InRelease signed by one of keys
// and returns its fields. Only the signed text is read: anything outside
// the clearsigned block is ignored, as it is unauthenticated.
func VerifyRelease(data []byte, keys openpgp.EntityList) (*Release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("InRelease is not an OpenPGP clearsigned message")
	}
	if _, err := openpgp.CheckDetachedSignature(keys, bytes.NewReader(block.Bytes), block.ArmoredSignature.Body, nil); err != nil {
		return nil, fmt.Errorf("InRelease signature: %w", err)
	}
	return parseRelease(block.Plaintext)
}

func parseRelease(text []byte) (*Release, error) {
	st := ParseStanzas(text)
	if len(st) == 0 {
		return nil, fmt.Errorf("InRelease: no fields")
	}
	r := &Release{Files: map[string]IndexFile{}}
	for field, t := range map[string]*time.Time{"Date": &r.Date, "Valid-Until": &r.ValidUntil} {
		d := st[0][field]
		if d == "" {
			continue
		}
		v, err := time.Parse(time.RFC1123, strings.Replace(d, "UTC", "GMT", 1))
		if err != nil {
			return nil, fmt.Errorf("InRelease: %s %q: %w", field, d, err)
		}
		*t = v.UTC()
	}
	for _, line := range strings.Split(st[0]["SHA256"], "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("InRelease: SHA256 line %q: %w", line, err)
		}
		r.Files[f[2]] = IndexFile{SHA256: f[0], Size: size}
	}
	if len(r.Files) == 0 {
		return nil, fmt.Errorf("InRelease: no SHA256 file list")
	}
	return r, nil
}
