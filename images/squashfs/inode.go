package squashfs

import (
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

const noXattr = 0xFFFFFFFF

// ids maps uids and gids to their index in the id table.
type ids struct {
	list  []uint32
	index map[uint32]uint16
}

// inodeHeader appends the header every inode starts with.
func inodeHeader(b []byte, typ uint16, n *node, id *ids) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, typ)
	b = le.AppendUint16(b, unixPerm(n.entry.Mode))
	b = le.AppendUint16(b, id.index[n.entry.UID])
	b = le.AppendUint16(b, id.index[n.entry.GID])
	b = le.AppendUint32(b, mtime32(n))
	return le.AppendUint32(b, n.ino)
}

// mtime32 clamps the mtime to the unsigned 32-bit seconds squashfs stores.
func mtime32(n *node) uint32 {
	s := n.entry.ModTime.Unix()
	return uint32(min(max(s, 0), math.MaxUint32))
}

// fileInode encodes a regular file, extended when a field does not fit
// the basic inode or blocks are sparse (as mksquashfs does).
func fileInode(n *node, id *ids) []byte {
	le := binary.LittleEndian
	d := n.data
	size := uint64(n.entry.Size)
	var b []byte
	if size < 1<<32 && d.start < 1<<32 && d.sparse == 0 {
		b = inodeHeader(b, typeFile, n, id)
		b = le.AppendUint32(b, uint32(d.start))
		b = le.AppendUint32(b, d.frag)
		b = le.AppendUint32(b, d.fragOff)
		b = le.AppendUint32(b, uint32(size))
	} else {
		b = inodeHeader(b, typeLFile, n, id)
		b = le.AppendUint64(b, d.start)
		b = le.AppendUint64(b, size)
		b = le.AppendUint64(b, d.sparse)
		b = le.AppendUint32(b, 1) // nlink
		b = le.AppendUint32(b, d.frag)
		b = le.AppendUint32(b, d.fragOff)
		b = le.AppendUint32(b, noXattr)
	}
	for _, s := range d.blocks {
		b = le.AppendUint32(b, s)
	}
	return b
}

// otherInode encodes symlinks, devices and pipes.
func otherInode(n *node, id *ids) ([]byte, error) {
	le := binary.LittleEndian
	typ := basicType(n.entry.Mode)
	b := inodeHeader(nil, typ, n, id)
	b = le.AppendUint32(b, 1) // nlink
	switch typ {
	case typeSymlink:
		b = le.AppendUint32(b, uint32(len(n.entry.Target)))
		b = append(b, n.entry.Target...)
	case typeChar, typeBlock:
		major, minor := unix.Major(n.entry.Rdev), unix.Minor(n.entry.Rdev)
		if major > 0xFFF || minor > 0xFFFFF {
			return nil, fmt.Errorf("squashfs: device %q: number %d:%d too large", n.path, major, minor)
		}
		// The kernel's old_decode_dev layout: minor's low byte, major, rest of minor.
		b = le.AppendUint32(b, minor&0xFF|major<<8|(minor&^0xFF)<<12)
	}
	return b, nil
}

// dirInode encodes a directory whose listing starts at listing (a
// directory table reference) and takes size bytes.
func dirInode(n *node, id *ids, parent uint32, listing uint64, size int, index []byte, icount int) []byte {
	le := binary.LittleEndian
	nlink := uint32(2)
	for _, c := range n.children {
		if c.isDir() {
			nlink++
		}
	}
	fileSize := size + 3 // the kernel counts the "." and ".." it invents
	start, offset := uint32(listing>>16), uint16(listing&0xFFFF)
	if icount == 0 && fileSize <= math.MaxUint16 {
		b := inodeHeader(nil, typeDir, n, id)
		b = le.AppendUint32(b, start)
		b = le.AppendUint32(b, nlink)
		b = le.AppendUint16(b, uint16(fileSize))
		b = le.AppendUint16(b, offset)
		return le.AppendUint32(b, parent)
	}
	b := inodeHeader(nil, typeLDir, n, id)
	b = le.AppendUint32(b, nlink)
	b = le.AppendUint32(b, uint32(fileSize))
	b = le.AppendUint32(b, start)
	b = le.AppendUint32(b, parent)
	b = le.AppendUint16(b, uint16(icount))
	b = le.AppendUint16(b, offset)
	b = le.AppendUint32(b, noXattr)
	return append(b, index...)
}
