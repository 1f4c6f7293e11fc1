package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/sign"
)

// espMountPoint is where stage-1 mounts the ESP, read-only, to read the
// release record.
const espMountPoint = "/esp"

// slotRecord is the verified (or, when the initramfs allows it,
// unsigned) release record of the booting slot.
type slotRecord struct {
	rec    *sign.Record
	params verity.Params
	keyID  string // signing key; empty for an unsigned record
}

// trust is what the initramfs says stage-1 may accept.
type trust struct {
	keys          []ed25519.PublicKey
	allowUnsigned bool
}

// loadTrust reads the public keys in dir (*.pub) and the allow-unsigned
// marker. A key file that does not parse stops the boot: the build
// wrote it, so it is a broken initramfs, not something to skip.
func loadTrust(dir, marker string) (trust, error) {
	var t trust
	names, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return t, err
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return t, err
		}
		k, err := sign.ParsePublic(data)
		if err != nil {
			return t, fmt.Errorf("%s: %w", n, err)
		}
		t.keys = append(t.keys, k)
	}
	if _, err := os.Stat(marker); err == nil {
		t.allowUnsigned = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return t, err
	}
	return t, nil
}

// readRecordFiles mounts the ESP read-only, reads slot's record and
// signature (nil when absent) and unmounts it again: sysinit mounts the
// ESP itself when it marks the boot good.
func readRecordFiles(espDev, slot string) (record, sig []byte, err error) {
	if err := mount(mountSpec{espDev, espMountPoint, "vfat", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""}); err != nil {
		return nil, nil, fmt.Errorf("ESP: %w", err)
	}
	defer unix.Unmount(espMountPoint, 0)
	record, err = os.ReadFile(filepath.Join(espMountPoint, contract.RecordPath(slot)))
	if err != nil {
		return nil, nil, fmt.Errorf("ESP %s: release record: %w", espDev, err)
	}
	sig, err = os.ReadFile(filepath.Join(espMountPoint, contract.SigPath(slot)))
	if errors.Is(err, fs.ErrNotExist) {
		return record, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ESP %s: release signature: %w", espDev, err)
	}
	return record, sig, nil
}

// verifyRecord checks the record against the trusted keys and the
// command line's root hash and returns the verity parameters, taken
// from the record alone. A missing signature is accepted only with the
// allow-unsigned marker; a present one must always verify.
func verifyRecord(record, sig []byte, t trust, slot, cmdlineRoot string) (*slotRecord, error) {
	r := &slotRecord{}
	var err error
	switch {
	case sig != nil:
		if r.rec, err = sign.Verify(record, sig, t.keys); err != nil {
			return nil, fmt.Errorf("%s: %w", contract.SigPath(slot), err)
		}
		r.keyID = signer(record, sig, t.keys)
	case t.allowUnsigned:
		if r.rec, err = sign.ParseRecord(record); err != nil {
			return nil, fmt.Errorf("%s: %w", contract.RecordPath(slot), err)
		}
	default:
		return nil, fmt.Errorf("%s is missing on the ESP: the release record is not signed, and this initramfs does not allow unsigned images", contract.SigPath(slot))
	}
	if r.params, err = verityParams(r.rec); err != nil {
		return nil, fmt.Errorf("%s: %w", contract.RecordPath(slot), err)
	}
	if cmdlineRoot != "" && cmdlineRoot != r.rec.VerityRoot {
		return nil, fmt.Errorf(contract.KeyVerity+"=%s on the kernel command line differs from the root hash %s of the %s release record: refusing to boot",
			cmdlineRoot, r.rec.VerityRoot, signedWord(r.keyID))
	}
	return r, nil
}

func signedWord(keyID string) string {
	if keyID == "" {
		return "unsigned"
	}
	return "signed"
}

// signer names the key that made sig (Verify only says one of them did).
func signer(record, sig []byte, keys []ed25519.PublicKey) string {
	for _, k := range keys {
		if _, err := sign.Verify(record, sig, []ed25519.PublicKey{k}); err == nil {
			return sign.KeyID(k)
		}
	}
	return ""
}

func verityParams(rec *sign.Record) (verity.Params, error) {
	root, err := hex.DecodeString(rec.VerityRoot)
	if err != nil || len(root) != 32 {
		return verity.Params{}, fmt.Errorf("verity_root %q is not a sha256 hash in hex", rec.VerityRoot)
	}
	salt, err := hex.DecodeString(rec.VeritySalt)
	if err != nil {
		return verity.Params{}, fmt.Errorf("verity_salt %q is not hex", rec.VeritySalt)
	}
	if rec.DataBlocks == 0 || rec.HashOffset <= 0 || rec.HashOffset%verity.BlockSize != 0 {
		return verity.Params{}, fmt.Errorf("verity_data_blocks %d / verity_hash_offset %d make no hash tree", rec.DataBlocks, rec.HashOffset)
	}
	if int64(rec.DataBlocks)*verity.BlockSize > rec.HashOffset {
		return verity.Params{}, fmt.Errorf("verity data (%d blocks) overlaps the hash area at %d", rec.DataBlocks, rec.HashOffset)
	}
	return verity.Params{DataBlocks: rec.DataBlocks, HashOffset: rec.HashOffset, Salt: salt, RootHash: root,
		UUID: rec.VerityUUID, NoSuperblock: false}, nil
}

// short is a root hash as the console shows it.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12] + "…"
	}
	return hash
}

// describe is the console line for a verified USR.
func (r *slotRecord) describe() string {
	s := "USR verified by dm-verity, root hash " + short(r.rec.VerityRoot)
	if r.keyID == "" {
		return s + ", UNSIGNED release record"
	}
	return s + ", signed by key " + r.keyID
}
