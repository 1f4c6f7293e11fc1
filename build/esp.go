package build

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/contract/verity"
	"github.com/imgbuild/imgbuild/images/disk"
)

// partUUID is the PARTUUID of partition p of this image.
func (b *builder) partUUID(p contract.Partition) string { return disk.PartitionGUID(b.m.Name, p) }

// kernelArgs is the release's kernel command line apart from the keys
// naming a slot: the base arguments, ROOT and the ESP, then the
// manifest's own additions. The record carries it (kernel_args), so an
// update brings a changed kernel.cmdline along.
func (b *builder) kernelArgs() []string {
	c := contract.Cmdline{Root: b.partUUID(contract.ROOT), ESP: b.partUUID(contract.ESP)}
	args := append(contract.BaseArgsFor(b.m.Arch), c.SharedArgs()...)
	return append(args, b.m.Kernel.Cmdline...)
}

// cmdline is the kernel command line of a slot's boot entry: the
// release's arguments, then the slot's keys (root hash included, for
// humans reading the entry: stage-1 trusts only the signed record and
// refuses to boot when the two differ).
func (b *builder) cmdline(slot string, v *verity.Params) string {
	usr, _ := contract.USR(slot)
	c := contract.Cmdline{Slot: slot, USR: b.partUUID(usr)}
	if v != nil {
		c.Verity = hex.EncodeToString(v.RootHash)
	}
	return strings.Join(contract.EntryArgs(b.kernelArgs(), c), " ")
}

// entryHead is what every boot entry of a slot starts with; systemd-boot
// orders imgbuild's entries (same sort-key) by version, newest first.
func (b *builder) entryHead(slot string) string {
	return fmt.Sprintf("title   %s %s (USR-%s)\nversion %s\nsort-key %s\n",
		b.m.Name, b.m.Version, strings.ToUpper(slot), b.m.Version, contract.EntrySortKey)
}

// bootEntry is the Type #1 entry that starts a slot's kernel and initrd,
// with v the verity parameters of the USR it mounts.
func (b *builder) bootEntry(slot string, v *verity.Params) string {
	return b.entryHead(slot) + fmt.Sprintf("linux   /%s\ninitrd  /%s\noptions %s\n",
		contract.KernelPath(slot), contract.InitrdPath(slot), b.cmdline(slot, v))
}

// ukiEntry is a Type #1 entry that starts the slot's UKI. It has no
// options line: the command line is the UKI's signed .cmdline, and the
// stub would let options replace it whenever Secure Boot is off.
func (b *builder) ukiEntry(slot string) string {
	return b.entryHead(slot) + fmt.Sprintf("efi     /%s\n", contract.UKIPath(slot))
}

const loaderConf = `timeout 0
editor no
auto-entries no
auto-firmware no
`
