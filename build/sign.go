package build

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"sort"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/sign"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// signingKeys are one build's signing policy: the key that signs its
// release record, and what the initramfs and USR trust.
type signingKeys struct {
	key     ed25519.PrivateKey // nil: unsigned build
	trusted map[string][]byte  // key id -> PEM public key
}

// loadKeys settles the signing policy before anything is built: a build
// without --sign-key needs security.allow_unsigned in the manifest, and
// every key file must parse.
func (b *builder) loadKeys() (signingKeys, error) {
	s := signingKeys{trusted: map[string][]byte{}}
	if b.opts.SignKey != "" {
		k, err := sign.LoadPrivate(b.opts.SignKey)
		if err != nil {
			return s, fmt.Errorf("--sign-key: %w", err)
		}
		s.key = k
		pub := k.Public().(ed25519.PublicKey)
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return s, fmt.Errorf("--sign-key: %w", err)
		}
		s.trusted[sign.KeyID(pub)] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	} else if !b.m.Security.AllowUnsigned {
		return s, fmt.Errorf("%s: no --sign-key given, and the manifest does not allow unsigned builds (security.allow_unsigned: true, for development only)", b.m.File)
	}
	for i, p := range b.m.Security.TrustedKeys {
		data, err := os.ReadFile(b.rel(p))
		if err != nil {
			return s, fmt.Errorf("%s: security.trusted_keys[%d]: %w", b.m.File, i, err)
		}
		pub, err := sign.ParsePublic(data)
		if err != nil {
			return s, fmt.Errorf("%s: security.trusted_keys[%d] (%s): %w", b.m.File, i, p, err)
		}
		s.trusted[sign.KeyID(pub)] = data
	}
	return s, nil
}

// trustedKeys are the trusted public keys (PEM), sorted by key id.
func (s signingKeys) trustedKeys() []initramfs.File {
	ids := make([]string, 0, len(s.trusted))
	for id := range s.trusted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var files []initramfs.File
	for _, id := range ids {
		files = append(files, initramfs.File{Path: id + ".pub", Data: s.trusted[id], Mode: 0o644})
	}
	return files
}

// trustFiles are the initramfs files that tell stage-1 what to trust.
// Only an unsigned build carries the allow-unsigned marker: signing a
// development manifest gives an image that insists on signatures.
func (s signingKeys) trustFiles() []initramfs.File {
	var files []initramfs.File
	for _, k := range s.trustedKeys() {
		k.Path = contract.KeysDir + "/" + k.Path
		files = append(files, k)
	}
	if s.key == nil {
		files = append(files, initramfs.File{Path: contract.AllowUnsignedFile, Mode: 0o644,
			Data: []byte("built without --sign-key from a manifest with security.allow_unsigned: true\n")})
	}
	return files
}

// bootFiles are slot A's staged kernel and initramfs.
type bootFiles struct {
	kernel, initramfs string
}

// releaseIn is what the release record vouches for, and the key that
// signs it.
type releaseIn struct {
	boot bootFiles
	usr  usrOut
	ukis map[string]string // slot -> signed UKI; nil without Secure Boot
	key  ed25519.PrivateKey
}

// releaseOut is the staged record and signature ("" when unsigned) and
// their bytes, which the ESP and the PXE initramfs carry too.
type releaseOut struct {
	record, signature string
	data, sig         []byte // canonical JSON; nil when unsigned
}

// release writes the release record of slot A's artifacts, and its
// signature when the build is signed, into the staging directory.
func (b *builder) release(in releaseIn) (releaseOut, string, error) {
	sums := map[string]string{}
	for kind, path := range map[string]string{"kernel": in.boot.kernel, "initramfs": in.boot.initramfs, "usr": in.usr.path} {
		sum, _, err := fsutil.FileSHA256(path)
		if err != nil {
			return releaseOut{}, "", fmt.Errorf("release record: %w", err)
		}
		sums[kind] = sum
	}
	p := in.usr.verity
	usr, err := os.Stat(in.usr.path)
	if err != nil {
		return releaseOut{}, "", fmt.Errorf("release record: %w", err)
	}
	ukis, err := ukiSums(in.ukis)
	if err != nil {
		return releaseOut{}, "", fmt.Errorf("release record: %w", err)
	}
	if err := contract.CheckReleaseArgs(b.kernelArgs()); err != nil {
		return releaseOut{}, "", fmt.Errorf("release record: kernel.cmdline: %w", err)
	}
	rec := sign.Record{
		Format: sign.RecordFormat, Name: b.m.Name, Version: b.m.Version, Arch: b.m.Arch, MinVersion: b.m.Update.MinVersion,
		Kernel: sums["kernel"], Initramfs: sums["initramfs"], USR: sums["usr"], USRSize: usr.Size(), UKI: ukis,
		KernelArgs: b.kernelArgs(),
		VerityRoot: hex.EncodeToString(p.RootHash), VeritySalt: hex.EncodeToString(p.Salt), VerityUUID: p.UUID,
		HashOffset: p.HashOffset, DataBlocks: p.DataBlocks,
	}
	out := releaseOut{record: b.staged(".release.json"), data: rec.Canonical()}
	if err := os.WriteFile(out.record, out.data, 0o644); err != nil {
		return releaseOut{}, "", fmt.Errorf("release record: %w", err)
	}
	if in.key == nil {
		return out, "UNSIGNED (security.allow_unsigned), verity root " + rec.VerityRoot[:12] + "…", nil
	}
	sig, err := sign.Sign(rec, in.key)
	if err != nil {
		return releaseOut{}, "", err
	}
	out.signature, out.sig = b.staged(".release.sig"), sig
	if err := os.WriteFile(out.signature, sig, 0o644); err != nil {
		return releaseOut{}, "", fmt.Errorf("release signature: %w", err)
	}
	return out, fmt.Sprintf("signed by key %s, verity root %s…", sign.KeyID(in.key.Public().(ed25519.PublicKey)), rec.VerityRoot[:12]), nil
}

// espFiles put the record (and signature) beside slot A's kernel.
func (r releaseOut) espFiles() []fat.File {
	files := []fat.File{{Path: contract.RecordPath("a"), Data: r.data}}
	if r.sig != nil {
		files = append(files, fat.File{Path: contract.SigPath("a"), Data: r.sig})
	}
	return files
}
