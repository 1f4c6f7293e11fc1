package squashfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/imgbuild/imgbuild/internal/sparse"
)

// uncompressedBit marks a data or fragment block stored as is.
const uncompressedBit = 1 << 24

// fragEntry is one fragment table entry: where a fragment block went.
type fragEntry struct {
	start uint64
	size  uint32
}

// blockJob is one block to compress: a full data block of a file or a
// fragment block packed with file tails.
type blockJob struct {
	seq   int
	data  []byte
	file  *node // nil for a fragment block
	index int   // block index in the file
}

// blockResult is a compressed block ready to be written in seq order.
type blockResult struct {
	job  *blockJob
	out  []byte // bytes to write (nil for a sparse block)
	size uint32 // size word for the block list or fragment entry
	buf  []byte // pool buffer to give back once written
}

// dataWriter streams file contents into the image: a producer reads
// blocks in tree order, workers compress them, and the writer puts them
// in place in the producer's order, so the output does not depend on
// scheduling.
type dataWriter struct {
	w      io.WriterAt
	off    int64  // image start in w
	pos    uint64 // next write position, relative to the image
	opt    Options
	frags  []fragEntry
	pool   sync.Pool
	tokens chan struct{} // bounds the blocks in flight
}

func newDataWriter(w io.WriterAt, off int64, pos uint64, opt Options) *dataWriter {
	d := &dataWriter{w: w, off: off, pos: pos, opt: opt,
		tokens: make(chan struct{}, 4*opt.Workers)}
	// Room for a compressor's worst case, so that no block allocates.
	size := opt.BlockSize + opt.BlockSize/64 + 1024
	d.pool.New = func() any { return make([]byte, 0, size) }
	return d
}

func (d *dataWriter) getBuf() []byte  { return d.pool.Get().([]byte)[:0] }
func (d *dataWriter) putBuf(b []byte) { d.pool.Put(b[:0]) } //nolint:staticcheck // slices are fine here

// run writes the data of every regular file in files (in order).
func (d *dataWriter) run(files []*node) error {
	g, ctx := errgroup.WithContext(context.Background())
	jobs := make(chan *blockJob, cap(d.tokens))
	results := make(chan *blockResult, cap(d.tokens))
	g.Go(func() error {
		defer close(jobs)
		return d.produce(ctx, files, jobs)
	})
	var workers sync.WaitGroup
	for range d.opt.Workers {
		c, err := newCompressor(d.opt)
		if err != nil {
			return err
		}
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			return d.compressLoop(ctx, c, jobs, results)
		})
	}
	go func() { workers.Wait(); close(results) }()
	g.Go(func() error { return d.writeInOrder(results) })
	return g.Wait()
}

// produce reads every file block by block, packing tails into fragment
// blocks, and hands the blocks to the workers.
func (d *dataWriter) produce(ctx context.Context, files []*node, jobs chan<- *blockJob) error {
	seq := 0
	send := func(j *blockJob) error {
		j.seq = seq
		seq++
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	acquire := func() error {
		select {
		case d.tokens <- struct{}{}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bs := int64(d.opt.BlockSize)
	packer := fragPacker{size: int(bs), get: d.getBuf, emit: func(data []byte) error {
		if err := acquire(); err != nil {
			return err
		}
		return send(&blockJob{data: data})
	}}
	dd := newDedup(files)
	for _, f := range files {
		f.data.frag = noFragment
		if f.entry.Size == 0 {
			continue
		}
		r, dup, err := dd.open(f)
		if err != nil {
			return err
		}
		if dup {
			continue
		}
		if err := d.produceFile(f, r, bs, acquire, send, &packer); err != nil {
			r.Close()
			return err
		}
		if err := r.Close(); err != nil {
			return fmt.Errorf("squashfs: close %q: %w", f.path, err)
		}
	}
	return packer.flush()
}

// produceFile sends f's full blocks and packs its tail.
func (d *dataWriter) produceFile(f *node, r io.Reader, bs int64, acquire func() error, send func(*blockJob) error, packer *fragPacker) error {
	full := f.entry.Size / bs
	f.data.blocks = make([]uint32, full)
	for i := range full {
		if err := acquire(); err != nil {
			return err
		}
		buf := d.getBuf()[:bs]
		if err := readFull(r, buf, f, i*bs); err != nil {
			return err
		}
		if err := send(&blockJob{data: buf, file: f, index: int(i)}); err != nil {
			return err
		}
	}
	if tail := int(f.entry.Size % bs); tail > 0 {
		buf, err := packer.place(f, tail)
		if err != nil {
			return err
		}
		if err := readFull(r, buf, f, full*bs); err != nil {
			return err
		}
	}
	return checkEOF(r, f)
}

// fragPacker packs file tails into fragment blocks in two streams: small
// files (all tail) in one, the tails of files with full blocks in the
// other, each filling its block in file order. Mixing them put unlike
// content side by side (a binary's last 100 KiB between two source
// files) and closed blocks half full; the two streams make our data
// section byte for byte as large as mksquashfs's (4.5.1, whose pipeline
// orders fragments the same way) on the kernel's module tree, Go's
// toolchain and its sources. Fragment numbers follow the order blocks
// are closed, which depends only on the input.
type fragPacker struct {
	size  int
	get   func() []byte
	emit  func([]byte) error
	open  [2]openFrag // small files, tails of large files
	count uint32
}

type openFrag struct {
	data  []byte
	files []*node
}

// place reserves n bytes for f's tail and returns them to be filled.
func (p *fragPacker) place(f *node, n int) ([]byte, error) {
	slot := 0
	if f.entry.Size > int64(p.size) {
		slot = 1
	}
	o := &p.open[slot]
	if o.data != nil && len(o.data)+n > p.size {
		if err := p.close(slot); err != nil {
			return nil, err
		}
	}
	if o.data == nil {
		o.data = p.get()
	}
	f.data.fragOff = uint32(len(o.data))
	o.data = o.data[:len(o.data)+n]
	o.files = append(o.files, f)
	return o.data[len(o.data)-n:], nil
}

// close sends open block i; its files learn their fragment number.
func (p *fragPacker) close(i int) error {
	o := &p.open[i]
	for _, f := range o.files {
		f.data.frag = p.count
	}
	p.count++
	data := o.data
	*o = openFrag{}
	return p.emit(data)
}

// flush closes the blocks still open.
func (p *fragPacker) flush() error {
	for i := range p.open {
		if p.open[i].data != nil {
			if err := p.close(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// readFull reads len(buf) bytes of f at offset at, failing clearly when
// the content is shorter than the entry's Size.
func readFull(r io.Reader, buf []byte, f *node, at int64) error {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("squashfs: file %q: content ended after %d bytes, but Size is %d", f.path, at+int64(n), f.entry.Size)
	}
	if err != nil {
		return fmt.Errorf("squashfs: read %q: %w", f.path, err)
	}
	return nil
}

// checkEOF fails if f's content goes on past its Size.
func checkEOF(r io.Reader, f *node) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	if n > 0 {
		return fmt.Errorf("squashfs: file %q: content is longer than Size %d", f.path, f.entry.Size)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("squashfs: read %q: %w", f.path, err)
	}
	return nil
}

func (d *dataWriter) compressLoop(ctx context.Context, c compressor, jobs <-chan *blockJob, results chan<- *blockResult) error {
	for j := range jobs {
		r, err := d.compressBlock(c, j)
		if err != nil {
			return err
		}
		select {
		case results <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// compressBlock keeps the compressed form only when it is smaller, and
// turns all-zero file blocks into sparse blocks (size word 0).
func (d *dataWriter) compressBlock(c compressor, j *blockJob) (*blockResult, error) {
	if j.file != nil && sparse.IsZero(j.data) {
		return &blockResult{job: j}, nil
	}
	buf, err := c.compress(d.getBuf(), j.data)
	if err != nil {
		return nil, fmt.Errorf("squashfs: compress: %w", err)
	}
	if len(buf) < len(j.data) {
		return &blockResult{job: j, out: buf, size: uint32(len(buf)), buf: buf}, nil
	}
	d.putBuf(buf)
	return &blockResult{job: j, out: j.data, size: uint32(len(j.data)) | uncompressedBit}, nil
}

// writeInOrder writes results in seq order, recording where each block went.
func (d *dataWriter) writeInOrder(results <-chan *blockResult) error {
	pending := map[int]*blockResult{}
	next := 0
	var werr error
	for r := range results {
		pending[r.job.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if werr == nil {
				werr = d.place(r)
			}
			if r.buf != nil {
				d.putBuf(r.buf)
			}
			d.putBuf(r.job.data)
			<-d.tokens
		}
		if werr != nil {
			return werr
		}
	}
	return nil
}

func (d *dataWriter) place(r *blockResult) error {
	j := r.job
	if j.file != nil {
		if j.index == 0 {
			j.file.data.start = d.pos
		}
		j.file.data.blocks[j.index] = r.size
		if r.out == nil {
			j.file.data.sparse += uint64(len(j.data))
		}
	} else {
		d.frags = append(d.frags, fragEntry{start: d.pos, size: r.size})
	}
	if len(r.out) == 0 {
		return nil
	}
	if _, err := d.w.WriteAt(r.out, d.off+int64(d.pos)); err != nil {
		return fmt.Errorf("squashfs: write data block: %w", err)
	}
	d.pos += uint64(len(r.out))
	return nil
}
