package verity

import (
	"crypto/sha256"
	"hash"
)

// hasher computes salted block digests the way format 1 does:
// sha256(salt || block).
type hasher struct {
	h    hash.Hash
	salt []byte
}

func newHasher(salt []byte) *hasher { return &hasher{h: sha256.New(), salt: salt} }

// sum writes the digest of block into dst[:digestSize] without allocating.
func (x *hasher) sum(dst, block []byte) {
	x.h.Reset()
	x.h.Write(x.salt)
	x.h.Write(block)
	x.h.Sum(dst[:0])
}
