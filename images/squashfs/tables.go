package squashfs

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// collectIDs gathers the distinct uids and gids, sorted, so that the id
// table does not depend on input order.
func collectIDs(all []*node) (*ids, error) {
	set := map[uint32]bool{}
	for _, n := range all {
		set[n.entry.UID] = true
		set[n.entry.GID] = true
	}
	id := &ids{index: map[uint32]uint16{}}
	for v := range set {
		id.list = append(id.list, v)
	}
	if len(id.list) > 1<<16 {
		return nil, fmt.Errorf("squashfs: %d distinct uids and gids, at most 65536 fit", len(id.list))
	}
	sort.Slice(id.list, func(i, j int) bool { return id.list[i] < id.list[j] })
	for i, v := range id.list {
		id.index[v] = uint16(i)
	}
	return id, nil
}

// metaBuilder writes the inode and directory tables.
type metaBuilder struct {
	inodes, dirs *metaWriter
	id           *ids
	rootParent   uint32
}

// writeTree writes the inodes of the tree under n after their children, so
// that each directory listing can name its children's inode references.
func (b *metaBuilder) writeTree(n *node) error {
	for _, c := range n.children {
		if c.isDir() {
			if err := b.writeTree(c); err != nil {
				return err
			}
			continue
		}
		var ino []byte
		if c.entry.Mode.IsRegular() {
			ino = fileInode(c, b.id)
		} else {
			var err error
			if ino, err = otherInode(c, b.id); err != nil {
				return err
			}
		}
		if err := b.addInode(c, ino); err != nil {
			return err
		}
	}
	return b.writeDir(n)
}

func (b *metaBuilder) addInode(n *node, ino []byte) error {
	n.ref = b.inodes.ref()
	if err := b.inodes.write(ino); err != nil {
		return fmt.Errorf("squashfs: inode table: %w", err)
	}
	return nil
}

func (b *metaBuilder) writeDir(n *node) error {
	base, listingRef := b.dirs.upos(), b.dirs.ref()
	listing, headers, err := dirListing(n, base)
	if err != nil {
		return err
	}
	if err := b.dirs.write(listing); err != nil {
		return fmt.Errorf("squashfs: directory table: %w", err)
	}
	index, icount := dirIndex(headers, base, b.dirs)
	parent := b.rootParent
	if n.parent != nil {
		parent = n.parent.ino
	}
	return b.addInode(n, dirInode(n, b.id, parent, listingRef, len(listing), index, icount))
}

// lookupTable writes entries as metadata blocks at pos followed by the
// index of their absolute positions, the shape of the fragment and id
// tables. It returns the bytes and the index's position.
func lookupTable(c compressor, pos uint64, entries []byte) ([]byte, uint64, error) {
	m := newMetaWriter(c)
	if err := m.write(entries); err != nil {
		return nil, 0, err
	}
	out, err := m.finish()
	if err != nil {
		return nil, 0, err
	}
	indexPos := pos + uint64(len(out))
	for _, s := range m.starts {
		out = binary.LittleEndian.AppendUint64(out, pos+s)
	}
	return out, indexPos, nil
}

func fragmentEntries(frags []fragEntry) []byte {
	var b []byte
	for _, f := range frags {
		b = binary.LittleEndian.AppendUint64(b, f.start)
		b = binary.LittleEndian.AppendUint32(b, f.size)
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	return b
}

func idEntries(id *ids) []byte {
	var b []byte
	for _, v := range id.list {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}
