// Package verify reads an image's release record back and checks it:
// the signature against trusted keys, the sha256 of the kernel and
// initramfs on the ESP (or, in Secure Boot images, of the UKI's
// sections) and of the USR slot, and the slot's dm-verity tree, block by
// block, for each slot that holds a release. It is what `imgbuild verify` and `imgbuild
// inspect` use; it only reads the image.
package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/sign"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Image is one slot's release as an image holds it.
type Image struct {
	Path      string
	Slot      string // "a" or "b"
	Record    []byte // contract.RecordPath(Slot) as stored
	Signature []byte // contract.SigPath(Slot); nil when the release is unsigned
	Parsed    *sign.Record
	SignerID  string // key id the signature file names (not yet verified)
	esp       map[string][]byte
}

// Read reads slot A's record, signature and boot files from the image's ESP.
func Read(imagePath string) (*Image, error) { return ReadSlot(imagePath, "a") }

// ReadSlot reads a slot's record, signature and boot files from the
// image's ESP.
func ReadSlot(imagePath, slot string) (*Image, error) {
	files, err := readESP(imagePath, contract.ESP.Number, []string{contract.RecordPath(slot), contract.SigPath(slot),
		contract.KernelPath(slot), contract.InitrdPath(slot), contract.UKIPath(slot)})
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	img := &Image{Path: imagePath, Slot: slot, esp: files}
	rec, ok := files[contract.RecordPath(slot)]
	if !ok {
		return nil, fmt.Errorf("release: %s has no %s on its ESP: %w", imagePath, contract.RecordPath(slot), ErrNoRecord)
	}
	img.Record = rec
	if img.Parsed, err = sign.ParseRecord(rec); err != nil {
		return nil, fmt.Errorf("release: %s: %s: %w", imagePath, contract.RecordPath(slot), err)
	}
	if sig, ok := files[contract.SigPath(slot)]; ok {
		img.Signature = sig
		img.SignerID = signatureKeyID(sig)
	}
	return img, nil
}

// signatureKeyID is the key-id line of a signature file, for display.
func signatureKeyID(sig []byte) string {
	for _, line := range strings.Split(string(sig), "\n") {
		if id, ok := strings.CutPrefix(line, "key-id "); ok {
			return id
		}
	}
	return "?"
}

// Check is one comparison of verify.
type Check struct {
	Name     string
	Expected string
	Actual   string
	Err      error // nil: ok
}

// OK reports whether the check passed.
func (c Check) OK() bool { return c.Err == nil }

// ErrNoRecord is returned by ReadSlot for a slot whose release record is
// not on the ESP: an empty slot (USR-B before the first update).
var ErrNoRecord = errors.New("no release record")

// Slot is the result of checking one USR slot.
type Slot struct {
	Slot    string // "a" or "b"
	Empty   bool   // no release record on the ESP: nothing to check
	Release *Image // nil when Empty or the record is unreadable
	Checks  []Check
}

// Verify runs every check on slot A, and on slot B when it has a
// release, and returns them all, failures included, so that one run
// shows everything wrong. The error is only for an image that cannot be
// read at all, or whose slot A has no release.
func Verify(imagePath string, keys []ed25519.PublicKey) ([]Check, error) {
	slots, err := VerifySlots(imagePath, keys)
	if err != nil {
		return nil, err
	}
	var checks []Check
	for _, s := range slots {
		checks = append(checks, s.Checks...)
	}
	return checks, nil
}

// VerifySlots checks each slot: slot A must have a release (the build
// puts one there); slot B is reported Empty until an update writes it.
func VerifySlots(imagePath string, keys []ed25519.PublicKey) ([]Slot, error) {
	var out []Slot
	for _, slot := range contract.Slots {
		img, err := ReadSlot(imagePath, slot)
		switch {
		case errors.Is(err, ErrNoRecord) && slot != "a":
			out = append(out, Slot{Slot: slot, Empty: true})
			continue
		case err != nil && slot == "a":
			return nil, err
		case err != nil:
			out = append(out, Slot{Slot: slot, Checks: []Check{{Name: "release record (" + contract.RecordPath(slot) + ")",
				Expected: "a readable record", Actual: "unreadable", Err: err}}})
			continue
		}
		checks, err := img.verify(keys)
		if err != nil {
			return nil, err
		}
		out = append(out, Slot{Slot: slot, Release: img, Checks: checks})
	}
	return out, nil
}

// verify checks one slot's release against what the image holds. A
// slot that boots a UKI needs no loose kernel and initramfs (an update
// writes only the UKI): the UKI's sections are checked instead.
func (img *Image) verify(keys []ed25519.PublicKey) ([]Check, error) {
	rec := img.Parsed
	checks := []Check{img.checkSignature(keys)}
	kernel, initrd, ukiPath := contract.KernelPath(img.Slot), contract.InitrdPath(img.Slot), contract.UKIPath(img.Slot)
	u, isUKI := img.esp[ukiPath]
	if _, ok := img.esp[kernel]; ok || !isUKI {
		checks = append(checks, hashCheck("kernel sha256 ("+kernel+")", rec.Kernel, img.esp, kernel))
	}
	if _, ok := img.esp[initrd]; ok || !isUKI {
		checks = append(checks, hashCheck("initramfs sha256 ("+initrd+")", rec.Initramfs, img.esp, initrd))
	}
	if isUKI {
		checks = append(checks, ukiChecks(recordHashes{rec.Kernel, rec.Initramfs, rec.VerityRoot}, ukiPath, u)...)
	}
	usr, err := openUSR(img.Path, img.Slot)
	if err != nil {
		return nil, err
	}
	defer usr.Close()
	p, err := params(rec)
	if err != nil {
		checks = append(checks, Check{Name: "verity parameters (" + contract.RecordPath(img.Slot) + ")", Err: err})
		return checks, nil
	}
	length := p.HashOffset + verity.HashAreaSize(p.DataSize())
	checks = append(checks, usrHashCheck(usr, length, rec.USR))
	checks = append(checks, verityCheck(usr, p))
	return checks, nil
}

func (img *Image) checkSignature(keys []ed25519.PublicKey) Check {
	c := Check{Name: "signature (" + contract.SigPath(img.Slot) + ")"}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = sign.KeyID(k)
	}
	c.Expected = "signed by key " + strings.Join(ids, " or ")
	if img.Signature == nil {
		c.Actual = "UNSIGNED"
		c.Err = fmt.Errorf("the image has no release signature")
		return c
	}
	c.Actual = "signature names key " + img.SignerID
	if _, err := sign.Verify(img.Record, img.Signature, keys); err != nil {
		c.Err = err
		return c
	}
	c.Actual = "signed by key " + img.SignerID
	return c
}

func hashCheck(name, want string, files map[string][]byte, path string) Check {
	c := Check{Name: name, Expected: want}
	data, ok := files[path]
	if !ok {
		c.Actual, c.Err = "missing", fmt.Errorf("%s is not on the ESP", path)
		return c
	}
	sum := sha256.Sum256(data)
	c.Actual = hex.EncodeToString(sum[:])
	if c.Actual != want {
		c.Err = fmt.Errorf("%s does not match the release record", path)
	}
	return c
}

// usr is a USR partition of an image as a reader.
type usr struct {
	*io.SectionReader
	label string
	f     *os.File
}

func (u usr) Close() error { return u.f.Close() }

func openUSR(imagePath, slot string) (usr, error) {
	part, err := contract.USR(slot)
	if err != nil {
		return usr{}, fmt.Errorf("release: %w", err)
	}
	info, err := disk.Read(imagePath)
	if err != nil {
		return usr{}, fmt.Errorf("release: %w", err)
	}
	p, ok := info.Partition(part.Number)
	if !ok {
		return usr{}, fmt.Errorf("release: %s has no partition %d (%s)", imagePath, part.Number, part.Label)
	}
	f, err := os.Open(imagePath)
	if err != nil {
		return usr{}, fmt.Errorf("release: %w", err)
	}
	return usr{io.NewSectionReader(f, p.Start, p.Size), part.Label, f}, nil
}

func usrHashCheck(u usr, length int64, want string) Check {
	c := Check{Name: fmt.Sprintf("%s sha256 (first %d bytes: squashfs + hash tree)", u.label, length), Expected: want}
	if length > u.Size() {
		c.Actual, c.Err = "partition too small", fmt.Errorf("the record covers %d bytes, %s has %d", length, u.label, u.Size())
		return c
	}
	sum, _, err := fsutil.ReaderSHA256(io.NewSectionReader(u, 0, length))
	if err != nil {
		c.Actual, c.Err = "unreadable", err
		return c
	}
	c.Actual = sum
	if c.Actual != want {
		c.Err = fmt.Errorf("%s does not match the release record", u.label)
	}
	return c
}

func verityCheck(u usr, p verity.Params) Check {
	c := Check{Name: "dm-verity tree of " + u.label, Expected: "root hash " + hex.EncodeToString(p.RootHash)}
	if err := verity.Verify(u, p); err != nil {
		c.Actual, c.Err = err.Error(), err
		return c
	}
	c.Actual = "every data and hash block matches"
	return c
}

func params(rec *sign.Record) (verity.Params, error) {
	root, err := hex.DecodeString(rec.VerityRoot)
	if err != nil || len(root) != sha256.Size {
		return verity.Params{}, fmt.Errorf("verity_root %q is not a sha256 hash in hex", rec.VerityRoot)
	}
	salt, err := hex.DecodeString(rec.VeritySalt)
	if err != nil {
		return verity.Params{}, fmt.Errorf("verity_salt %q is not hex", rec.VeritySalt)
	}
	if rec.DataBlocks == 0 || rec.HashOffset%verity.BlockSize != 0 || int64(rec.DataBlocks)*verity.BlockSize > rec.HashOffset {
		return verity.Params{}, fmt.Errorf("verity_data_blocks %d and verity_hash_offset %d make no hash tree", rec.DataBlocks, rec.HashOffset)
	}
	return verity.Params{DataBlocks: rec.DataBlocks, HashOffset: rec.HashOffset, Salt: salt, RootHash: root, UUID: rec.VerityUUID}, nil
}
