package contract

import "fmt"

// Partition type GUIDs (docs/layout.md), lower case.
const (
	TypeESP   = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	TypeUSR   = "5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6"
	TypeLinux = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	TypeROOT  = "3884dd41-8582-4404-b9a8-e9b84f2df50e"
)

// Partition is one entry of the CoreOS partition table every imgbuild
// disk has: its number (as in /dev/vda3), GPT name and type.
type Partition struct {
	Number int
	Label  string
	Type   string
}

// The partitions, in disk order.
var (
	ESP  = Partition{1, "EFI-SYSTEM", TypeESP}
	USRA = Partition{3, "USR-A", TypeUSR}
	USRB = Partition{4, "USR-B", TypeUSR}
	OEM  = Partition{6, OEMLabel, TypeLinux}
	ROOT = Partition{9, "ROOT", TypeROOT}
)

// Partitions lists the table in disk order.
func Partitions() []Partition { return []Partition{ESP, USRA, USRB, OEM, ROOT} }

// Slots are the two USR slots, by the name the command line and the ESP
// use for them.
var Slots = []string{"a", "b"}

// USR is the partition of a slot ("a" or "b").
func USR(slot string) (Partition, error) {
	switch slot {
	case "a":
		return USRA, nil
	case "b":
		return USRB, nil
	}
	return Partition{}, fmt.Errorf("slot %q: want a or b", slot)
}

// OtherSlot is the passive slot when slot is booted.
func OtherSlot(slot string) string {
	if slot == "a" {
		return "b"
	}
	return "a"
}

// USRAttributes encodes the ChromeOS/Flatcar boot attributes of a USR
// slot into GPT attribute bits: priority in 48-51, tries in 52-55,
// successful in 56. systemd-boot does not read them; tools and people do.
func USRAttributes(priority, tries int, successful bool) uint64 {
	a := uint64(priority&0xf)<<48 | uint64(tries&0xf)<<52
	if successful {
		a |= 1 << 56
	}
	return a
}

// SlotState decodes USRAttributes.
func SlotState(attr uint64) (priority, tries int, successful bool) {
	return int(attr >> 48 & 0xf), int(attr >> 52 & 0xf), attr>>56&1 == 1
}
