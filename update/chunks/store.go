package chunks

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imgbuild/imgbuild/internal/fsutil"
)

// Store splits a host file into the repository's chunks and writes its
// signed index: the chunks first, then the signature, then the index, so
// an index a reader finds has all its chunks. A chunk already stored is
// not rewritten (chunks, like objects, never change). It returns the
// index and how many bytes of chunks were new.
func Store(root, hostPath string, key ed25519.PrivateKey) (*Index, int64, error) {
	sum, size, err := fsutil.FileSHA256(hostPath)
	if err != nil {
		return nil, 0, fmt.Errorf("chunks: %w", err)
	}
	f, err := os.Open(hostPath)
	if err != nil {
		return nil, 0, fmt.Errorf("chunks: %w", err)
	}
	defer f.Close()
	x := &Index{Format: IndexFormat, SHA256: sum, Size: size}
	var added, total int64
	err = Split(f, func(c Chunk, data []byte) error {
		x.Chunks = append(x.Chunks, c)
		total += c.Size
		n, err := storeChunk(root, c, data)
		added += n
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("chunks: %s: %w", hostPath, err)
	}
	if total != size {
		return nil, 0, fmt.Errorf("chunks: %s changed while it was split (%d bytes, then %d)", hostPath, size, total)
	}
	data := x.Marshal()
	sig, err := Sign(data, key)
	if err != nil {
		return nil, 0, err
	}
	dst := filepath.Join(root, filepath.FromSlash(IndexPath(sum)))
	if err := writeFile(dst+".sig", sig); err != nil {
		return nil, 0, err
	}
	if err := writeFile(dst, data); err != nil {
		return nil, 0, err
	}
	return x, added, nil
}

// storeChunk writes one chunk unless a chunk of its name and size is
// there; it returns the bytes written.
func storeChunk(root string, c Chunk, data []byte) (int64, error) {
	dst := filepath.Join(root, filepath.FromSlash(ChunkPath(c.SHA256)))
	st, err := os.Stat(dst)
	if err == nil && st.Size() == c.Size {
		return 0, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("chunks: %w", err)
	}
	return c.Size, writeFile(dst, data)
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("chunks: %w", err)
	}
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("chunks: write %s: %w", path, err)
	}
	return nil
}
