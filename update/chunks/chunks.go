// Package chunks splits update payload files into content-defined
// chunks, so that a machine downloads only the chunks of a release it
// does not already hold: the rest it reads from its own booted slot (the
// active USR partition, the ESP's kernel and initrd). `imgbuild release`
// stores each payload file's chunks beside its object, with a signed
// index; the update agent assembles the file from its seed and the
// chunks it fetches, and still checks the whole file's sha256 against
// the release record before it writes anything.
//
//	chunks/<ab>/<abcdef...>             a chunk, named by its sha256
//	chunks/index/<file sha256>.json     the file's index (Index)
//	chunks/index/<file sha256>.json.sig its signature (sign, IndexContext)
//
// The index is optional: a repository without it, an index that does not
// verify, or a chunk that fails its hash sends the agent back to the
// whole file, as before.
package chunks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/restic/chunker"
)

// The chunking parameters are part of the format: chunks are shared
// between releases (and with a machine's seed) only when both sides cut
// with the same polynomial and bounds.
const (
	// pol is an irreducible polynomial of degree 53 (TestPolIrreducible).
	pol = chunker.Pol(0x3DA3358B4DC173)
	// An average of 64 KiB keeps the cost of one changed squashfs
	// region near its own size (the two chunks it straddles) while an
	// index of a 100 MiB USR stays under 200 KiB.
	avgBits = 16
	MinSize = 16 << 10
	MaxSize = 256 << 10
)

// Chunk is one piece of a file, by its sha256 and length; its offset is
// the sum of the sizes of the chunks before it.
type Chunk struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Split cuts r into chunks, calling fn with each chunk and its bytes
// (valid only during the call). It reads r once, holding at most one
// chunk and the chunker's buffer.
func Split(r io.Reader, fn func(c Chunk, data []byte) error) error {
	ch := chunker.NewWithBoundaries(r, pol, MinSize, MaxSize)
	ch.SetAverageBits(avgBits)
	buf := make([]byte, MaxSize)
	for {
		c, err := ch.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("chunks: split: %w", err)
		}
		sum := sha256.Sum256(c.Data)
		if err := fn(Chunk{SHA256: hex.EncodeToString(sum[:]), Size: int64(c.Length)}, c.Data); err != nil {
			return err
		}
	}
}

// ChunkPath is where a chunk lives, relative to the repository root.
func ChunkPath(sha256Hex string) string {
	return "chunks/" + sha256Hex[:2] + "/" + sha256Hex
}

// IndexPath is where the index of a payload file with this sha256
// lives; its signature is IndexPath + ".sig".
func IndexPath(fileSHA256 string) string { return "chunks/index/" + fileSHA256 + ".json" }

// validHex is a sha256 as the index and the store spell it: 64
// lowercase hex digits.
func validHex(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}
