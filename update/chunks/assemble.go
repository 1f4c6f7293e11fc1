package chunks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Seed is what a machine already holds, by chunk: for each chunk of its
// local files, where to read it. It keeps locations, not bytes, so its
// memory is some 100 bytes a chunk whatever the files' size.
type Seed struct {
	at map[string]location
}

type location struct {
	r    io.ReaderAt
	name string
	off  int64
	size int64
}

// NewSeed returns an empty seed.
func NewSeed() *Seed { return &Seed{at: map[string]location{}} }

// Add cuts size bytes of r (a partition, a file) into chunks as Split
// does and remembers where each lies. r must stay readable until the
// seed is done with; its bytes are checked again when a chunk is used.
func (s *Seed) Add(name string, r io.ReaderAt, size int64) error {
	var off int64
	err := Split(io.NewSectionReader(r, 0, size), func(c Chunk, _ []byte) error {
		if _, ok := s.at[c.SHA256]; !ok {
			s.at[c.SHA256] = location{r: r, name: name, off: off, size: c.Size}
		}
		off += c.Size
		return nil
	})
	if err != nil {
		return fmt.Errorf("chunks: seed %s: %w", name, err)
	}
	return nil
}

// Len is the number of distinct chunks the seed holds.
func (s *Seed) Len() int { return len(s.at) }

// Fetch opens a chunk by its repository path (ChunkPath).
type Fetch func(ctx context.Context, rel string) (io.ReadCloser, error)

// Stats says where an assembled file's bytes came from.
type Stats struct {
	Chunks, Seeded, Fetched int   // chunks in all, from the seed, downloaded
	SeededBytes             int64 // bytes read from the seed
	FetchedBytes            int64 // bytes downloaded
}

// ErrChunk is returned when a downloaded chunk is not what the index
// says: the caller falls back to the whole file.
var ErrChunk = errors.New("chunk does not match its index")

// Assemble writes the file x describes to w, in order: each chunk from
// the seed when it holds it (and its bytes still hash right), otherwise
// fetched. A fetched chunk of the wrong size or sha256 stops it with
// ErrChunk. The caller checks the whole file's sha256 afterwards, as it
// would a downloaded one: the index only says where to find bytes, the
// release record says what they must be.
func Assemble(ctx context.Context, x *Index, seed *Seed, fetch Fetch, w io.Writer) (Stats, error) {
	st := Stats{Chunks: len(x.Chunks)}
	buf := make([]byte, MaxSize+1)
	for i, c := range x.Chunks {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		data, ok := fromSeed(seed, c, buf)
		if ok {
			st.Seeded++
			st.SeededBytes += c.Size
		} else {
			var err error
			if data, err = fetchChunk(ctx, fetch, c, buf); err != nil {
				return st, fmt.Errorf("chunks: chunk %d of %s: %w", i, x.SHA256, err)
			}
			st.Fetched++
			st.FetchedBytes += c.Size
		}
		if _, err := w.Write(data); err != nil {
			return st, fmt.Errorf("chunks: write chunk %d of %s: %w", i, x.SHA256, err)
		}
	}
	return st, nil
}

// fromSeed reads c from the seed into buf, if the seed has it and its
// bytes there still hash to it (a seed file may have changed since).
func fromSeed(seed *Seed, c Chunk, buf []byte) ([]byte, bool) {
	if seed == nil {
		return nil, false
	}
	loc, ok := seed.at[c.SHA256]
	if !ok || loc.size != c.Size {
		return nil, false
	}
	data := buf[:c.Size]
	if _, err := loc.r.ReadAt(data, loc.off); err != nil {
		return nil, false
	}
	return data, sumOf(data) == c.SHA256
}

// fetchChunk downloads c into buf, reading at most one byte more than
// its size so that an oversized answer is noticed.
func fetchChunk(ctx context.Context, fetch Fetch, c Chunk, buf []byte) ([]byte, error) {
	r, err := fetch(ctx, ChunkPath(c.SHA256))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	n, err := io.ReadFull(io.LimitReader(r, c.Size+1), buf[:c.Size+1])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	data := buf[:n]
	if int64(n) != c.Size {
		return nil, fmt.Errorf("%w: %s: %d bytes or more, the index says %d", ErrChunk, c.SHA256, n, c.Size)
	}
	if got := sumOf(data); got != c.SHA256 {
		return nil, fmt.Errorf("%w: %s: sha256 %s", ErrChunk, c.SHA256, got)
	}
	return data, nil
}

func sumOf(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
