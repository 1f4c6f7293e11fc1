package vmdk

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/sparse"
)

// Convert writes outPath as a stream-optimized VMDK of the raw image
// rawPath, through a temporary file renamed into place. The raw size
// must be a whole number of sectors.
func Convert(rawPath, outPath string) error {
	raw, err := os.Open(rawPath)
	if err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	defer raw.Close()
	st, err := raw.Stat()
	if err != nil {
		return fmt.Errorf("vmdk: %w", err)
	}
	if st.Size()%sectorSize != 0 {
		return fmt.Errorf("vmdk: %s: %d bytes is not a whole number of 512-byte sectors", rawPath, st.Size())
	}
	grains, err := sparse.Chunks(raw, st.Size(), grainSize)
	if err != nil {
		return fmt.Errorf("vmdk: scan %s: %w", rawPath, err)
	}
	err = fsutil.Write(outPath, 0o644, func(f *os.File) error {
		return write(f, raw, st.Size(), grains, filepath.Base(outPath))
	})
	if err != nil {
		return fmt.Errorf("vmdk: write %s: %w", outPath, err)
	}
	return nil
}

// compressed is one grain ready to write: marker and zlib data, padded.
type compressed struct {
	data []byte
	crc  uint32
	err  error
}

func write(f *os.File, raw io.ReaderAt, size int64, grains []int64, name string) error {
	capacity := uint64(size / sectorSize)
	numGrains := (capacity + grainSect - 1) / grainSect
	numGTs := (numGrains + gtEntries - 1) / gtEntries
	out := &sectorWriter{w: f}
	if err := out.write(newHeader(capacity, gdAtEnd).bytes()); err != nil {
		return err
	}
	// The descriptor's CID hashes every grain: it is written again at the
	// end, once they are all known.
	if err := out.write(descriptor(name, capacity, 0)); err != nil {
		return err
	}
	gt := make([]uint32, numGTs*gtEntries)
	crcs := make([]uint32, 0, len(grains))
	i := 0
	err := compressInOrder(raw, size, grains, func(c compressed) error {
		if c.err != nil {
			return c.err
		}
		gt[grains[i]] = uint32(out.sector)
		crcs = append(crcs, c.crc)
		i++
		return out.write(c.data)
	})
	if err != nil {
		return err
	}
	gd := make([]uint32, numGTs)
	for t := range numGTs {
		if err := out.write(marker(gtEntries*4/sectorSize, markerGT)); err != nil {
			return err
		}
		gd[t] = uint32(out.sector)
		if err := out.write(u32s(gt[t*gtEntries : (t+1)*gtEntries])); err != nil {
			return err
		}
	}
	gdSectors := (uint64(len(gd))*4 + sectorSize - 1) / sectorSize
	if err := out.write(marker(gdSectors, markerGD)); err != nil {
		return err
	}
	gdOffset := out.sector
	if err := out.write(pad(u32s(gd))); err != nil {
		return err
	}
	if err := out.write(marker(1, markerFooter)); err != nil {
		return err
	}
	if err := out.write(newHeader(capacity, gdOffset).bytes()); err != nil {
		return err
	}
	if err := out.write(marker(0, markerEOS)); err != nil {
		return err
	}
	_, err = f.WriteAt(descriptor(name, capacity, contentID(crcs)), sectorSize)
	return err
}

// compressInOrder compresses the listed grains on every CPU and hands
// them to emit in order, holding at most a few per CPU in memory.
func compressInOrder(raw io.ReaderAt, size int64, grains []int64, emit func(compressed) error) error {
	workers := runtime.GOMAXPROCS(0)
	type job struct {
		grain int64
		done  chan compressed
	}
	jobs := make(chan job)
	pending := make(chan chan compressed, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, grainSize)
			for j := range jobs {
				j.done <- compressGrain(raw, size, j.grain, buf)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		defer close(pending)
		for _, g := range grains {
			j := job{g, make(chan compressed, 1)}
			select {
			case pending <- j.done:
			case <-stop:
				return
			}
			select {
			case jobs <- j:
			case <-stop:
				return
			}
		}
	}()
	var err error
	for done := range pending {
		if err != nil {
			continue // after a failure the grain may never be compressed
		}
		if err = emit(<-done); err != nil {
			close(stop)
		}
	}
	close(jobs)
	wg.Wait()
	return err
}

// compressGrain is a grain marker (LBA, compressed size) and the grain's
// zlib stream, padded to a sector. The last grain of a disk that is not
// a whole number of grains is compressed at its real length.
func compressGrain(raw io.ReaderAt, size, g int64, buf []byte) compressed {
	n := min(int64(grainSize), size-g*grainSize)
	if _, err := raw.ReadAt(buf[:n], g*grainSize); err != nil && err != io.EOF {
		return compressed{err: fmt.Errorf("read grain %d: %w", g, err)}
	}
	var z bytes.Buffer
	z.Write(make([]byte, 12))
	zw, _ := zlib.NewWriterLevel(&z, zlib.DefaultCompression) // a valid level cannot fail
	zw.Write(buf[:n])
	if err := zw.Close(); err != nil {
		return compressed{err: fmt.Errorf("compress grain %d: %w", g, err)}
	}
	b := z.Bytes()
	binary.LittleEndian.PutUint64(b[0:], uint64(g*grainSect))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)-12))
	return compressed{data: pad(b), crc: crc32.ChecksumIEEE(b)}
}

func u32s(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func pad(b []byte) []byte {
	if r := len(b) % sectorSize; r != 0 {
		b = append(b, make([]byte, sectorSize-r)...)
	}
	return b
}

// sectorWriter counts the sectors written so far.
type sectorWriter struct {
	w      io.Writer
	sector uint64
}

func (s *sectorWriter) write(b []byte) error {
	if len(b)%sectorSize != 0 {
		return fmt.Errorf("internal: %d bytes is not whole sectors", len(b))
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.sector += uint64(len(b) / sectorSize)
	return nil
}
