package disk

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// Partition type GUIDs of docs/layout.md.
const (
	TypeESP   = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	TypeUSR   = "5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6"
	TypeOEM   = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	TypeLinux = TypeOEM
	TypeROOT  = "3884dd41-8582-4404-b9a8-e9b84f2df50e"
)

// GUID derives a stable GUID from a seed (e.g. manifest name and version)
// and a label, so the same manifest always yields the same disk identities.
// It hashes with SHA-256 and sets the RFC 4122 version-5 and variant bits,
// as name-based UUIDs do.
func GUID(seed, label string) string {
	sum := sha256.Sum256([]byte("imgbuild-guid\x00" + seed + "\x00" + label))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// VolumeID derives a FAT volume serial number from a seed, for the same
// reason GUID exists.
func VolumeID(seed string) uint32 {
	sum := sha256.Sum256([]byte("imgbuild-volid\x00" + seed))
	return uint32(sum[0]) | uint32(sum[1])<<8 | uint32(sum[2])<<16 | uint32(sum[3])<<24
}

// USRAttributes encodes the ChromeOS/Flatcar boot attributes of a USR slot
// into GPT attribute bits: priority in 48-51, tries in 52-55, successful
// in 56.
func USRAttributes(priority, tries int, successful bool) uint64 {
	a := uint64(priority&0xf)<<48 | uint64(tries&0xf)<<52
	if successful {
		a |= 1 << 56
	}
	return a
}

// parseGUID checks the textual form of a GUID and returns it lower-cased.
func parseGUID(s string) (string, error) {
	s = strings.ToLower(s)
	if len(s) != 36 {
		return "", fmt.Errorf("GUID %q: want 36 characters", s)
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", fmt.Errorf("GUID %q: want '-' at %d", s, i)
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", fmt.Errorf("GUID %q: bad hex digit at %d", s, i)
			}
		}
	}
	if s == "00000000-0000-0000-0000-000000000000" {
		return "", fmt.Errorf("GUID is all zeros")
	}
	return s, nil
}
