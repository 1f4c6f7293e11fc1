package squashfs

import (
	"fmt"
	"io"
)

// imageAlign is the multiple the image is padded to: dm-verity hashes
// 4096-byte blocks.
const imageAlign = 4096

// Write writes a SquashFS image of entries to w at offset off and returns
// the image's size, padded to a multiple of 4 KiB. The output depends only
// on entries (as a set) and opt, not on entry order or opt.Workers.
func Write(w io.WriterAt, off int64, entries []Entry, opt Options) (int64, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return 0, err
	}
	root, all, err := buildTree(entries, opt)
	if err != nil {
		return 0, err
	}
	id, err := collectIDs(all)
	if err != nil {
		return 0, err
	}
	files := dataOrder(root)
	data := newDataWriter(w, off, superblockSize, opt)
	if err := data.run(files); err != nil {
		return 0, err
	}
	resolveDuplicates(files)
	c, err := newCompressor(opt)
	if err != nil {
		return 0, err
	}
	tables, sb, err := buildTables(c, root, all, id, data, opt)
	if err != nil {
		return 0, err
	}
	if _, err := w.WriteAt(tables, off+int64(data.pos)); err != nil {
		return 0, fmt.Errorf("squashfs: write tables: %w", err)
	}
	if _, err := w.WriteAt(sb.marshal(), off); err != nil {
		return 0, fmt.Errorf("squashfs: write superblock: %w", err)
	}
	size := (sb.bytesUsed + imageAlign - 1) / imageAlign * imageAlign
	if pad := size - sb.bytesUsed; pad > 0 {
		if _, err := w.WriteAt(make([]byte, pad), off+int64(sb.bytesUsed)); err != nil {
			return 0, fmt.Errorf("squashfs: write padding: %w", err)
		}
	}
	return int64(size), nil
}

// buildTables encodes everything after the data blocks: inode, directory,
// fragment and id tables, in the order the kernel's sanity checks expect.
func buildTables(c compressor, root *node, all []*node, id *ids, data *dataWriter, opt Options) ([]byte, *superblock, error) {
	b := &metaBuilder{inodes: newMetaWriter(c), dirs: newMetaWriter(c), id: id,
		rootParent: uint32(len(all) + 1)}
	if err := b.writeTree(root); err != nil {
		return nil, nil, err
	}
	inodes, err := b.inodes.finish()
	if err != nil {
		return nil, nil, fmt.Errorf("squashfs: inode table: %w", err)
	}
	dirs, err := b.dirs.finish()
	if err != nil {
		return nil, nil, fmt.Errorf("squashfs: directory table: %w", err)
	}
	sb := &superblock{
		inodes:      uint32(len(all)),
		modTime:     uint32(min(max(opt.ModTime.Unix(), 0), 1<<32-1)),
		blockSize:   uint32(opt.BlockSize),
		fragments:   uint32(len(data.frags)),
		compression: opt.Compression.id(),
		blockLog:    opt.blockLog(),
		flags:       flagNoXattrs | flagAlwaysFragments,
		ids:         uint16(len(id.list)),
		rootInode:   root.ref,
		inodeTable:  data.pos,
	}
	sb.dirTable = sb.inodeTable + uint64(len(inodes))
	out := append(inodes, dirs...)
	pos := sb.dirTable + uint64(len(dirs))
	sb.fragmentTable = pos
	if len(data.frags) > 0 {
		frag, index, err := lookupTable(c, pos, fragmentEntries(data.frags))
		if err != nil {
			return nil, nil, fmt.Errorf("squashfs: fragment table: %w", err)
		}
		out, sb.fragmentTable, pos = append(out, frag...), index, pos+uint64(len(frag))
	}
	idt, index, err := lookupTable(c, pos, idEntries(id))
	if err != nil {
		return nil, nil, fmt.Errorf("squashfs: id table: %w", err)
	}
	out, sb.idTable = append(out, idt...), index
	sb.bytesUsed = pos + uint64(len(idt))
	return out, sb, nil
}

// dataOrder lists the regular files depth first, children by name, as
// mksquashfs reads them: files of one subtree sit together, so the tails
// packed into a fragment block tend to be alike and compress better.
func dataOrder(root *node) []*node {
	var files []*node
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.children {
			switch {
			case c.entry.Mode.IsRegular():
				files = append(files, c)
			case c.isDir():
				walk(c)
			}
		}
	}
	walk(root)
	return files
}
