package disk

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
)

// Partition type GUIDs of docs/layout.md, from the contract.
const (
	TypeESP   = contract.TypeESP
	TypeUSR   = contract.TypeUSR
	TypeOEM   = contract.TypeLinux
	TypeLinux = contract.TypeLinux
	TypeROOT  = contract.TypeROOT
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

// USRAttributes encodes a USR slot's boot attributes (contract.USRAttributes).
func USRAttributes(priority, tries int, successful bool) uint64 {
	return contract.USRAttributes(priority, tries, successful)
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
