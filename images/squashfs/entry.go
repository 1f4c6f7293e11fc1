package squashfs

import (
	"io"
	"io/fs"
	"time"

	"github.com/imgbuild/imgbuild/internal/unixmode"
)

// Entry describes one file system object to write.
type Entry struct {
	// Path is slash-separated and relative to the root, e.g. "bin/busybox";
	// "" or "." is the root directory. Missing parents are implied.
	Path string
	// Mode holds the type (directory, symlink, regular file, char or block
	// device, named pipe), the permission bits and setuid/setgid/sticky.
	Mode     fs.FileMode
	UID, GID uint32
	// ModTime is the inode's mtime (seconds); zero means Options.ModTime.
	ModTime time.Time
	// Target is a symlink's target.
	Target string
	// Size is a regular file's size; Open must yield exactly Size bytes.
	Size int64
	// Open returns a regular file's content. It is called once, when the
	// file's blocks are written, and the reader is closed afterwards.
	Open func() (io.ReadCloser, error)
	// Rdev is a device's number as made by unix.Mkdev.
	Rdev uint64
}

// Inode types as stored in inodes (basic and extended) and dir entries.
const (
	typeDir     = 1
	typeFile    = 2
	typeSymlink = 3
	typeBlock   = 4
	typeChar    = 5
	typeFifo    = 6
	typeLDir    = 8
	typeLFile   = 9
)

// basicType is the inode type a directory entry names for mode.
func basicType(m fs.FileMode) uint16 {
	switch {
	case m.IsDir():
		return typeDir
	case m&fs.ModeSymlink != 0:
		return typeSymlink
	case m&fs.ModeCharDevice != 0:
		return typeChar
	case m&fs.ModeDevice != 0:
		return typeBlock
	case m&fs.ModeNamedPipe != 0:
		return typeFifo
	}
	return typeFile
}

// supportedType reports whether m's type bits name a type the writer handles.
func supportedType(m fs.FileMode) bool {
	switch m.Type() {
	case 0, fs.ModeDir, fs.ModeSymlink, fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice, fs.ModeNamedPipe:
		return true
	}
	return false
}

// unixPerm converts Go's permission and special bits to the 12 bits
// stored in an inode.
func unixPerm(m fs.FileMode) uint16 { return uint16(unixmode.FromFileMode(m)) }
