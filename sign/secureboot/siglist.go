package secureboot

import (
	"encoding/binary"
	"fmt"
)

// SignatureList is an EFI_SIGNATURE_LIST of X.509 certificates (DER),
// each owned by owner.
func SignatureList(owner GUID, certs ...[]byte) []byte {
	var out []byte
	for _, der := range certs {
		// One list per certificate: X.509 entries differ in size, and a
		// list has a single SignatureSize.
		hdr := make([]byte, 28)
		copy(hdr, CertX509[:])
		binary.LittleEndian.PutUint32(hdr[16:], uint32(28+16+len(der)))
		binary.LittleEndian.PutUint32(hdr[20:], 0)
		binary.LittleEndian.PutUint32(hdr[24:], uint32(16+len(der)))
		out = append(append(append(out, hdr...), owner[:]...), der...)
	}
	return out
}

// Signature is one entry of a signature list.
type Signature struct {
	Type, Owner GUID
	Data        []byte
}

// ParseSignatureLists reads a sequence of EFI_SIGNATURE_LISTs.
func ParseSignatureLists(b []byte) ([]Signature, error) {
	var sigs []Signature
	for len(b) > 0 {
		if len(b) < 28 {
			return nil, fmt.Errorf("secureboot: signature list: %d trailing bytes", len(b))
		}
		var typ GUID
		copy(typ[:], b)
		listSize := binary.LittleEndian.Uint32(b[16:])
		hdrSize := binary.LittleEndian.Uint32(b[20:])
		sigSize := binary.LittleEndian.Uint32(b[24:])
		if listSize < 28 || int64(listSize) > int64(len(b)) || sigSize < 16 || uint64(28)+uint64(hdrSize) > uint64(listSize) {
			return nil, fmt.Errorf("secureboot: signature list: bad sizes (list %d, header %d, entry %d)", listSize, hdrSize, sigSize)
		}
		body := b[28+hdrSize : listSize]
		if uint32(len(body))%sigSize != 0 {
			return nil, fmt.Errorf("secureboot: signature list: %d bytes is no multiple of entry size %d", len(body), sigSize)
		}
		for ; len(body) > 0; body = body[sigSize:] {
			var s Signature
			s.Type = typ
			copy(s.Owner[:], body)
			s.Data = append([]byte(nil), body[16:sigSize]...)
			sigs = append(sigs, s)
		}
		b = b[listSize:]
	}
	return sigs, nil
}
