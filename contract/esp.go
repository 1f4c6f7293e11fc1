package contract

import (
	"fmt"
	"strconv"
	"strings"
)

// Paths on the ESP, relative to its root, with forward slashes.
const (
	LoaderConf = "loader/loader.conf"
	EntriesDir = "loader/entries"
	// EntrySortKey groups imgbuild's entries; systemd-boot then orders
	// them by version, newest first.
	EntrySortKey = "imgbuild"
	// DefaultTries is the boot counter of a new entry.
	DefaultTries = 3
)

// SlotDir holds a slot's kernel, initramfs, UKI and release record.
func SlotDir(slot string) string { return "imgbuild/" + slot }

// KernelPath is a slot's kernel on the ESP.
func KernelPath(slot string) string { return SlotDir(slot) + "/vmlinuz" }

// InitrdPath is a slot's initramfs on the ESP.
func InitrdPath(slot string) string { return SlotDir(slot) + "/initrd" }

// UKIPath is a slot's signed Unified Kernel Image (Secure Boot images).
func UKIPath(slot string) string { return SlotDir(slot) + "/uki.efi" }

// RecordPath is a slot's release record.
func RecordPath(slot string) string { return SlotDir(slot) + "/release.json" }

// SigPath is the signature over RecordPath's bytes.
func SigPath(slot string) string { return SlotDir(slot) + "/release.sig" }

// EntryBase is a slot's boot entry name without counter or suffix.
func EntryBase(slot string) string { return "imgbuild-" + slot }

// EntryFile is the file name of a slot's boot entry with tries left
// ("imgbuild-a+3.conf"); tries < 0 gives the entry of a good slot
// ("imgbuild-a.conf"), which systemd-boot does not count.
func EntryFile(slot string, tries int) string {
	if tries < 0 {
		return EntryBase(slot) + ".conf"
	}
	return fmt.Sprintf("%s+%d.conf", EntryBase(slot), tries)
}

// EntryPath is EntryFile inside EntriesDir.
func EntryPath(slot string, tries int) string { return EntriesDir + "/" + EntryFile(slot, tries) }

// EntryName is what systemd-boot's boot counting makes of an entry file
// name: NAME+LEFT[-DONE].conf.
type EntryName struct {
	ID       string // name without counter and .conf
	Counting bool   // the name carries a counter
	Left     int    // tries left
	Done     int    // tries done
}

// ParseEntryFile splits a boot entry file name; ok is false for names
// that are not .conf files.
func ParseEntryFile(file string) (n EntryName, ok bool) {
	base, ok := strings.CutSuffix(file, ".conf")
	if !ok || base == "" {
		return EntryName{}, false
	}
	id, counter, found := strings.Cut(base, "+")
	if !found || id == "" {
		return EntryName{ID: base}, true
	}
	left, done, hasDone := strings.Cut(counter, "-")
	l, err := strconv.Atoi(left)
	if err != nil || l < 0 || left == "" || strings.Trim(left, "0123456789") != "" {
		return EntryName{ID: base}, true
	}
	n = EntryName{ID: id, Counting: true, Left: l}
	if hasDone {
		d, err := strconv.Atoi(done)
		if err != nil || done == "" || strings.Trim(done, "0123456789") != "" {
			return EntryName{ID: base}, true
		}
		n.Done = d
	}
	return n, true
}

// EntrySlot is the slot an entry ID belongs to, or "".
func EntrySlot(id string) string {
	for _, s := range Slots {
		if id == EntryBase(s) {
			return s
		}
	}
	return ""
}
