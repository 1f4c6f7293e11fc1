package squashfs

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// maxNameLen is the longest name a directory entry holds.
const maxNameLen = 256

// node is one inode of the tree being written.
type node struct {
	name     string
	path     string
	entry    Entry
	children []*node // sorted by name, bytewise, as the kernel's lookup expects
	parent   *node
	ino      uint32
	ref      uint64 // inode reference: block start << 16 | offset
	data     fileData
	dupOf    *node // an earlier file with the same content, whose data this one shares
}

// fileData is where a regular file's content went.
type fileData struct {
	start   uint64   // offset of the first data block in the image
	blocks  []uint32 // size words of the full blocks
	frag    uint32   // fragment index or noFragment
	fragOff uint32   // offset of the tail in the fragment block
	sparse  uint64   // bytes saved by all-zero blocks
}

const noFragment = 0xFFFFFFFF

func (n *node) isDir() bool { return n.entry.Mode.IsDir() }

// buildTree validates entries and arranges them into a tree with implied
// parents, sorted children and breadth-first inode numbers. It returns
// the root and all nodes in inode-number order.
func buildTree(entries []Entry, opt Options) (*node, []*node, error) {
	root := &node{entry: Entry{Mode: fs.ModeDir | 0o755, ModTime: opt.ModTime}}
	byPath := map[string]*node{"": root}
	explicit := map[string]bool{}
	for _, e := range entries {
		p, err := cleanPath(e.Path)
		if err != nil {
			return nil, nil, err
		}
		if err := checkEntry(p, e); err != nil {
			return nil, nil, err
		}
		if explicit[p] {
			return nil, nil, fmt.Errorf("squashfs: duplicate path %q", displayPath(p))
		}
		explicit[p] = true
		if e.ModTime.IsZero() {
			e.ModTime = opt.ModTime
		}
		e.Path = p
		if n, ok := byPath[p]; ok { // implied earlier as a parent
			if !e.Mode.IsDir() {
				return nil, nil, fmt.Errorf("squashfs: %q is a parent of other entries but not a directory", displayPath(p))
			}
			n.entry = e
			continue
		}
		n := &node{name: path.Base(p), path: p, entry: e}
		byPath[p] = n
		if err := attach(n, byPath, opt.ModTime); err != nil {
			return nil, nil, err
		}
	}
	sortChildren(root)
	return root, numberInodes(root), nil
}

// attach links n to its parent, creating implied parent directories.
func attach(n *node, byPath map[string]*node, modTime time.Time) error {
	for {
		dir := path.Dir(n.path)
		if dir == "." {
			dir = ""
		}
		parent, ok := byPath[dir]
		if ok {
			if !parent.isDir() {
				return fmt.Errorf("squashfs: %q is a parent of %q but not a directory", displayPath(dir), n.path)
			}
			parent.children = append(parent.children, n)
			n.parent = parent
			return nil
		}
		parent = &node{name: path.Base(dir), path: dir,
			entry: Entry{Path: dir, Mode: fs.ModeDir | 0o755, ModTime: modTime}}
		byPath[dir] = parent
		parent.children = append(parent.children, n)
		n.parent = parent
		n = parent
	}
}

func sortChildren(n *node) {
	sort.Slice(n.children, func(i, j int) bool { return n.children[i].name < n.children[j].name })
	for _, c := range n.children {
		sortChildren(c)
	}
}

// numberInodes gives inode numbers breadth first, from 1, so that the
// children of a directory have consecutive numbers, as a directory
// header's 16-bit number deltas need.
func numberInodes(root *node) []*node {
	all := []*node{root}
	for i := 0; i < len(all); i++ {
		all[i].ino = uint32(i + 1)
		all = append(all, all[i].children...)
	}
	return all
}

// cleanPath returns p in canonical form ("" for the root) or an error if it
// is absolute, not clean, or escapes the root.
func cleanPath(p string) (string, error) {
	if p == "" || p == "." {
		return "", nil
	}
	switch {
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("squashfs: path %q: must be relative to the root", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return "", fmt.Errorf("squashfs: path %q: escapes the root", p)
	case path.Clean(p) != p:
		return "", fmt.Errorf("squashfs: path %q: not clean (want %q)", p, path.Clean(p))
	}
	for _, name := range strings.Split(p, "/") {
		if len(name) > maxNameLen {
			return "", fmt.Errorf("squashfs: path %q: name longer than %d bytes", p, maxNameLen)
		}
	}
	return p, nil
}

// checkEntry rejects entries whose fields contradict their type.
func checkEntry(p string, e Entry) error {
	switch {
	case !supportedType(e.Mode):
		return fmt.Errorf("squashfs: %q: unsupported file type %v", displayPath(p), e.Mode.Type())
	case p == "" && !e.Mode.IsDir():
		return fmt.Errorf("squashfs: root entry must be a directory, not %v", e.Mode.Type())
	case e.Mode&fs.ModeSymlink != 0 && e.Target == "":
		return fmt.Errorf("squashfs: symlink %q: empty target", p)
	case e.Mode.IsRegular() && e.Size < 0:
		return fmt.Errorf("squashfs: file %q: negative size %d", p, e.Size)
	case e.Mode.IsRegular() && e.Size > 0 && e.Open == nil:
		return fmt.Errorf("squashfs: file %q: size %d but no Open", p, e.Size)
	}
	return nil
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}
