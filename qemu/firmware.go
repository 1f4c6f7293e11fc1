package qemu

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// Firmware is a UEFI build QEMU boots from two pflash banks: its code
// (read-only) and the template each VM's variable store is copied from.
type Firmware struct {
	Code, Vars string
	// Descriptor is the QEMU firmware descriptor that named them; empty
	// for the built-in Debian paths.
	Descriptor string
}

// FirmwareDirs are where QEMU's firmware descriptors live
// (docs/interop/firmware.json in QEMU's tree), lowest precedence first:
// a file in a later directory replaces the one of the same name in an
// earlier one, which is how a host overrides its distribution's choice.
// libvirt reads the same files; every distribution's edk2 package ships
// them (Debian's ovmf, Fedora's edk2-ovmf, Arch's edk2-ovmf).
func FirmwareDirs() []string {
	dirs := []string{"/usr/share/qemu/firmware", "/etc/qemu/firmware"}
	if cfg, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(cfg, "qemu", "firmware"))
	}
	return dirs
}

// descriptor is the part of a firmware descriptor we read.
type descriptor struct {
	InterfaceTypes []string `json:"interface-types"`
	Mapping        struct {
		Device     string `json:"device"`
		Mode       string `json:"mode"`
		Executable struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"executable"`
		NVRAMTemplate struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"nvram-template"`
	} `json:"mapping"`
	Targets []struct {
		Architecture string   `json:"architecture"`
		Machines     []string `json:"machines"`
	} `json:"targets"`
	Features []string `json:"features"`
}

// FindFirmware is the plain UEFI firmware for arch (a GOARCH) from the
// descriptors in dirs: the first by file name that boots the machine we
// start (q35, virt) from split raw flash, with no Secure Boot, no keys
// enrolled and no SMM. Secure Boot runs name their firmware themselves
// (Config.Code). With no such descriptor, Debian's paths, so a host
// without descriptors fails naming the package to install.
func FindFirmware(arch string, dirs []string) (Firmware, error) {
	g, err := guestFor(arch)
	if err != nil {
		return Firmware{}, err
	}
	byName := map[string]string{}
	for _, d := range dirs {
		ms, _ := filepath.Glob(filepath.Join(d, "*.json"))
		for _, m := range ms {
			byName[filepath.Base(m)] = m
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		file := byName[n]
		data, err := os.ReadFile(file)
		if err != nil || len(data) == 0 {
			// An empty file masks a descriptor of lower precedence.
			continue
		}
		var d descriptor
		if json.Unmarshal(data, &d) != nil || !d.suits(g) {
			continue
		}
		fw := Firmware{Code: d.Mapping.Executable.Filename, Vars: d.Mapping.NVRAMTemplate.Filename, Descriptor: file}
		if isFile(fw.Code) && isFile(fw.Vars) {
			return fw, nil
		}
	}
	return Firmware{Code: g.code, Vars: g.vars}, nil
}

// suits reports whether d is plain UEFI for g's arch and machine.
func (d *descriptor) suits(g guest) bool {
	m := d.Mapping
	if !slices.Contains(d.InterfaceTypes, "uefi") || m.Device != "flash" || (m.Mode != "" && m.Mode != "split") ||
		m.Executable.Filename == "" || m.NVRAMTemplate.Filename == "" ||
		!rawFormat(m.Executable.Format) || !rawFormat(m.NVRAMTemplate.Format) {
		return false
	}
	for _, f := range d.Features {
		if f == "secure-boot" || f == "enrolled-keys" || f == "requires-smm" {
			return false
		}
	}
	for _, t := range d.Targets {
		if t.Architecture != g.qemuArch {
			continue
		}
		for _, glob := range t.Machines {
			// Descriptors name versioned machine types (pc-q35-*,
			// virt-*); we start the unversioned alias, the newest.
			if ok, _ := path.Match(glob, g.versionedMachine); ok {
				return true
			}
		}
	}
	return false
}

// rawFormat: pflash banks here are raw; qcow2 firmware (Fedora ships it
// too, beside raw builds) would need a qcow2 variable store.
func rawFormat(f string) bool { return f == "" || f == "raw" }

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

var (
	fwMu    sync.Mutex
	fwCache = map[string]Firmware{}
)

// firmwareFor is arch's firmware, looked up once per process.
func firmwareFor(arch string) (Firmware, error) {
	fwMu.Lock()
	defer fwMu.Unlock()
	if fw, ok := fwCache[arch]; ok {
		return fw, nil
	}
	fw, err := FindFirmware(arch, FirmwareDirs())
	if err != nil {
		return Firmware{}, err
	}
	fwCache[arch] = fw
	return fw, nil
}

func (fw Firmware) String() string {
	if fw.Descriptor == "" {
		return fmt.Sprintf("%s + %s", fw.Code, fw.Vars)
	}
	return fmt.Sprintf("%s + %s (from %s)", fw.Code, fw.Vars, fw.Descriptor)
}
