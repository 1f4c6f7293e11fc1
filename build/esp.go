package build

import (
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/manifest"
)

// identities are the GUIDs of one image, derived from its name so that
// every version of an image (and every rebuild) has the same ones.
type identities struct {
	disk, esp, usrA, usrB, oem, root string
}

func newIdentities(m *manifest.Manifest) identities {
	g := func(label string) string { return strings.ToLower(disk.GUID(m.Name, label)) }
	return identities{disk: g("disk"), esp: g("EFI-SYSTEM"), usrA: g("USR-A"), usrB: g("USR-B"), oem: g("OEM"), root: g("ROOT")}
}

// cmdline is the kernel command line of a slot's boot entry.
func cmdline(m *manifest.Manifest, id identities, slot string) string {
	usr := id.usrA
	if slot == "b" {
		usr = id.usrB
	}
	args := []string{"console=ttyS0,115200", "panic=10", "imgbuild.slot=" + slot,
		"imgbuild.usr=PARTUUID=" + usr, "imgbuild.root=PARTUUID=" + id.root, "imgbuild.esp=PARTUUID=" + id.esp}
	return strings.Join(append(args, m.Kernel.Cmdline...), " ")
}

// EntryName is the boot entry of a slot with tries left; sysinit renames
// it to imgbuild-<slot>.conf once the boot is good.
func EntryName(slot string, tries int) string {
	return fmt.Sprintf("loader/entries/imgbuild-%s+%d.conf", slot, tries)
}

func bootEntry(m *manifest.Manifest, id identities, slot string) string {
	return fmt.Sprintf(`title   %s %s (USR-%s)
version %s
sort-key imgbuild
linux   /imgbuild/%s/vmlinuz
initrd  /imgbuild/%s/initrd
options %s
`, m.Name, m.Version, strings.ToUpper(slot), m.Version, slot, slot, cmdline(m, id, slot))
}

const loaderConf = `timeout 0
editor no
auto-entries no
auto-firmware no
`
