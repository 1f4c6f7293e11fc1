package gpt

import "fmt"

// GUID is a GUID as stored on disk: the first three fields little-endian.
type GUID [16]byte

// String formats g in the usual lower-case form used by the kernel's
// PARTUUID= and by the boot command line.
func (g GUID) String() string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6],
		g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15])
}

// IsZero reports whether g is all zeros (an unused entry's type).
func (g GUID) IsZero() bool { return g == GUID{} }
