package oci

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/internal/unixmode"
)

// Entry is one file of a flattened image. A regular file's content is
// Size bytes at Offset in the tree's data file; a hard link's is its
// target's, so that USR, whose writer gives every file an inode of its
// own, stores it once (the squashfs writer shares equal contents).
type Entry struct {
	Path    string      `json:"path"` // relative to the image root, "" for the root
	Mode    fs.FileMode `json:"mode"`
	UID     uint32      `json:"uid"`
	GID     uint32      `json:"gid"`
	ModTime int64       `json:"mtime"`
	Target  string      `json:"target,omitempty"` // a symlink's
	Size    int64       `json:"size,omitempty"`
	Offset  int64       `json:"offset,omitempty"`
	Rdev    uint64      `json:"rdev,omitempty"`
}

// Tree is a flattened image root as Flatten leaves it: entries.json and
// the contents in data, so that a build reads an image's layers once and
// the squashfs writer reads files back in any order, without unpacking
// to a directory (which would need root for owners and device nodes).
type Tree struct {
	Entries []Entry
	Data    string // the data file's path
}

// Files in a tree's directory.
const (
	dataFile    = "data"
	entriesFile = "entries.json"
)

// Flatten applies img's layers in order, honouring whiteouts
// (mutate.Extract), and writes the resulting tree into dir.
func Flatten(img v1.Image, dir string) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	f, err := os.Create(filepath.Join(dir, dataFile))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	entries, err := readTree(tar.NewReader(rc), w)
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	data, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, entriesFile), data, 0o644)
}

// LoadTree reads a tree Flatten wrote.
func LoadTree(dir string) (*Tree, error) {
	data, err := os.ReadFile(filepath.Join(dir, entriesFile))
	if err != nil {
		return nil, err
	}
	t := &Tree{Data: filepath.Join(dir, dataFile)}
	if err := json.Unmarshal(data, &t.Entries); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return t, nil
}

// Open returns a regular file's content.
func (t *Tree) Open(e Entry) (io.ReadCloser, error) {
	f, err := os.Open(t.Data)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, e.Offset, e.Size), f}, nil
}

// cleanPath is a tar name relative to the root, or an error for one
// that leaves it.
func cleanPath(name string) (string, error) {
	for _, part := range strings.Split(name, "/") {
		if part == ".." || strings.Contains(part, "\x00") {
			return "", fmt.Errorf("tar entry %q leaves the image root", name)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+name), "/"), nil
}

// readTree reads the flattened tar into entries, writing contents to w.
// Hard links are resolved at the end: mutate.Extract goes from the top
// layer down, so a link may come before the file it names.
func readTree(tr *tar.Reader, w io.Writer) ([]Entry, error) {
	var (
		entries []Entry
		offset  int64
		byPath  = map[string]int{}
		links   []int
	)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("layers: %w", err)
		}
		p, err := cleanPath(h.Name)
		if err != nil {
			return nil, err
		}
		if _, dup := byPath[p]; dup {
			continue // an upper layer's entry came first
		}
		e := Entry{Path: p, Mode: unixmode.ToFileMode(uint32(h.Mode)), UID: uint32(h.Uid), GID: uint32(h.Gid), ModTime: h.ModTime.Unix()}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Mode |= fs.ModeDir
		case tar.TypeReg, tar.TypeRegA:
			n, err := io.Copy(w, tr)
			if err != nil {
				return nil, fmt.Errorf("layers: %s: %w", p, err)
			}
			e.Size, e.Offset = n, offset
			offset += n
		case tar.TypeSymlink:
			if h.Linkname == "" {
				return nil, fmt.Errorf("symlink %s has no target", p)
			}
			e.Mode = fs.ModeSymlink | 0o777
			e.Target = h.Linkname
		case tar.TypeLink:
			t, err := cleanPath(h.Linkname)
			if err != nil {
				return nil, fmt.Errorf("hard link %s: %w", p, err)
			}
			e.Target = t
			links = append(links, len(entries))
		case tar.TypeChar:
			e.Mode |= fs.ModeDevice | fs.ModeCharDevice
			e.Rdev = unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		case tar.TypeBlock:
			e.Mode |= fs.ModeDevice
			e.Rdev = unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		case tar.TypeFifo:
			e.Mode |= fs.ModeNamedPipe
		default:
			continue // pax and GNU metadata entries carry no file
		}
		byPath[p] = len(entries)
		entries = append(entries, e)
	}
	for _, i := range links {
		e := &entries[i]
		j, ok := byPath[e.Target]
		if !ok || !entries[j].Mode.IsRegular() || entries[j].Target != "" {
			return nil, fmt.Errorf("hard link %s names %s, which is not a regular file of the image", e.Path, e.Target)
		}
		t := entries[j]
		e.Size, e.Offset, e.Target = t.Size, t.Offset, ""
	}
	return entries, nil
}
