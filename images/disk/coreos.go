package disk

import (
	"io"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
)

// Sizes are the partition sizes of an image, in bytes (multiples of MiB).
type Sizes struct {
	ESP, USR, OEM, Root int64
}

// Contents are the partitions that have content at build time; the others
// are holes: USR-B until the first update, OEM until imgbuild oem writes
// it, ROOT until stage-1 formats it on first boot.
type Contents struct {
	ESP  func(io.WriterAt) error
	USRA func(io.WriterAt) error
}

// PartitionGUID is the unique GUID (the PARTUUID) of partition p of the
// image named seed. It derives from the name alone, so every version of
// an image, and every rebuild, has the same ones: the update agent knows
// the passive slot's PARTUUID and a slot-B command line in advance.
func PartitionGUID(seed string, p contract.Partition) string {
	return strings.ToLower(GUID(seed, p.Label))
}

// CoreOS is the partition table of docs/layout.md (contract.Partitions):
// ESP, USR-A (priority 1, successful), USR-B, OEM and ROOT.
func CoreOS(seed string, s Sizes, c Contents) Layout {
	size := map[int]int64{contract.ESP.Number: s.ESP, contract.USRA.Number: s.USR, contract.USRB.Number: s.USR,
		contract.OEM.Number: s.OEM, contract.ROOT.Number: s.Root}
	l := Layout{DiskGUID: strings.ToLower(GUID(seed, "disk"))}
	for _, p := range contract.Partitions() {
		part := Partition{Number: p.Number, Label: p.Label, TypeGUID: p.Type, GUID: PartitionGUID(seed, p), Size: size[p.Number]}
		switch p {
		case contract.ESP:
			part.Content = c.ESP
		case contract.USRA:
			part.Attributes = contract.USRAttributes(1, 0, true)
			part.Content = c.USRA
		}
		l.Partitions = append(l.Partitions, part)
	}
	return l
}
