package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// file reads one inode's data through its extents; holes and unwritten
// extents read as zeros.
type file struct {
	f       *FS
	in      *inode
	name    string
	extents []extent
	off     int64
}

func (x *file) ReadAt(p []byte, off int64) (int, error) {
	if off >= x.in.size {
		return 0, io.EOF
	}
	if rest := x.in.size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		lblock := uint32(pos / x.f.blockSize)
		inBlock := pos % x.f.blockSize
		chunk := min(int64(len(p)-n), x.f.blockSize-inBlock)
		dst := p[n : n+int(chunk)]
		if phys, ok := x.lookup(lblock); ok && phys != 0 {
			if _, err := x.f.r.ReadAt(dst, int64(phys)*x.f.blockSize+inBlock); err != nil {
				return n, fmt.Errorf("ext4: %s: %w", x.name, err)
			}
		} else {
			clear(dst)
		}
		n += int(chunk)
	}
	if off+int64(n) >= x.in.size {
		return n, io.EOF
	}
	return n, nil
}

func (x *file) lookup(lblock uint32) (uint64, bool) {
	i := sort.Search(len(x.extents), func(i int) bool { return x.extents[i].logical+x.extents[i].length > lblock })
	if i == len(x.extents) || x.extents[i].logical > lblock {
		return 0, false
	}
	e := x.extents[i]
	if e.physical == 0 {
		return 0, true
	}
	return e.physical + uint64(lblock-e.logical), true
}

func (x *file) Read(p []byte) (int, error) {
	n, err := x.ReadAt(p, x.off)
	x.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (x *file) Stat() (fs.FileInfo, error) { return info{name: path.Base(x.name), in: x.in}, nil }
func (x *file) Close() error               { return nil }

func (f *FS) open(in *inode, name string) (*file, error) {
	es, err := f.extents(in)
	if err != nil {
		return nil, err
	}
	sort.Slice(es, func(i, j int) bool { return es[i].logical < es[j].logical })
	return &file{f: f, in: in, name: name, extents: es}, nil
}

// info is an inode as fs.FileInfo and fs.DirEntry.
type info struct {
	name string
	in   *inode
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.in.size }
func (i info) ModTime() time.Time { return i.in.mtime }
func (i info) IsDir() bool        { return i.Mode().IsDir() }
func (i info) Sys() any           { return nil }
func (i info) Type() fs.FileMode  { return i.Mode().Type() }
func (i info) Info() (fs.FileInfo, error) {
	return i, nil
}
func (i info) Mode() fs.FileMode {
	m := fs.FileMode(i.in.mode & 0o777)
	switch i.in.mode & 0xf000 {
	case 0x4000:
		m |= fs.ModeDir
	case 0xa000:
		m |= fs.ModeSymlink
	case 0x8000:
	default:
		m |= fs.ModeIrregular
	}
	return m
}

type dirent struct {
	inode uint32
	name  string
}

// entries reads a directory's entries linearly (an htree's index blocks
// hold one empty entry spanning the block, so they read as nothing).
func (f *FS) entries(in *inode, name string) ([]dirent, error) {
	if in.mode&0xf000 != 0x4000 {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	if in.size > maxDirBytes {
		return nil, fmt.Errorf("ext4: directory %s: %d bytes, damaged", name, in.size)
	}
	x, err := f.open(in, name)
	if err != nil {
		return nil, err
	}
	data := make([]byte, in.size)
	if _, err := x.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, err
	}
	var out []dirent
	le := binary.LittleEndian
	for off := 0; off+8 <= len(data); {
		ino, reclen, namelen := le.Uint32(data[off:]), int(le.Uint16(data[off+4:])), int(data[off+6])
		if reclen < 8 || off+reclen > len(data) || 8+namelen > reclen {
			return nil, fmt.Errorf("ext4: directory %s: damaged entry at byte %d", name, off)
		}
		n := string(data[off+8 : off+8+namelen])
		if ino != 0 && n != "." && n != ".." && namelen > 0 {
			out = append(out, dirent{inode: ino, name: n})
		}
		off += reclen
	}
	return out, nil
}

// resolve walks name from the root directory; symlinks are not
// followed (the journal's path has none).
func (f *FS) resolve(name string) (*inode, error) {
	in, err := f.inode(rootInode)
	if err != nil {
		return nil, err
	}
	if name == "." {
		return in, nil
	}
	for _, part := range strings.Split(name, "/") {
		es, err := f.entries(in, name)
		if err != nil {
			return nil, err
		}
		next := uint32(0)
		for _, e := range es {
			if e.name == part {
				next = e.inode
				break
			}
		}
		if next == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		if in, err = f.inode(next); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Open opens a regular file or directory (fs.FS).
func (f *FS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	in, err := f.resolve(name)
	if err != nil {
		return nil, err
	}
	if in.mode&0xf000 == 0x4000 {
		return &dir{info: info{name: path.Base(name), in: in}}, nil
	}
	return f.open(in, name)
}

// ReadDir lists a directory sorted by name (fs.ReadDirFS).
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	in, err := f.resolve(name)
	if err != nil {
		return nil, err
	}
	es, err := f.entries(in, name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(es))
	for _, e := range es {
		child, err := f.inode(e.inode)
		if err != nil {
			return nil, err
		}
		out = append(out, info{name: e.name, in: child})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// dir is an opened directory: fs.FS needs one; ReadDir is the way to
// list it.
type dir struct{ info info }

func (d *dir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *dir) Close() error { return nil }
