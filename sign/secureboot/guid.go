// Package secureboot makes the keys and signed variables of a UEFI
// Secure Boot chain of trust that the image owns: PK, KEK and db
// certificates, the EFI_VARIABLE_AUTHENTICATION_2 files systemd-boot
// enrolls from the ESP, and Authenticode signatures of EFI programs.
package secureboot

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is an EFI GUID in its in-memory (mixed-endian) byte order.
type GUID [16]byte

// ParseGUID reads the text form, e.g. 8be4df61-93ca-11d2-aa0d-00e098032b8c.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 || len(s) != 36 {
		return g, fmt.Errorf("secureboot: bad GUID %q", s)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(raw[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(raw[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(raw[6:]))
	copy(g[8:], raw[8:])
	return g, nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}

// GUIDs from the UEFI specification.
var (
	GlobalVariable        = mustGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c") // PK, KEK, SecureBoot
	ImageSecurityDatabase = mustGUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f") // db, dbx
	CertX509              = mustGUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
	CertTypePKCS7         = mustGUID("4aafd29d-68df-49ee-8aa9-347d375665a7")
)
