// Package inspect reads an image back: its GPT layout, the state of its
// USR slots and the boot entries on its ESP. It only reads, with the same
// readers a test would use, so what it reports is what the disk holds.
package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/images/esp"
	"github.com/imgbuild/imgbuild/images/verify"
)

// Report is what an image holds.
type Report struct {
	Path       string      `json:"path"`
	Size       int64       `json:"size"`
	DiskGUID   string      `json:"disk_guid"`
	Partitions []Partition `json:"partitions"`
	Entries    []Entry     `json:"boot_entries"`
	ESPFiles   []File      `json:"esp_files"`
	Release    *Release    `json:"release,omitempty"` // slot A's release record, if any
	// Slots is every USR slot's release, slot A first; a slot without a
	// record on the ESP (USR-B before the first update) is Empty.
	Slots []SlotRelease `json:"slots"`
}

// SlotRelease is the release a USR slot holds, as its record says.
type SlotRelease struct {
	Slot    string   `json:"slot"`
	Empty   bool     `json:"empty,omitempty"`
	Release *Release `json:"release,omitempty"`
	Error   string   `json:"error,omitempty"` // a record that cannot be read
}

// Release is what a slot's release record says. KeyID is the key the
// signature file names; inspect does not check it (imgbuild verify does).
type Release struct {
	Version    string `json:"version"`
	Arch       string `json:"arch"`
	Signed     bool   `json:"signed"`
	KeyID      string `json:"key_id,omitempty"`
	VerityRoot string `json:"verity_root"`
}

// Partition is one GPT entry.
type Partition struct {
	Number     int    `json:"number"`
	Label      string `json:"label"`
	Type       string `json:"type"` // a name for known type GUIDs
	TypeGUID   string `json:"type_guid"`
	GUID       string `json:"guid"`
	Start      int64  `json:"start"`
	Size       int64  `json:"size"`
	Attributes uint64 `json:"attributes"`
	Slot       *Slot  `json:"slot,omitempty"` // USR partitions only
}

// Slot is the ChromeOS/Flatcar-style state of a USR partition.
type Slot struct {
	Priority   int  `json:"priority"`
	Tries      int  `json:"tries"`
	Successful bool `json:"successful"`
}

// Entry is a systemd-boot entry and its boot counting state.
type Entry struct {
	File      string `json:"file"`
	ID        string `json:"id"`
	TriesLeft int    `json:"tries_left"` // -1: not counted (a good entry)
	TriesDone int    `json:"tries_done"`
	Title     string `json:"title"`
	Version   string `json:"version"`
	Linux     string `json:"linux"`
	Initrd    string `json:"initrd"`
	EFI       string `json:"efi,omitempty"` // a UKI entry's image
	Options   string `json:"options"`
}

// State says how systemd-boot sees the entry.
func (e Entry) State() string {
	switch {
	case e.TriesLeft < 0:
		return "good"
	case e.TriesLeft == 0:
		return "bad (no tries left)"
	}
	return fmt.Sprintf("trying (%d left, %d done)", e.TriesLeft, e.TriesDone)
}

// File is a file on the ESP with its hash.
type File struct {
	Path   string `json:"path"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

var typeNames = map[string]string{
	strings.ToLower(disk.TypeESP):  "EFI system",
	strings.ToLower(disk.TypeUSR):  "CoreOS usr",
	strings.ToLower(disk.TypeOEM):  "Linux data",
	strings.ToLower(disk.TypeROOT): "CoreOS root (resizable)",
}

// Image reads the image at p.
func Image(p string) (*Report, error) {
	info, err := disk.Read(p)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", p, err)
	}
	r := &Report{Path: p, Size: info.Size, DiskGUID: info.DiskGUID}
	espPart := 0
	for _, pi := range info.Partitions {
		part := Partition{Number: pi.Number, Label: pi.Label, TypeGUID: pi.TypeGUID, GUID: pi.GUID, Start: pi.Start, Size: pi.Size,
			Attributes: pi.Attributes, Type: typeNames[strings.ToLower(pi.TypeGUID)]}
		if strings.EqualFold(pi.TypeGUID, disk.TypeUSR) {
			prio, tries, ok := contract.SlotState(pi.Attributes)
			part.Slot = &Slot{Priority: prio, Tries: tries, Successful: ok}
		}
		if strings.EqualFold(pi.TypeGUID, disk.TypeESP) && espPart == 0 {
			espPart = pi.Number
		}
		r.Partitions = append(r.Partitions, part)
	}
	if espPart == 0 {
		return r, nil
	}
	files, err := esp.ReadFiles(p, espPart)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: ESP: %w", p, err)
	}
	for name, data := range files {
		sum := sha256.Sum256(data)
		r.ESPFiles = append(r.ESPFiles, File{Path: name, Size: len(data), SHA256: hex.EncodeToString(sum[:])})
		if strings.HasPrefix(name, contract.EntriesDir+"/") && strings.HasSuffix(name, ".conf") {
			r.Entries = append(r.Entries, ParseEntry(path.Base(name), string(data)))
		}
	}
	r.Slots = slotReleases(p)
	if len(r.Slots) > 0 && r.Slots[0].Release != nil {
		r.Release = r.Slots[0].Release
	}
	sort.Slice(r.ESPFiles, func(i, j int) bool { return r.ESPFiles[i].Path < r.ESPFiles[j].Path })
	sort.Slice(r.Entries, func(i, j int) bool { return r.Entries[i].File < r.Entries[j].File })
	return r, nil
}

// ParseEntry reads a boot entry file; its name carries systemd-boot's
// boot counter: NAME+LEFT[-DONE].conf.
func ParseEntry(file, content string) Entry {
	e := Entry{File: file, ID: strings.TrimSuffix(file, ".conf"), TriesLeft: -1}
	if n, ok := contract.ParseEntryFile(file); ok && n.Counting {
		e.ID, e.TriesLeft, e.TriesDone = n.ID, n.Left, n.Done
	}
	for _, line := range strings.Split(content, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		v = strings.TrimSpace(v)
		switch k {
		case "title":
			e.Title = v
		case "version":
			e.Version = v
		case "linux":
			e.Linux = v
		case "initrd":
			e.Initrd = v
		case "efi":
			e.EFI = v
		case "options":
			e.Options = v
		}
	}
	return e
}

// slotReleases reads each slot's record.
func slotReleases(p string) []SlotRelease {
	var out []SlotRelease
	for _, slot := range contract.Slots {
		s := SlotRelease{Slot: slot}
		rel, err := verify.ReadSlot(p, slot)
		switch {
		case errors.Is(err, verify.ErrNoRecord):
			s.Empty = true
		case err != nil:
			s.Error = err.Error()
		default:
			s.Release = &Release{Version: rel.Parsed.Version, Arch: rel.Parsed.Arch, Signed: rel.Signature != nil,
				KeyID: rel.SignerID, VerityRoot: rel.Parsed.VerityRoot}
		}
		out = append(out, s)
	}
	return out
}
