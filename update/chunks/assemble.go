package chunks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
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
	pre, stop := prefetch(ctx, x, seed, fetch)
	defer stop()
	buf := make([]byte, MaxSize+1)
	for i, c := range x.Chunks {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		data, fromSeedOK := []byte(nil), false
		var err error
		if p := pre.slots[i]; p != nil {
			select {
			case <-p.done:
			case <-ctx.Done():
				return st, ctx.Err()
			}
			data, err = p.data, p.err
			pre.release()
		} else if data, fromSeedOK = fromSeed(seed, c, buf); !fromSeedOK {
			// The seed had it by name but its bytes changed since.
			data, err = fetchChunk(ctx, fetch, c, buf)
		}
		if err != nil {
			return st, fmt.Errorf("chunks: chunk %d of %s: %w", i, x.SHA256, err)
		}
		if fromSeedOK {
			st.Seeded++
			st.SeededBytes += c.Size
		} else {
			st.Fetched++
			st.FetchedBytes += c.Size
		}
		if _, err := w.Write(data); err != nil {
			return st, fmt.Errorf("chunks: write chunk %d of %s: %w", i, x.SHA256, err)
		}
	}
	return st, nil
}

// Parallel is how many chunks are downloaded at once, and twice it how
// many may wait, downloaded, for their turn to be written: one GET after
// another would pay a round trip per 64 KiB chunk, which on a distant
// server costs more than the bytes.
var Parallel = 4

// fetched is one chunk downloaded ahead.
type fetched struct {
	data []byte
	err  error
	done chan struct{}
}

type prefetcher struct {
	slots  map[int]*fetched // by chunk number: those the seed lacks
	window chan struct{}
}

// release frees the window's place of a chunk that was written.
func (p *prefetcher) release() { <-p.window }

// prefetch starts downloading, in order and Parallel at a time, every
// chunk of x the seed does not have; stop cancels what is left and waits
// for the downloads to end.
func prefetch(ctx context.Context, x *Index, seed *Seed, fetch Fetch) (*prefetcher, func()) {
	p := &prefetcher{slots: map[int]*fetched{}, window: make(chan struct{}, 2*max(Parallel, 1))}
	var want []int
	for i, c := range x.Chunks {
		if !seeded(seed, c) {
			want = append(want, i)
			p.slots[i] = &fetched{done: make(chan struct{})}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	next := make(chan int)
	go func() {
		defer close(next)
		for _, i := range want {
			select {
			case p.window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range max(Parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f := p.slots[i]
				f.data, f.err = fetchChunk(ctx, fetch, x.Chunks[i], make([]byte, MaxSize+1))
				close(f.done)
			}
		}()
	}
	return p, func() {
		cancel()
		wg.Wait()
	}
}

// seeded reports whether the seed holds c by name and size (its bytes
// are checked when read).
func seeded(seed *Seed, c Chunk) bool {
	if seed == nil {
		return false
	}
	loc, ok := seed.at[c.SHA256]
	return ok && loc.size == c.Size
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
