package updater

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/sign"
)

// DeriveEntry makes the passive slot's boot entry from the booted slot's
// entry text and the new release's record. It keeps every line it does
// not own and swaps what names the slot: title, version, kernel, initrd
// or UKI paths. The options line is the record's kernel_args with the new
// slot's keys (contract.EntryArgs, as the builder writes it); a record
// from before kernel_args leaves the agent no way to know the release's
// arguments, so then it keeps the booted ones and swaps only
// imgbuild.slot, imgbuild.usr and imgbuild.verity.
func DeriveEntry(booted, bootedSlot, slot string, rec *sign.Record, usrUUID string) (string, error) {
	if err := contract.CheckReleaseArgs(rec.KernelArgs); err != nil {
		return "", fmt.Errorf("agent: release %s's kernel_args: %w", rec.Version, err)
	}
	var out []string
	var sawBoot, sawSlot, linux bool
	for _, line := range strings.Split(strings.TrimRight(booted, "\n"), "\n") {
		key, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		switch key {
		case "title":
			line = fmt.Sprintf("title   %s %s (USR-%s)", rec.Name, rec.Version, strings.ToUpper(slot))
		case "version":
			line = "version " + rec.Version
		case "linux":
			line, sawBoot, linux = "linux   /"+contract.KernelPath(slot), true, true
		case "initrd":
			line = "initrd  /" + contract.InitrdPath(slot)
		case "efi":
			line, sawBoot = "efi     /"+contract.UKIPath(slot), true
		case "options":
			opts, found, err := newOptions(rest, bootedSlot, slot, rec, usrUUID)
			if err != nil {
				return "", err
			}
			sawSlot = sawSlot || found
			line = "options " + opts
		}
		out = append(out, line)
	}
	if !sawBoot {
		return "", fmt.Errorf("agent: booted entry has neither a linux nor an efi line")
	}
	if linux && !sawSlot {
		return "", fmt.Errorf("agent: booted entry's options carry no %s=%s", contract.KeySlot, bootedSlot)
	}
	return strings.Join(out, "\n") + "\n", nil
}

// newOptions is the new entry's options line. The booted line is checked
// against the booted slot even when the record replaces it, so an entry
// that names the wrong slot still stops the update.
func newOptions(booted, bootedSlot, slot string, rec *sign.Record, usrUUID string) (string, bool, error) {
	opts, found, err := swapOptions(booted, bootedSlot, slot, rec, usrUUID)
	if err != nil || len(rec.KernelArgs) == 0 {
		return opts, found, err
	}
	c := contract.Cmdline{Slot: slot, USR: usrUUID, Verity: rec.VerityRoot}
	return strings.Join(contract.EntryArgs(rec.KernelArgs, c), " "), found, nil
}

func swapOptions(opts, bootedSlot, slot string, rec *sign.Record, usrUUID string) (string, bool, error) {
	fields := strings.Fields(opts)
	found := false
	for i, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case contract.KeySlot:
			if v != bootedSlot {
				return "", false, fmt.Errorf("agent: booted entry says %s, but slot %s is booted", f, bootedSlot)
			}
			fields[i], found = k+"="+slot, true
		case contract.KeyUSR:
			fields[i] = k + "=PARTUUID=" + usrUUID
		case contract.KeyVerity:
			fields[i] = k + "=" + rec.VerityRoot
		}
	}
	return strings.Join(fields, " "), found, nil
}

// entryFile is one boot entry file of a slot on the ESP.
type entryFile struct {
	File string // name in EntriesDir
	Name contract.EntryName
}

// slotEntries lists the entry files of slot, sorted by name.
func slotEntries(esp, slot string) ([]entryFile, error) {
	des, err := os.ReadDir(filepath.Join(esp, filepath.FromSlash(contract.EntriesDir)))
	if err != nil {
		return nil, fmt.Errorf("agent: boot entries: %w", err)
	}
	var out []entryFile
	for _, de := range des {
		n, ok := contract.ParseEntryFile(de.Name())
		if ok && contract.EntrySlot(n.ID) == slot {
			out = append(out, entryFile{de.Name(), n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// entryVersion is the version line of an entry file, or "".
func entryVersion(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
