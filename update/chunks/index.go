package chunks

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/sign"
)

// IndexFormat names the index layout; a reader refuses another major.
const IndexFormat = "imgbuild-chunks/1"

// IndexContext separates index signatures from records' and channels'
// made with the same release key.
const IndexContext = "imgbuild chunk index v1\n"

// MaxIndex bounds what is read of an index: 4 MiB is some 40,000 chunks,
// a 2.5 GiB file at the average chunk size.
const MaxIndex = 4 << 20

// Index lists a payload file's chunks in order.
type Index struct {
	Format string  `json:"format"`
	SHA256 string  `json:"sha256"` // the whole file's
	Size   int64   `json:"size"`
	Chunks []Chunk `json:"chunks"`
}

// Marshal is the index as the bytes its signature covers.
func (x *Index) Marshal() []byte {
	data, err := json.Marshal(x)
	if err != nil {
		panic(fmt.Sprintf("chunks: marshal index: %v", err)) // strings and ints cannot fail
	}
	return append(data, '\n')
}

// Sign signs an index's bytes with a release key.
func Sign(data []byte, key ed25519.PrivateKey) ([]byte, error) {
	sig, err := sign.SignBytes(IndexContext, data, key)
	if err != nil {
		return nil, fmt.Errorf("chunks: sign index: %w", err)
	}
	return sig, nil
}

// Verify checks an index's signature against keys, then parses it and
// checks that it describes the file with this sha256 and size: its
// chunks add up to the size, each within the chunker's bounds.
func Verify(data, sig []byte, keys []ed25519.PublicKey, fileSHA256 string, size int64) (*Index, error) {
	if len(data) > MaxIndex {
		return nil, fmt.Errorf("chunks: index of %s is larger than %d bytes", fileSHA256, MaxIndex)
	}
	if err := sign.VerifyBytes(IndexContext, data, sig, keys); err != nil {
		return nil, fmt.Errorf("chunks: index of %s: %w", fileSHA256, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var x Index
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("chunks: index of %s: %w", fileSHA256, err)
	}
	if major(x.Format) != major(IndexFormat) {
		return nil, fmt.Errorf("chunks: index of %s: format %q, this reader knows %q", fileSHA256, x.Format, IndexFormat)
	}
	if x.SHA256 != fileSHA256 || x.Size != size {
		return nil, fmt.Errorf("chunks: index of %s describes %s (%d bytes), want %d bytes", fileSHA256, x.SHA256, x.Size, size)
	}
	var sum int64
	for i, c := range x.Chunks {
		if !validHex(c.SHA256) {
			return nil, fmt.Errorf("chunks: index of %s: chunk %d: sha256 %q is not 64 lowercase hex digits", fileSHA256, i, c.SHA256)
		}
		// The last chunk may be short; none may be longer than the
		// chunker cuts, so a chunk fits the buffer it is read into.
		if c.Size <= 0 || c.Size > MaxSize {
			return nil, fmt.Errorf("chunks: index of %s: chunk %d: size %d outside 1..%d", fileSHA256, i, c.Size, MaxSize)
		}
		sum += c.Size
	}
	if sum != size {
		return nil, fmt.Errorf("chunks: index of %s: chunks add up to %d bytes, the file has %d", fileSHA256, sum, size)
	}
	return &x, nil
}

func major(format string) string {
	name, ver, _ := strings.Cut(format, "/")
	m, _, _ := strings.Cut(ver, ".")
	return name + "/" + m
}
