package verity

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// superblockSize is the on-disk size of cryptsetup's struct verity_sb.
const superblockSize = 512

var superblockMagic = []byte("verity\x00\x00")

// Superblock field offsets, from cryptsetup's lib/verity/verity.c
// (struct verity_sb, packed, little endian).
const (
	sbVersion       = 8
	sbHashType      = 12
	sbUUID          = 16
	sbAlgorithm     = 32
	sbDataBlockSize = 64
	sbHashBlockSize = 68
	sbDataBlocks    = 72
	sbSaltSize      = 80
	sbSalt          = 88
)

func encodeSuperblock(dataBlocks uint64, salt []byte, uuid [16]byte) []byte {
	b := make([]byte, superblockSize)
	copy(b, superblockMagic)
	binary.LittleEndian.PutUint32(b[sbVersion:], 1)
	binary.LittleEndian.PutUint32(b[sbHashType:], 1)
	copy(b[sbUUID:], uuid[:])
	copy(b[sbAlgorithm:], Algorithm)
	binary.LittleEndian.PutUint32(b[sbDataBlockSize:], BlockSize)
	binary.LittleEndian.PutUint32(b[sbHashBlockSize:], BlockSize)
	binary.LittleEndian.PutUint64(b[sbDataBlocks:], dataBlocks)
	binary.LittleEndian.PutUint16(b[sbSaltSize:], uint16(len(salt)))
	copy(b[sbSalt:], salt)
	return b
}

// ReadSuperblock reads the verity superblock at hashOffset of r and
// returns the parameters it records (RootHash is not stored there and
// stays nil). Only the layout Build writes is accepted.
func ReadSuperblock(r io.ReaderAt, hashOffset int64) (*Params, error) {
	b := make([]byte, superblockSize)
	if _, err := r.ReadAt(b, hashOffset); err != nil {
		return nil, fmt.Errorf("verity: read superblock at %d: %w", hashOffset, err)
	}
	if !bytes.Equal(b[:len(superblockMagic)], superblockMagic) {
		return nil, fmt.Errorf("verity: no verity superblock at offset %d", hashOffset)
	}
	le := binary.LittleEndian
	if v, t := le.Uint32(b[sbVersion:]), le.Uint32(b[sbHashType:]); v != 1 || t != 1 {
		return nil, fmt.Errorf("verity: superblock at %d: version %d hash type %d, want 1 and 1", hashOffset, v, t)
	}
	if alg := string(bytes.TrimRight(b[sbAlgorithm:sbDataBlockSize], "\x00")); alg != Algorithm {
		return nil, fmt.Errorf("verity: superblock at %d: algorithm %q, want %s", hashOffset, alg, Algorithm)
	}
	if d, h := le.Uint32(b[sbDataBlockSize:]), le.Uint32(b[sbHashBlockSize:]); d != BlockSize || h != BlockSize {
		return nil, fmt.Errorf("verity: superblock at %d: block sizes %d/%d, want %d", hashOffset, d, h, BlockSize)
	}
	saltSize := int(le.Uint16(b[sbSaltSize:]))
	if saltSize > maxSaltSize {
		return nil, fmt.Errorf("verity: superblock at %d: salt size %d", hashOffset, saltSize)
	}
	var uuid [16]byte
	copy(uuid[:], b[sbUUID:])
	return &Params{
		DataBlocks: le.Uint64(b[sbDataBlocks:]),
		HashOffset: hashOffset,
		Salt:       append([]byte(nil), b[sbSalt:sbSalt+saltSize]...),
		UUID:       formatUUID(uuid),
	}, nil
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("verity: UUID %q is not in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("verity: UUID %q: %w", s, err)
	}
	return u, nil
}

func formatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
