package build

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/initramfs"
	"github.com/imgbuild/imgbuild/internal/fat"
	"github.com/imgbuild/imgbuild/sign"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// security is one build's signing state: what the initramfs trusts, the
// verity tree of USR and the release record that binds them.
type security struct {
	key     ed25519.PrivateKey // nil: unsigned build
	trusted map[string][]byte  // key id -> PEM public key, for the initramfs
	verity  *verity.Params
	record  []byte // canonical JSON
	sig     []byte // nil when unsigned
}

// loadKeys settles the signing policy before anything is built: a build
// without --sign-key needs security.allow_unsigned in the manifest, and
// every key file must parse.
func (b *builder) loadKeys() error {
	s := &b.sec
	s.trusted = map[string][]byte{}
	if b.opts.SignKey != "" {
		k, err := sign.LoadPrivate(b.opts.SignKey)
		if err != nil {
			return fmt.Errorf("--sign-key: %w", err)
		}
		s.key = k
		pub := k.Public().(ed25519.PublicKey)
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return fmt.Errorf("--sign-key: %w", err)
		}
		s.trusted[sign.KeyID(pub)] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	} else if !b.m.Security.AllowUnsigned {
		return fmt.Errorf("%s: no --sign-key given, and the manifest does not allow unsigned builds (security.allow_unsigned: true, for development only)", b.m.File)
	}
	for i, p := range b.m.Security.TrustedKeys {
		data, err := os.ReadFile(b.rel(p))
		if err != nil {
			return fmt.Errorf("%s: security.trusted_keys[%d]: %w", b.m.File, i, err)
		}
		pub, err := sign.ParsePublic(data)
		if err != nil {
			return fmt.Errorf("%s: security.trusted_keys[%d] (%s): %w", b.m.File, i, p, err)
		}
		s.trusted[sign.KeyID(pub)] = data
	}
	return nil
}

// trustedKeys are the trusted public keys (PEM), sorted by key id.
func (b *builder) trustedKeys() []initramfs.File {
	ids := make([]string, 0, len(b.sec.trusted))
	for id := range b.sec.trusted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var files []initramfs.File
	for _, id := range ids {
		files = append(files, initramfs.File{Path: id + ".pub", Data: b.sec.trusted[id], Mode: 0o644})
	}
	return files
}

// trustFiles are the initramfs files that tell stage-1 what to trust.
// Only an unsigned build carries the allow-unsigned marker: signing a
// development manifest gives an image that insists on signatures.
func (b *builder) trustFiles() []initramfs.File {
	var files []initramfs.File
	for _, k := range b.trustedKeys() {
		k.Path = contract.KeysDir + "/" + k.Path
		files = append(files, k)
	}
	if b.sec.key == nil {
		files = append(files, initramfs.File{Path: contract.AllowUnsignedFile, Mode: 0o644,
			Data: []byte("built without --sign-key from a manifest with security.allow_unsigned: true\n")})
	}
	return files
}

// release writes the release record of slot A's artifacts, and its
// signature when the build is signed, into the staging directory.
func (b *builder) release(paths map[string]string) (string, error) {
	sums := map[string]string{}
	for _, kind := range []string{"kernel", "initramfs", "usr"} {
		sum, _, err := fsutil.FileSHA256(paths[kind])
		if err != nil {
			return "", fmt.Errorf("release record: %w", err)
		}
		sums[kind] = sum
	}
	p := b.sec.verity
	usr, err := os.Stat(paths["usr"])
	if err != nil {
		return "", fmt.Errorf("release record: %w", err)
	}
	ukis, err := b.ukiSums(paths)
	if err != nil {
		return "", fmt.Errorf("release record: %w", err)
	}
	if err := contract.CheckReleaseArgs(b.kernelArgs()); err != nil {
		return "", fmt.Errorf("release record: kernel.cmdline: %w", err)
	}
	rec := sign.Record{
		Format: sign.RecordFormat, Name: b.m.Name, Version: b.m.Version, Arch: Arch, MinVersion: b.m.Update.MinVersion,
		Kernel: sums["kernel"], Initramfs: sums["initramfs"], USR: sums["usr"], USRSize: usr.Size(), UKI: ukis,
		KernelArgs: b.kernelArgs(),
		VerityRoot: hex.EncodeToString(p.RootHash), VeritySalt: hex.EncodeToString(p.Salt), VerityUUID: p.UUID,
		HashOffset: p.HashOffset, DataBlocks: p.DataBlocks,
	}
	b.sec.record = rec.Canonical()
	if err := os.WriteFile(paths["release"], b.sec.record, 0o644); err != nil {
		return "", fmt.Errorf("release record: %w", err)
	}
	if b.sec.key == nil {
		return "UNSIGNED (security.allow_unsigned), verity root " + rec.VerityRoot[:12] + "…", nil
	}
	sig, err := sign.Sign(rec, b.sec.key)
	if err != nil {
		return "", err
	}
	b.sec.sig = sig
	if err := os.WriteFile(paths["signature"], sig, 0o644); err != nil {
		return "", fmt.Errorf("release signature: %w", err)
	}
	return fmt.Sprintf("signed by key %s, verity root %s…", sign.KeyID(b.sec.key.Public().(ed25519.PublicKey)), rec.VerityRoot[:12]), nil
}

// releaseESPFiles put the record (and signature) beside slot A's kernel.
func (b *builder) releaseESPFiles() []fat.File {
	files := []fat.File{{Path: contract.RecordPath("a"), Data: b.sec.record}}
	if b.sec.sig != nil {
		files = append(files, fat.File{Path: contract.SigPath("a"), Data: b.sec.sig})
	}
	return files
}

// releasePaths adds the staged record and signature files to paths.
func releasePaths(stage, name string, paths map[string]string) {
	paths["release"] = filepath.Join(stage, name+".release.json")
	paths["signature"] = filepath.Join(stage, name+".release.sig")
}

// releaseKinds are the artifacts finish publishes besides the image's.
func (b *builder) releaseKinds() []string {
	if b.sec.key == nil {
		return []string{"release"}
	}
	return []string{"release", "signature"}
}
